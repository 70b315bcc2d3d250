"""A report as a list of plain blocks, rendered the same way to HTML and to PDF."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape as html_escape

from ledger.audit.text import printable
from ledger.reports.picture import Picture


def escape(text: str) -> str:
    """HTML (and reportlab markup) text with control characters shown as escapes."""
    return html_escape(printable(text))


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str
    style: str = "normal"  # normal | note | alert | ok


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] = ()  # relative column widths (PDF); empty: equal


@dataclass(frozen=True)
class Figure:
    picture: Picture
    caption: str
    svg: str


@dataclass(frozen=True)
class Code:
    text: str


Block = Heading | Para | Table | Figure | Code


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    blocks: tuple[Block, ...]


MAX_TABLE_ROWS = 500
"""Rows of one table in an HTML or PDF report; past it, one row says how many more there are
(the JSON and CSV outputs list every row).  Keeps a report of a huge lineage readable and its
rendering bounded in time and memory."""


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float] = (),
    *,
    limit: int = MAX_TABLE_ROWS,
) -> Table:
    shown = [tuple("" if v is None else str(v) for v in r) for r in rows[:limit]]
    if len(rows) > limit:
        more = f"… and {len(rows) - limit} more rows (all of them are in the JSON output)"
        shown.append((more, *("" for _ in columns[1:])))
    return Table(tuple(columns), tuple(shown), tuple(widths))
