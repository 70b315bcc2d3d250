"""PDF reports print every name: Latin, Greek, Cyrillic and CJK (no black boxes)."""

from __future__ import annotations

from pathlib import Path

from demo import story
from ledger.audit.credits import credit_report
from ledger.audit.model import LedgerView
from ledger.reports.document import Document
from ledger.reports.fonts import covers
from ledger.reports.render import to_pdf
from ledger.reports.report import credits_document
from tests.ledger.audit.audit_factory import build_store, provenance
from tests.ledger.reports.pdf_text import pdf_text

NAMES = ("Jonah Okafor", "Ελένη Παππά", "Зоя Ковалёва", "山田太郎", "김민준", "Zoë Ødegård")


def _document(tmp_path: Path) -> Document:
    items = [
        provenance(
            f"fallen-tower/ep101/sq040/sh900/element{i}",
            actor={
                "actor_id": f"person:p{i}",
                "kind": "human",
                "display_name": name,
                "role": "cawg.creator",
            },
        )
        for i, name in enumerate(NAMES)
    ]
    store = build_store(tmp_path / "names.db", items)
    try:
        return credits_document(credit_report(LedgerView.open(store), story.SHOW))
    finally:
        store.close()


def test_the_report_font_covers_every_script() -> None:
    for name in NAMES:
        assert covers(name), name
    assert not covers("\U0001f600")  # an emoji is outside it: the check can fail


def test_pdf_embeds_the_unicode_font(tmp_path: Path) -> None:
    document = _document(tmp_path)
    pdf = to_pdf(document)
    assert b"/FontFile2" in pdf  # an embedded TrueType subset ...
    assert b"/BaseFont /AAAAAA+WenQuanYiMicroHei" in pdf  # ... of the report font
    assert to_pdf(document) == pdf  # still deterministic


def test_pdf_text_has_every_name(tmp_path: Path) -> None:
    text = pdf_text(to_pdf(_document(tmp_path)), tmp_path)
    for name in NAMES:
        assert name in text, name
