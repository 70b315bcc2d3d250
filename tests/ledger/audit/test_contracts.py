"""The contracts in the ledger, audited: licence records, restrictions that follow the material,
counsel's dispositions (legal scope, lapses, clear to ship), on real signed ledgers with a key
registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.inspect import RawRecord, inspect
from demo import story
from ledger.audit.credits import AiOutput, credit_report, flat_rows
from ledger.audit.decide import decide, find_finding
from ledger.audit.ip import AuditResult, Scope, audit_json, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.rules import Finding
from ledger.errors import ConfigurationError, InvalidEventError
from ledger.events import kafka as k
from ledger.events import kinds
from ledger.events.base import EventKind, format_time, validate
from ledger.events.consent import CONSENT
from ledger.events.disposition import DISPOSITION, LEGAL_ACTIONS, disposition_event
from ledger.events.encoding import SingleObjectFraming
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.keyregistry import Scope as KeyScope
from ledger.log.verify import verify_ledger
from ledger.reports.render import to_html
from ledger.reports.report import credits_document
from ledger.store import Batch, LedgerStore, PendingEntry, open_store
from ledger.trust import dsse, keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust
from ledger.trust.records import cosign, enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import Message, build_message
from tests.ledger.audit.audit_factory import (
    BASE_TIME,
    LICENSED_MODEL,
    WRITER,
    Item,
    fixed,
    ingredient,
    licence_item,
    provenance,
    writer_framing,
)

COUNSEL = {
    "actor_id": "person:hana-sato",
    "kind": "human",
    "display_name": "Hana Sato",
    "role": "production counsel",
}
PARALEGAL = dict(COUNSEL, actor_id="person:pat-lee", display_name="Pat Lee", role="paralegal")
AFTER = BASE_TIME + timedelta(days=30)  # when counsel decides: after every fixed() event


@dataclass
class Ledger:
    """A SQLite ledger with a trust root, counsel enrolled with a legal scope, a paralegal not."""

    store: LedgerStore
    keys: dict[str, KeyPair]
    offset: int = 0
    decided: int = field(default=0)

    def append(self, items: list[Item]) -> None:
        trust = FolderTrust({k.key_id: k.public for k in self.keys.values()})
        entries = []
        for signer, kind, event in items:
            if WRITER in event:
                m = old_message(dict(event), kind, self.keys[signer])
            else:
                m = build_message(dict(event), self.keys[signer], kind=kind, source=f"/t/{signer}")
            raw = RawRecord("events", 0, self.offset, m.key, m.value, tuple(m.headers))
            outcome = inspect(raw, trust, SingleObjectFraming())
            assert isinstance(outcome, PendingEntry), outcome
            entries.append(outcome)
            self.offset += 1
        self.store.append(Batch(entries, [], {("events", 0): self.offset}, "test"))

    def audit(self, as_of: datetime = AFTER) -> AuditResult:
        return run_audit(LedgerView.open(self.store, at_head=True), Scope(), as_of=as_of)

    def decide(
        self,
        signer: str,
        actor: dict[str, Any],
        decision: str,
        f: Finding,
        show: str = story.SHOW,
        **terms: Any,
    ) -> None:
        self.decided += 1
        event = disposition_event(
            decision,
            finding_id=f.finding_id,
            rule=f.rule,
            asset=f.asset,
            show=show,
            actor=actor,
            reason=f"reason {self.decided}",
            event_time=(AFTER - timedelta(days=1) + timedelta(minutes=self.decided)).isoformat(),
            **terms,
        )
        event["event_id"] = story.fixed_id(f"disposition:{self.decided}")
        self.append([(signer, DISPOSITION, event)])


def old_message(event: dict[str, Any], kind: EventKind, signer: KeyPair) -> Message:
    """What an older SDK wrote: the event encoded with an earlier schema version and signed,
    checked only by the rules for reading (a new SDK refuses to write it)."""
    framing = writer_framing(event)
    record = kinds.prepare(kind, event)
    payload = framing.encode(kind.record, record)
    validate(kind, framing.decode(payload)[1], writing=False)
    envelope = dsse.sign(kind.payload_type, payload, signer)
    headers = [
        (k.H_SPECVERSION, k.CE_SPECVERSION.encode()),
        (k.H_ID, record["event_id"].encode()),
        (k.H_SOURCE, b"/old-sdk"),
        (k.H_TYPE, kind.ce_type.encode()),
        (k.H_TIME, format_time(record["event_time"]).encode()),
        (k.H_CONTENT_TYPE, dsse.ENVELOPE_CONTENT_TYPE.encode()),
    ]
    subject = kind.subject(record).encode()
    return Message(record["event_id"], subject, envelope.encode(framing), headers)


def _enrol(
    actor: dict[str, Any],
    pair: KeyPair,
    actions: tuple[str, ...],
    productions: tuple[str, ...] = (story.SHOW,),
) -> Item:
    start = BASE_TIME - timedelta(days=1)
    event = enroll_event(
        actor["actor_id"],
        "human",
        actor["display_name"],
        pair.public,
        scope=KeyScope(productions=productions, actions=actions),
        event_time=start,
    )
    event["event_id"] = story.fixed_id(f"enrol:{actor['actor_id']}")
    return ("root", KEY_REGISTRY, event)


@pytest.fixture
def make(tmp_path: Path, signers: dict[str, KeyPair]) -> Iterator[Any]:
    opened: list[LedgerStore] = []

    def build(items: list[Item], name: str = "l") -> Ledger:
        pairs = dict(signers)
        pairs.update(
            root=keys.generate("root"), counsel=keys.generate("c"), para=keys.generate("p")
        )
        store = open_store(str(tmp_path / f"{name}.db"))
        opened.append(store)
        set_roots(store, [RootKey("root", pairs["root"].public)])
        ledger = Ledger(store, pairs)
        ledger.append(
            [
                _enrol(COUNSEL, pairs["counsel"], LEGAL_ACTIONS),
                _enrol(PARALEGAL, pairs["para"], ()),  # enrolled, but with no legal scope
                *fixed(items),
            ]
        )
        return ledger

    yield build
    for store in opened:
        store.close()


def found(result: AuditResult) -> set[tuple[str, str, str]]:
    return {(f.rule, f.asset, f.status) for f in result.findings}


def one(result: AuditResult, rule: str) -> Finding:
    [f] = [f for f in result.findings if f.rule == rule]
    return f


def stock(use: str = "notAllowed", **rights: Any) -> Item:
    terms = [{"use_kind": "cawg.ai_inference", "use": use, "constraint_info": None}]
    return provenance("stock", rights={"licence": None, "training_mining": terms, **rights})


def paint_over(of: str = "stock") -> Item:
    return provenance(
        "paint",
        source_type="humanEdits",
        action="c2pa.edited",
        ingredients=[ingredient(of, "v001", "parentOf")],
    )


def ai_from(of: str, version: str = "v001", **extra: Any) -> Item:
    return provenance(
        "gen", version, ai=True, ingredients=[ingredient(of, "v001", "inputTo")], **extra
    )


def publish(of: str, version: str = "v001", of_version: str = "v001") -> Item:
    return provenance(
        "final",
        version,
        action="c2pa.published",
        source_type="composite",
        ingredients=[ingredient(of, of_version, "parentOf")],
    )


# --- §3 restrictions follow the material ----------------------------------------------


def test_a_restriction_follows_through_a_human_edit(make: Any) -> None:
    result = make([licence_item(), stock(), paint_over(), ai_from("paint")]).audit()
    f = one(result, "ai-input-not-allowed")
    assert f.asset == "gen@v001"
    assert "derives from stock@v001" in f.summary
    assert "path paint@v001 ← stock@v001" in f.explanation
    assert "human work in between does not lift them" in f.explanation
    whats = [e.what for e in f.evidence]
    assert whats == [
        "the AI action using the input",
        "a step of the path to the restricted input",
        "the restricted input's record, with its terms",
    ]


def test_no_restriction_no_finding_and_humans_may_use_restricted_material(make: Any) -> None:
    allowed = make([licence_item(), stock("allowed"), paint_over(), ai_from("paint")], "a").audit()
    assert allowed.findings == []
    human_only = make([licence_item(), stock(), paint_over()], "b").audit()
    assert human_only.findings == []


def test_a_stock_licence_record_restricts_ai_use(make: Any) -> None:
    stock_licence = licence_item(
        event_id=story.fixed_id("stock-licence"),
        subject="asset",
        models=[],
        assets=["stock"],
        ai_terms=[{"use_kind": "cawg.ai_inference", "use": "notAllowed", "constraint_info": None}],
    )
    held = provenance(
        "stock", rights={"licence": None, "licence_ref": story.fixed_id("stock-licence")}
    )
    result = make(
        [licence_item(), stock_licence, held, paint_over(), ai_from("paint")], "a"
    ).audit()
    f = one(result, "ai-input-not-allowed")
    assert "marks notAllowed cawg.ai_inference" in f.explanation
    assert "the licence record cited" in {e.what for e in f.evidence}
    allowing = dict(
        stock_licence[2],
        ai_terms=[{"use_kind": "cawg.ai_inference", "use": "allowed", "constraint_info": None}],
    )
    clean = make(
        [licence_item(), ("clearances", stock_licence[1], allowing), held, ai_from("stock")], "b"
    ).audit()
    assert clean.findings == []


# --- §2 licence records for models ---------------------------------------------------


def test_a_model_licence_not_in_force_is_no_licence(make: Any) -> None:
    expired = licence_item(valid_until="2025-02-01T00:00:00Z")
    result = make([expired, provenance("gen", ai=True)]).audit()
    f = one(result, "ai-model-undeclared")
    assert "no licence record in force" in f.summary and "had expired" in f.explanation
    assert "the licence record cited" in {e.what for e in f.evidence}


def test_a_licence_that_does_not_cover_the_territory_or_commercial_use(make: Any) -> None:
    gb = {"commercial": True, "territories": ["GB"], "media": ["streaming"]}
    use = provenance("gen", ai=True, rights={"licence": None, "distribution": gb})
    us_only = make([licence_item(territories=["US"]), use], "a").audit()
    assert "covers US, not GB" in one(us_only, "licence-not-covering").explanation
    free = make([licence_item(commercial_use=False), use], "b").audit()
    assert "commercial use" in one(free, "licence-not-covering").explanation
    covered = make([licence_item(territories=["US", "GB"]), use], "c").audit()
    assert covered.findings == []


def test_a_licence_for_another_model_does_not_cover(make: Any) -> None:
    other = dict(LICENSED_MODEL, name="OtherGen")
    result = make([licence_item(), provenance("gen", ai=True, model=other)]).audit()
    assert "does not cover OtherGen" in one(result, "licence-not-covering").explanation


def test_an_old_consent_reads_back_and_is_judged_by_the_old_rule(make: Any) -> None:
    old = dict(story.consents()[0][1], productions=["Fallen Tower/102"])
    for name in (
        "shots",
        "media",
        "territories",
        "compensation_ref",
        "document_sha256",
        "event_kind",
    ):
        old.pop(name)
    old[WRITER] = "consent_event.v1"
    likeness = [
        {
            "performer_id": "performer:dana-whitfield",
            "use": "digital_replica",
            "consent_ref": story.CONSENT_DANA,
        }
    ]
    items = [
        ("clearances", CONSENT, old),
        licence_item(),
        provenance("face", ai=True, likeness=likeness),
    ]
    f = one(make(items).audit(), "likeness-without-consent")
    assert "judged by the old rule" in f.explanation


# --- §4 dispositions -------------------------------------------------------------------


def unlicensed_deliverable() -> list[Item]:
    return [provenance("gen", ai=True), publish("gen")]  # GoodGen cited, its licence not recorded


def test_counsel_clears_a_finding_and_the_deliverable_is_clear_to_ship(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    before = ledger.audit()
    assert before.clear_to_ship() == {"final@v001": False}
    f = one(before, "ai-model-undeclared")
    ledger.decide("counsel", COUNSEL, "cleared", f, document_sha256="cd" * 32)
    after = ledger.audit()
    cleared = one(after, "ai-model-undeclared")
    assert cleared.finding_id == f.finding_id and cleared.status == "cleared"
    assert cleared.disposition is not None and cleared.disposition.by == "Hana Sato"
    assert cleared.disposition.document_sha256 == "cd" * 32
    assert "counsel's disposition" in {e.what for e in cleared.evidence}
    assert after.clear_to_ship() == {"final@v001": True}
    assert after.at_or_above("info") == []  # --fail-on counts open findings only
    body = audit_json(after)
    assert body["deliverables"] == [
        {"asset": "final@v001", "production": story.SHOW, "clear_to_ship": True}
    ]
    assert body["disposed"] == 1 and body["counts"] == {}


def test_a_disposition_by_a_key_without_legal_scope_does_not_count(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("para", PARALEGAL, "cleared", f, document_sha256="cd" * 32)
    again = one(ledger.audit(), "ai-model-undeclared")
    assert again.is_open
    [note] = again.lapsed
    assert "not enrolled with a legal scope naming assetledger.finding.cleared" in note.note


def test_counsel_of_another_production_cannot_decide_this_ones_findings(make: Any) -> None:
    """Counsel enrolled with a legal scope for another production only: the consumer admits
    a disposition that says it is for that production; the audit must not apply it here, and
    it is that production's record, not this one's (docs/audits.md, "Whose records count")."""
    ledger = make(unlicensed_deliverable())
    rival = dict(COUNSEL, actor_id="person:rival-counsel", display_name="Rival Counsel")
    ledger.keys["rival"] = keys.generate("rival")
    ledger.append([_enrol(rival, ledger.keys["rival"], LEGAL_ACTIONS, ("Other Show",))])
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("rival", rival, "cleared", f, show="Other Show", document_sha256="cd" * 32)
    again = one(ledger.audit(), "ai-model-undeclared")
    assert again.is_open and again.disposition is None
    assert again.lapsed == ()  # another production's decision is not shown here
    assert all(e.what != "counsel's disposition" for e in again.evidence)
    assert ledger.audit().clear_to_ship() == {"final@v001": False}


def test_a_disposition_signed_with_someone_elses_name_does_not_count(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("counsel", PARALEGAL, "cleared", f, document_sha256="cd" * 32)
    again = one(ledger.audit(), "ai-model-undeclared")
    assert again.is_open and "not person:pat-lee's" in again.lapsed[0].note


def test_a_disposition_lapses_when_the_evidence_changes(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("counsel", COUNSEL, "cleared", f, document_sha256="cd" * 32)
    gen = provenance("gen", ai=True, description="the same version, recorded again")
    gen[2].update(
        event_id=story.fixed_id("gen-again"),
        event_time=AFTER.isoformat(),
        producer_id="/t",
        producer_seq=99,
    )
    ledger.append([gen])
    after = ledger.audit()
    changed = [x for x in after.findings if x.rule == "ai-model-undeclared"]
    assert changed and all(x.is_open for x in changed)
    assert all(x.finding_id != f.finding_id for x in changed)
    assert "evidence has changed" in changed[0].lapsed[0].note
    assert after.clear_to_ship() == {"final@v001": False}


def test_a_waiver_holds_until_it_expires(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    until = AFTER + timedelta(days=10)
    ledger.decide("counsel", COUNSEL, "waived", f, approver="Dana Price", expires=until.isoformat())
    assert one(ledger.audit(as_of=AFTER), "ai-model-undeclared").status == "waived"
    lapsed = one(ledger.audit(as_of=until), "ai-model-undeclared")
    assert lapsed.is_open and lapsed.lapsed[0].note == "the waiver expired"


def test_a_reopened_finding_is_open_and_says_who_reopened_it(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("counsel", COUNSEL, "cleared", f, document_sha256="cd" * 32)
    ledger.decide("counsel", COUNSEL, "reopened", f)
    again = one(ledger.audit(), "ai-model-undeclared")
    assert again.is_open and again.disposition is not None
    assert again.disposition.decision == "reopened"
    assert [d.note for d in again.lapsed] == ["superseded by a later disposition"]


def test_a_remediated_version_keeps_its_old_deliverable_from_shipping(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    # GoodGen's licence is recorded late, in force from AFTER - 6 days: v002, made after, is
    # licensed; v001 is not, and counsel records that v002 replaces it.
    late = licence_item(valid_from=(AFTER - timedelta(days=6)).isoformat())
    redo = [provenance("gen", "v002", ai=True), publish("gen", "v002", "v002")]
    for i, item in enumerate(redo):
        item[2].update(
            event_id=story.fixed_id(f"redo:{i}"),
            event_time=(AFTER - timedelta(days=2) + timedelta(minutes=i)).isoformat(),
            producer_id="/t",
            producer_seq=100 + i,
        )
    ledger.append([late, *redo])
    f = one(ledger.audit(), "ai-model-undeclared")
    assert f.asset == "gen@v001" and "not yet in force" in f.explanation
    ledger.decide("counsel", COUNSEL, "remediated", f, replaced_by=("gen", "v002"))
    result = ledger.audit()
    assert one(result, "ai-model-undeclared").status == "remediated"
    assert result.clear_to_ship() == {"final@v001": False, "final@v002": True}
    blocked = one(result, "deliverable-unresolved")
    assert "holds gen@v001 (replaced by gen@v002)" in blocked.explanation


def test_finding_ids_are_stable_across_independent_ledgers(make: Any) -> None:
    first = {f.finding_id for f in make(unlicensed_deliverable(), "a").audit().findings}
    second = {f.finding_id for f in make(unlicensed_deliverable(), "b").audit().findings}
    assert first == second and len(first) == 2 and all(len(i) == 64 for i in first)


# --- the library call behind ``assetledger finding`` ----------------------------------


def test_decide_refuses_what_the_audit_would_not_apply(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    view = LedgerView.open(ledger.store, at_head=True)
    f = one(ledger.audit(), "ai-model-undeclared")
    event = decide(
        view,
        ledger.keys["counsel"].key_id,
        "cleared",
        f.finding_id,
        reason="side letter",
        role="counsel",
        document_sha256="cd" * 32,
    )
    assert event["actor"]["actor_id"] == "person:hana-sato" and event["finding_id"] == f.finding_id
    with pytest.raises(ConfigurationError, match="legal scope"):
        decide(
            view,
            ledger.keys["para"].key_id,
            "cleared",
            f.finding_id,
            reason="x",
            role="counsel",
            document_sha256="cd" * 32,
        )
    with pytest.raises(ConfigurationError, match="not a finding id"):
        find_finding(view, '=HYPERLINK("x")')
    with pytest.raises(ConfigurationError, match="no finding"):
        find_finding(view, "0" * 64)
    deliverable = one(ledger.audit(), "deliverable-unresolved")
    with pytest.raises(ConfigurationError, match="follows from the findings"):
        decide(
            view,
            ledger.keys["counsel"].key_id,
            "cleared",
            deliverable.finding_id,
            reason="x",
            role="counsel",
            document_sha256="cd" * 32,
        )


@pytest.mark.parametrize(
    ("decision", "terms", "problem"),
    [
        ("cleared", {}, "needs document_sha256"),
        ("cleared", {"document_sha256": "nope"}, "64 lowercase hex"),
        ("waived", {"approver": "Dana"}, "needs expires"),
        ("waived", {"approver": "Dana", "expires": "2024-01-01T00:00:00Z"}, "expire after"),
        ("remediated", {}, "needs replaced_by"),
        ("reopened", {"approver": "Dana"}, "belongs to a waived disposition"),
        ("approved", {}, "decision 'approved'"),
    ],
)
def test_invalid_dispositions_are_refused(
    decision: str, terms: dict[str, Any], problem: str
) -> None:
    event = disposition_event(
        "cleared" if decision == "approved" else decision,
        finding_id="ab" * 32,
        rule="ai-model-undeclared",
        asset="gen@v001",
        show=story.SHOW,
        actor=COUNSEL,
        reason="because",
        event_time="2025-03-03T09:00:00Z",
        **terms,
    )
    event["decision"] = decision
    with pytest.raises(InvalidEventError, match=problem):
        build_message(event, keys.generate("c"), kind=DISPOSITION, source="/t")


def test_a_disposition_needs_a_person_and_its_action_matches_the_decision() -> None:
    event = disposition_event(
        "cleared",
        finding_id="ab" * 32,
        rule="r",
        asset="a@v1",
        show=story.SHOW,
        actor=dict(COUNSEL, kind="ai_model"),
        reason="r",
        document_sha256="cd" * 32,
    )
    with pytest.raises(InvalidEventError, match="decided by a person"):
        build_message(event, keys.generate("c"), kind=DISPOSITION, source="/t")
    event = disposition_event(
        "cleared",
        finding_id="ab" * 32,
        rule="r",
        asset="a@v1",
        show=story.SHOW,
        actor=COUNSEL,
        reason="r",
        document_sha256="cd" * 32,
    )
    event["action"] = "assetledger.finding.waived"
    with pytest.raises(InvalidEventError, match=r"action must be assetledger\.finding\.cleared"):
        build_message(event, keys.generate("c"), kind=DISPOSITION, source="/t")


# --- §5 credits in the guilds' terms ------------------------------------------------------------

WRITER_ACTOR = {
    "actor_id": "person:priya-nair",
    "kind": "human",
    "display_name": "Priya Nair",
    "role": "cawg.creator",
    "job_title": "Writer",
}


def script(relationship: str | None, disclosed: bool = True) -> Item:
    """Priya Nair's teleplay; an AI outline was given to her on 2025-03-02."""
    given = [{"asset_id": "outline", "version": "v001", "given_at": "2025-03-02T10:00:00Z"}]
    return provenance(
        "script",
        actor=WRITER_ACTOR,
        ingredients=[] if relationship is None else [ingredient("outline", "v001", relationship)],
        writing={"credit": "teleplay_by", "ai_material": given if disclosed else []},
    )


