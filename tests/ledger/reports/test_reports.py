"""Reports are deterministic (same ledger, same bytes) and state what they were computed at."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo import story
from ledger.audit.credits import credit_report
from ledger.audit.model import LedgerView, content_digest
from ledger.reports.document import Document, Para
from ledger.reports.render import to_html, to_pdf
from ledger.reports.report import (
    audit_document,
    audit_report_json,
    build_audit_report,
    credits_document,
)
from ledger.store import LedgerStore
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import demo_store
from tests.ledger.reports.pdf_text import pdf_text

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)  # when waivers are judged: stated, so reproducible


def all_outputs(store: LedgerStore) -> dict[str, bytes]:
    view = LedgerView.open(store)
    report = build_audit_report(view, story.SHOW, as_of=AS_OF)
    data = audit_report_json(report)
    credits = credit_report(LedgerView.open(store), story.SHOW)
    return {
        "audit.json": json.dumps(data).encode(),
        "audit.html": to_html(audit_document(report, data)).encode(),
        "audit.pdf": to_pdf(audit_document(report, data)),
        "credits.json": json.dumps(credits.to_json()).encode(),
        "credits.html": to_html(credits_document(credits)).encode(),
        "credits.pdf": to_pdf(credits_document(credits)),
    }


def test_same_ledger_gives_identical_bytes(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    with demo_store(tmp_path / "a.db", signers) as a, demo_store(tmp_path / "b.db", signers) as b:
        first, again, other = all_outputs(a), all_outputs(a), all_outputs(b)
    assert first == again
    assert first == other  # an independently built copy of the same ledger


def test_content_hash_is_recomputable(view: LedgerView) -> None:
    data = audit_report_json(build_audit_report(view, story.SHOW))
    body = {k: v for k, v in data.items() if k != "content_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["content_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert data["content_sha256"] == content_digest(body)


def test_audit_report_content(view: LedgerView) -> None:
    report = build_audit_report(view, story.SHOW)
    data = audit_report_json(report)
    assert data["summary"]["clear_to_ship"] is False
    assert data["summary"]["open_findings_by_severity"] == {"critical": 2, "high": 7}
    assert len(data["lineages"]) == 3
    assert {c["party"] for c in data["consent_records"]} == {
        "performer:dana-whitfield",
        "performer:omar-haddad",
    }
    assert data["checkpoint"]["tree_size"] == 26  # 2 consents, 5 licences, 19 events
    html = to_html(audit_document(report, data))
    assert html.count("<svg") == 3
    for text in (
        "NOT CLEAR TO SHIP",
        "How to verify this report independently",
        data["content_sha256"],
    ):
        assert text in html
    assert view.state.root_hash.hex() in html


def test_pdf_has_pages_with_drawings(view: LedgerView) -> None:
    report = build_audit_report(view, story.SHOW)
    pdf = to_pdf(audit_document(report))
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 4
    assert b"/CreationDate (D:20000101000000+00'00')" in pdf  # reportlab's invariant date


def test_a_huge_lineage_gives_a_bounded_report(tmp_path: Path) -> None:
    """One valid event with 11,000 ingredients (none recorded: 11,000 findings), published.

    Before the bounds: a 3 MB PDF with one section per finding and an 11,000-box picture
    (minutes and hundreds of MB to render).  Now the document stays small; the JSON keeps all.
    """
    from ledger.reports.document import MAX_TABLE_ROWS, Figure, Table
    from ledger.reports.report import MAX_DETAILED_FINDINGS
    from tests.ledger.audit.audit_factory import build_store, ingredient, provenance

    comp = "fallen-tower/ep101/sq900/comp"
    items = [
        provenance(comp, ingredients=[ingredient(f"e/{i}", "v1") for i in range(11_000)]),
        provenance(
            "fallen-tower/ep101/sq900/final",
            action="c2pa.published",
            ingredients=[ingredient(comp, "v001", "parentOf")],
        ),
    ]
    with build_store(tmp_path / "big.db", items) as store:
        report = build_audit_report(LedgerView.open(store), story.SHOW)
    data = audit_report_json(report)
    # one id, one finding (issue 19): the 11,000 faults rest on the same evidence, and the
    # JSON keeps every one of them
    unrecorded = [f for f in data["findings"] if f["rule"] == "ingredient-unrecorded"]
    assert len(unrecorded) == 1 and len(unrecorded[0]["parts"]) == 11_000
    document = audit_document(report, data)
    tables = [b for b in document.blocks if isinstance(b, Table)]
    assert all(len(t.rows) <= MAX_TABLE_ROWS + 1 for t in tables)
    assert sum(len(t.rows) for t in tables) < 2 * MAX_TABLE_ROWS + 5 * MAX_DETAILED_FINDINGS
    assert not [b for b in document.blocks if isinstance(b, Figure)]  # described, not drawn
    assert "11002 asset versions" in to_html(document)
    assert len(to_pdf(document)) < 500_000


def test_credit_report_lists_people_by_job_title_and_organisations_apart(
    view: LedgerView,
) -> None:
    html = to_html(credits_document(credit_report(view, story.SHOW)))
    human = html.split("Credit lines (human-authored work)", 1)[1].split("</table>", 1)[0]
    assert "Roto Artist" in human and "Visual Effects" in human
    assert "Vista Stock" not in human and "cawg." not in human
    sources = html.split("Organisations and other sources (not human-authored work)", 1)[1]
    assert "Vista Stock" in sources.split("</table>", 1)[0]


def test_a_pdf_title_and_footer_show_a_bidi_override_escaped(tmp_path: Path) -> None:
    """A show named with a bidi override: the body escaped it, but the PDF's document title
    (the viewer's title bar) and every page's footer held it raw, reversing what follows."""
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler-utils) is not installed")
    pdf = to_pdf(Document("Credits: Evil\u202eTower", "as\u202eof", (Para("x"),)))
    text = pdf_text(pdf, tmp_path)
    assert "\u202e" not in text and "Credits: Evil\\u202eTower" in text
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, check=True)
    shown = info.stdout.decode("utf-8")
    title = next(line for line in shown.splitlines() if line.startswith("Title:"))
    assert "\u202e" not in shown and title.split(None, 1)[1] == "Credits: Evil\\u202eTower"
