"""Every output judges a fact with the audit's own code (issue 19, items 1 and 10).

A consent limited to Argentina used in an episode streamed worldwide, and a consent naming shot
sh020 used in sh050: the audit, the credits in every format, the end-credits statement and the
AI disclosure's licence column must say what the audit says, in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import story
from ledger.audit.credits import CSV_COLUMNS, CreditReport, credit_report, flat_rows
from ledger.audit.ip import Scope, run_audit
from ledger.audit.judge import judge_likeness
from ledger.audit.model import LedgerView
from ledger.audit.rules import Finding
from ledger.audit.text import csv_text
from ledger.reports.render import to_html, to_pdf
from ledger.reports.report import credits_document
from ledger.store import LedgerStore
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import (
    CONSENT_AR,
    CONSENT_SH020,
    GOOD_LICENCE_ID,
    LICENSED_MODEL,
    build_store,
    ingredient,
    licence_item,
    narrow_consent_items,
    provenance,
)
from tests.ledger.reports.pdf_text import pdf_text

AR_REASON = f"consent {CONSENT_AR} covers territories AR, not WORLD"
SHOT_REASON = f"consent {CONSENT_SH020} covers shots sh020, not sh050"


@pytest.fixture
def narrow(tmp_path: Path, signers: dict[str, KeyPair]) -> Iterator[LedgerStore]:
    with build_store(tmp_path / "narrow.db", narrow_consent_items(), signers) as store:
        yield store


def reasons(view: LedgerView) -> dict[str, str]:
    """asset version → the reason judge_likeness gives for its one likeness use."""
    out = {}
    for s in view.steps("show", story.SHOW):
        for u in s.likeness:
            reason = judge_likeness(view, s, u).reason
            assert reason is not None
            out[s.key] = reason
    return out


def test_the_judge_finds_what_the_use_exceeds(narrow: LedgerStore) -> None:
    assert sorted(reasons(LedgerView.open(narrow)).values()) == [AR_REASON, SHOT_REASON]


def test_audit_finds_likeness_without_consent_with_the_judges_reason(narrow: LedgerStore) -> None:
    view = LedgerView.open(narrow)
    findings = run_audit(view, Scope(production=story.SHOW)).findings
    likeness = {f.asset: f for f in findings if f.rule == "likeness-without-consent"}
    assert set(likeness) == set(reasons(view))
    for asset, reason in reasons(view).items():
        assert f"here {reason}." in likeness[asset].explanation


def report_of(store: LedgerStore) -> tuple[LedgerView, CreditReport]:
    view = LedgerView.open(store)
    return view, credit_report(view, story.SHOW, "101")


def test_credits_json_and_csv_say_not_covered_with_the_same_reason(narrow: LedgerStore) -> None:
    view, report = report_of(narrow)
    expected = {asset: f"NO VALID CONSENT: {reason}" for asset, reason in reasons(view).items()}
    rows = report.to_json()["consent_and_permissions"]
    assert {r["asset"]: r["status"] for r in rows if r["use"] == "digital_replica"} == expected
    csv = csv_text(flat_rows(report), CSV_COLUMNS)
    for status in expected.values():
        assert status in csv
    assert "consent valid" not in csv


def test_the_end_credits_statement_follows_the_audit(narrow: LedgerStore) -> None:
    _, report = report_of(narrow)
    statement = report.ai_disclosure()
    assert statement[-1] == (
        "Some likeness uses lack a valid recorded consent: see the consent section."
    )
    assert not any("No performer's likeness was used without" in line for line in statement)
    assert report.to_json()["ai_disclosure"] == statement


def test_credits_html_and_pdf_say_not_covered(narrow: LedgerStore, tmp_path: Path) -> None:
    _, report = report_of(narrow)
    html = to_html(credits_document(report))
    for reason in (AR_REASON, SHOT_REASON):
        assert f"NO VALID CONSENT: {reason}" in html
    assert "consent valid" not in html
    assert "No performer&#x27;s likeness" not in html and "No performer's likeness" not in html
    text = pdf_text(to_pdf(credits_document(report)), tmp_path)
    words = re.sub(r"\s+", " ", text)
    assert words.count("NO VALID CONSENT") == 2
    assert "not WORLD" in words and "not sh050" in words
    assert "consent valid" not in words and "No performer's likeness" not in words


def test_a_covered_use_is_valid_everywhere(view: LedgerView) -> None:
    """The demo's Dana Whitfield replica is covered: the judge, the credits agree."""
    report = credit_report(view, story.SHOW)
    dana = [c for c in report.consent if c.party == "performer:dana-whitfield"]
    assert [c.status for c in dana] == ["consent valid"] and all(c.covered for c in dana)


# --- item 10: the licence column shows the licence record, judged as the audit judges it ---


