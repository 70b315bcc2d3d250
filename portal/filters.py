"""Template filters: times as people read them, long ids shortened, and the exact values kept.

The JSON twin of a page keeps the exact values (ISO 8601 UTC times, full ids); only the HTML
shortens them, and always keeps the exact value in a ``title`` (shown on hover) or ``datetime``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from ledger.audit.text import visible

SHORT_ID = 12


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time (``…Z`` or with an offset) or Unix seconds, as an aware UTC datetime."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def readable(moment: datetime) -> str:
    """``7 Dec 2026, 14:29 UTC``; a time at midnight is a date (a term's start or end)."""
    day = f"{moment.day} {moment:%b %Y}"
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return day  # a date (a term's start or end), not a moment
    return f"{day}, {moment:%H:%M} UTC"


def exact(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def when(value: object) -> Markup:
    """A ``<time>`` element: readable text, the exact UTC time on hover and in ``datetime``."""
    moment = parse_time(value)
    if moment is None:
        return Markup(escape(visible(value or "")))
    iso = value if isinstance(value, str) else moment.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso, exact(moment), readable(moment)
    )


def age(seconds: object) -> str:
    """A duration as people say it: ``45 seconds``, ``22 minutes``, ``3 hours``, ``2 days``."""
    try:
        n = max(0, int(str(seconds)))
    except ValueError:
        return str(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if n >= size:
            count = n // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{n} second{'s' if n != 1 else ''}"


def short_id(value: object, keep: int = SHORT_ID) -> Markup:
    """A long id cut to its first characters, kept on one line; the full id on hover."""
    text = visible(value or "")
    shown = text if len(text) <= keep + 1 else text[:keep] + "…"
    return Markup('<code class="id" title="{}">{}</code>').format(text, shown)


def named(text: object, names: Mapping[str, str] | None) -> Markup:
    """Audit text with each person's id replaced by their name (the id on hover), escaped.

    The words are the audit's own (the JSON twin and the reports keep them as they are); only
    the page puts a name where the text holds an id that the production's records name.  Text
    that already names the person with the id (``Omar Haddad (performer:omar-haddad)``, as
    the audit writes a performer) shows the name once, the id on hover, never the name twice."""
    value = visible(text or "")
    known = {i: visible(n) for i, n in (names or {}).items() if i and n and i != n and i in value}
    if not known:
        return Markup(escape(value))
    labelled = {f"{n} ({i})": i for i, n in known.items() if f"{n} ({i})" in value}
    ids = {**labelled, **{i: i for i in known}}
    pattern = re.compile(
        r"(?<![\w:/@.-])("
        + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
        + r")(?![\w/@-])"
    )
    out, pos = [], 0
    for m in pattern.finditer(value):
        out.append(escape(value[pos : m.start()]))
        person = ids[m[1]]
        out.append(
            Markup('<span class="person" title="{}">{}</span>').format(person, known[person])
        )
        pos = m.end()
    out.append(escape(value[pos:]))
    return Markup("").join(out)


def shown(value: Any) -> Any:
    """Every ``{{ value }}`` of a page (the environment's ``finalize``): text with control and
    invisible layout characters (a bidi override that reverses a name, a zero-width space that
    makes two names look alike) as visible escapes; markup the filters built passes as is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def install(env: Environment) -> None:
    env.finalize = shown
    filters: dict[str, Any] = {
        "when": when,
        "shortid": short_id,
        "named": named,
        "age": age,
    }
    env.filters.update(filters)
