"""What every event kind shares: the kind record, event ids, validation, times and JSON.

The kinds themselves live in their own modules; :mod:`ledger.events.kinds` lists them.

An *event kind* ties together an Avro record schema (``schemas/<record>.vN.avsc``), the DSSE
``payloadType`` that announces it, the CloudEvents ``ce_type`` header, the rule choosing its Kafka
key, and its validation rules.  Every kind's record has ``event_id`` (UUID string) and
``event_time`` (timestamp-micros) fields.

The ``.vN`` suffix of a ``ce_type`` (``io.assetledger.provenance.v1``) is the version of the
event kind's *contract* — what the event means and the rules it obeys — not of its Avro schema.
Compatible schema evolution (``provenance_event.v1`` → ``v2``, resolved by Avro schema
resolution) keeps the ``ce_type``; only a change in meaning that old readers must not silently
accept would be a new kind with a new ``ce_type`` and ``payloadType``.

``event_id`` must be the canonical text of a UUID — 8-4-4-4-12 lowercase hex digits — exactly as
signed.  Nothing rewrites it: an uppercase, braced, ``urn:uuid:`` or unhyphenated form, or text
that is no UUID at all, is an invalid event, so the ledger, the ``ce_id`` header and every
reference hold the very text the producer signed.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ledger.errors import InvalidEventError, InvalidShowNameError

UTC = timezone.utc  # datetime.UTC is Python 3.11+; producers/ imports this (3.10)

Record = dict[str, Any]
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class EventKind:
    record: str  # schema record name, e.g. "provenance_event"
    payload_type: str  # DSSE payloadType
    ce_type: str  # CloudEvents type; its .vN is the kind's contract version, not the schema's
    subject: Callable[[Record], str]  # Kafka message key (per-subject order)
    problems: Callable[[Record, bool], list[str]]  # validation; bool = writing a new event
    refs: Callable[[Record], list[tuple[str, str]]] = lambda _: []  # query index rows
    shows: Callable[[Record], list[tuple[str, Any]]] = lambda _: []  # (field, show) it names


def event_id_problems(value: Any, where: str = "event_id") -> list[str]:
    """Empty when ``value`` is a UUID's canonical text (lowercase 8-4-4-4-12), else why not."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return []
    try:
        canonical = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        canonical = None
    if canonical is None:
        return [f"{where} {value!r} is not a UUID"]
    return [
        f"{where} {value!r} is not a UUID's canonical text: write {canonical!r}"
        " (lowercase hex digits, hyphenated 8-4-4-4-12)"
    ]


PATH_STEPS = (".", "..")


def show_name_problems(where: str, value: Any) -> list[str]:
    """Empty when ``value`` can name a show: not empty, not blank, not "." or ".." (browsers
    and proxies resolve those as path steps, so the show's portal pages could never open)."""
    if not isinstance(value, str) or not value.strip():
        return [f"{where} must not be empty"]
    if value.strip() in PATH_STEPS:
        return [
            f"{where} {value!r} cannot name a show: web addresses read '.' and '..' as path"
            " steps, so its portal pages could never be opened; give the show its name"
        ]
    return []


MAX_PROBLEMS_SHOWN = 10


def validate(kind: EventKind, event: Record, *, writing: bool) -> None:
    """Raise :class:`InvalidEventError` listing every rule ``event`` breaks.

    Every kind's ``event_id`` must be a UUID's canonical text (see the module docstring).  A
    show named "", blank, "." or ".." is refused, writing or reading, with the reason
    ``invalid_show_name`` (:class:`InvalidShowNameError`).
    """
    named = [p for where, show in kind.shows(event) for p in show_name_problems(where, show)]
    problems = list(
        dict.fromkeys(
            [*event_id_problems(event["event_id"]), *named, *kind.problems(event, writing)]
        )
    )
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"and {len(problems) - len(shown)} more")
        error = InvalidShowNameError if named else InvalidEventError
        raise error(f"invalid {kind.record} {event.get('event_id')}: " + "; ".join(shown))


# --- JSON <-> Avro record ------------------------------------------------------------------


def parse_time(value: Any, where: str = "event_time") -> datetime:
    """An aware UTC datetime from an ISO 8601 string or datetime (naive is refused)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEventError(f"{where} {value!r} is not an ISO 8601 time") from None
    else:
        raise InvalidEventError(f"{where} must be an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        raise InvalidEventError(f"{where} {value!r} has no time zone; write it in UTC with Z")
    return parsed.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def to_json(value: Any) -> Any:
    """A JSON-serialisable copy of a decoded record (times as ISO 8601 Z, bytes as base64)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with microseconds, as in the ``ce_time`` header.

    Formatted by hand: strftime cost the consumer's workers about as much as a sixth of the
    signature check (every record's ``ce_time`` header is compared with it).  Years before
    1000 keep strftime's spelling (not zero-padded by the C library).
    """
    v = value.astimezone(UTC)
    if v.year < 1000:
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"{v.year}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        f".{v.microsecond:06d}Z"
    )


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # use with fullmatch


def check_present(where: str, value: Any) -> list[str]:
    """For the kinds' rules: a required text field must not be empty or blank."""
    return [] if isinstance(value, str) and value.strip() else [f"{where} must not be empty"]


def check_sha256(where: str, value: str) -> list[str]:
    """For the kinds' rules: 64 lowercase hex digits."""
    return [] if _SHA256_HEX.fullmatch(value) else [f"{where} must be 64 lowercase hex digits"]
