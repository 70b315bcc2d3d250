"""The delivery disclosure, the credit report and the audit say the same about one production.

An outside reader (a guild representative, a performer's lawyer) may hold all three for the same
episode at the same checkpoint: the people named, the AI elements listed, the findings and their
statuses, and the counts must never contradict each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from demo import story
from ledger.audit.credits import CreditReport
from ledger.audit.ip import AuditResult
from ledger.audit.rules import LICENCE_RULES, Finding
from ledger.packet.render import disclosure_document
from ledger.store import open_store
from tests.ledger.packet.packet_factory import (
    SH010_V2,
    SH020,
    SH030,
    beside,
    build_ledger,
    episode_packet,
)


@pytest.fixture(scope="module")
def outputs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], CreditReport, AuditResult]:
    """One ledger's disclosure of the episode's cut, its credit report and its audit with the
    approval rule (as packets apply it), at the same checkpoint and as-of time."""
    tmp = tmp_path_factory.mktemp("agree")
    ledger = build_ledger(tmp / "ledger.db")
    with open_store(ledger.url) as store:
        built = episode_packet(store, tmp)
        credits, audit = beside(store, built.disclosure)
    return built.disclosure, credits, audit


def _clips(disclosure: dict[str, Any]) -> list[dict[str, Any]]:
    """The clips mapped to a deliverable (a clip of another kind carries no findings)."""
    clips = [c for c in disclosure["clips"] if c.get("asset") and "findings" in c]
    assert {c["asset"] for c in clips} == {SH010_V2, SH020, SH030}
    return clips


def test_the_disclosure_names_directors_and_performers_as_the_credits_do(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    disclosure, credits, _ = outputs
    directed = {o.asset: list(o.directed_by) for o in credits.ai_outputs}
    shown = {
        a["asset"]: [d["name"] for d in a["directed_by"]]
        for c in _clips(disclosure)
        for a in c["ai_elements"]
    }
    assert shown and all(shown[asset] == directed[asset] for asset in shown), (shown, directed)
    named = {r.party: r.party_name for r in credits.consent if r.likeness}
    performers = {
        u["performer"]: u["performer_name"] for c in _clips(disclosure) for u in c["likeness"]
    }
    assert performers and performers == {p: named[p] for p in performers}
    assert all(name and not name.startswith("performer:") for name in performers.values())


def test_the_disclosure_lists_the_ai_outputs_the_credits_disclose(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    disclosure, credits, _ = outputs
    register = {r["asset"] for r in disclosure["ai_register"] if r["model"]}
    assert register == {o.asset for o in credits.ai_outputs}


def test_each_clips_findings_are_the_audits_with_the_same_status(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    """Every finding a clip shows is the audit's (same id, status, severity and summary); the
    audit's findings in a clip's lineage are all shown; the summary counts what the clips show."""
    disclosure, _, audit = outputs
    by_id = {f.finding_id: f for f in audit.findings}
    open_ids: dict[str, str] = {}
    for clip in _clips(disclosure):
        shown = {f["id"]: f for f in clip["findings"]}
        lineage = audit.lineages[(story.SHOW, clip["asset"])]
        expected = {f.finding_id for f in audit.findings if f.asset in lineage.nodes}
        assert set(shown) == expected, clip["asset"]
        for fid, f in shown.items():
            assert (f["status"], f["severity"], f["summary"]) == (
                by_id[fid].status,
                by_id[fid].severity,
                by_id[fid].summary,
            )
            if f["status"] == "open":
                open_ids[fid] = f["severity"]
        assert (clip["status"] == "clear to ship") == audit.clear_to_ship()[clip["asset"]]
    counts: dict[str, int] = {}
    for severity in open_ids.values():
        counts[severity] = counts.get(severity, 0) + 1
    assert disclosure["summary"]["open_findings_by_severity"] == counts


def test_the_likeness_statements_agree_with_the_likeness_findings(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    """A use the credits mark NO VALID CONSENT is one the audit finds (likeness-without-consent),
    names the performer the same way, and the disclosure marks it not covered."""
    disclosure, credits, audit = outputs
    uncovered = {(r.asset, r.party) for r in credits.consent if r.likeness and not r.covered}
    found = {
        (f.asset, r.party)
        for f in audit.findings
        if f.rule == "likeness-without-consent"
        for r in credits.consent
        if r.likeness and r.asset == f.asset and r.party_label in f.summary
    }
    assert uncovered and found == uncovered
    shown = {
        (u["asset"], u["performer"])
        for c in _clips(disclosure)
        for u in c["likeness"]
        if not u["covered"]
    }
    assert shown == uncovered


def test_the_disclosure_says_which_rules_give_its_counts(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult], tmp_path: Path
) -> None:
    """The disclosure's counts include approval-missing findings; it says so, and names the
    audit command that gives the same findings, so its counts and the audit's can be checked."""
    disclosure, _, _ = outputs
    text = " ".join(str(b) for b in disclosure_document(disclosure).blocks)
    assert "--require-approvals gives the same findings" in text
    assert "Omar Haddad (performer:omar-haddad)" in str(_register_rows(disclosure))


