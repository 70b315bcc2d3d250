"""Two witnesses and one log, all run as a user runs them: real processes, a real broker.

The log ingests through Kafka with ``consume --witness`` for two ``witness serve`` processes;
receipts carry both cosignatures and verify offline with a quorum; a witness that is down
during ingestion neither stops it nor misses out (it is caught up on the next run); a witness
restarted keeps its state; a forked checkpoint (same size, other root, signed with the real log
key) is refused by both and kept as evidence.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.witness.client import WitnessClient, WitnessEndpoint, read_witness_key
from ledger.witness.witness import read_states
from tests.conftest import FreshTopic
from tests.ledger.ledger_factory import append_all, signed_entries
from tests.support.kafka_tools import read_topic

pytestmark = pytest.mark.broker

EXAMPLES = Path(__file__).parents[2] / "examples" / "events"
ORIGIN = "fallen-tower.example/ledger"
ENV = {"PATH": "/usr/bin:/bin"}


def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=180, env=ENV
    )
    assert result.returncode == code, result.stderr
    return result


class WitnessProcess:
    """``assetledger witness serve`` in a child process, on a port it picks and reports."""

    def __init__(self, key_dir: Path, log_vkey: str) -> None:
        self.key_dir = key_dir
        self.log_vkey = log_vkey
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> WitnessProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "witness",
                "serve",
                "--key-dir",
                str(self.key_dir),
                "--log",
                self.log_vkey,
                "--port",
                str(self.port),
            ],
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert self.process.stderr is not None
        for line in self.process.stderr:  # "witness NAME listening on http://127.0.0.1:PORT"
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                return self
        raise AssertionError(f"witness did not start: {self.process.wait(10)}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            assert self.process.wait(20) == 0
            self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[list[WitnessProcess]]:
    made: list[WitnessProcess] = []
    yield made
    for w in made:
        if w.process is not None:
            w.process.kill()
            w.process.wait(10)


def _emit(fresh_topic: FreshTopic, key: Path, count: int, tmp_path: Path, first: int) -> None:
    samples = sorted(EXAMPLES.glob("*.json"))
    lines = [
        json.dumps(json.loads(samples[(first + i) % len(samples)].read_text()))
        for i in range(count)
    ]
    batch = tmp_path / f"events-{first}.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    run("emit", "--key", str(key), "--event", str(batch), *_kafka(fresh_topic))


def _kafka(fresh_topic: FreshTopic) -> list[str]:
    return ["--bootstrap-servers", fresh_topic.bootstrap, "--topic", fresh_topic.name]


def test_two_witnesses_through_the_broker(
    fresh_topic: FreshTopic, tmp_path: Path, witnesses: list[WitnessProcess]
) -> None:
    keys_dir, ledger = tmp_path / "keys", str(tmp_path / "ledger.db")
    run("keys", "generate", "vendor", "--out", str(keys_dir / "trusted"))
    log_vkey = run("init", "--origin", ORIGIN, "--key-dir", str(keys_dir), "--ledger", ledger)
    log_vkey_text = log_vkey.stdout.strip()
    vkey_files = []
    for name in ("guild.example/w1", "union.example/w2"):
        key_dir = tmp_path / name.replace("/", "_")
        printed = run("witness", "init", "--name", name, "--key-dir", str(key_dir)).stdout
        assert printed.strip() == (key_dir / "witness.vkey").read_text().strip()
        vkey_files.append(key_dir / "witness.vkey")
        witnesses.append(WitnessProcess(key_dir, log_vkey_text).start())
    w1, w2 = witnesses

    def consume() -> None:
        run(
            "consume",
            "--trusted-keys",
            str(keys_dir / "trusted"),
            "--log-key",
            str(keys_dir / "log.key"),
            "--until-caught-up",
            "--ledger",
            ledger,
            *[f"--witness={w.url}={v}" for w, v in zip(witnesses, vkey_files, strict=True)],
            *_kafka(fresh_topic),
        )

    # 1. Both witnesses up: the checkpoint is cosigned by both, published and in receipts.
    _emit(fresh_topic, keys_dir / "trusted" / "vendor.key", 30, tmp_path, 0)
    consume()
    shown = run("checkpoint", "--ledger", ledger)
    assert "cosigned by 2 witness(es): guild.example/w1, union.example/w2" in shown.stderr
    assert shown.stdout.count("\u2014 ") == 3 and "\n30\n" in shown.stdout
    old_checkpoint = tmp_path / "checkpoint-30.txt"
    old_checkpoint.write_text(shown.stdout)
    published = read_topic(fresh_topic.bootstrap, fresh_topic.name + ".checkpoints", 999, 5)
    assert published and published[-1].value.decode() == shown.stdout

    with SqliteStore(ledger) as store:
        event_id = next(store.entries(7, 8)).event_id
    receipt = tmp_path / "e7.tlog-proof"
    run("prove", event_id, "--out", str(receipt), "--ledger", ledger)
    quorum = ["--witness-key", str(vkey_files[0]), "--witness-key", str(vkey_files[1])]
    checked = run("verify-receipt", str(receipt), "--log-key", log_vkey_text, *quorum)
    assert "witnesses: 2 valid cosignature(s), 2 required" in checked.stdout
    stranger = run("witness", "init", "--name", "x.example/w", "--key-dir", str(tmp_path / "x"))
    three = [*quorum, "--witness-key", stranger.stdout.strip()]
    run("verify-receipt", str(receipt), "--log-key", log_vkey_text, *three, "--quorum", "2")
    short = run("verify-receipt", str(receipt), "--log-key", log_vkey_text, *three, code=1)
    assert "2 valid witness cosignature(s) of the 3 required" in short.stderr

    # 2. Witness 2 down during ingestion: ingestion goes on; a later run catches it up.
    w2.stop()
    _emit(fresh_topic, keys_dir / "trusted" / "vendor.key", 20, tmp_path, 30)
    consume()
    with SqliteStore(ledger) as store:
        latest = store.latest_checkpoint()
        assert latest is not None and (latest.size, latest.cosigners) == (50, ("guild.example/w1",))
    w2.start()  # restarted on its old state, same port
    consume()  # nothing new to ingest: only the catch-up
    with SqliteStore(ledger) as store:
        latest = store.latest_checkpoint()
        assert latest is not None and latest.size == 50 and len(latest.cosigners) == 2
        real_root = latest.root_hash
    proven = run(
        "consistency", str(old_checkpoint), *quorum, "--format", "json", "--ledger", ledger
    )
    assert json.loads(proven.stdout)["new_size"] == 50

    # 3. A fork: the same size with another root, signed with the real log key.
    log_key = keys.load_private(keys_dir / "log.key")
    with SqliteStore(tmp_path / "fork.db") as fork:
        operator.init_ledger(fork, ORIGIN, log_key)
        append_all(fork, signed_entries(keys.generate("forger"), 50))
        forged = operator.Checkpointer(fork, log_key).checkpoint()
    assert forged is not None and forged.size == 50 and forged.root_hash != real_root
    w1.stop()
    w1.start()  # a restart keeps what it cosigned
    for w, vkey_file in zip(witnesses, vkey_files, strict=True):
        client = WitnessClient(WitnessEndpoint(w.url, read_witness_key(str(vkey_file))))
        refused = client.add_checkpoint(50, [], forged.note)
        assert refused.cosignature is None and refused.failure is not None
        assert refused.failure.startswith("HTTP 422")
        client.close()
    for w in witnesses:
        w.stop()  # read the state with the witness stopped, as an operator would
        states, evidence = read_states(w.key_dir / "witness.db")
        assert [(s.size, s.root_hash) for s in states] == [(50, real_root)]
        assert [(e.reason, e.checkpoint_root) for e in evidence] == [
            ("fork: same size, other root", forged.root_hash)
        ]
        shown = run("witness", "evidence", "--key-dir", str(w.key_dir), code=1)
        assert forged.note in shown.stdout
        assert cp.verify_note(forged.note, ORIGIN, log_key.public)  # signed by the real key
        status = json.loads(
            run("witness", "status", "--key-dir", str(w.key_dir), "--format", "json").stdout
        )
        assert status[0]["size"] == 50 and status[0]["evidence"] == 1
