"""The key registry end to end through a real Kafka-protocol broker into a SQLite ledger.

Signers are enrolled by signed registry events on the key-registry topic (TOPIC.keys); the
consumer runs with :class:`RegistryTrust` re-derived from the ledger at every start.  Each
refused record must land in the quarantine and on the dead-letter topic with its specific reason.

The first test runs the consumer once per phase (enrol, work, revoke, work).  The second sends
registry events to the events topic itself, as producers did before TOPIC.keys existed, on one
partition: those records are still ingested, and the policy follows them mid-batch, in ledger
order.  (tests/consumers/test_registry_ordering.py covers enrolments used at once.)
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.runner import ConsumerConfig, IngestStats, LedgerConsumer
from demo.localbroker import ensure_topics
from demo.story import SHOW, production
from ledger.events import kafka as k
from ledger.events.base import EventKind, now_utc
from ledger.events.keyregistry import KEY_REGISTRY, Scope
from ledger.events.provenance import PROVENANCE
from ledger.log.verdicts import Status, ledger_verdicts
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import RegistryTrust
from ledger.trust.records import delegate_event, enroll_event, revoke_event, rotate_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import registry_from_ledger, set_roots
from producers.emitter import Emitter, Message, build_message
from tests.conftest import FreshTopic
from tests.support.kafka_tools import header_map, read_topic

pytestmark = pytest.mark.broker

ROOT = keys.generate("root")
MINUTE = timedelta(minutes=1)
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def signed(event: dict[str, Any], signer: KeyPair, kind: EventKind = KEY_REGISTRY) -> Message:
    return build_message(event, signer, kind=kind, source="/test")


def work(signer: KeyPair, when: datetime, index: int = 2, **changes: Any) -> Message:
    """A demo provenance event at ``when`` (default: Mira's roto) with a fresh id."""
    event = dict(production()[index][1], producer_id="t", producer_seq=1, event_time=when)
    event.update(changes, event_id=str(uuid.uuid4()))
    return signed(event, signer, PROVENANCE)


def send(bootstrap: str, topic: str, messages: Sequence[Message], *, legacy: bool = False) -> None:
    """Registry records to TOPIC.keys; with ``legacy`` every record to the events topic."""
    with Emitter(bootstrap, ROOT, topic=topic) as emitter:
        for m in messages:
            emitter.send_raw(m, topic=topic if legacy else None)


def consume(
    store: SqliteStore, bootstrap: str, topic: str, transport: str = "kafka-python"
) -> IngestStats:
    """One consumer run with the registry re-derived from the ledger, as at every start."""
    config = ConsumerConfig(
        bootstrap,
        topic=topic,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        transport=transport,
    )
    return LedgerConsumer(store, RegistryTrust.from_store(store), config).run(until_caught_up=True)


def phase(
    store: SqliteStore,
    topic: FreshTopic,
    messages: Sequence[Message],
    transport: str = "kafka-python",
) -> IngestStats:
    send(topic.bootstrap, topic.name, messages)
    return consume(store, topic.bootstrap, topic.name, transport)


def outcomes(store: SqliteStore) -> dict[str, str]:
    """event id → "appended" or the quarantine reason (last one wins)."""
    result = {q.event_id: q.reason for q in store.quarantine() if q.event_id}
    result.update({e.event_id: "appended" for e in store.entries()})
    return result


def altered(message: Message, old: bytes, new: bytes) -> Message:
    envelope = dsse.Envelope.decode(message.value)
    changed = dataclasses.replace(envelope, payload=envelope.payload.replace(old, new))
    assert changed.payload != envelope.payload
    return dataclasses.replace(message, value=changed.encode())


def resigned(message: Message, signer: KeyPair) -> Message:
    envelope = dsse.Envelope.decode(message.value)
    forged = dsse.sign(envelope.payload_type, envelope.payload, signer)
    return dataclasses.replace(message, value=forged.encode())


def test_enrol_work_revoke_midstream_and_every_refusal_is_specific(
    fresh_topic: FreshTopic, tmp_path: Path, transport: str
) -> None:
    base = now_utc().replace(microsecond=0) - timedelta(hours=2)
    cut = base + 30 * MINUTE  # Mira's key is compromised from here on
    dit, mira, debris, vendor, upscale = (
        keys.generate(n) for n in ("dit", "mira", "debris", "vendor", "upscale")
    )
    dit2, later, intruder = keys.generate("dit2"), keys.generate("later"), keys.generate("x")
    start = {"valid_from": base}
    ai_scope = Scope(productions=(SHOW,), actions=("c2pa.created",), digital_source_types=(AI,))
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])

        # phase 1: the root enrols the signers and delegates enrolment to a vendor
        root_events = [
            enroll_event("tool:onset-dit", "software", "On-set DIT", dit.public, **start),
            enroll_event("person:mira-keller", "human", "Mira Keller", mira.public, **start),
            enroll_event(
                "service:debrisgen", "ai_model", "DebrisGen", debris.public, scope=ai_scope, **start
            ),
            enroll_event("org:kestrel", "organisation", "Kestrel AI", vendor.public, **start),
            enroll_event(
                "person:late", "human", "Late", later.public, valid_from=base + timedelta(days=2)
            ),
        ]
        enrolments = [signed(e, ROOT) for e in root_events]
        stats = phase(store, fresh_topic, enrolments, transport)
        assert stats.appended == 5 and stats.quarantined == 0
        grant = signed(delegate_event("org:kestrel", actor_kinds=("ai_model",)), ROOT)
        assert phase(store, fresh_topic, [grant], transport).appended == 1

        # phase 2: the delegate enrols a service; a stranger tries to; the DIT key rotates
        by_vendor = signed(
            enroll_event("service:upscale", "ai_model", "ClearScale", upscale.public, **start),
            vendor,
        )
        by_mira = signed(enroll_event("service:rogue", "ai_model", "Rogue", intruder.public), mira)
        forged_enrolment = resigned(
            signed(enroll_event("service:rogue2", "ai_model", "R2", intruder.public), ROOT),
            mira,
        )
        rotation = signed(
            rotate_event("tool:onset-dit", dit.key_id, dit2.public, valid_from=base + 60 * MINUTE),
            ROOT,
        )
        phase(store, fresh_topic, [by_vendor, by_mira, forged_enrolment, rotation], transport)

        # phase 3: work, including refusals of every key-related kind
        ok_plate = work(dit, base + 5 * MINUTE, index=0)
        ok_roto = work(mira, base + 10 * MINUTE)
        ok_debris = work(debris, base + 15 * MINUTE, index=4)
        ok_upscale = work(upscale, base + 20 * MINUTE, index=6)
        ok_dit2 = work(dit2, base + 70 * MINUTE, index=1)
        refused = {
            "not_enrolled": work(intruder, base + 5 * MINUTE),
            "out_of_scope": work(debris, base + 15 * MINUTE, index=4, action="c2pa.edited"),
            "key_not_yet_valid": work(later, base + 5 * MINUTE),
            "key_expired": work(dit, base + 61 * MINUTE, index=1),
            "bad_signature": altered(ok_roto, b"Mira Keller", b"Mira Kellar"),
            "not_enrolled/resigned": resigned(work(mira, base + 12 * MINUTE), intruder),
        }
        accepted = [ok_plate, ok_roto, ok_debris, ok_upscale, ok_dit2]
        phase(store, fresh_topic, [*accepted, *refused.values()], transport)

        # phase 4: Mira's key is revoked, effective earlier than now (compromise found late)
        revocation = signed(
            revoke_event(
                "person:mira-keller", mira.key_id, effective_time=cut, reason="key_compromise"
            ),
            ROOT,
        )
        assert phase(store, fresh_topic, [revocation], transport).appended == 1
        signed_before = work(mira, cut - MINUTE)  # backdated, but arrives after the revocation
        signed_after = work(mira, cut + MINUTE)
        replay = ok_roto  # the very same record again, signed by the now compromised key
        phase(store, fresh_topic, [signed_before, signed_after, replay, enrolments[1]], transport)

        seen = outcomes(store)
        for m in [*enrolments, grant, by_vendor, rotation, *accepted, revocation]:
            assert seen[m.event_id] == "appended", m.event_id
        assert seen[by_mira.event_id] == "enrolment_unauthorised"
        assert seen[forged_enrolment.event_id] == "enrolment_unauthorised"
        quarantine = {(q.event_id, q.reason) for q in store.quarantine()}
        for expected, m in refused.items():
            assert (m.event_id, expected.split("/")[0]) in quarantine, expected
        assert seen[refused["bad_signature"].event_id] == "appended"  # the genuine one
        assert seen[signed_after.event_id] == "key_revoked"
        assert seen[signed_before.event_id] == "key_revoked"  # a stolen key cannot backdate
        assert (replay.event_id, "key_revoked") in quarantine  # refused before the store looks
        assert (enrolments[1].event_id, "duplicate_event_id") in quarantine
        assert store.head().size == 5 + 1 + 2 + 5 + 1

        # the registry re-derived from the ledger agrees with every consumer decision
        replayed = registry_from_ledger(store, scan=True)
        assert replayed.refusals == []
        mira_key = replayed.key_for(mira.key_id)
        assert mira_key is not None and mira_key.revocation is not None
        old_dit = replayed.key_for(dit.key_id)
        assert old_dit is not None and old_dit.replaced_by == dit2.key_id
        for v in ledger_verdicts(store):
            assert v.admitted_at_append is True, v
            assert v.signature.status is Status.OK, v
            assert v.signer_trusted.status is Status.OK, v
            assert v.key_valid.status is Status.OK, v
        quarantined = len(store.quarantine())

    dead = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=quarantined)
    reasons = sorted(header_map(r)[k.DLT_REASON] for r in dead)
    assert reasons == sorted(
        [
            "enrolment_unauthorised",
            "enrolment_unauthorised",
            "not_enrolled",
            "not_enrolled",
            "out_of_scope",
            "key_not_yet_valid",
            "key_expired",
            "bad_signature",
            "key_revoked",
            "key_revoked",
            "key_revoked",
            "duplicate_event_id",
        ]
    )