def outline() -> Item:
    return provenance("outline", ai=True, description="AI outline of episode 101")


def test_ai_material_is_never_a_writers_source_material(make: Any) -> None:
    as_source = make([licence_item(), outline(), script("parentOf")], "a").audit()
    f = one(as_source, "ai-material-as-source")
    assert f.asset == "script@v001" and "WGA 2023 MBA (Art. 72)" in f.explanation
    undisclosed = make([licence_item(), outline(), script("inputTo", disclosed=False)], "b")
    assert "not disclosed" in one(undisclosed.audit(), "ai-material-as-source").explanation
    given = make([licence_item(), outline(), script("inputTo")], "c").audit()
    assert given.findings == []
    assert make([licence_item(), outline(), script(None)], "d").audit().findings == []


def test_the_writer_keeps_the_credit_and_the_ai_material_is_recorded(make: Any) -> None:
    from ledger.audit.credits import credit_report

    ledger = make([licence_item(), outline(), script("inputTo")])
    report = credit_report(LedgerView.open(ledger.store, at_head=True), story.SHOW)
    writer = next(line for line in report.lines if line.name == "Priya Nair")
    assert writer.title == "Teleplay by" and writer.department == "Writing"
    assert writer.assets("created") == ["script@v001"]
    [given] = report.writer_material
    assert (given.writer, given.material, given.given_at) == (
        "Priya Nair",
        "outline@v001",
        "2025-03-02T10:00:00.000000Z",
    )
    assert report.end_credits()[0] == {
        "department": "Writing",
        "episode": "101",
        "lines": ["Teleplay by: Priya Nair"],
    }


