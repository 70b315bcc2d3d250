"""Text made safe for terminals, tables, XML and spreadsheets (issue 12 §4)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from ledger.audit import text
from ledger.audit.text import csv_cell, display_width, pad, printable, shorten
from ledger.reports.picture import Arrow, Box, Picture, to_svg


def test_printable_escapes_controls_and_bidi_but_keeps_ordinary_text() -> None:
    assert printable("Mira Keller 山田 é") == "Mira Keller 山田 é"
    assert printable("a\x00b\x1b[31mc\x7f\x85") == "a\\x00b\\x1b[31mc\\x7f\\x85"
    assert printable("evil\u202eexe.txt") == "evil\\u202eexe.txt"
    assert printable("one\ntwo\rthree\tfour") == "one\\ntwo\\rthree\\tfour"


@pytest.mark.parametrize("cell", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_looking_cells_are_neutralised(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell


def test_numbers_and_plain_text_cells_stay_as_they_are() -> None:
    assert csv_cell(-5) == -5
    assert csv_cell("Mira") == "Mira"
    assert csv_cell("a=b") == "a=b"


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("山田太郎") == 8
    assert display_width("e\u0301") == 1  # e + combining acute
    assert pad("山田", 6) == "山田  "


def test_shorten_says_how_much_was_cut() -> None:
    short = shorten("x" * 1000, 100)
    assert len(short) == 100 and short.endswith("…[900 more characters]")
    assert shorten("short", 100) == "short"


def test_svg_with_nul_and_escape_in_names_is_valid_xml() -> None:
    box = Box(0, 0, ("a\x00b", "\x1b[2Jc"), "t\x01", "#fff", "#000", False)
    arrow = Arrow(0, 0, 10, 10, "#000", False, "label\x0b")
    svg = to_svg(Picture(100, 100, (box,), (arrow,)), "title\x00")
    root = ET.fromstring(svg)
    assert "a\\x00b" in "".join(root.itertext())


def test_csv_text_quotes_every_field_and_neutralises_formulas() -> None:
    rows = [{"name": '=HYPERLINK("http://x","y")', "n": 3, "note": "a\rb"}, {"name": "-2+3"}]
    out = text.csv_text(rows, ["name", "n", "note"])
    assert out.split("\r\n")[0] == "name,n,note"
    parsed = list(csv.reader(io.StringIO(out, newline="")))
    assert parsed[1] == ['\'=HYPERLINK("http://x","y")', "3", "a\rb"]
    assert parsed[2] == ["'-2+3", "", ""]
    assert '"3"' in out  # every field quoted, numbers too