def test_legacy_registry_events_on_the_events_topic_apply_mid_batch(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {topic: 1, f"{topic}.dlt": 1})
    base = now_utc().replace(microsecond=0) - timedelta(hours=1)
    cut = base + 30 * MINUTE
    mira = keys.generate("mira")
    enrol = signed(
        enroll_event("person:mira-keller", "human", "Mira", mira.public, valid_from=base), ROOT
    )
    before_enrolment = work(mira, base + MINUTE)
    first = work(mira, base + 2 * MINUTE)
    revoke = signed(
        revoke_event("person:mira-keller", mira.key_id, effective_time=cut, reason="superseded"),
        ROOT,
    )  # not a compromise: late deliveries signed before it keep a grace window
    after = work(mira, cut + MINUTE)
    late_but_earlier = work(mira, cut - MINUTE)
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        ordered = [before_enrolment, enrol, first, revoke, after, late_but_earlier]
        send(kafka_bootstrap, topic, ordered, legacy=True)
        stats = consume(store, kafka_bootstrap, topic)
        seen = outcomes(store)
        assert [e.event_id for e in store.entries()] == [
            enrol.event_id,
            first.event_id,
            revoke.event_id,
            late_but_earlier.event_id,
        ]
    assert stats.batches >= 1 and stats.quarantined == 2
    assert seen[before_enrolment.event_id] == "not_enrolled"
    assert seen[after.event_id] == "key_revoked"