def ai_licence(tmp_path: Path, signers: dict[str, KeyPair], **model: object) -> dict[str, object]:
    used = {k: v for k, v in {**LICENSED_MODEL, **model}.items() if v is not None}
    items = [licence_item(), provenance("gen", ai=True, model={**used, "licence": None})]
    if "licence" in model:
        items[1][2]["model"]["licence"] = model["licence"]
    with build_store(tmp_path / "l.db", items, signers) as store:
        report = credit_report(LedgerView.open(store), story.SHOW)
    [output] = report.to_json()["generative_ai_output"]
    return dict(output)


def test_a_licence_record_without_a_note_is_not_undeclared(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    output = ai_licence(tmp_path, signers)  # licence_ref, no free-text note
    assert output["licence_note"] is None
    assert output["licence_record"] == {"event_id": GOOD_LICENCE_ID, "status": "covers this use"}
    assert output["licence"] == (
        f"licence record {GOOD_LICENCE_ID} (Good AI licence https://good.example/licence,"
        " covers this use)"
    )


def test_the_licence_column_carries_the_audits_verdict(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    findings: list[Finding]
    items = [
        licence_item(territories=["US"]),
        provenance(
            "gen",
            ai=True,
            model={**LICENSED_MODEL, "licence": None},
            rights={"licence": None, "distribution": {**WORLD_STREAMING}},
        ),
    ]
    with build_store(tmp_path / "l.db", items, signers) as store:
        view = LedgerView.open(store)
        findings = run_audit(view, Scope(production=story.SHOW)).findings
        report = credit_report(view, story.SHOW)
    [finding] = findings
    assert finding.rule == "licence-not-covering"
    [output] = report.ai_outputs
    assert output.licence_status is not None
    problem = output.licence_status.removeprefix("does not cover this use: ")
    assert problem != output.licence_status and f"but {problem}." in finding.explanation
    assert output.licence is not None and "UNDECLARED" not in output.licence


def test_a_free_text_note_without_a_record_is_shown_as_not_a_record(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    output = ai_licence(tmp_path, signers, licence_ref=None, licence="some licence")
    assert output["licence_record"] is None
    assert (
        output["licence"] == "UNDECLARED: no licence record cited (free-text note 'some licence')"
    )


WORLD_STREAMING = {"commercial": True, "territories": ["WORLD"], "media": ["streaming"]}


def test_each_explanation_states_its_own_reason(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """A missing training-data declaration is not explained by a missing licence."""
    model = {k: v for k, v in LICENSED_MODEL.items() if k != "training_data"}
    items = [licence_item(), provenance("gen", ai=True, model=model)]
    with build_store(tmp_path / "l.db", items, signers) as store:
        [finding] = run_audit(LedgerView.open(store), Scope(production=story.SHOW)).findings
    assert "declares no training data" in finding.explanation
    assert "Without a training-data declaration" in finding.explanation
    assert "licence" not in finding.explanation.split("but ", 1)[1]


def test_the_statement_speaks_of_likeness_without_any_ai_output(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """A likeness use on a step no AI made still needs its consent, and the statement says so."""
    likeness = [{"performer_id": "performer:ana-ar", "use": "likeness", "consent_ref": CONSENT_AR}]
    items = [provenance("plate", likeness=likeness)]
    with build_store(tmp_path / "l.db", items, signers) as store:
        view = LedgerView.open(store)
        statement = credit_report(view, story.SHOW).ai_disclosure()
        [finding] = run_audit(view, Scope(production=story.SHOW)).findings
    assert finding.rule == "likeness-without-consent"
    assert statement == [
        "No generative-AI material appears in this production.",
        "Some likeness uses lack a valid recorded consent: see the consent section.",
    ]


def test_an_ai_inputs_row_carries_the_audits_verdict_on_inherited_terms(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """A paint-over of stock marked notAllowed, used by an AI step: the paint-over declares no
    terms of its own, but the audit finds the restriction, and so does the credits' row."""
    terms = [{"use_kind": "cawg.ai_inference", "use": "notAllowed", "constraint_info": None}]
    items = [
        licence_item(),
        provenance("stock", rights={"licence": "stock licence", "training_mining": terms}),
        provenance(
            "paint",
            source_type="humanEdits",
            action="c2pa.edited",
            ingredients=[ingredient("stock", "v001", "parentOf")],
        ),
        provenance("gen", ai=True, ingredients=[ingredient("paint", "v001", "inputTo")]),
    ]
    with build_store(tmp_path / "l.db", items, signers) as store:
        view = LedgerView.open(store)
        [finding] = run_audit(view, Scope(production=story.SHOW)).findings
        [row] = [c for c in credit_report(view, story.SHOW).consent if c.party == "paint@v001"]
    assert finding.rule == "ai-input-not-allowed"
    assert row.status == (
        "no training-and-mining terms declared; NOT CLEARED for AI use: it derives from"
        " stock@v001, where its rights holder marked it notAllowed for cawg.ai_inference"
    )
