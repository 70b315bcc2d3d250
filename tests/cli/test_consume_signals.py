"""``assetledger consume`` as a daemon stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo.story import production
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from producers.emitter import Emitter
from tests.conftest import FreshTopic

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_daemon_stops_cleanly_on_signal(
    sig: signal.Signals, fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    signer = keys.generate("tool")
    keys.write_key_pair(signer, tmp_path / "keys")
    with Emitter(fresh_topic.bootstrap, signer, topic=fresh_topic.name) as emitter:
        ids = emitter.emit_many([e for _, e in production()])
    ledger = tmp_path / "ledger.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "consume", "--trusted-keys", str(tmp_path / "keys"),
         "--ledger", str(ledger), "--bootstrap-servers", fresh_topic.bootstrap,
         "--topic", fresh_topic.name, "--group", f"signals-{fresh_topic.name}",
         "--session-timeout-ms", "6000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        if ledger.exists():
            with SqliteStore(ledger) as store:
                if store.head().size == len(ids):
                    break
        assert proc.poll() is None, "a daemon without --until-idle must keep running"
        assert time.monotonic() < deadline, "not everything ingested within 120 s"
        time.sleep(0.2)
    assert proc.poll() is None, "a daemon without --until-idle must keep running"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"appended {len(ids)}" in stderr
    with SqliteStore(ledger) as store:
        assert sorted(e.event_id for e in store.entries()) == sorted(ids)
