"""The approval-missing rule: uses in a deliverable's lineage need an approval in force."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from demo import story
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.rules import RuleSet
from ledger.errors import AssetLedgerError
from ledger.events.approval import GENERATED_FINAL, LIKENESS
from ledger.log.operator import Checkpointer
from ledger.log.verify import verify_ledger
from ledger.store import Batch, open_store
from ledger.trust.dsse import Envelope
from ledger.trust.records import cosign
from tests.ledger.audit.audit_factory import Item, pending
from tests.ledger.packet.packet_factory import APPROVED_AT, approval, build_ledger

PREFIX = story.DELIVERY_PREFIX
DEBRIS = f"{PREFIX}/sh010/fx_debris@v001"


def approval_findings(path: Path, items: list[Item]) -> dict[str, str]:
    return approval_findings_of(build_ledger(path, approvals=items).url)


def approval_findings_of(url: str) -> dict[str, str]:
    with open_store(url) as store:
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


@pytest.mark.parametrize("cosigned", [False, True], ids=["signed-once", "cosigned"])
def test_an_approval_relabelled_with_the_distributors_key_does_not_count(
    tmp_path: Path, cosigned: bool
) -> None:
    """The editorial tool signs an approval in the distributor's name: it does not count.
    Setting its entry's signer column (not in the signed log) to the distributor's key id
    (cosigned: whose signature is on it too, but the registry admitted it by editorial's) must
    not make it count without a named failure, and ``assetledger verify`` flags the edit."""
    ledger = build_ledger(tmp_path / "l.db", approvals=[])
    distributor = ledger.signers["distributor"]
    with open_store(ledger.url) as store:
        [entry] = pending([approval(GENERATED_FINAL, assets=[DEBRIS], signer="editorial")],
                          ledger.signers)  # fmt: skip
        if cosigned:
            envelope = cosign(Envelope.decode(entry.envelope), [distributor]).encode()
            entry = replace(entry, envelope=envelope)
        start = store.head().size
        entry = replace(entry, origin=replace(entry.origin, offset=start))
        store.append(Batch([entry], [], {("events", 0): start + 1}, "t"))
        Checkpointer(store, ledger.log).checkpoint()
    assert "editorial" in approval_findings_of(ledger.url)[DEBRIS]
    with open_store(ledger.url) as store:
        store.db.execute(  # type: ignore[attr-defined]
            "UPDATE entries SET signer_keyid = ? WHERE seq = ?", (distributor.key_id, start)
        )
    with open_store(ledger.url) as store:
        assert not verify_ledger(store).ok
    if not cosigned:  # the index read already refuses a column naming a key that did not sign
        with pytest.raises(AssetLedgerError, match="signer column"):
            approval_findings_of(ledger.url)
        return
    assert "signer column" in approval_findings_of(ledger.url)[DEBRIS]
