"""The broker dies mid-stream and comes back (with empty memory storage, as Tansu does).

The consumer must survive the outage without touching the ledger, then refuse to resume on the
recreated topic (its offsets restarted at 0) instead of silently skipping records; a new
consumer group then ingests the new incarnation, and the ledger is exactly A plus B, valid.

Tansu creates a missing topic as soon as a client names it, even in a metadata request, with its
default partition count: the dead consumer's reads of TOPIC.keys recreate that topic with
several partitions, which every consumer then refuses (docs/keys.md §3).  The operator deletes
it, as the refusal says, before the new group starts.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from consumers.runner import ConsumerConfig, LedgerConsumer
from demo.localbroker import LocalBroker, ensure_topics
from demo.story import production
from ledger.errors import BrokerError
from ledger.log.verify import verify_ledger
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.trust.policy import FolderTrust
from producers.emitter import Emitter

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TOPIC = "provenance.events"
SIGNER = keys.generate("tool")


def _emit(bootstrap: str, n: int) -> list[str]:
    ensure_topics(bootstrap, {TOPIC: 3, TOPIC + ".dlt": 1})
    base = [e for _, e in production()]
    with Emitter(bootstrap, SIGNER, topic=TOPIC) as emitter:
        return emitter.emit_many([base[i % len(base)] for i in range(n)])


def _consumer(
    store: SqliteStore, bootstrap: str, group: str, transport: str = "kafka-python"
) -> LedgerConsumer:
    config = ConsumerConfig(
        bootstrap,
        topic=TOPIC,
        group_id=group,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        transport=transport,
    )
    return LedgerConsumer(store, FolderTrust({SIGNER.key_id: SIGNER.public}), config)


def _drop_if_not_one_partition(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_topics([topic])
        if described and len(described[0].get("partitions") or []) not in (0, 1):
            admin.delete_topics([topic])
            _wait_for(lambda: topic not in admin.list_topics(), 30)
    finally:
        admin.close()


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_broker_restart_mid_stream(
    local_broker: LocalBroker, tmp_path: Path, transport: str
) -> None:
    first = _emit(local_broker.bootstrap_servers, 120)
    store = SqliteStore(tmp_path / "ledger.db")
    consumer = _consumer(store, local_broker.bootstrap_servers, "ledger", transport)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as exc:  # the test inspects it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    with SqliteStore(tmp_path / "ledger.db") as reader:
        _wait_for(lambda: reader.head().size == 120, 60)
        local_broker.kill()
        time.sleep(4)
        assert thread.is_alive(), errors  # the outage does not kill the consumer
        assert reader.head().size == 120
        local_broker.start()
        second = _emit(local_broker.bootstrap_servers, 40)
        thread.join(timeout=90)
        assert not thread.is_alive(), "consumer kept running on a recreated topic"
        assert len(errors) == 1 and isinstance(errors[0], BrokerError), errors
        assert "recreated" in errors[0].message
        assert reader.head().size == 120  # nothing skipped, nothing half-written

    _drop_if_not_one_partition(local_broker.bootstrap_servers, TOPIC + ".keys")
    recovery = _consumer(store, local_broker.bootstrap_servers, "ledger-after-restart", transport)
    stats = recovery.run(until_caught_up=True)
    assert stats.appended == 40
    ids = [e.event_id for e in store.entries()]
    assert sorted(ids) == sorted(first + second) and len(set(ids)) == len(ids)
    assert verify_ledger(store, {SIGNER.key_id: SIGNER.public}.get, workers=1).ok
    store.close()