def test_people_who_direct_ai_work_are_named_from_the_registry(make: Any) -> None:
    from ledger.audit.credits import credit_report

    directed = provenance("gen", ai=True, directed_by=["person:hana-sato", "person:ghost"])
    ledger = make([licence_item(), directed])
    report = credit_report(LedgerView.open(ledger.store, at_head=True), story.SHOW)
    named = {line.person_id: line.name for line in report.lines if line.role == "AI Direction"}
    assert named == {
        "person:hana-sato": "Hana Sato",  # enrolled in the key registry with that name
        "person:ghost": "person:ghost (not enrolled: no name on record)",
    }


def test_job_titles_come_from_the_role_vocabulary() -> None:
    event = provenance("roto", actor=dict(WRITER_ACTOR, job_title="Chief Vibes Officer"))[2]
    with pytest.raises(InvalidEventError, match="not in the role vocabulary"):
        build_message(event | {"producer_id": "/t", "producer_seq": 1}, keys.generate("k"),
                      source="/t")  # fmt: skip
    bad_credit = script(None)[2]
    bad_credit["writing"] = {"credit": "vibes_by", "ai_material": []}
    with pytest.raises(InvalidEventError, match=r"writing\.credit 'vibes_by'"):
        build_message(bad_credit | {"producer_id": "/t", "producer_seq": 1}, keys.generate("k"),
                      source="/t")  # fmt: skip