def test_cli_sends_registry_events_directly_and_from_offline_files(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    folder = tmp_path / "keys"
    for name in ("root", "artist"):
        run("keys", "generate", name, "--out", str(folder))
    root = keys.load_private(folder / "root.key")
    artist = keys.load_private(folder / "artist.key")
    broker = ["--bootstrap-servers", fresh_topic.bootstrap, "--topic", fresh_topic.name]
    signer = ["--signer-key", str(folder / "root.key")]
    enrolled = run("keys", "enroll", "person:a", "--kind", "human", "--name", "A",
                   "--public-key", str(folder / "artist.pub"), *signer, *broker)  # fmt: skip
    offline = tmp_path / "revoke.json"
    revoked = run("keys", "revoke", "person:a", "--key", artist.key_id, "--reason",
                  "cessation_of_operation", *signer, "--out", str(offline))  # fmt: skip
    assert run("keys", "publish", str(offline), *broker) == revoked
    url = str(tmp_path / "ledger.db")
    with SqliteStore(url) as store:
        set_roots(store, [RootKey("root", root.public)])
        consume(store, fresh_topic.bootstrap, fresh_topic.name)
        assert {e.event_id for e in store.entries()} == {enrolled, revoked}
        assert {e.origin.topic for e in store.entries()} == {k.registry_topic(fresh_topic.name)}
    listed = run("keys", "list", "--ledger", url, "--format", "json")
    rows = {r["key_id"]: r for r in json.loads(listed)["keys"]}
    assert rows[artist.key_id]["status"] == "revoked"
    assert rows[artist.key_id]["revocation_reason"] == "cessation_of_operation"
