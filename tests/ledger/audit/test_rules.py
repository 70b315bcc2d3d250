"""Each IP rule with a positive and a negative case, on real signed ledgers; the demo's findings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from demo import story
from ledger.audit.ip import Scope, audit_json, run_audit
from ledger.audit.keys import folder_verdicts, registry_verdicts
from ledger.audit.model import LedgerView
from ledger.audit.rules import Finding
from ledger.log.operator import Checkpointer, init_ledger, log_identity
from ledger.log.receipt import verify_receipt
from ledger.store import LedgerStore
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import (
    LICENSED_MODEL,
    WRITER,
    Item,
    build_store,
    consent_item,
    ingredient,
    licence_item,
    provenance,
)

D = "fallen-tower/ep101/sq040"
UNLICENSED = {
    "name": "Mystery",
    "version": "0.1",
    "provider": "unknown",
    "licence": None,
    "training_data": None,
}


def audit(tmp_path: Path, signers: dict[str, KeyPair], items: list[Item]) -> list[Finding]:
    with build_store(tmp_path / "l.db", items, signers) as store:
        return run_audit(LedgerView.open(store), Scope(production=story.SHOW)).findings


def found(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.rule, f.asset) for f in findings}


def test_demo_findings_are_exactly_the_doubtful_items(view: LedgerView) -> None:
    result = run_audit(view, Scope(production=story.SHOW))
    assert found(result.findings) == {
        ("ai-model-undeclared", f"{D}/sh010/fx_dust@v001"),
        ("licence-not-covering", f"{D}/sh020/plate@v002"),
        ("ai-input-not-allowed", f"{D}/sh030/sky@v001"),
        ("likeness-without-consent", f"{D}/sh030/crowd_replica@v001"),
        ("ingredient-unrecorded", f"{D}/sh030/comp@v001"),
        ("content-hash-mismatch", f"{D}/sh030/comp@v001"),
        ("deliverable-unresolved", f"{D}/sh010/final@v001"),
        ("deliverable-unresolved", f"{D}/sh020/final@v001"),
        ("deliverable-unresolved", f"{D}/sh030/final@v001"),
    }
    assert [f.severity for f in result.findings][:2] == ["critical", "critical"]
    for f in result.findings:
        assert f.explanation and f.evidence
        for e in f.evidence:
            assert view.store.entry_by_event_id(e.event_id) is not None


def test_licensed_ai_output_and_its_lineage_have_no_findings(view: LedgerView) -> None:
    result = run_audit(view, Scope(asset=f"{D}/sh010/fx_debris@v001"))
    assert result.findings == []
    assert [s.key for s in result.steps] == [f"{D}/sh010/fx_debris@v001"]


def test_ai_model_undeclared(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    bad = audit(tmp_path / "a", signers, [provenance("gen", ai=True, model=UNLICENSED)])
    assert found(bad) == {("ai-model-undeclared", "gen@v001")}
    assert "cites no licence record" in bad[0].explanation
    assert audit(tmp_path / "b", signers, [licence_item(), provenance("gen", ai=True)]) == []


def test_free_text_licence_is_not_a_declaration(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    model = dict(UNLICENSED, licence="some licence", training_data="https://x.example/data")
    [finding] = audit(tmp_path, signers, [provenance("gen", ai=True, model=model)])
    assert finding.rule == "ai-model-undeclared"
    assert "'some licence' as free text, which is not a record" in finding.explanation


def test_old_events_are_judged_by_the_old_rule_and_say_so(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    old = {"name": "Old", "version": "1", "provider": "Old AI", "licence": "some licence"}
    bad = provenance("gen", ai=True, model=dict(old, training_data=None))
    bad[2][WRITER] = "provenance_event.v2"
    [finding] = audit(tmp_path / "a", signers, [bad])
    assert finding.summary.endswith("no declared training-data declaration")
    assert "judged by the old rule" in finding.explanation
    assert "provenance schema v2" in finding.explanation
    good = provenance("gen", ai=True, model=dict(old, training_data="https://old.example/data"))
    good[2][WRITER] = "provenance_event.v2"
    assert audit(tmp_path / "b", signers, [good]) == []


def test_ai_model_with_licence_record_but_no_training_data(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    model = {k: v for k, v in LICENSED_MODEL.items() if k != "training_data"}
    [finding] = audit(tmp_path, signers, [licence_item(), provenance("gen", ai=True, model=model)])
    assert finding.summary.endswith("has no training-data declaration")
    assert {e.what for e in finding.evidence} >= {"the licence record cited"}


def stock(use: str, constraint: str | None = None) -> Item:
    terms = [{"use_kind": "cawg.ai_inference", "use": use, "constraint_info": constraint}]
    return provenance("stock", rights={"licence": "stock licence", "training_mining": terms})


def ai_from_stock(**extra: Any) -> Item:
    return provenance("gen", ai=True, ingredients=[ingredient("stock", "v001", "inputTo")], **extra)


def test_ai_input_not_allowed(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    bad = audit(tmp_path / "a", signers, [licence_item(), stock("notAllowed"), ai_from_stock()])
    assert found(bad) == {("ai-input-not-allowed", "gen@v001")}
    assert len(bad[0].evidence) == 2  # the AI action and the input's terms
    good = audit(tmp_path / "b", signers, [licence_item(), stock("allowed"), ai_from_stock()])
    assert good == []


def test_a_human_may_use_a_not_allowed_input(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    human = provenance("paint", ingredients=[ingredient("stock", "v001", "inputTo")])
    assert audit(tmp_path, signers, [stock("notAllowed"), human]) == []


def test_constrained_input_needs_a_consent_that_meets_it(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    unmet = audit(
        tmp_path / "a",
        signers,
        [licence_item(), stock("constrained", "with a licence"), ai_from_stock()],
    )
    assert found(unmet) == {("ai-input-not-allowed", "gen@v001")}
    assert "constrained (with a licence)" in unmet[0].explanation
    permission = consent_item(
        event_id=story.fixed_id("stock-permission"),
        grantor={"party_id": "org:stock", "kind": "rights_holder", "display_name": "Stock Co"},
        likeness_uses=[],
        ai_uses=["cawg.ai_inference"],
        assets=["stock"],
    )
    met = ai_from_stock(
        rights={"licence": None, "consent_refs": [story.fixed_id("stock-permission")]}
    )
    items = [licence_item(), permission, stock("constrained"), met]
    assert audit(tmp_path / "b", signers, items) == []


def replica(consent_ref: str | None) -> Item:
    likeness = [
        {
            "performer_id": "performer:dana-whitfield",
            "use": "digital_replica",
            "consent_ref": consent_ref,
        }
    ]
    return provenance("face", ai=True, likeness=likeness)


def replica_items(*items: Item) -> list[Item]:
    return [licence_item(), *items]


def test_likeness_with_matching_consent(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    assert (
        audit(tmp_path, signers, replica_items(consent_item(), replica(story.CONSENT_DANA))) == []
    )


def test_likeness_without_any_consent(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    [finding] = audit(tmp_path, signers, replica_items(replica(None)))
    assert finding.rule == "likeness-without-consent" and finding.severity == "critical"
    assert "cites no consent" in finding.explanation


def test_likeness_with_expired_consent(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    expired = consent_item(valid_from="2024-01-01T00:00:00Z", expires="2025-01-01T00:00:00Z")
    [finding] = audit(tmp_path, signers, replica_items(expired, replica(story.CONSENT_DANA)))
    assert "expired" in finding.explanation
    assert {e.what for e in finding.evidence} == {
        "the digital_replica use of Dana Whitfield (performer:dana-whitfield)",
        "the consent cited",
    }


def test_likeness_out_of_scope_and_revoked(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    other_episode = consent_item(coverage=[{"show": "Fallen Tower", "episode": "102"}])
    [finding] = audit(
        tmp_path / "a", signers, replica_items(other_episode, replica(story.CONSENT_DANA))
    )
    assert "not Fallen Tower, episode 101" in finding.explanation
    revocation = consent_item(
        event_id=story.fixed_id("revoke"),
        status="revoked",
        revokes=story.CONSENT_DANA,
        valid_from="2025-02-01T00:00:00Z",
    )
    [finding] = audit(
        tmp_path / "b",
        signers,
        replica_items(consent_item(), revocation, replica(story.CONSENT_DANA)),
    )
    assert "revoked" in finding.explanation
    # The revocation is evidence too, not only the grant.
    assert "the revocation of that consent" in {e.what for e in finding.evidence}
    assert story.fixed_id("revoke") in {e.event_id for e in finding.evidence}


def test_ingredient_unrecorded(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    comp = provenance("comp", ingredients=[ingredient("plate", "v001", "parentOf")])
    assert found(audit(tmp_path / "a", signers, [comp])) == {("ingredient-unrecorded", "comp@v001")}
    assert audit(tmp_path / "b", signers, [provenance("plate"), comp]) == []


def test_content_hash_mismatch(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    wrong = dict(ingredient("plate", "v001", "parentOf"), content_sha256="ab" * 32)
    comp = provenance("comp", ingredients=[wrong])
    bad = audit(tmp_path / "a", signers, [provenance("plate"), comp])
    assert found(bad) == {("content-hash-mismatch", "comp@v001")}
    assert "ab" * 32 in bad[0].explanation
    good = provenance("comp", ingredients=[ingredient("plate", "v001", "parentOf")])
    assert audit(tmp_path / "b", signers, [provenance("plate"), good]) == []


def publish(of: str) -> Item:
    return provenance(
        "final",
        action="c2pa.published",
        source_type="composite",
        ingredients=[ingredient(of, "v001", "parentOf")],
    )


def test_deliverable_unresolved(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    bad = audit(
        tmp_path / "a", signers, [provenance("gen", ai=True, model=UNLICENSED), publish("gen")]
    )
    assert found(bad) == {
        ("ai-model-undeclared", "gen@v001"),
        ("deliverable-unresolved", "final@v001"),
    }
    deliverable = next(f for f in bad if f.rule == "deliverable-unresolved")
    assert deliverable.severity == "high"
    assert "ai-model-undeclared (gen@v001)" in deliverable.explanation
    clean = [licence_item(), provenance("gen", ai=True), publish("gen")]
    assert audit(tmp_path / "b", signers, clean) == []


def test_deliverable_rule_follows_lineage_outside_the_scope(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    other_show = provenance("gen", ai=True, model=UNLICENSED)
    other_show[2]["production"] = {"show": "Other", "episode": None, "sequence": None, "shot": None}
    findings = audit(tmp_path, signers, [other_show, publish("gen")])
    assert ("deliverable-unresolved", "final@v001") in found(findings)


def test_signer_not_trusted(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    with build_store(tmp_path / "l.db", [provenance("a"), publish("a")], signers) as store:
        view = LedgerView.open(store)
        trusted = {k.key_id: k.public for k in signers.values()}
        clean = run_audit(
            view, Scope(production=story.SHOW), signer_verdicts=folder_verdicts(store, trusted)
        )
        assert clean.findings == []
        stranger = keys.generate("stranger")
        strict = folder_verdicts(store, {stranger.key_id: stranger.public})
        bad = run_audit(view, Scope(production=story.SHOW), signer_verdicts=strict)
    assert ("signer-not-trusted", "a@v001") in found(bad.findings)
    assert all(f.severity == "critical" for f in bad.findings)


def test_registry_verdicts_hook_passes_a_ledger_without_registry(demo_ledger: LedgerStore) -> None:
    verdicts = registry_verdicts(demo_ledger)
    if verdicts is None:  # ledger.log.verdicts not in this build
        return
    assert verdicts(0).ok
    view = LedgerView.open(demo_ledger)
    result = run_audit(view, Scope(production=story.SHOW), signer_verdicts=verdicts)
    assert "signer-not-trusted" not in {f.rule for f in result.findings}


def test_evidence_carries_receipts_that_verify(demo_ledger: LedgerStore) -> None:
    log_key = keys.generate("log")
    init_ledger(demo_ledger, "studio.example/ledger", log_key)
    Checkpointer(demo_ledger, log_key).checkpoint()
    identity = log_identity(demo_ledger)
    assert identity is not None
    view = LedgerView.open(demo_ledger)
    assert view.state.signed
    result = run_audit(view, Scope(production=story.SHOW))
    evidence = [e for f in result.findings for e in f.evidence]
    assert evidence and all(e.receipt for e in evidence)
    for e in evidence[:5]:
        assert e.receipt is not None
        verdict = verify_receipt(e.receipt, identity.origin, identity.public_key)
        assert verdict.index == e.seq
    # a report that shows no receipts (a packet's disclosure) is the same audit without them
    bare = run_audit(LedgerView.open(demo_ledger), Scope(production=story.SHOW), receipts=False)
    assert all(e.receipt is None for f in bare.findings for e in f.evidence)
    assert bare.findings == [
        replace(f, evidence=tuple(replace(e, receipt=None) for e in f.evidence))
        for f in result.findings
    ]
    assert audit_json(bare, receipts=False) == audit_json(result, receipts=False)


def test_ai_output_declared_as_if_no_ai_made_it(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """A licensed model's output whose event declares digitalCapture (a camera capture) got no
    finding, so a deliverable holding it was clear to ship: it is ai-output-undeclared now."""
    bad = audit(
        tmp_path / "a",
        signers,
        [licence_item(), provenance("gen", ai=True, source_type="digitalCapture")],
    )
    assert found(bad) == {("ai-output-undeclared", "gen@v001")}
    assert bad[0].severity == "high" and "declared digitalCapture" in bad[0].summary
    for declared in ("trainedAlgorithmicMedia", "algorithmicallyEnhanced"):
        ok = provenance("gen", ai=True, source_type=declared)
        assert audit(tmp_path / declared, signers, [licence_item(), ok]) == []


def test_a_capture_made_from_ai_output_is_undeclared_ai(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    gen = provenance("gen", ai=True)
    plate = provenance(
        "plate", source_type="digitalCapture", ingredients=[ingredient("gen", "v001", "parentOf")]
    )
    [finding] = audit(tmp_path / "a", signers, [licence_item(), gen, plate])
    assert (finding.rule, finding.asset) == ("ai-output-undeclared", "plate@v001")
    assert "made from the AI output gen@v001" in finding.summary
    assert len(finding.evidence) == 2  # the plate's declaration and the AI output it uses
    honest = provenance(
        "plate",
        source_type="compositeWithTrainedAlgorithmicMedia",
        ingredients=[ingredient("gen", "v001", "parentOf")],
    )
    assert audit(tmp_path / "b", signers, [licence_item(), gen, honest]) == []
