"""Reading events from files: one JSON object, a JSON array, or JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.errors import ConfigurationError


def parse_events(text: str, name: str) -> list[dict[str, Any]]:
    """Events from ``text``: a JSON object, an array of objects, or one object per line."""
    stripped = text.strip()
    if not stripped:
        raise ConfigurationError(f"{name} holds no events")
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        return [_line(line, name, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    items = whole if isinstance(whole, list) else [whole]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigurationError(f"{name}: item {i} is a {type(item).__name__}, not an object")
    return items


def _line(line: str, name: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{name}:{number}: not JSON ({exc.msg} at column {exc.colno})",
            hint="give one JSON object, a JSON array, or JSON Lines (one object per line)",
        ) from None
    if not isinstance(item, dict):
        raise ConfigurationError(f"{name}:{number}: a JSON {type(item).__name__}, not an object")
    return item


def read_event_files(paths: list[Path]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in paths:
        try:
            events += parse_events(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    return events
