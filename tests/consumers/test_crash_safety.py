"""kill -9 the consumer at random points while it ingests; nothing is lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo.story import production
from ledger.log import operator
from ledger.log.verify import verify_ledger
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from producers.emitter import Emitter
from tests.conftest import FreshTopic

pytestmark = [pytest.mark.broker, pytest.mark.slow]

EVENTS = 4000
KILLS = 6


def _consumer(
    tmp_path: Path, topic: FreshTopic, transport: str, *until: str
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable, "-m", "cli", "consume",
        "--trusted-keys", str(tmp_path / "keys"),
        "--log-key", str(tmp_path / "log" / "log.key"),
        "--ledger", str(tmp_path / "ledger.db"),
        "--bootstrap-servers", topic.bootstrap, "--topic", topic.name,
        "--batch-size", "25", "--session-timeout-ms", "6000", *until,
        "--transport", transport,
        "--group", f"crash-{topic.name}",  # killed members linger: keep them out of other tests
    ]  # fmt: skip
    log = (tmp_path / "consumer.log").open("ab")
    return subprocess.Popen(args, stdout=log, stderr=log)


def _wait_for_size(tmp_path: Path, target: int, timeout: float = 90.0) -> None:
    """Until the consumer has appended ``target`` entries or more (or everything is in).

    The kill point is chosen by ledger size, not by time: a fast transport ingests the whole
    topic within a second of joining, so a random sleep would often kill a consumer already done.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = _size(tmp_path)
        if current >= target or current == EVENTS:
            return
        time.sleep(0.005)
    raise AssertionError(f"the consumer did not reach {target} entries in {timeout} s")


def _size(tmp_path: Path) -> int:
    with SqliteStore(tmp_path / "ledger.db") as store:
        return store.head().size


def test_kill_9_at_random_points(fresh_topic: FreshTopic, tmp_path: Path, transport: str) -> None:
    seed = int(os.environ.get("ASSETLEDGER_TEST_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    signer = keys.generate("farm")
    keys.write_key_pair(signer, tmp_path / "keys")
    with SqliteStore(tmp_path / "ledger.db") as store:
        log_key, _ = operator.create_log_key(tmp_path / "log")
        operator.init_ledger(store, "crash.example/ledger", log_key)
    base = [e for _, e in production()]
    with Emitter(fresh_topic.bootstrap, signer, topic=fresh_topic.name) as emitter:
        emitted = emitter.emit_many([base[i % len(base)] for i in range(EVENTS)])

    sizes = []
    for _ in range(KILLS):
        proc = _consumer(tmp_path, fresh_topic, transport, "--until-idle", "60")
        done = sizes[-1] if sizes else 0
        # A random point of the ingest, not of the start-up: somewhere in the next fifth of
        # what is left, then a random few milliseconds into the batch being written.
        _wait_for_size(tmp_path, done + 1 + int((EVENTS - done) * rng.uniform(0.02, 0.2)))
        time.sleep(rng.uniform(0.0, 0.01))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sizes.append(_size(tmp_path))
    # Caught up counts every partition, whoever holds it: partitions still held by killed
    # members time out and move to the survivor, which reads them before it stops.
    final = _consumer(tmp_path, fresh_topic, transport, "--until-caught-up")
    assert final.wait(timeout=300) == 0, (tmp_path / "consumer.log").read_text()[-3000:]

    killed_mid_ingest = [s for s in sizes if 0 < s < EVENTS]
    print(f"seed {seed}: ledger sizes after each kill -9: {sizes}")
    assert len(killed_mid_ingest) >= 2, f"seed {seed}: kills did not land mid-ingest: {sizes}"
    with SqliteStore(tmp_path / "ledger.db") as store:
        ids = [e.event_id for e in store.entries()]
        assert len(ids) == len(set(ids)), f"seed {seed}: duplicates"
        missing, foreign = set(emitted) - set(ids), set(ids) - set(emitted)
        stale = [q.reason for q in store.quarantine()]
        detail = f"{len(missing)} lost, {len(foreign)} foreign, quarantine {stale[:5]}"
        assert not missing and not foreign, f"seed {seed}: {detail}"
        report = verify_ledger(store, {signer.key_id: signer.public}.get)
        assert report.ok, f"seed {seed}: {report.damage[:3]}"
        checkpoints = store.checkpoints()
        assert report.checkpoints_checked == len(checkpoints) >= KILLS // 2
        assert checkpoints[-1].size == EVENTS
        for older in checkpoints[:-1]:
            operator.prove_consistency(store, older.note)
