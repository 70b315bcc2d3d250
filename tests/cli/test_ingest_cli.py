"""``assetledger consume`` against an absent broker: quick, quiet and clear (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger.trust import keys


def test_consume_without_a_broker_gives_up_after_the_connect_timeout_quietly(
    tmp_path: Path,
) -> None:
    keys.write_key_pair(keys.generate("artist"), tmp_path / "keys")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "consume",
            "--ledger",
            str(tmp_path / "l.db"),
            "--trusted-keys",
            str(tmp_path / "keys"),
            "--bootstrap-servers",
            "127.0.0.1:1",
            "--workers",
            "0",
            "--until-idle",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"ASSETLEDGER_CONNECT_TIMEOUT": "0.5", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert "error: cannot connect to Kafka at 127.0.0.1:1" in result.stderr
    assert " ERROR kafka" not in result.stderr
