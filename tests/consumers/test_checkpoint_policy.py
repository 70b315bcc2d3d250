"""When the consumer signs checkpoints (issue 21): every N entries or S seconds, and when idle.

Each checkpoint first extends the authenticated index, whose cost per entry falls as more
entries go into one update, so under a stream the consumer signs once per
``checkpoint_every`` entries rather than once per batch; a quiet topic is still anchored at
once (a whole poll with nothing new), so a receipt never waits for the next record.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from consumers.runner import ConsumerConfig, LedgerConsumer
from ledger.errors import ConfigurationError
from ledger.log import operator
from ledger.store import LedgerStore, open_store
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust
from tests.conftest import FreshTopic
from tests.consumers.test_until_caught_up import ARTIST, emit
from tests.support.kafka_tools import FAST_GROUP

NEVER = 3600.0  # seconds: a time limit the test never reaches


def _consumer(store: LedgerStore, topic: FreshTopic, log: KeyPair, **config: Any) -> LedgerConsumer:
    settings = ConsumerConfig(topic.bootstrap, topic=topic.name, **{**FAST_GROUP, **config})
    trust = FolderTrust({ARTIST.key_id: ARTIST.public})
    return LedgerConsumer(store, trust, settings, checkpointer=operator.Checkpointer(store, log))


def _ledger(tmp_path: Path) -> tuple[LedgerStore, KeyPair]:
    log = keys.generate("log")
    store = open_store(str(tmp_path / "ledger.db"))
    operator.init_ledger(store, "policy.example/ledger", log)
    return store, log


@pytest.mark.broker
def test_a_stream_is_anchored_every_n_entries_not_every_batch(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    events, every, batch = 600, 200, 50
    emit(fresh_topic, events)  # the whole stream is in the topic before the consumer starts
    store, log = _ledger(tmp_path)
    try:
        # A long poll timeout: a poll comes back empty only when the topic is really drained,
        # so no idle checkpoint lands in the middle of the stream.
        consumer = _consumer(store, fresh_topic, log, max_batch=batch, fill_ms=0,
                             poll_timeout_ms=5_000, checkpoint_every=every,
                             checkpoint_seconds=NEVER)  # fmt: skip
        stats = consumer.run(until_caught_up=True)
        sizes = [c.size for c in store.checkpoints()]
        assert store.head().size == stats.appended == events
        assert stats.batches >= events // batch  # many batches ...
        assert 2 <= len(sizes) == stats.checkpoints <= events // every + 1  # ... few checkpoints
        steps = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
        assert all(step >= every for step in steps[:-1]), sizes  # the last one: caught up
        assert sizes[-1] == events
    finally:
        store.close()


@pytest.mark.broker
def test_an_idle_topic_gets_every_entry_anchored_without_new_records(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    """Neither limit is reached; the first poll that brings nothing signs the checkpoint."""
    store, log = _ledger(tmp_path)
    consumer = _consumer(store, fresh_topic, log, checkpoint_every=1_000_000,
                         checkpoint_seconds=NEVER)  # fmt: skip
    runner = threading.Thread(target=consumer.run, daemon=True)
    runner.start()
    try:
        emit(fresh_topic, 30)
        deadline = time.monotonic() + 60
        while consumer.stats.last_checkpoint_size < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.is_alive()  # anchored while running, not by the stop
        assert consumer.stats.last_checkpoint_size == 30
        with open_store(str(tmp_path / "ledger.db")) as reader:
            latest = reader.latest_checkpoint()
            assert latest is not None and latest.size == reader.head().size == 30
    finally:
        consumer.stop()
        runner.join(timeout=60)
        store.close()
    assert not runner.is_alive()
    assert consumer.stats.checkpoints == 1  # nothing new after it: no second checkpoint


@pytest.mark.parametrize(("every", "seconds"), [(0, 2.0), (-5, 2.0), (1, -1.0), (1, float("nan"))])
def test_a_checkpoint_policy_that_cannot_work_is_refused(every: int, seconds: float) -> None:
    with pytest.raises(ConfigurationError, match="checkpoint policy"):
        ConsumerConfig("localhost:9092", checkpoint_every=every, checkpoint_seconds=seconds)
