"""Small helpers for broker tests: read a topic from the beginning, build consumers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from consumers.runner import ConsumerConfig, IngestStats, LedgerConsumer
from ledger.store import LedgerStore
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust

FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 120.0) -> list[Any]:
    """All records of ``topic`` from offset 0 (no consumer group), waiting for ``expected``
    (up to ``timeout`` s: generous, it is spent only when fewer come, on a loaded machine)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def consume_once(
    store: LedgerStore,
    signers: list[KeyPair],
    bootstrap: str,
    topic: str,
    **config: Any,
) -> IngestStats:
    """Read what the topics hold into ``store`` (``consume --until-caught-up``), then stop."""
    trust = FolderTrust({s.key_id: s.public for s in signers})
    settings = ConsumerConfig(bootstrap, topic=topic, **{**FAST_GROUP, **config})
    return LedgerConsumer(store, trust, settings).run(until_caught_up=True)


def header_map(record: Any) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()}


def ledger_path(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.db")
