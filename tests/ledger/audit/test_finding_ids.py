"""Finding ids: one id, one finding; decisions naming ids no audit gives (issue 19, items 2-3)."""

from __future__ import annotations

from pathlib import Path

from demo import story
from ledger.audit.ip import Scope, audit_json, run_audit
from ledger.audit.model import LedgerView
from ledger.reports.render import to_html, to_pdf
from ledger.reports.report import audit_document, audit_report_json, build_audit_report
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import (
    FORGED_FINDING,
    Item,
    build_store,
    dangling_items,
    ingredient,
    provenance,
)


def recorded_twice() -> list[Item]:
    """One asset version recorded twice (a re-sent event), each record using an ingredient
    the ledger never recorded."""
    comp = provenance("comp", ingredients=[ingredient("ghost", "v001")])
    again = provenance("comp", ingredients=[ingredient("ghost", "v001")])
    return [comp, again]


def test_an_asset_version_recorded_twice_gives_one_finding(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    with build_store(tmp_path / "l.db", recorded_twice(), signers) as store:
        view = LedgerView.open(store)
        result = run_audit(view, Scope(production=story.SHOW))
        records = [s.event_id for s in view.recorded("comp@v001")]
        data = audit_json(result)
    assert len(records) == 2
    [finding] = result.findings
    assert finding.rule == "ingredient-unrecorded" and finding.asset == "comp@v001"
    assert [e.event_id for e in finding.evidence] == records  # both records, in ledger order
    assert result.counts() == {"high": 1}
    ids = [f["id"] for f in data["findings"]]
    assert len(ids) == len(set(ids)) == 1
    assert "Another record" not in finding.explanation  # the same words are not repeated


def test_faults_found_on_the_same_evidence_are_one_finding_naming_each(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Two unrecorded ingredients of one step rest on the same evidence (the step): one id."""
    comp = provenance("comp", ingredients=[ingredient("ghost", "v001"), ingredient("wraith", "v2")])
    with build_store(tmp_path / "l.db", [comp], signers) as store:
        [finding] = run_audit(LedgerView.open(store), Scope(production=story.SHOW)).findings
    assert "ghost@v001" in finding.summary and "wraith@v2" in finding.summary
    assert "uses ghost@v001" in finding.explanation and "uses wraith@v2" in finding.explanation


def test_every_finding_id_of_the_demo_is_reported_once(view: LedgerView) -> None:
    ids = [f.finding_id for f in run_audit(view, Scope(production=story.SHOW)).findings]
    assert len(ids) == len(set(ids))


def test_the_audit_report_names_each_dangling_disposition(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """JSON, HTML and PDF: who signed it, when, and what it names."""
    with build_store(tmp_path / "l.db", dangling_items(), signers) as store:
        report = build_audit_report(LedgerView.open(store), story.SHOW)
    data = audit_report_json(report)
    [dangling] = data["dangling_dispositions"]
    assert dangling["finding_id"] == FORGED_FINDING and dangling["by"] == "Hana Sato"
    assert dangling["rule"] == "ai-model-undeclared" and dangling["asset"] == "gen@v001"
    [finding] = [f for f in data["findings"] if f["rule"] == "ai-model-undeclared"]
    assert "lapsed_dispositions" not in finding and finding["status"] == "open"
    html = to_html(audit_document(report, data))
    assert "Decisions that name no finding" in html and FORGED_FINDING in html
    assert "Hana Sato" in html and dangling["at"] in html
    pdf = to_pdf(audit_document(report, data))
    assert pdf.startswith(b"%PDF-")