def test_third_party_stock_without_a_licence_record_is_undeclared(make: Any) -> None:
    vendor = {"actor_id": "org:stock", "kind": "organisation", "display_name": "Stock Co",
              "role": "cawg.contributor"}  # fmt: skip
    held = provenance("stock", actor=vendor, action="c2pa.opened", source_type="digitalCapture",
                      rights={"licence": "Stock Co standard licence"})  # fmt: skip
    bad = make([licence_item(), held, ai_from("stock")], "a").audit()
    assert "cites no licence record" in one(bad, "ai-input-not-allowed").explanation
    own = provenance("stock", rights={"licence": None})  # the production's own material
    assert make([licence_item(), own, ai_from("stock")], "b").audit().findings == []


def test_a_replica_distributed_outside_the_consented_territories_is_a_finding(make: Any) -> None:
    likeness = [
        {
            "performer_id": "performer:dana-whitfield",
            "use": "digital_replica",
            "consent_ref": story.CONSENT_DANA,
        }
    ]
    grant = ("clearances", CONSENT, dict(story.consents()[0][1]))  # US, CA, GB; streaming
    fr = {"commercial": True, "territories": ["US", "FR"], "media": ["streaming"]}
    abroad = provenance(
        "face", ai=True, likeness=likeness, rights={"licence": None, "distribution": fr}
    )
    f = one(make([grant, licence_item(), abroad], "a").audit(), "likeness-without-consent")
    assert "covers territories US, CA, GB, not FR" in f.explanation
    home = dict(fr, territories=["US", "GB"])
    inside = provenance(
        "face", ai=True, likeness=likeness, rights={"licence": None, "distribution": home}
    )
    assert make([grant, licence_item(), inside], "b").audit().findings == []


