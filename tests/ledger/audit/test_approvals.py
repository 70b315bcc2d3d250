"""The approval-missing rule: uses in a deliverable's lineage need an approval in force."""

from __future__ import annotations

from pathlib import Path

from demo import story
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.rules import RuleSet
from ledger.events.approval import GENERATED_FINAL, LIKENESS
from ledger.store import open_store
from tests.ledger.audit.audit_factory import Item
from tests.ledger.packet.packet_factory import APPROVED_AT, approval, build_ledger

PREFIX = story.DELIVERY_PREFIX
DEBRIS = f"{PREFIX}/sh010/fx_debris@v001"


def approval_findings(path: Path, items: list[Item]) -> dict[str, str]:
    ledger = build_ledger(path, approvals=items)
    with open_store(ledger.url) as store:
        view = LedgerView.open(store)
        result = run_audit(
            view, Scope(story.SHOW), rules=RuleSet(approvals=True), as_of=APPROVED_AT
        )
    return {f.asset: f.explanation for f in result.findings if f.rule == "approval-missing"}


def test_without_approvals_every_generated_element_and_likeness_is_a_finding(
    tmp_path: Path,
) -> None:
    found = approval_findings(tmp_path / "l.db", [])
    assert DEBRIS in found and "no approval is recorded" in found[DEBRIS]
    replica = f"{PREFIX}/sh030/crowd_replica@v001"
    assert "talent likeness" in found[replica] and "generated material" in found[replica]


def test_an_approval_naming_assets_covers_only_those(tmp_path: Path) -> None:
    found = approval_findings(tmp_path / "l.db", [approval(GENERATED_FINAL, assets=[DEBRIS])])
    assert DEBRIS not in found
    assert f"{PREFIX}/sh030/sky@v001" in found


def test_a_refusal_after_an_approval_decides(tmp_path: Path) -> None:
    items = [approval(LIKENESS), approval(LIKENESS, decision="refused", n=1)]
    found = approval_findings(tmp_path / "l.db", items)
    stunt = f"{PREFIX}/sh030/stunt_face@v001"
    assert "refused it" in found[stunt]


def test_the_rule_is_off_unless_asked(tmp_path: Path) -> None:
    ledger = build_ledger(tmp_path / "l.db", approvals=[])
    with open_store(ledger.url) as store:
        result = run_audit(LedgerView.open(store), Scope(story.SHOW))
    assert not [f for f in result.findings if f.rule == "approval-missing"]
    assert "approval-missing" not in {r["rule"] for r in RuleSet().catalog()}
    assert "approval-missing" in {r["rule"] for r in RuleSet(approvals=True).catalog()}
