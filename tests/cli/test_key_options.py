"""Keys and certificate chains given on the command line: one loader (cli/common.py) for every
command, bounded, and a clear error (exit 2) for a file that is not what it should be
(issue 19 §11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import common
from cli.main import cli
from ledger.errors import KeyFileError
from ledger.log import operator
from ledger.trust import keys

BINARY = bytes(range(256)) * 4


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-key.bin"
    path.write_bytes(BINARY)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_a_binary_file_as_log_key_is_a_clear_error_not_a_traceback(
    binary: Path, tmp_path: Path
) -> None:
    receipt = tmp_path / "r.receipt"
    receipt.write_text("x\n")
    code, output = run("verify-receipt", "--log-key", str(binary), str(receipt))
    assert code == 2
    assert f"verifier key file {binary} is not UTF-8 text" in output


def test_a_binary_file_as_trust_anchors_is_a_clear_error(binary: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text("{}")
    code, output = run("c2pa", "import", str(manifest), "--dry-run", "--trust-anchors", str(binary))
    assert code == 2
    assert f"trust anchors file {binary} is not UTF-8 text" in output


def test_a_witness_given_a_binary_log_key_file_says_so(binary: Path, tmp_path: Path) -> None:
    code, output = run("witness", "init", "--name", "w.example/w", "--key-dir", str(tmp_path / "w"))
    assert code == 0, output
    code, output = run("witness", "serve", "--key-dir", str(tmp_path / "w"), "--log", str(binary))
    assert code == 2 and "is not UTF-8 text" in output


def test_a_fifo_or_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(KeyFileError, match="not a regular file"):
        common.pem_chain(fifo)
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"A" * (common.MAX_TEXT_FILE_BYTES + 1))
    with pytest.raises(KeyFileError):
        common.pem_chain(huge)


def test_the_helpers_read_what_they_are_given(tmp_path: Path) -> None:
    pair, _ = operator.create_log_key(tmp_path / "log")
    vkey = operator.LogIdentity("o.example/log", pair.public).vkey
    (tmp_path / "log.vkey").write_text(vkey + "\n")
    for given in (vkey, str(tmp_path / "log.vkey")):
        name, public = common.log_vkey(given)
        assert name == "o.example/log" and keys.raw_public(public) == keys.raw_public(pair.public)
    assert common.trusted_keys(None) is None
    folder = common.trusted_keys(tmp_path / "log")
    assert folder is not None
    assert {k: keys.raw_public(v) for k, v in folder.items()} == {
        pair.key_id: keys.raw_public(pair.public)
    }
    assert common.signing_key(tmp_path / "log" / "log.key", None).key_id == pair.key_id
    assert common.pem_chain(None) is None