def test_a_restriction_is_found_however_deep_the_human_work_above_it(make: Any) -> None:
    chain = [provenance(f"edit{i}", source_type="humanEdits", action="c2pa.edited",
                        ingredients=[ingredient("stock" if i == 0 else f"edit{i - 1}", "v001",
                                                "parentOf")])
             for i in range(100)]  # fmt: skip
    result = make([licence_item(), stock(), *chain, ai_from("edit99")]).audit()
    f = one(result, "ai-input-not-allowed")
    assert "derives from stock@v001" in f.summary
    assert len([e for e in f.evidence if e.what.startswith("a step of the path")]) == 100


def test_a_decision_on_one_finding_is_not_shown_as_lapsed_on_its_sibling(make: Any) -> None:
    """Two inputs of one AI step, both restricted: two findings, decided one by one."""
    other = provenance(
        "stock2",
        rights={"licence": None, "training_mining": stock()[2]["rights"]["training_mining"]},
    )
    inputs = [ingredient("stock", "v001", "inputTo"), ingredient("stock2", "v001", "inputTo")]
    both = provenance("gen", ai=True, ingredients=inputs)
    ledger = make([licence_item(), stock(), other, both])
    first, second = [f for f in ledger.audit().findings if f.rule == "ai-input-not-allowed"]
    ledger.decide("counsel", COUNSEL, "cleared", first, document_sha256="cd" * 32)
    after = {f.finding_id: f for f in ledger.audit().findings}
    assert after[first.finding_id].status == "cleared"
    assert after[second.finding_id].is_open and after[second.finding_id].lapsed == ()


