"""Scale-out: two consumer processes share one consumer group and one PostgreSQL ledger.

Both run the real CLI (``assetledger consume``) against a real broker.  Once the group has
split the topic's partitions between them, ~600 signed events go in; afterwards the ledger
must hold exactly those events, once each, in one contiguous chain and one Merkle tree.

Nothing here waits for a length of time: the consumers run as daemons until the ledger holds
every event and are then stopped with SIGTERM (a clean stop prints their summary).  With
``--until-idle`` they could stop on a loaded machine before the events arrived, or one could
stop before the other had joined the group (issue 19 §11).
"""

from __future__ import annotations

import copy
import json
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from demo.localbroker import ensure_topics
from demo.story import content_hash, production
from ledger.log.merkle import root_from_leaf_hashes
from ledger.log.verify import verify_ledger
from ledger.store.postgres import PostgresStore
from ledger.trust import keys
from producers.emitter import Emitter
from tests.conftest import FreshTopic

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

PARTITIONS = 6
EVENTS = 600
GROUP = "assetledger-ledger"
CLI = Path(sys.executable).parent / "assetledger"
SIGNER = keys.generate("compositor")
ASSIGNED = re.compile(r"assigned \[(.*?)\]; resumed from ledger offsets")


def varied_events(count: int) -> list[dict[str, Any]]:
    """Demo events over many asset ids (the Kafka key), so they spread over partitions."""
    base = [event for _, event in production()]
    out = []
    for i in range(count):
        event = copy.deepcopy(base[i % len(base)])
        asset = event["asset"]
        asset["asset_id"] = f"{asset['asset_id']}-{i % 48:02d}"
        asset["content_sha256"] = content_hash(asset["asset_id"], asset["version"])
        out.append(event)
    return out


@dataclass
class ConsumerProcess:
    """``assetledger -v consume`` in a subprocess, its output collected by reader threads."""

    proc: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, topic: str, bootstrap: str, dsn: str, trusted: Path) -> ConsumerProcess:
        command = [
            str(CLI),
            "-v",
            "consume",
            *("--trusted-keys", str(trusted), "--ledger", dsn),
            *("--bootstrap-servers", bootstrap, "--topic", topic),
            *("--batch-size", "50", "--format", "json"),
        ]
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        started = cls(proc)
        for stream, lines in ((proc.stdout, started.stdout), (proc.stderr, started.stderr)):
            reader = threading.Thread(target=_collect, args=(stream, lines), daemon=True)
            reader.start()
            started.readers.append(reader)
        return started

    def assignment(self) -> set[int] | None:
        """The partitions of the latest assignment this consumer logged (None: none yet)."""
        found = [m for line in list(self.stderr) if (m := ASSIGNED.search(line))]
        if not found:
            return None
        return {int(p) for p in re.findall(r"partition=(\d+)", found[-1].group(1))}

    def summary(self, timeout: float) -> dict[str, Any]:
        """Stop it cleanly (SIGTERM: it finishes its batch) and read its JSON summary."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"consumer did not stop:\n{self.tail()}") from None
        for reader in self.readers:  # they end at the end of the pipes: all output is read
            reader.join(timeout)
        assert code == 0, f"consumer exited with {code}:\n{self.tail()}"
        result: dict[str, Any] = json.loads("".join(self.stdout))
        return result

    def tail(self) -> str:
        return "".join(self.stderr[-30:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _collect(stream: IO[str], lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def wait_for_ledger(
    dsn: str, size: int, consumers: list[ConsumerProcess], timeout: float = 300
) -> None:
    """Until the ledger holds ``size`` entries (a generous limit, for a loaded machine)."""
    deadline = time.monotonic() + timeout
    with PostgresStore(dsn, read_only=True) as store:
        while store.head().size < size:
            for c in consumers:
                assert c.proc.poll() is None, f"consumer exited early:\n{c.tail()}"
            if time.monotonic() > deadline:
                tails = "\n---\n".join(c.tail() for c in consumers)
                raise AssertionError(f"ledger size {store.head().size} of {size}:\n{tails}")
            time.sleep(0.2)


def wait_for_split(consumers: list[ConsumerProcess], timeout: float = 120) -> None:
    """Until each consumer owns some partitions and together they own each one exactly once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned = [c.assignment() for c in consumers]
        if all(owned):
            sets = [o for o in owned if o is not None]
            if sum(len(s) for s in sets) == PARTITIONS and set().union(*sets) == set(
                range(PARTITIONS)
            ):
                return
        for c in consumers:
            assert c.proc.poll() is None, f"consumer exited early:\n{c.tail()}"
        time.sleep(0.2)
    tails = "\n---\n".join(c.tail() for c in consumers)
    raise AssertionError(f"the group never split the partitions between both consumers:\n{tails}")


def test_two_consumer_processes_build_one_ledger(
    fresh_topic: FreshTopic, pg_schema_dsn: str, tmp_path: Path
) -> None:
    topic = f"{fresh_topic.name}-wide"
    ensure_topics(fresh_topic.bootstrap, {topic: PARTITIONS, f"{topic}.dlt": PARTITIONS})
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "compositor.pub").write_bytes(keys.public_pem(SIGNER.public))
    PostgresStore(pg_schema_dsn).close()  # create the tables before the race, as an operator

    consumers = [
        ConsumerProcess.start(topic, fresh_topic.bootstrap, pg_schema_dsn, trusted)
        for _ in range(2)
    ]
    try:
        wait_for_split(consumers)
        with Emitter(fresh_topic.bootstrap, SIGNER, topic=topic) as emitter:
            emitted = emitter.emit_many(varied_events(EVENTS))
        wait_for_ledger(pg_schema_dsn, EVENTS, consumers)
        summaries = [c.summary(timeout=120) for c in consumers]
    finally:
        for c in consumers:
            c.stop()

    assert all(s["appended"] > 0 for s in summaries), summaries  # both did part of the work
    assert sum(s["appended"] for s in summaries) == EVENTS
    assert sum(s["duplicates"] for s in summaries) == 0
    with PostgresStore(pg_schema_dsn) as store:
        entries = list(store.entries())
        ids = [e.event_id for e in entries]
        assert sorted(ids) == sorted(emitted) and len(set(ids)) == EVENTS
        assert [e.seq for e in entries] == list(range(EVENTS))
        assert {e.origin.partition for e in entries} == set(range(PARTITIONS))
        assert sum(store.offsets(f"{GROUP}.{topic}", topic).values()) == EVENTS
        assert store.quarantine() == []
        report = verify_ledger(store, {SIGNER.key_id: SIGNER.public}.get, workers=1)
        assert report.ok and report.size == EVENTS, report.damage[:3]
        assert store.tree().root() == root_from_leaf_hashes([e.leaf_hash for e in entries])
