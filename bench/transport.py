"""CPU per record of the consumer's two Kafka transports alone (``python -m bench.transport``).

Fills a topic of a local Tansu broker with records shaped like the ledger's (a 1.5 KB value,
the seven CloudEvents headers, a key), then reads them all through each transport's source
(:mod:`consumers.transport`) in a consumer group, as the runner does, and reports the process's
CPU time (all threads: kafka-python's fetches run in the polling thread, librdkafka's in its
own) per record.  No ledger, no verification: the transport's share of the consumer process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from consumers.transport import ConfluentSource, EventsSource, KafkaPythonSource, confluent_config
from demo.localbroker import LocalBroker, ensure_topics

HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"0a1b2c3d-0000-4000-8000-000000000000"),
    ("ce_type", b"com.assetledger.provenance.v1"),
    ("ce_source", b"/bench"),
    ("ce_time", b"2026-12-07T12:00:00.000000Z"),
    ("ce_subject", b"show/ep101/sq010/sh010/comp@v001"),
    ("content-type", b"application/vnd.dsse.envelope.v1+avro"),
]


class _Listener:
    def on_partitions_assigned(self, assigned: Any) -> None:
        return None

    def on_partitions_revoked(self, revoked: Any) -> None:
        return None


def fill(bootstrap: str, topic: str, records: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=262_144)
    value = os.urandom(1500)
    for i in range(records):
        producer.send(topic, key=b"show/ep101/sq010/sh%04d" % (i % 500), value=value,
                      headers=HEADERS)  # fmt: skip
    producer.flush()
    producer.close()


def source(name: str, bootstrap: str, group: str) -> EventsSource:
    if name == "confluent":
        config = confluent_config(
            bootstrap,
            group,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            max_message_bytes=1 << 20,
            extra={},
        )
        return ConfluentSource(config, lambda topic, parts: {}, {"bootstrap.servers": bootstrap})
    settings = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_poll_records": 2000,
        "fetch_max_bytes": 52_428_800,
        "max_partition_fetch_bytes": 1_048_576,
    }
    return KafkaPythonSource(settings, {"bootstrap_servers": bootstrap})


def read_all(name: str, bootstrap: str, topic: str, records: int) -> tuple[float, float]:
    """(CPU µs per record, wall seconds) to read ``records`` records through ``name``."""
    src = source(name, bootstrap, f"bench-{uuid.uuid4().hex[:8]}")
    src.subscribe(topic, _Listener())
    try:
        got = 0
        while got == 0:  # the group join, not measured
            got = len(src.poll(500, 2000))
        first = got
        cpu, wall = time.process_time(), time.monotonic()
        deadline = wall + 600
        while got < records and time.monotonic() < deadline:
            got += len(src.poll(500, 2000))
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    finally:
        src.close()
    return cpu / max(got - first, 1) * 1e6, wall


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2, help="alternate the transports this often")
    a = p.parse_args()
    with (
        tempfile.TemporaryDirectory() as work,
        LocalBroker(work_dir=Path(work)) as broker,
    ):
        bootstrap = broker.bootstrap_servers
        topic = f"bench-transport-{uuid.uuid4().hex[:8]}"
        ensure_topics(bootstrap, {topic: a.partitions})
        fill(bootstrap, topic, a.records)
        for r in range(a.rounds):
            for name in ("kafka-python", "confluent"):
                us, wall = read_all(name, bootstrap, topic, a.records)
                print(f"round {r + 1}: {name:13} {us:7.1f} us CPU per record ({wall:.1f} s wall)")


if __name__ == "__main__":
    main()