def test_counsels_clearance_of_a_derivative_holds_for_every_ai_use_of_it(make: Any) -> None:
    """Cleared for paint@v001 (a paint-over of the restricted stock): other AI uses of that
    paint-over, and of what is made from it, are cleared; the stock itself, and another
    paint-over of it, are not."""
    second_paint = provenance("paint2", source_type="humanEdits", action="c2pa.edited",
                              ingredients=[ingredient("stock", "v001", "parentOf")])  # fmt: skip
    retouch = provenance("retouch", source_type="humanEdits", action="c2pa.edited",
                         ingredients=[ingredient("paint", "v001", "parentOf")])  # fmt: skip
    uses = {
        name: provenance(name, ai=True, ingredients=[ingredient(of, "v001", "inputTo")])
        for name, of in (
            ("gen", "paint"),
            ("gen2", "paint"),
            ("gen3", "retouch"),
            ("gen4", "stock"),
            ("gen5", "paint2"),
        )
    }
    ledger = make([licence_item(), stock(), paint_over(), second_paint, retouch, *uses.values()])
    before = {f.asset: f for f in ledger.audit().findings if f.rule == "ai-input-not-allowed"}
    assert set(before) == {f"{name}@v001" for name in uses}
    ledger.decide("counsel", COUNSEL, "cleared", before["gen@v001"], document_sha256="cd" * 32)
    after = {f.asset: f for f in ledger.audit().findings if f.rule == "ai-input-not-allowed"}
    status = {asset: f.status for asset, f in after.items()}
    assert status == {
        "gen@v001": "cleared",
        "gen2@v001": "cleared",
        "gen3@v001": "cleared",
        "gen4@v001": "open",
        "gen5@v001": "open",
    }
    inherited = after["gen3@v001"].disposition
    assert inherited is not None and inherited.by == "Hana Sato"
    assert inherited.note.startswith("cleared for the derivative paint@v001")
    assert "counsel's clearance of the derivative" in {e.what for e in after["gen3@v001"].evidence}
    assert after["gen3@v001"].path == ("retouch@v001", "paint@v001", "stock@v001")


