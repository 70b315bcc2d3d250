"""Event text made safe for where it is shown: terminals, tables, XML, spreadsheets.

Events carry text chosen by whoever signed them (display names, asset ids, licences).  Shown
raw, an ESC sequence rewrites the auditor's terminal, a NUL makes an SVG invalid XML, a bidi
override reorders a line, and a cell starting with ``=`` becomes a live spreadsheet formula.
These helpers are applied where text leaves the library; JSON output keeps exact values.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

# Bidirectional embeddings, overrides and isolates (the "Trojan Source" characters), the line
# and paragraph separators, and the BOM/zero-width no-break space: invisible, yet they change
# how the rest of a line is shown.  Also the zero-width space, the word joiner, the invisible
# operators and the Mongolian vowel separator: nothing to see, so a name holding one looks
# like the name without it, another person.  (The zero-width joiner and non-joiner stay:
# Persian, Indic scripts and emoji need them.)
_INVISIBLE_FORMATTING = frozenset(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
    "\u200b\u2060\u2061\u2062\u2063\u2064\u180e"
)

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def needs_escape(char: str) -> bool:
    """A control character (C0, DEL, C1), a surrogate, or an invisible layout changer."""
    return unicodedata.category(char) in ("Cc", "Cs") or char in _INVISIBLE_FORMATTING


def printable(value: object) -> str:
    """``str(value)`` with control and invisible layout characters as visible escapes.

    A backslash is left as it is: the result is for people to read, not to be parsed back.
    """
    text = str(value)
    if text.isprintable():  # fast path: nothing to do (most text)
        return text
    return "".join(_escape(c) if needs_escape(c) else c for c in text)


_LINE_BREAKS = "\n\r\t"


def visible(value: object) -> str:
    """:func:`printable` for a web page: line breaks and tabs stay (the page shows them as
    spaces); other control and invisible layout characters become visible escapes."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(_escape(c) if needs_escape(c) and c not in _LINE_BREAKS else c for c in text)


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """Left-align ``text`` in ``width`` terminal columns (by display width, not length)."""
    return text + " " * max(0, width - display_width(text))


def shorten(text: str, limit: int, marker: str = "…") -> str:
    """At most ``limit`` characters: the start, then ``marker`` and how much was cut."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    note = f"{marker}[{cut} more characters]"
    return text[: max(0, limit - len(note))] + note


# OWASP CSV injection: a cell starting with one of these is read as a formula by spreadsheets
# (https://owasp.org/www-community/attacks/CSV_Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Neutralise a text cell a spreadsheet would run as a formula (prefix ``'``).

    Numbers stay numbers: only strings can carry a formula.  The CSV writer must quote every
    field (``csv.QUOTE_ALL``) so embedded quotes, separators and line breaks stay in the cell.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """RFC 4180 CSV, every field quoted, formula-looking text cells neutralised (OWASP)."""
    buf = io.StringIO()
    buf.write(",".join(columns) + "\r\n")  # our own plain column names
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell("" if row.get(c) is None else row[c]) for c in columns])
    return buf.getvalue()
