"""The keys a packet's completeness rests on are bounded by the episode and by one party's or one
consent's own records: another production's use of the same model or performer stays out of the
packet, while a licence record or a consent revocation left out still fails completeness."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from demo import story
from ledger.events.consent import CONSENT
from ledger.events.licence import LICENCE
from ledger.events.provenance import PROVENANCE
from ledger.log.receipt import identify, parse_receipt
from ledger.packet import build as pb
from ledger.packet.completeness import backing_problems, completeness_keys, prove
from ledger.store import open_store
from tests.ledger.audit.audit_factory import Item
from tests.ledger.packet.packet_factory import (
    APPROVED_AT,
    SH010_V2,
    SH030,
    PacketLedger,
    approval,
    build_ledger,
)
from tests.ledger.packet.test_packet import build, codes, verify
from tests.ledger.packet.test_packet_hostile import _forge_without

LATER = APPROVED_AT + timedelta(days=1)
OTHER_USE = story.fixed_id("packetkeys:other-episode-use")
REVOCATION = story.fixed_id("packetkeys:revocation")
SECOND_LICENCE = story.fixed_id("packetkeys:second-licence")


def _other_episode_use() -> Item:
    """The sh030 replica step (ReplicaWorks, Dana Whitfield's likeness) again, in episode 199,
    on an asset of its own: about neither the episode nor any asset of the cut."""
    signer, event = next(
        (s, e)
        for s, e in story.production()
        if any(u["performer_id"] == "performer:dana-whitfield" for u in e.get("likeness", []))
    )
    event = copy.deepcopy(event)
    event["production"] = {**event["production"], "episode": "199"}
    event["asset"] = {**event["asset"], "asset_id": "fallen-tower/ep199/sq900/sh900/stunt_face"}
    event["ingredients"] = []
    event.update(
        event_id=OTHER_USE,
        event_time=LATER.isoformat(),
        producer_id="/test/packetkeys",
        producer_seq=0,
    )
    return (signer, PROVENANCE, event)


def _revocation() -> Item:
    """Dana Whitfield revokes her consent from 2030 on (after every use: still covered)."""
    signer, grant = next((s, e) for s, e in story.consents() if e["event_id"] == story.CONSENT_DANA)
    event = dict(
        grant,
        event_id=REVOCATION,
        event_time=(LATER + timedelta(minutes=1)).isoformat(),
        status="revoked",
        revokes=story.CONSENT_DANA,
        valid_from="2030-06-01T00:00:00Z",
    )
    return (signer, CONSENT, event)


def _second_licence() -> Item:
    """A second licence record Mirrorhouse gave for ReplicaWorks (the UK only), no step cites."""
    signer, first = next(
        (s, e) for s, e in story.licences() if "mirrorhouse" in e["licensor"]["party_id"]
    )
    event = dict(
        first,
        event_id=SECOND_LICENCE,
        event_time=(LATER + timedelta(minutes=2)).isoformat(),
        territories=["GB"],
    )
    return (signer, LICENCE, event)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> PacketLedger:
    path = tmp_path_factory.mktemp("keys") / "ledger.db"
    return build_ledger(path, extra=[_other_episode_use(), _revocation(), _second_licence()])


def _packet(tmp_path: Path, ledger: PacketLedger) -> tuple[Path, dict[str, Any]]:
    folder, body = build(tmp_path, ledger, assets=[SH030])
    assert verify(folder, ledger).ok
    return folder, body


def _held(folder: Path) -> dict[str, int]:
    """event id -> index of each entry the packet holds."""
    lines = (folder / pb.ENTRIES_FILE).read_text(encoding="utf-8").splitlines()
    out = {}
    for line in lines:
        item = json.loads(line)
        out[str(identify(parse_receipt(item["receipt"]).entry).event_id)] = int(item["seq"])
    return out


def test_another_episodes_use_of_the_same_model_and_performer_stays_out(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """With the ledger-wide ``model:`` and ``performer:`` keys every use of ReplicaWorks and of
    Dana Whitfield anywhere joined the packet; the episode's own uses are proven by its
    ``production:`` key, the terms by ``party:`` (performer, licensor) and ``consent:``."""
    folder, body = _packet(tmp_path, ledger)
    held = _held(folder)
    assert OTHER_USE not in held
    assert {REVOCATION, SECOND_LICENCE} <= set(held)  # the terms are all there
    keys = completeness_keys(body)
    assert {
        "party:performer:dana-whitfield",
        f"consent:{story.CONSENT_DANA}",
        "party:org:mirrorhouse",
    } <= set(keys)
    assert not any(k.startswith(("model:", "performer:")) for k in keys)
    likeness = [u for c in body["clips"] for u in c.get("likeness", [])]
    dana = next(u for u in likeness if u["performer"] == "performer:dana-whitfield")
    assert dana["consent"]["revoked_by"] == [REVOCATION] and dana["covered"]


@pytest.mark.parametrize(
    ("dropped", "key"),
    [
        (REVOCATION, f"consent:{story.CONSENT_DANA}"),
        (REVOCATION, "party:performer:dana-whitfield"),
        (SECOND_LICENCE, "party:org:mirrorhouse"),
    ],
)
def test_a_term_left_out_fails_completeness_naming_its_key(
    tmp_path: Path, ledger: PacketLedger, dropped: str, key: str
) -> None:
    """The studio leaves out a consent revocation or a licence record of a model of the cut and
    recomputes every derived file from the rest: the key's proof names the entry left out."""
    folder, _ = _packet(tmp_path, ledger)
    seq = _held(folder)[dropped]
    _forge_without(folder, ledger, {seq})
    verdict = verify(folder, ledger)
    assert not verdict.ok and codes(verdict) == {"completeness"}, verdict.problems
    assert any(
        f"entries {seq}" in p.detail and key in p.detail and "leaves out" in p.detail
        for p in verdict.problems
    ), [p.detail for p in verdict.problems]


def _proofs(folder: Path) -> list[dict[str, Any]]:
    data = json.loads((folder / pb.COMPLETENESS_FILE).read_text(encoding="utf-8"))
    proofs: list[dict[str, Any]] = data["proofs"]
    return proofs


def test_each_claim_must_be_among_its_keys_entries(tmp_path: Path, ledger: PacketLedger) -> None:
    """backing_problems: the packet as built backs every claim; a proof whose entries lack the
    licence cited, the consent cited, its revocation or the step names each claim."""
    folder, body = _packet(tmp_path, ledger)
    held = _held(folder)
    proofs = _proofs(folder)
    assert backing_problems(body, proofs, held.get) == []
    licence = story.fixed_id("licence:replicaworks")
    likeness = [u for c in body["clips"] for u in c.get("likeness", [])]
    step = next(u for u in likeness if u["performer"] == "performer:dana-whitfield")["event_id"]
    for key, event_id, what in [
        ("party:org:mirrorhouse", licence, "licence record"),
        ("party:performer:dana-whitfield", story.CONSENT_DANA, "consent record"),
        (f"consent:{story.CONSENT_DANA}", REVOCATION, "revocation"),
        (f"asset:{story.DELIVERY_PREFIX}/sh030/stunt_face", step, "step"),
    ]:
        narrowed = copy.deepcopy(proofs)
        proof = next(p for p in narrowed if p["key"] == key)
        assert held[event_id] in proof["entries"]
        proof["entries"] = [i for i in proof["entries"] if i != held[event_id]]
        problems = backing_problems(body, narrowed, held.get)
        assert problems and all(what in p and key in p for p in problems), problems
    # an AI step of the register outside the episode's entries
    narrowed = copy.deepcopy(proofs)
    episode = next(p for p in narrowed if p["key"].startswith("production:"))
    first = held[body["ai_register"][0]["event_id"]]
    episode["entries"] = [i for i in episode["entries"] if i != first]
    problems = backing_problems(body, narrowed, held.get)
    assert problems and "AI step" in problems[0], problems


@pytest.mark.parametrize("rule", ["v2", "v1"])
def test_the_cited_licence_record_left_out_fails_completeness(
    tmp_path: Path, ledger: PacketLedger, rule: str
) -> None:
    """The studio leaves out the licence record an AI step of the cut cites and recomputes every
    derived file: the disclosure then says the record is not in the ledger (no licence in force),
    which the log contradicts.  Without the record no ``party:LICENSOR`` key is needed, so the
    absence must rest on the cited record's own key: ``licence-record:ID`` on a ledger of index
    rule v2 (the record alone), ``licence:ID`` on a v1 ledger (the record and its uses)."""
    if rule == "v1":
        ledger = build_ledger(
            tmp_path / "v1.db",
            extra=[_other_episode_use(), _revocation(), _second_licence()],
            index_rule="v1",
        )
    folder, body = _packet(tmp_path, ledger)
    licence = story.fixed_id("licence:replicaworks")
    cited = [e["licence_record"] for c in body["clips"] for e in c.get("ai_elements", [])]
    assert any(r and r["licence_ref"] == licence and r["licensor_id"] for r in cited)
    forged = _forge_without(folder, ledger, {_held(folder)[licence]})
    cited = [e["licence_record"] for c in forged["clips"] for e in c.get("ai_elements", [])]
    assert any(r and r["licence_ref"] == licence and not r["licensor_id"] for r in cited)
    section = json.loads((folder / pb.COMPLETENESS_FILE).read_text(encoding="utf-8"))
    keys = completeness_keys(forged, rule)  # the keys the forged disclosure rests on
    record_key = f"licence-record:{licence}" if rule == "v2" else f"licence:{licence}"
    assert (
        record_key in keys and f"licence{'' if rule == 'v2' else '-record'}:{licence}" not in keys
    )
    proofs = {p["key"]: p for p in section["proofs"]}
    with open_store(ledger.url) as store:  # the studio proves any key its ledger has
        proofs.update(prove(store, [k for k in keys if k not in proofs], store.head().size))
    section.update(keys=keys, proofs=[proofs[k] for k in keys])
    (folder / pb.COMPLETENESS_FILE).write_text(json.dumps(section), encoding="utf-8")
    _forge_without(folder, ledger, set())  # the manifest again
    verdict = verify(folder, ledger)
    assert not verdict.ok and "completeness" in codes(verdict), verdict.completeness
    details = [str(p) for p in verdict.problems if p.code == "completeness"]
    assert any(record_key in d for d in details), details


@pytest.mark.parametrize("named", [False, True], ids=["category", "naming-the-asset"])
def test_an_approval_refusal_of_a_register_only_use_left_out_fails_completeness(
    tmp_path: Path, named: bool
) -> None:
    """The cut is sh010 alone (no likeness in its lineage); the episode's AI-usage register
    still lists sh030's likeness uses with their approval status.  The distributor then refused
    likeness show-wide: the register says 'refused'.  Left out of the packet, with every derived
    file recomputed, the register said 'approved' and the packet verified, completeness proven:
    the register's categories were under no key (only the cut's clips' were)."""
    assets = [f"{story.DELIVERY_PREFIX}/sh030/stunt_face@v001"] if named else None
    refusal = approval("likeness", decision="refused", assets=assets, n=50)
    refusal[2]["production"]["episode"] = None  # show-wide: not an event of the episode
    ledger = build_ledger(tmp_path / "l.db", extra=[refusal])
    folder, body = build(tmp_path, ledger, assets=[SH010_V2])
    assert verify(folder, ledger).ok

    def likeness(disclosure: dict[str, Any]) -> set[str]:
        return {
            a["status"]
            for r in disclosure["ai_register"]
            for a in r["approvals"]
            if a["category"] == "likeness"
        }

    assert "refused" in likeness(body)
    assert not any(
        a["category"] == "likeness" for c in body["clips"] for a in c.get("approvals", [])
    )
    forged = _forge_without(folder, ledger, {_held(folder)[refusal[2]["event_id"]]})
    assert likeness(forged) == {"approved"}
    verdict = verify(folder, ledger)
    assert not verdict.ok and "completeness" in codes(verdict), verdict.completeness
    key = "asset:" + assets[0].rpartition("@")[0] if assets else "approval:likeness"
    assert any(key in p.detail for p in verdict.problems), verdict.problems
