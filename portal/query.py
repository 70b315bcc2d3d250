"""Reading a page's query string: filters, sort order and paging, refused with a clear reason.

A value the page cannot use is never ignored in silence (the list would look complete): it
answers *400* naming the parameter and what it accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from starlette.requests import Request

MAX_VALUE = 200


class BadQuery(ValueError):
    """A query parameter the page cannot use; the message says which and what it accepts."""


def text(request: Request, name: str) -> str | None:
    """A free-text parameter, stripped; empty is absent."""
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_VALUE:
        raise BadQuery(f"{name} is longer than {MAX_VALUE} characters")
    if any(ord(c) < 32 for c in value):
        raise BadQuery(f"{name} holds control characters")
    return value or None


def choice(request: Request, name: str, allowed: Iterable[str]) -> str | None:
    value = text(request, name)
    options = list(allowed)
    if value is not None and value not in options:
        raise BadQuery(f"{name} must be one of: {', '.join(options)} (not {value!r})")
    return value


def day(request: Request, name: str) -> date | None:
    value = text(request, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{name} must be a date as YYYY-MM-DD (not {value!r})") from None


def page_number(request: Request, name: str = "page") -> int:
    value = text(request, name)
    if value is None:
        return 1
    # ASCII digits: "²".isdigit() holds, but int() refuses it (a 500, not this 400)
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1_000_000:
        raise BadQuery(f"{name} must be a whole number from 1 (not {value!r})")
    return int(value)


def here(request: Request) -> str:
    """This request's path as the client sent it (still percent-encoded), for links to itself."""
    raw = request.scope.get("raw_path")
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else request.url.path