# --- dispositions naming no finding (issue 19, item 2) ---------------------------------------


def test_a_disposition_naming_an_id_no_audit_gives_is_dangling_not_attached(make: Any) -> None:
    """Signed for the right rule and asset version, but naming an id that never existed: it
    is not shown as an earlier decision of that finding (a clearance it never had)."""
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("counsel", COUNSEL, "cleared", replace(f, finding_id="ab" * 32),
                  document_sha256="cd" * 32)  # fmt: skip
    for result in (ledger.audit(), production_audit(ledger)):
        again = one(result, "ai-model-undeclared")
        assert again.finding_id == f.finding_id and again.is_open and again.lapsed == ()
        [dangling] = result.dangling
        assert (dangling.finding_id, dangling.rule, dangling.asset) == ("ab" * 32, f.rule, f.asset)
        assert dangling.decision.by == "Hana Sato" and dangling.decision.decision == "cleared"
        assert dangling.decision.at == format_time(AFTER - timedelta(days=1) + timedelta(minutes=1))
        assert "names no finding of this audit" in dangling.decision.note
        [shown] = audit_json(result)["dangling_dispositions"]
        assert shown["finding_id"] == "ab" * 32 and shown["by_id"] == COUNSEL["actor_id"]


def test_a_disposition_naming_nothing_in_the_ledger_is_reported(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ghost = replace(f, finding_id="ef" * 32, rule="no-such-rule", asset="nowhere@v9")
    ledger.decide("counsel", COUNSEL, "waived", ghost, approver="Dana Price",
                  expires=(AFTER + timedelta(days=9)).isoformat())  # fmt: skip
    for result in (ledger.audit(), production_audit(ledger)):
        assert [(d.finding_id, d.asset) for d in result.dangling] == [("ef" * 32, "nowhere@v9")]
        assert all(x.lapsed == () and x.disposition is None for x in result.findings)


def test_a_decision_on_a_finding_that_no_longer_exists_is_dangling(make: Any) -> None:
    """Cleared, then a licence record arrives that does not cover the use: the finding is of
    another rule now, and the clearance is not shown as a decision on it."""
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("counsel", COUNSEL, "cleared", f, document_sha256="cd" * 32)
    ledger.append([licence_item(commercial_use=False)])
    result = ledger.audit()
    changed = one(result, "licence-not-covering")
    assert changed.is_open and changed.lapsed == () and changed.disposition is None
    assert [d.finding_id for d in result.dangling] == [f.finding_id]


def test_a_decision_on_a_deliverable_finding_is_dangling_and_says_why(make: Any) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "deliverable-unresolved")
    ledger.decide("counsel", COUNSEL, "cleared", f, document_sha256="cd" * 32)
    result = ledger.audit()
    assert one(result, "deliverable-unresolved").disposition is None
    [dangling] = result.dangling
    assert dangling.finding_id == f.finding_id
    assert "deliverable-unresolved finding, which is not itself decided" in dangling.decision.note


def production_audit(ledger: Ledger) -> AuditResult:
    view = LedgerView.open(ledger.store, at_head=True)
    return run_audit(view, Scope(production=story.SHOW), as_of=AFTER)


# --- the signer column is derived, not chosen (red team, after issue 20) --------------------


def _relabel(ledger: Ledger, seq: int, keyid: str) -> None:
    """An insider's edit: the entry's signer column names ``keyid`` (not in the signed log)."""
    ledger.store.db.execute(  # type: ignore[attr-defined]
        "UPDATE entries SET signer_keyid = ? WHERE seq = ?", (keyid, seq)
    )


