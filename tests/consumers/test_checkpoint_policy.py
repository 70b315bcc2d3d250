"""When the consumer signs checkpoints (issue 21): every N entries or S seconds, and when idle.

Each checkpoint first extends the authenticated index, whose cost per entry falls as more
entries go into one update, so under a stream the consumer signs once per
``checkpoint_every`` entries rather than once per batch; a quiet topic is still anchored at
once (a whole poll with nothing new), so a receipt never waits for the next record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


class CountingPolls(LedgerConsumer):
    """Counts its polls: the test waits for polls, not for seconds."""

    polls = 0

    def _poll(self, timeout_ms: int, max_records: int) -> list[Any]:
        self.polls += 1
        return super()._poll(timeout_ms, max_records)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.05)


@pytest.mark.broker
def test_an_idle_topic_gets_every_entry_anchored_without_new_records(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    """Neither limit is reached; the first poll that brings nothing signs the checkpoint, and
    polls that bring nothing after it sign none.

    The records are emitted one by one (a send and an acknowledgement each); a consumer that
    joined meanwhile may read them in several batches with a quiet poll between, each anchored
    then: so the test counts no checkpoints, it checks that each covers new entries.
    """
    store, log = _ledger(tmp_path)
    trust = FolderTrust({ARTIST.key_id: ARTIST.public})
    settings = ConsumerConfig(fresh_topic.bootstrap, topic=fresh_topic.name, **FAST_GROUP,
                              checkpoint_every=1_000_000, checkpoint_seconds=NEVER)  # fmt: skip
    consumer = CountingPolls(store, trust, settings, checkpointer=operator.Checkpointer(store, log))
    runner = threading.Thread(target=consumer.run, daemon=True)
    runner.start()
    try:
        emit(fresh_topic, 30)
        _wait_for(lambda: consumer.stats.last_checkpoint_size == 30, "a checkpoint of 30")
        assert runner.is_alive()  # anchored while running, not by the stop
        anchored, polls = consumer.stats.checkpoints, consumer.polls
        _wait_for(lambda: consumer.polls >= polls + 3, "three more polls")
        assert consumer.stats.checkpoints == anchored  # nothing new: no checkpoint
        with open_store(str(tmp_path / "ledger.db")) as reader:
            latest = reader.latest_checkpoint()
            assert latest is not None and latest.size == reader.head().size == 30
            sizes = [c.size for c in reader.checkpoints()]
            assert sizes == sorted(set(sizes)) and len(sizes) == anchored, sizes
    finally:
        consumer.stop()
        runner.join(timeout=60)
        store.close()
    assert not runner.is_alive()
    assert consumer.stats.checkpoints == anchored  # nor at the stop


@pytest.mark.parametrize(("every", "seconds"), [(0, 2.0), (-5, 2.0), (1, -1.0), (1, float("nan"))])
def test_a_checkpoint_policy_that_cannot_work_is_refused(every: int, seconds: float) -> None:
    with pytest.raises(ConfigurationError, match="checkpoint policy"):
        ConsumerConfig("localhost:9092", checkpoint_every=every, checkpoint_seconds=seconds)
