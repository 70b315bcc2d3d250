"""The CLI as a user runs it, through a real broker: keys, emit, consume, log, verify."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FreshTopic

pytestmark = pytest.mark.broker

EXAMPLES = Path(__file__).parents[2] / "examples" / "events"


def run(*args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def test_500_sample_events_land_exactly_and_tampering_is_named(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"
    key_id = run("keys", "generate", "vendor", "--out", str(keys_dir)).stdout.strip()
    assert len(key_id) == 64
    samples = sorted(EXAMPLES.glob("*.json"))
    lines = [json.dumps(json.loads(p.read_text())) for p in samples]
    batch = tmp_path / "events.jsonl"
    batch.write_text("\n".join(lines[i % len(lines)] for i in range(500)) + "\n")
    common = ["--bootstrap-servers", fresh_topic.bootstrap, "--topic", fresh_topic.name]
    emitted = run("emit", "--key", str(keys_dir / "vendor.key"), "--event", str(batch), *common)
    ids = emitted.stdout.split()
    assert len(ids) == 500 == len(set(ids))
    ledger = str(tmp_path / "ledger.db")
    consumed = run(
        "consume",
        "--trusted-keys",
        str(keys_dir),
        "--until-caught-up",
        "--ledger",
        ledger,
        "--format",
        "json",
        *common,
    )
    assert json.loads(consumed.stdout)["ledger_size"] == 500
    listed = json.loads(run("log", "--ledger", ledger, "--format", "json").stdout)
    assert sorted(r["event_id"] for r in listed) == sorted(ids)
    verified = run("verify", "--ledger", ledger, "--trusted-keys", str(keys_dir))
    assert "ledger intact: 500 entries" in verified.stdout

    db = sqlite3.connect(ledger)
    (blob,) = db.execute("SELECT envelope FROM entries WHERE seq = 321").fetchone()
    altered = bytearray(blob)
    altered[100] ^= 0x40
    db.execute("UPDATE entries SET envelope = ? WHERE seq = 321", (bytes(altered),))
    db.commit()
    db.close()
    damaged = run("verify", "--ledger", ledger, "--trusted-keys", str(keys_dir), ok=False)
    assert damaged.returncode == 1
    assert "DAMAGED: entry 321: altered" in damaged.stdout


def test_each_sample_file_is_accepted_as_is(fresh_topic: FreshTopic, tmp_path: Path) -> None:
    run("keys", "generate", "tool", "--out", str(tmp_path))
    for sample in sorted(EXAMPLES.glob("*.json")):
        result = run(
            "emit",
            "--key",
            str(tmp_path / "tool.key"),
            "--event",
            str(sample),
            "--bootstrap-servers",
            fresh_topic.bootstrap,
            "--topic",
            fresh_topic.name,
        )
        assert len(result.stdout.split()) == 1


def test_usage_and_environment_errors_exit_2(tmp_path: Path) -> None:
    no_keys = run("verify", "--ledger", "x.db", "--trusted-keys", str(tmp_path), ok=False)
    assert no_keys.returncode == 2 and "no *.pub files" in no_keys.stderr
    run("keys", "generate", "k", "--out", str(tmp_path))
    missing = run(
        "verify", "--ledger", str(tmp_path / "none.db"), "--trusted-keys", str(tmp_path), ok=False
    )
    assert missing.returncode == 2
    assert "error: no ledger at" in missing.stderr and "hint:" in missing.stderr
    (tmp_path / "bad.json").write_text("{not json")
    bad = run(
        "emit", "--key", str(tmp_path / "k.key"), "--event", str(tmp_path / "bad.json"), ok=False
    )
    assert bad.returncode == 2 and "not JSON" in bad.stderr
    unreachable = run(
        "emit",
        "--key",
        str(tmp_path / "k.key"),
        "--event",
        str(sorted(EXAMPLES.glob("*.json"))[0]),
        "--bootstrap-servers",
        "127.0.0.1:1",
        ok=False,
    )
    assert unreachable.returncode == 2
    assert "Kafka" in unreachable.stderr