def _decide_as_counsel(ledger: Ledger, f: Finding, *cosigners: str) -> int:
    """The paralegal (no legal scope) signs a clearance in counsel's name, optionally cosigned
    by ``cosigners``; returns its entry's position."""
    event = disposition_event(
        "cleared",
        finding_id=f.finding_id,
        rule=f.rule,
        asset=f.asset,
        show=story.SHOW,
        actor=COUNSEL,
        reason="relabelled",
        document_sha256="cd" * 32,
        event_time=(AFTER - timedelta(hours=1)).isoformat(),
    )
    event["event_id"] = story.fixed_id("disposition:relabelled")
    m = build_message(event, ledger.keys["para"], kind=DISPOSITION, source="/t/para")
    envelope = cosign(dsse.Envelope.decode(m.value), [ledger.keys[c] for c in cosigners])
    m = replace(m, value=envelope.encode(SingleObjectFraming()))
    trust = FolderTrust({k.key_id: k.public for k in ledger.keys.values()})
    raw = RawRecord("events", 0, ledger.offset, m.key, m.value, tuple(m.headers))
    outcome = inspect(raw, trust, SingleObjectFraming())
    assert isinstance(outcome, PendingEntry), outcome
    assert outcome.signer_keyid == ledger.keys["para"].key_id  # the first signature admits it
    ledger.offset += 1
    ledger.store.append(Batch([outcome], [], {("events", 0): ledger.offset}, "test"))
    return ledger.store.head().size - 1


@pytest.mark.parametrize("cosigned", [False, True], ids=["signed-once", "cosigned"])
def test_a_disposition_relabelled_with_counsels_key_does_not_count(
    make: Any, cosigned: bool
) -> None:
    """A clearance the paralegal signed in counsel's name does not count; setting its entry's
    signer column to counsel's key id (and, cosigned, counsel's signature is on it too, but
    the registry admitted it by the paralegal's) must not make it count, and verify flags it."""
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    seq = _decide_as_counsel(ledger, f, *(["counsel"] if cosigned else []))
    honest = one(ledger.audit(), "ai-model-undeclared")
    assert honest.is_open and "not person:hana-sato's" in honest.lapsed[0].note
    _relabel(ledger, seq, ledger.keys["counsel"].key_id)
    again = one(ledger.audit(), "ai-model-undeclared")
    assert again.is_open and again.disposition is None
    [note] = again.lapsed
    assert "signer column" in note.note
    assert ledger.audit().clear_to_ship() == {"final@v001": False}
    assert not verify_ledger(ledger.store).ok


# --- the credits show counsel's decisions as the audit judges them (outside review) ---------


def _credits_output(ledger: Ledger, asset: str) -> AiOutput:
    view = LedgerView.open(ledger.store, at_head=True)
    report = credit_report(view, story.SHOW, as_of=AFTER)
    [o] = [o for o in report.ai_outputs if o.asset == asset]
    return o


def test_the_credits_show_counsels_decision_on_the_licence_finding(make: Any) -> None:
    """The audit shows the finding cleared; the credits keep the fact (no licence in force)
    and say who cleared it, when, and the decision's event id, in every format."""
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    ledger.decide("counsel", COUNSEL, "cleared", f, document_sha256="cd" * 32)
    cleared = one(ledger.audit(), "ai-model-undeclared")
    assert cleared.disposition is not None
    o = _credits_output(ledger, f.asset)
    assert o.licence_finding is not None
    assert (o.licence_finding.finding_id, o.licence_finding.status) == (f.finding_id, "cleared")
    decision = cleared.disposition
    words = f"cleared by Hana Sato (production counsel) at {decision.at}, decision"
    assert o.counsel == f"{words} {decision.event_id}"
    assert o.licence_shown.startswith(o.licence or "UNDECLARED")  # the fact stays
    assert o.licence_shown.endswith(f"counsel: {o.counsel}")
    shown = o.to_json()
    assert shown["licence_finding"]["disposition"] == decision.to_json()
    assert shown["counsel"] == o.counsel
    view = LedgerView.open(ledger.store, at_head=True)
    report = credit_report(view, story.SHOW, as_of=AFTER)
    [row] = [r for r in flat_rows(report) if r["section"] == "ai_output"]
    assert f"counsel: {o.counsel}" in row["detail"]
    [model] = report.models()
    assert model["licence"] == o.licence_shown
    html = to_html(credits_document(report))
    assert decision.event_id in html and "cleared by Hana Sato" in html


@pytest.mark.parametrize("how", ["no-legal-scope", "relabelled-signer", "dangling"])
def test_a_decision_the_audit_rejects_does_not_clear_the_credits(make: Any, how: str) -> None:
    ledger = make(unlicensed_deliverable())
    f = one(ledger.audit(), "ai-model-undeclared")
    if how == "no-legal-scope":
        ledger.decide("para", PARALEGAL, "cleared", f, document_sha256="cd" * 32)
    elif how == "relabelled-signer":
        _relabel(ledger, _decide_as_counsel(ledger, f), ledger.keys["counsel"].key_id)
    else:
        ledger.decide("counsel", COUNSEL, "cleared", replace(f, finding_id="ab" * 32),
                      document_sha256="cd" * 32)  # fmt: skip
    assert one(ledger.audit(), "ai-model-undeclared").is_open
    o = _credits_output(ledger, f.asset)
    assert o.licence_finding is not None and o.licence_finding.finding_id == f.finding_id
    assert o.licence_finding.is_open and o.counsel is None
    assert "counsel" not in o.licence_shown and o.to_json()["counsel"] is None