def _register_rows(disclosure: dict[str, Any]) -> Any:
    from ledger.packet.render import _register_table

    return _register_table(disclosure)


def test_the_credits_licence_flags_carry_the_audits_dispositions(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    """Each AI output's licence flag in the credits is the audit's finding, with the same id,
    status and counsel's decision (a finding counsel disposed of reads as disposed in both);
    an output the audit finds no licence fault in carries none."""
    _, credits, audit = outputs
    found = {(f.asset, f.rule): f for f in audit.findings if f.rule in LICENCE_RULES}
    disposed = 0
    for o in credits.ai_outputs:
        shown = o.licence_finding
        expected = [f for (asset, _), f in found.items() if asset == o.asset]
        if shown is None:
            assert expected == [], o.asset
            continue
        [f] = expected
        assert (shown.finding_id, shown.status, shown.disposition) == (
            f.finding_id,
            f.status,
            f.disposition,
        )
        if not f.is_open:
            assert f.disposition is not None
            disposed += 1
            assert f.disposition.event_id in o.licence_shown and f.status in o.licence_shown
        else:
            assert "counsel:" not in o.licence_shown
    assert disposed, "the ledger holds a licence finding counsel disposed of"


def test_the_disclosures_licence_flags_carry_the_audits_dispositions(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    """The disclosure's AI register shows each model licence's finding as the audit and the
    credits do: same id and status, counsel's decision in force, in the JSON and the document."""
    disclosure, credits, audit = outputs
    found = {f.asset: f for f in audit.findings if f.rule in LICENCE_RULES}
    in_credits = {o.asset: o for o in credits.ai_outputs}
    rows = [r for r in disclosure["ai_register"] if r["model"]]
    assert any(r["licence_finding"] and r["licence_finding"]["counsel"] for r in rows)
    cells = " ".join(str(b) for b in disclosure_document(disclosure).blocks)
    for r in rows:
        shown = r["licence_finding"]
        if _is_the_audits(shown, found.get(r["asset"]), in_credits[r["asset"]].counsel):
            assert f"counsel: {shown['counsel']}" in cells


def _is_the_audits(shown: dict[str, Any] | None, f: Finding | None, counsel: str | None) -> bool:
    """``shown`` (a disclosure's ``licence_finding``) is the audit's finding ``f`` with its id,
    status and disposition, and the credits' words for counsel's decision; True when disposed."""
    if f is None:
        assert shown is None
        return False
    assert shown is not None
    assert (shown["id"], shown["status"]) == (f.finding_id, f.status)
    assert shown["disposition"] == (None if f.disposition is None else f.disposition.to_json())
    assert shown["counsel"] == counsel
    return bool(counsel)


def test_each_clips_ai_elements_carry_the_audits_licence_dispositions(
    outputs: tuple[dict[str, Any], CreditReport, AuditResult],
) -> None:
    """Each AI element a clip lists carries the audit's finding on its model licence, with the
    same id, status and counsel's decision in force as the audit (and the register) gives it, in
    the JSON and under the clip in the document: a reader of one clip's AI element who sees the
    licence does not cover the use sees counsel's decision beside it."""
    disclosure, credits, audit = outputs
    found = {f.asset: f for f in audit.findings if f.rule in LICENCE_RULES}
    in_credits = {o.asset: o for o in credits.ai_outputs}
    register = {r["asset"]: r["licence_finding"] for r in disclosure["ai_register"]}
    elements = [a for c in _clips(disclosure) for a in c["ai_elements"] if a["model"]]
    assert any(a["licence_finding"] and a["licence_finding"]["counsel"] for a in elements), (
        "a clip uses an AI element whose licence finding counsel disposed of"
    )
    paras = [str(b) for b in disclosure_document(disclosure).blocks]
    for a in elements:
        f, shown = found.get(a["asset"]), a["licence_finding"]
        assert shown == register[a["asset"]], a["asset"]
        if _is_the_audits(shown, f, in_credits[a["asset"]].counsel):
            assert f is not None and f.disposition is not None
            for part in (f.disposition.by, f.disposition.role, f.disposition.at):
                assert str(part) in shown["counsel"]
            assert f.disposition.event_id in shown["counsel"]
            assert any(
                f"AI: {a['asset']} by" in p and f"counsel: {shown['counsel']}" in p for p in paras
            ), a["asset"]
