"""Outputs on a disk that fills up: a clear error, exit 2, and nothing half-written left behind.

The disk "fills" for real: the command runs in a child process whose file-size limit
(``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored) makes a write past the limit fail with EFBIG, as a
full disk fails with ENOSPC; ``/dev/full`` fails every write to standard output with ENOSPC.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from demo import story
from tests.ledger.packet.packet_factory import (
    SH010_V2,
    SH030,
    PacketLedger,
    build_ledger,
    timeline,
    write_cut,
)

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")

LIMIT = 20_000  # bytes a file may reach: the ledger is read, a packet's PDF is larger


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def run(*args: str, limited: bool = False, stdout: int | None = None) -> tuple[int, str]:
    code = "import sys; from cli.main import main; sys.argv[0] = 'assetledger'; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        preexec_fn=_limited if limited else None,
        cwd=Path(__file__).parents[2],
    )
    return result.returncode, result.stderr


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> PacketLedger:
    return build_ledger(tmp_path_factory.mktemp("full-disk") / "ledger.db", approvals=[])


def test_packet_build_on_a_full_disk_exits_2_and_leaves_no_partial_packet(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    cut = write_cut(timeline([SH010_V2, SH030]), tmp_path / "cut.otio")
    out = tmp_path / "out" / "pkt"
    args = ["packet", "build", "--ledger", ledger.url, "--production", story.SHOW]
    args += ["--episode", story.EPISODE, "--cut", str(cut), "-o", str(out)]
    code, err = run(*args, limited=True)
    assert code == 2, err
    assert "Traceback" not in err and f"cannot write the packet {out}" in err, err
    assert list((tmp_path / "out").iterdir()) == []  # no folder, no .zip, no temporary files
    code, err = run(*args)  # with room, the same command writes the whole packet
    assert code == 0, err
    assert (out / "MANIFEST.sha256").is_file() and out.with_name("pkt.zip").is_file()


def test_a_report_written_with_o_on_a_full_disk_leaves_no_truncated_file(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    target = tmp_path / "credits.pdf"
    args = ["credits", "--ledger", ledger.url, "--production", story.SHOW, "--format", "pdf"]
    code, err = run(*args, "-o", str(target), limited=True)
    assert code == 2 and "Traceback" not in err and f"cannot write {target}" in err, err
    assert list(tmp_path.iterdir()) == []  # neither a truncated PDF nor a temporary file
    code, err = run(*args, "-o", str(target))
    assert code == 0 and target.read_bytes().startswith(b"%PDF"), err


def test_a_report_to_a_full_standard_output_exits_2_with_a_message(ledger: PacketLedger) -> None:
    args = ["credits", "--ledger", ledger.url, "--production", story.SHOW, "--format", "csv"]
    with open("/dev/full", "w", encoding="utf-8") as full:
        code, err = run(*args, stdout=full.fileno())
    assert code == 2, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.splitlines()[-1] == f"error: {os.strerror(28)}"
