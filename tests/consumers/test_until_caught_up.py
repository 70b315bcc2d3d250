"""``consume --until-caught-up``: read what the topics hold, then stop (issue 19 §9).

``--until-idle N`` stops after N quiet seconds, and on a loaded machine a quiet spell (a slow
group join, a slow fetch) came before records already in the topic were read.  Caught up means
every assigned partition and TOPIC.keys reached the end offsets seen at the start, and a whole
poll after that brought nothing (Tansu reports the end short by its last record batch).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumers.runner import ConsumerConfig, IngestStats, LedgerConsumer
from demo.story import production
from ledger.events import kafka as k
from ledger.events.topics import ensure_registry_topic
from ledger.log import operator
from ledger.store import LedgerStore, open_store
from ledger.trust import keys
from ledger.trust.policy import FolderTrust
from producers.emitter import Emitter, build_message
from tests.conftest import FreshTopic
from tests.support.kafka_tools import FAST_GROUP

pytestmark = pytest.mark.broker

ARTIST = keys.generate("artist")


def events(n: int) -> list[dict[str, Any]]:
    demo = production()
    return [
        dict(demo[i % len(demo)][1], producer_id="t", producer_seq=i, event_id=str(uuid.uuid4()))
        for i in range(n)
    ]


def emit(topic: FreshTopic, n: int) -> None:
    with Emitter(topic.bootstrap, ARTIST, topic=topic.name) as emitter:
        for event in events(n):
            emitter.emit(event)


def write_in_one_batch(topic: FreshTopic, n: int, partition: int) -> None:
    """``n`` records sent together, so the broker stores them as few large record batches."""
    producer = KafkaProducer(bootstrap_servers=topic.bootstrap, acks="all", linger_ms=200)
    try:
        for event in events(n):
            m = build_message(event, ARTIST, source="/test")
            producer.send(topic.name, key=m.key, value=m.value, headers=list(m.headers),
                          partition=partition)  # fmt: skip
        producer.flush()
    finally:
        producer.close()


def registry_noise(topic: FreshTopic, n: int) -> None:
    """Records on TOPIC.keys (refused by a folder-trust ledger, but read and quarantined)."""
    ensure_registry_topic(topic.bootstrap, topic.name, {})  # one partition, as consume makes it
    producer = KafkaProducer(bootstrap_servers=topic.bootstrap, acks="all")
    try:
        for i in range(n):
            producer.send(
                k.registry_topic(topic.name), key=b"x", value=b"not a registry event %d" % i
            )
        producer.flush()
    finally:
        producer.close()


class SlowStart(LedgerConsumer):
    """A consumer on a loaded machine: once the group assigned it partitions, its next polls
    bring nothing for a while, as when fetches lag behind."""

    def __init__(self, *args: Any, empty_polls: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.empty_polls = empty_polls

    def _poll(self, timeout_ms: int, max_records: int) -> list[Any]:
        if self._listener.assigned_at is not None and self.empty_polls > 0:
            self.empty_polls -= 1
            self.stop_event.wait(timeout_ms / 1000)
            return []
        return super()._poll(timeout_ms, max_records)


def consumer(
    store: LedgerStore,
    topic: FreshTopic,
    cls: type = LedgerConsumer,
    transport: str = "kafka-python",
    **kw: Any,
) -> Any:
    config = ConsumerConfig(topic.bootstrap, topic=topic.name, transport=transport, **FAST_GROUP)
    return cls(store, FolderTrust({ARTIST.key_id: ARTIST.public}), config, **kw)


def real_ends(topic: FreshTopic) -> dict[tuple[str, int], int]:
    """The offset after the last record of each partition, found by reading them all.

    Read until a poll brings nothing once every partition is past the end offset the broker
    reports (a lower bound: Tansu's may fall short by its last record batch); a quiet poll
    before that is a slow fetch on a loaded machine, not the end.
    """
    reader = KafkaConsumer(bootstrap_servers=topic.bootstrap, enable_auto_commit=False)
    try:
        names = [topic.name, k.registry_topic(topic.name)]
        tps = [TopicPartition(t, p) for t in names for p in reader.partitions_for_topic(t) or ()]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        reported = reader.end_offsets(tps)
        ends = {(tp.topic, tp.partition): 0 for tp in tps}
        deadline = time.monotonic() + 120
        while True:
            batch = reader.poll(timeout_ms=3000)
            for tp, records in batch.items():
                ends[(tp.topic, tp.partition)] = records[-1].offset + 1
            if not batch and all(reader.position(tp) >= reported[tp] for tp in tps):
                return ends
            assert time.monotonic() < deadline, f"not read to the end in 120 s: {ends}"
    finally:
        reader.close()


def ledger_offsets(store: LedgerStore, group: str, topic: FreshTopic) -> dict[tuple[str, int], int]:
    names = [topic.name, k.registry_topic(topic.name)]
    return {(t, p): o for t in names for p, o in store.offsets(group, t).items()}


def assert_everything_read(store: LedgerStore, topic: FreshTopic, stats: IngestStats) -> None:
    ends = {tp: end for tp, end in real_ends(topic).items() if end}
    group = k.default_group(topic.name)
    assert ledger_offsets(store, group, topic) == ends
    assert stats.appended + stats.quarantined == sum(ends.values())


def test_a_slow_start_does_not_stop_it_before_the_records_already_there(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    emit(fresh_topic, 60)
    registry_noise(fresh_topic, 3)
    with open_store(str(tmp_path / "ledger.db")) as store:
        slow = consumer(store, fresh_topic, SlowStart, empty_polls=6)  # 3 s without records
        stats = slow.run(until_caught_up=True)
        assert slow.empty_polls == 0
        assert stats.appended == 60 and stats.quarantined == 3
        assert_everything_read(store, fresh_topic, stats)


def test_records_past_the_end_offset_a_broker_reports_are_read_too(
    fresh_topic: FreshTopic, tmp_path: Path, transport: str
) -> None:
    """Tansu reports a partition's end as its last record batch's base offset + 1."""
    write_in_one_batch(fresh_topic, 150, partition=1)
    emit(fresh_topic, 5)
    with open_store(str(tmp_path / "ledger.db")) as store:
        stats = consumer(store, fresh_topic, transport=transport).run(until_caught_up=True)
        assert stats.appended == 155
        assert_everything_read(store, fresh_topic, stats)


def test_an_empty_topic_is_caught_up_at_once_and_a_second_run_reads_only_the_new(
    fresh_topic: FreshTopic, tmp_path: Path, transport: str
) -> None:
    with open_store(str(tmp_path / "ledger.db")) as store:
        assert (
            consumer(store, fresh_topic, transport=transport).run(until_caught_up=True).appended
            == 0
        )
        emit(fresh_topic, 7)
        assert (
            consumer(store, fresh_topic, transport=transport).run(until_caught_up=True).appended
            == 7
        )
        stats = consumer(store, fresh_topic, transport=transport).run(until_caught_up=True)
        assert (stats.appended, stats.quarantined, stats.duplicates) == (0, 0, 0)
        assert store.head().size == 7


def test_the_cli_reads_what_is_there_and_stops(
    fresh_topic: FreshTopic, tmp_path: Path, transport: str
) -> None:
    emit(fresh_topic, 12)
    trusted = tmp_path / "trusted"
    keys.write_key_pair(ARTIST, trusted)
    (trusted / "artist.key").unlink()
    ledger = str(tmp_path / "ledger.db")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "consume",
            "--until-caught-up",
            "--format",
            "json",
            "--trusted-keys",
            str(trusted),
            "--bootstrap-servers",
            fresh_topic.bootstrap,
            "--topic",
            fresh_topic.name,
            "--session-timeout-ms",
            "6000",
            "--workers",
            "0",
            "--transport",
            transport,
            "--ledger",
            ledger,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["appended"], summary["ledger_size"]) == (12, 12)


def test_entries_appended_but_never_anchored_are_anchored_at_the_next_start(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    """A consumer killed between committing a batch and signing its checkpoint leaves entries
    no checkpoint covers; the next run signs them at once, even with nothing new to read."""
    log = keys.generate("log")
    store = open_store(str(tmp_path / "ledger.db"))
    try:
        operator.init_ledger(store, "anchor.example/ledger", log)
        emit(fresh_topic, 5)
        consumer(store, fresh_topic).run(until_caught_up=True)  # no checkpointer: none signed
        assert store.head().size == 5 and store.latest_checkpoint() is None
        stats = consumer(store, fresh_topic, checkpointer=operator.Checkpointer(store, log)).run(
            until_caught_up=True
        )
        assert stats.appended == 0
        latest = store.latest_checkpoint()
        assert latest is not None and latest.size == 5
    finally:
        store.close()
