"""An enrolled signer is never refused as not enrolled, whatever the batch size and partitions.

A producer enrols its key, waits for the broker's acknowledgement, then emits right away.  The
enrolment and the events it authorises travel on different partitions (before: of the events
topic; now: the single-partition key-registry topic against the events topic), and Kafka orders
nothing across partitions.  Each case below produces everything first and consumes it with one
batch size and one partition count; the last case runs the consumer live while signers are
enrolled and used, with a random batch size and partition count (seed printed, and taken from
``ASSETLEDGER_TEST_SEED`` when set).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from consumers.inspect import ParallelInspector, RawRecord
from consumers.registry_feed import RegistryFeed, sync_marker
from consumers.runner import ConsumerConfig, IngestStats, LedgerConsumer, registry_first
from demo.localbroker import ensure_topics
from demo.story import production
from ledger.errors import ConfigurationError
from ledger.events import kafka as k
from ledger.events.base import now_utc
from ledger.events.encoding import SingleObjectFraming
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.provenance import PROVENANCE
from ledger.events.topics import ensure_registry_topic
from ledger.log.verdicts import Status, ledger_verdicts
from ledger.store import LedgerStore, PendingEntry
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import RegistryTrust
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import Emitter, Message, build_message

ROOT = keys.generate("root")
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def _raw(offset: int, ce_type: str) -> RawRecord:
    return RawRecord("t", offset % 3, offset, b"k", b"v", ((k.H_TYPE, ce_type.encode()),))


def test_legacy_registry_records_come_early_but_each_partition_keeps_its_order() -> None:
    reg = "io.assetledger.keyregistry.v1"
    # offsets 0..5 on partitions 0, 1, 2, 0, 1, 2 (offset % 3)
    types = ["p", reg, "p", "p", reg, reg]
    ordered = registry_first([_raw(i, t) for i, t in enumerate(types)])
    # partition 1 (registry head) first; then partition 2 up to its registry record; then rest
    assert [r.offset for r in ordered] == [1, 4, 2, 5, 0, 3]
    for p in range(3):
        offsets = [r.offset for r in ordered if r.partition == p]
        assert offsets == sorted(offsets)


def _as_raw(message: Message, topic: str, offset: int) -> RawRecord:
    return RawRecord(topic, 0, offset, message.key, message.value, tuple(message.headers))


class _Registry:
    """A registry topic whose records arrive only when asked to catch up (a slow fetch)."""

    def __init__(self, late: list[RawRecord]) -> None:
        self.late = late
        self.catch_ups = 0

    def take(self) -> list[RawRecord]:
        return []

    def catch_up(self) -> list[RawRecord]:
        self.catch_ups += 1
        late, self.late = self.late, []
        return late


@pytest.mark.parametrize("workers", [0, 1])
def test_a_record_about_to_be_refused_for_an_unknown_key_waits_for_the_registry(
    workers: int, tmp_path: Path
) -> None:
    artist, stranger = keys.generate("artist"), keys.generate("stranger")
    since = now_utc() - timedelta(hours=1)
    enrol = build_message(enroll_event("person:a", "human", "A", artist.public, valid_from=since),
                          ROOT, kind=KEY_REGISTRY, source="/root")  # fmt: skip
    first, second = (build_message(e, artist, source="/ws") for e in _work(0, 2))
    intruder = build_message(_work(1, 1)[0], stranger, source="/x")
    batch = [_as_raw(m, "t", i) for i, m in enumerate([intruder, first, second])]
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        trust = RegistryTrust.from_store(store)
    registry = _Registry([_as_raw(enrol, "t.keys", 0)])
    with ParallelInspector(trust, SingleObjectFraming(), workers=workers) as inspector:
        records, outcomes = inspector.begin(batch).settle(registry)
    order = [(r.topic, r.offset) for r in records]
    # the intruder's refusal triggered the one catch-up: the enrolment lands before it
    assert order == [("t.keys", 0), ("t", 0), ("t", 1), ("t", 2)]
    assert registry.catch_ups == 1
    assert [getattr(o, "reason", "appended") for o in outcomes] == [
        "appended", "not_enrolled", "appended", "appended"
    ]  # fmt: skip
    assert isinstance(outcomes[2], PendingEntry) and outcomes[2].signer_keyid == artist.key_id


# --- through the broker ------------------------------------------------------------------------


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {name: partitions, k.dlt_topic(name): 1})
    return name


def _work(signer_index: int, count: int) -> list[dict[str, Any]]:
    """``count`` events on distinct assets (so they spread over the partitions), dated now."""
    template = production()[2][1]
    return [
        dict(
            template,
            event_time=now_utc(),
            asset=dict(template["asset"], asset_id=f"a/{signer_index}/{n}"),
        )
        for n in range(count)
    ]


def _enrol_then_emit(bootstrap: str, topic: str, signers: int, events: int) -> list[str]:
    """Each signer: enrolment acknowledged, then its events at once; every id in send order."""
    sent: list[str] = []
    since = now_utc() - timedelta(hours=1)
    with Emitter(bootstrap, ROOT, topic=topic, source="/root") as registrar:
        for i in range(signers):
            signer = keys.generate(f"artist-{i}")
            enrol = enroll_event(f"person:artist-{i}", "human", f"Artist {i}", signer.public,
                                 valid_from=since)  # fmt: skip
            sent.append(registrar.emit(enrol, kind=KEY_REGISTRY))  # waits for the ack
            sent.extend(_emit(bootstrap, topic, signer, _work(i, events), f"/ws/{i}"))
    return sent


def _emit(
    bootstrap: str, topic: str, signer: KeyPair, batch: list[dict[str, Any]], source: str
) -> list[str]:
    with Emitter(bootstrap, signer, topic=topic, source=source) as emitter:
        return emitter.emit_many(batch)


def _config(bootstrap: str, topic: str, batch: int, **extra: Any) -> ConsumerConfig:
    return ConsumerConfig(bootstrap, topic=topic, max_batch=batch, fill_ms=0,
                          **{**FAST_GROUP, **extra})  # fmt: skip


def _assert_all_admitted(store: LedgerStore, sent: list[str], stats: IngestStats) -> None:
    refused = [(q.reason, q.detail) for q in store.quarantine()]
    assert stats.quarantined == 0 and not refused, refused[:5]
    assert sorted(e.event_id for e in store.entries()) == sorted(sent)
    for v in ledger_verdicts(store):  # the ledger order alone justifies every decision
        assert v.admitted_at_append is True, v
        assert v.signer_trusted.status is Status.OK, v


# batch sizes 1, small and 50 against 1, 3 and 12 partitions: the cases that failed before
# were the small batches over several partitions.
MATRIX = [(1, 1), (1, 3), (1, 12), (2, 12), (7, 3), (50, 1), (50, 12)]


@pytest.mark.broker
@pytest.mark.parametrize(("batch", "partitions"), MATRIX)
def test_events_right_after_an_acknowledged_enrolment_are_admitted(
    kafka_bootstrap: str, tmp_path: Path, batch: int, partitions: int
) -> None:
    topic = _topic(kafka_bootstrap, partitions)
    sent = _enrol_then_emit(kafka_bootstrap, topic, signers=4, events=6)
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        config = _config(kafka_bootstrap, topic, batch, workers=1 if batch == 50 else 0)
        stats = LedgerConsumer(store, RegistryTrust.from_store(store), config).run(
            until_caught_up=True
        )
        _assert_all_admitted(store, sent, stats)
        if partitions > 1:  # the events really crossed partitions
            assert len({e.origin.partition for e in store.entries()}) > 1


@pytest.mark.broker
def test_live_consumer_admits_signers_used_right_after_their_enrolment(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("ASSETLEDGER_TEST_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    batch, partitions = rng.randint(1, 50), rng.randint(1, 12)
    print(f"seed {seed}: batch size {batch}, {partitions} partitions")
    topic = _topic(kafka_bootstrap, partitions)
    store = SqliteStore(tmp_path / "ledger.db")
    set_roots(store, [RootKey("root", ROOT.public)])
    consumer = LedgerConsumer(store, RegistryTrust.from_store(store),
                              _config(kafka_bootstrap, topic, batch))  # fmt: skip
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # The producers write once the consumer has joined (not after a fixed 4 s, which a
        # loaded machine's join outlasts): it reads as they write, as a live consumer does.
        deadline = time.monotonic() + 120
        while consumer._listener.assigned_at is None and not errors:
            assert time.monotonic() < deadline, f"seed {seed}: no partitions assigned in 120 s"
            time.sleep(0.05)
        sent = _enrol_then_emit(kafka_bootstrap, topic, signers=6, events=rng.randint(1, 8))
        with SqliteStore(tmp_path / "ledger.db") as reader:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not errors:
                if reader.head().size + len(reader.quarantine()) >= len(sent):
                    break
                time.sleep(0.2)
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert not errors, f"seed {seed}: {errors}"
    _assert_all_admitted(store, sent, consumer.stats)
    store.close()


@pytest.mark.broker
def test_a_sync_reads_every_registry_record_acknowledged_before_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = _topic(kafka_bootstrap, 1)
    registry_topic = ensure_registry_topic(kafka_bootstrap, topic)
    acknowledged = []
    with Emitter(kafka_bootstrap, ROOT, topic=topic, source="/root") as registrar:
        for i in range(30):
            enrol = enroll_event(f"person:{i}", "human", str(i), keys.generate(str(i)).public)
            acknowledged.append(registrar.emit(enrol, kind=KEY_REGISTRY))
    with (
        SqliteStore(tmp_path / "ledger.db") as store,
        KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer,
    ):
        feed = RegistryFeed(registry_topic, "g", store, max_records=7)
        feed.connect({"bootstrap_servers": kafka_bootstrap}, producer)
        try:
            read = feed.sync(polled=1)  # no take() first: nothing was fetched before the sync
            again = feed.sync(polled=2)  # a second sync finds only its own marker
        finally:
            feed.close()
    assert [k.header(r.headers, k.H_ID) for r in read] == acknowledged
    assert again == [] and feed.syncs == 2 and feed.synced_through == 2
    assert feed.position == 32  # 30 records and two markers


# --- the registry topic's contract -------------------------------------------------------------


@pytest.mark.broker
def test_a_registry_topic_with_several_partitions_is_refused(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = _topic(kafka_bootstrap, 3)
    ensure_topics(kafka_bootstrap, {k.registry_topic(topic): 3})
    enrol = enroll_event("person:a", "human", "A", keys.generate("a").public)
    refusal = "has 3 partitions; it must have exactly one"
    with (
        Emitter(kafka_bootstrap, ROOT, topic=topic) as emitter,
        pytest.raises(ConfigurationError, match=refusal),
    ):
        emitter.emit(enrol, kind=KEY_REGISTRY)
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        consumer = LedgerConsumer(store, RegistryTrust.from_store(store),
                                  _config(kafka_bootstrap, topic, 10))  # fmt: skip
        with pytest.raises(ConfigurationError, match=refusal):
            consumer.run(until_idle=1)


def _sync_header(value: str = k.CONTROL_SYNC) -> list[tuple[str, bytes]]:
    return [(k.H_CONTROL, value.encode())]


@pytest.mark.broker
def test_the_registry_topic_carries_registry_records_only_and_markers_hide_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = _topic(kafka_bootstrap, 3)
    artist = keys.generate("artist")
    since = now_utc() - timedelta(hours=1)
    enrol = build_message(enroll_event("person:a", "human", "A", artist.public, valid_from=since),
                          ROOT, kind=KEY_REGISTRY, source="/root")  # fmt: skip
    # a registry record dressed up as a sync marker is still a registry record
    disguised = build_message(
        enroll_event("person:b", "human", "B", keys.generate("b").public, valid_from=since),
        ROOT,
        kind=KEY_REGISTRY,
        source="/root",
    )
    disguised = replace(disguised, headers=[*disguised.headers, *_sync_header()])
    work = build_message(_work(0, 1)[0], artist, source="/ws")
    stranger_marker = Message("m", b"assetledger.sync", sync_marker("0" * 32), _sync_header())
    fake_marker = Message("f", b"assetledger.sync", b"assetledger-sync/1 \x00", _sync_header())
    keys_topic = k.registry_topic(topic)
    with Emitter(kafka_bootstrap, None, topic=topic) as emitter:
        for m in (enrol, stranger_marker, disguised, fake_marker):
            emitter.send_raw(m, topic=keys_topic)
        emitter.send_raw(work, topic=keys_topic)  # a provenance event on the registry topic
        emitter.send_raw(work)  # and the same on the events topic, where it belongs
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])

        def consume() -> IngestStats:
            trust = RegistryTrust.from_store(store)
            config = _config(kafka_bootstrap, topic, 10)
            return LedgerConsumer(store, trust, config).run(until_caught_up=True)

        first = consume()
        entries = {e.event_id: e.origin.topic for e in store.entries()}
        refused = {(q.origin.topic, q.origin.offset): q.reason for q in store.quarantine()}
        assert entries == {enrol.event_id: keys_topic, disguised.event_id: keys_topic,
                           work.event_id: topic}  # fmt: skip
        assert refused == {(keys_topic, 3): "undecodable", (keys_topic, 4): "wrong_topic"}
        assert store.offsets(k.default_group(topic), keys_topic) == {0: 5}
        assert first.appended == 3 and first.quarantined == 2
        again = consume()  # exactly once: the stored offsets of both topics hold
        assert (again.appended, again.quarantined, again.stale) == (0, 0, 0)


@pytest.mark.broker
def test_two_consumers_of_a_group_each_read_the_registry_and_append_it_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = _topic(kafka_bootstrap, 6)
    sent = _enrol_then_emit(kafka_bootstrap, topic, signers=4, events=5)
    with Emitter(kafka_bootstrap, None, topic=topic) as emitter:  # refused by both processes
        emitter.send_raw(Message("junk", b"x", b"not a registry event", []),
                         topic=k.registry_topic(topic))  # fmt: skip
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
    stats: list[IngestStats] = []
    errors: list[BaseException] = []
    connected = threading.Barrier(2)

    class Together(LedgerConsumer):
        """Reads the registry topic from where the ledger stood when both had connected: a
        process that started seconds after the other (a loaded machine) found the registry
        appended and every partition read, and took no part."""

        def _connect(self) -> None:
            super()._connect()
            connected.wait(timeout=120)

    def run() -> None:
        try:
            with SqliteStore(tmp_path / "ledger.db") as store:
                config = _config(kafka_bootstrap, topic, 5)
                consumer = Together(store, RegistryTrust.from_store(store), config)
                stats.append(consumer.run(until_caught_up=True))
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    with SqliteStore(tmp_path / "ledger.db") as store:
        refused = [(q.origin.topic, q.reason) for q in store.quarantine()]
        assert refused == [(k.registry_topic(topic), "undecodable")]  # one row, not one each
        ids = [e.event_id for e in store.entries()]
        assert sorted(ids) == sorted(sent)  # every registry event once, every event admitted
        for v in ledger_verdicts(store):
            assert v.admitted_at_append is True, v
    assert sum(s.appended for s in stats) == len(sent)
    assert all(s.appended + s.stale > 0 for s in stats)  # both really took part


@pytest.mark.broker
def test_enrolments_and_events_spooled_offline_are_admitted_once_flushed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = _topic(kafka_bootstrap, 6)
    spool = tmp_path / "spool"
    since = now_utc() - timedelta(hours=1)
    sent: list[str] = []
    for i in range(3):  # each signer's enrolment, then its events, all in one spool
        signer = keys.generate(f"artist-{i}")
        enrol = enroll_event(f"person:artist-{i}", "human", str(i), signer.public,
                             valid_from=since)  # fmt: skip
        for pair, kind, batch in ((ROOT, KEY_REGISTRY, [enrol]), (signer, PROVENANCE, _work(i, 4))):
            with Emitter("127.0.0.1:1", pair, topic=topic, spool=spool,
                         connect_timeout=0.3) as offline:  # fmt: skip
                sent += offline.emit_many(batch, kind=kind)
    with Emitter(kafka_bootstrap, ROOT, topic=topic, spool=spool) as online:
        outcome = online.flush_spool()
    assert (outcome.sent, outcome.waiting, outcome.error) == (len(sent), 0, None)
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        config = _config(kafka_bootstrap, topic, 1)
        stats = LedgerConsumer(store, RegistryTrust.from_store(store), config).run(
            until_caught_up=True
        )
        _assert_all_admitted(store, sent, stats)
        registry = {e.event_id for e in store.entries() if e.origin.topic.endswith(".keys")}
        assert len(registry) == 3
