"""AI output declared as if no AI made it: the audit, the credits and the delivery disclosure
say the same about it, and its deliverable is not clear to ship (rule ai-output-undeclared).

An AI output whose event declared digitalCapture got no finding: the credits said "NOT disclosed
as AI output" while the audit and the packet called its deliverable clear to ship.
"""

from __future__ import annotations

from typing import Any

import pytest

from demo import story
from ledger.audit.credits import CreditReport
from ledger.audit.ip import AuditResult
from ledger.audit.rules import LATER_RULES, RuleSet
from ledger.packet.build import build_packet
from ledger.packet.verify import verify_packet
from ledger.store import open_store
from tests.ledger.audit.audit_factory import Item, fixed, ingredient, provenance
from tests.ledger.packet.packet_factory import (
    PREFIX,
    beside,
    build_ledger,
    timeline,
    write_cut,
)

RULE = "ai-output-undeclared"
HIDDEN, HONEST = f"{PREFIX}/sh040/upscale@v001", f"{PREFIX}/sh050/upscale@v001"
HIDDEN_FINAL, HONEST_FINAL = f"{PREFIX}/sh040/final@v001", f"{PREFIX}/sh050/final@v001"


def _shot(shot: str, declared: str) -> list[Item]:
    """ClearScale (licensed) upscales a shot, declaring ``declared``; editorial publishes it."""
    upscale = provenance(
        f"{PREFIX}/{shot}/upscale", ai=True, model=story.UPSCALER, source_type=declared
    )
    final = provenance(
        f"{PREFIX}/{shot}/final",
        action="c2pa.published",
        source_type="composite",
        ingredients=[ingredient(f"{PREFIX}/{shot}/upscale", "v001", "parentOf")],
    )
    return [upscale, final]


Outputs = tuple[dict[str, Any], CreditReport, AuditResult, bool]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    tmp = tmp_path_factory.mktemp("undeclared")
    extra = fixed(_shot("sh040", "digitalCapture") + _shot("sh050", "algorithmicallyEnhanced"))
    for n, (_, _, event) in enumerate(extra):  # ids of their own, after the demo's
        event["event_id"] = story.fixed_id(f"undeclared-ai:{n}")
    ledger = build_ledger(tmp / "ledger.db", extra=extra)
    cut = write_cut(timeline([HIDDEN_FINAL, HONEST_FINAL]), tmp / "cut.otio")
    with open_store(ledger.url) as store:
        built = build_packet(store, story.SHOW, story.EPISODE, cut, tmp / "pkt")
        credits, audit = beside(store, built.disclosure)
    verified = verify_packet(built.zip_path, ledger.log_vkey, check_pdf=False).ok
    return built.disclosure, credits, audit, verified


def test_the_audit_finds_it_and_its_deliverable_is_not_clear(outputs: Outputs) -> None:
    _, _, audit, _ = outputs
    [finding] = [f for f in audit.findings if f.rule == RULE]
    assert finding.asset == HIDDEN and finding.severity == "high"
    clear = audit.clear_to_ship()
    assert clear[HIDDEN_FINAL] is False and clear[HONEST_FINAL] is True


def test_the_credits_carry_the_audits_finding(outputs: Outputs) -> None:
    _, credits, audit, _ = outputs
    [finding] = [f for f in audit.findings if f.rule == RULE]
    by_asset = {o.asset: o for o in credits.ai_outputs}
    hidden, honest = by_asset[HIDDEN], by_asset[HONEST]
    assert hidden.disclosure == "NOT disclosed as AI output"
    assert hidden.disclosure_finding is not None
    assert (hidden.disclosure_finding.finding_id, hidden.disclosure_finding.status) == (
        finding.finding_id,
        finding.status,
    )
    assert hidden.to_json()["disclosure_finding"]["id"] == finding.finding_id
    assert honest.disclosure == "disclosed as AI output" and honest.disclosure_finding is None
    # counsel's findings are privileged: a guild member's copy keeps the words, not the finding
    guild = {o.asset: o for o in credits.for_members(frozenset()).ai_outputs}
    assert (
        guild[HIDDEN].disclosure == hidden.disclosure and guild[HIDDEN].disclosure_finding is None
    )


def test_the_disclosure_shows_it_and_the_packet_verifies(outputs: Outputs) -> None:
    disclosure, _, audit, verified = outputs
    [finding] = [f for f in audit.findings if f.rule == RULE]
    clips = {c["asset"]: c for c in disclosure["clips"] if c.get("asset")}
    assert clips[HIDDEN_FINAL]["status"] == "NOT clear to ship"
    assert finding.finding_id in {f["id"] for f in clips[HIDDEN_FINAL]["findings"]}
    assert clips[HONEST_FINAL]["status"] == "clear to ship"
    assert RULE in {r["rule"] for r in disclosure["rules"]}
    assert verified


def test_a_disclosure_without_the_finding_lists_the_rules_as_before() -> None:
    """Packets built before the rule verify: a catalog lists it only when a clip finds it."""
    before = [r for r in RuleSet(approvals=True).catalog() if r["rule"] not in LATER_RULES]
    assert RULE in LATER_RULES
    assert RuleSet(approvals=True).catalog(["deliverable-unresolved"]) == before
    assert RULE in {r["rule"] for r in RuleSet(approvals=True).catalog([RULE])}
