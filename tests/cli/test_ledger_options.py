"""CLI options of the ledger's operator: ``init --encrypt`` and password-free ``init``/``info``.

(These exercise ``cli/proofs.py``; they sit here because the author owned this folder.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from demo.story import production
from ledger.errors import KeyFileError
from ledger.trust import keys as keyfiles
from producers.emitter import Emitter
from tests.conftest import FreshTopic

PASSPHRASE = "correct horse battery staple"


def run(*args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,  # no terminal: never prompts
        env={"PATH": "/usr/bin:/bin", **env},
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def test_init_encrypt_writes_a_passphrase_protected_log_key(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n")
    ledger = str(tmp_path / "ledger.db")
    out = run(
        "init",
        "--origin",
        "test.example/ledger",
        "--key-dir",
        str(tmp_path / "k"),
        "--encrypt",
        "--passphrase-file",
        str(secret),
        "--ledger",
        ledger,
    )
    assert "encrypted with your passphrase" in out.stderr
    key_file = tmp_path / "k" / "log.key"
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    with pytest.raises(KeyFileError, match="encrypted with a passphrase"):
        keyfiles.load_private(key_file)
    pair = keyfiles.load_private(key_file, PASSPHRASE.encode())
    info = json.loads(run("info", "--ledger", ledger, "--format", "json").stdout)
    assert pair.key_id  # the key loads; the ledger names its public half
    assert info["origin"] == "test.example/ledger" and info["log_vkey"]


def test_init_encrypt_takes_the_passphrase_from_the_environment(tmp_path: Path) -> None:
    run(
        "init",
        "--origin",
        "o",
        "--key-dir",
        str(tmp_path),
        "--encrypt",
        "--ledger",
        str(tmp_path / "l.db"),
        ASSETLEDGER_KEY_PASSPHRASE=PASSPHRASE,
    )
    keyfiles.load_private(tmp_path / "log.key", PASSPHRASE.encode())


def test_init_encrypt_without_a_passphrase_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    out = run(
        "init",
        "--origin",
        "o",
        "--key-dir",
        str(tmp_path / "k"),
        "--encrypt",
        "--ledger",
        str(tmp_path / "l.db"),
        ok=False,
    )
    assert out.returncode == 2 and "--encrypt needs a passphrase" in out.stderr
    assert not (tmp_path / "k").exists() and not (tmp_path / "l.db").exists()
    secret = tmp_path / "p"
    secret.write_text(PASSPHRASE)
    out = run(
        "init",
        "--origin",
        "o",
        "--key-dir",
        str(tmp_path / "k"),
        "--passphrase-file",
        str(secret),
        "--ledger",
        str(tmp_path / "l.db"),
        ok=False,
    )
    assert out.returncode == 2 and "without --encrypt" in out.stderr
    plain = run(
        "init",
        "--origin",
        "o",
        "--key-dir",
        str(tmp_path / "k"),
        "--ledger",
        str(tmp_path / "l.db"),
    )
    assert "not encrypted" in plain.stderr
    keyfiles.load_private(tmp_path / "k" / "log.key")


@pytest.mark.broker
def test_consume_signs_checkpoints_with_an_encrypted_log_key(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "l.db")
    run(
        "init",
        "--origin",
        "o.example/l",
        "--key-dir",
        str(tmp_path),
        "--encrypt",
        "--ledger",
        ledger,
        ASSETLEDGER_KEY_PASSPHRASE=PASSPHRASE,
    )
    artist = keyfiles.generate("artist")
    keyfiles.write_key_pair(artist, tmp_path / "trusted")
    with Emitter(fresh_topic.bootstrap, artist, topic=fresh_topic.name) as emitter:
        emitter.emit_many([e for _, e in production()][:3])
    common = [
        "consume",
        "--trusted-keys",
        str(tmp_path / "trusted"),
        "--log-key",
        str(tmp_path / "log.key"),
        "--until-caught-up",
        "--ledger",
        ledger,
        "--workers",
        "0",
        "--bootstrap-servers",
        fresh_topic.bootstrap,
        "--topic",
        fresh_topic.name,
    ]
    refused = run(*common, ok=False)
    assert refused.returncode == 2 and "encrypted with a passphrase" in refused.stderr
    run(*common, ASSETLEDGER_KEY_PASSPHRASE=PASSPHRASE)
    note = run("checkpoint", "--ledger", ledger).stdout
    assert note.startswith("o.example/l\n3\n")


def _with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


@pytest.mark.postgres
def test_init_and_info_never_print_the_ledger_password(pg_schema_dsn: str, tmp_path: Path) -> None:
    """The server here trusts local connections, so the password is carried but unused."""
    dsn = _with_password(pg_schema_dsn, "hunter2")
    init = run("init", "--origin", "o", "--key-dir", str(tmp_path), "--ledger", dsn)
    assert "hunter2" not in init.stderr + init.stdout and "***" in init.stderr
    for fmt in ("text", "json"):
        info = run("info", "--ledger", dsn, "--format", fmt)
        assert "hunter2" not in info.stdout + info.stderr
        assert "***" in info.stdout
