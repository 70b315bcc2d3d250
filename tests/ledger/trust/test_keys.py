"""Key files: permissions, passphrases, clear errors, key ids."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.errors import ConfigurationError, KeyFileError
from ledger.trust import keys


def test_generate_writes_private_0600_and_public(tmp_path: Path) -> None:
    pair = keys.generate("artist")
    private, public = keys.write_key_pair(pair, tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert keys.load_private(private).key_id == pair.key_id
    assert keys.key_id(keys.load_public(public)) == pair.key_id
    assert pair.key_id == hashlib.sha256(keys.raw_public(pair.public)).hexdigest()


def test_never_overwrites(tmp_path: Path) -> None:
    keys.write_key_pair(keys.generate("a"), tmp_path)
    with pytest.raises(ConfigurationError, match="already exists"):
        keys.write_key_pair(keys.generate("a"), tmp_path)


def test_passphrase_round_trip_and_errors(tmp_path: Path) -> None:
    pair = keys.generate("vendor")
    private, _ = keys.write_key_pair(pair, tmp_path, b"correct horse")
    assert b"ENCRYPTED" in private.read_bytes()
    assert keys.load_private(private, b"correct horse").key_id == pair.key_id
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        keys.load_private(private, b"battery staple")
    with pytest.raises(KeyFileError, match="encrypted with a passphrase"):
        keys.load_private(private)


def test_truncated_and_wrong_type_are_clear(tmp_path: Path) -> None:
    private, _ = keys.write_key_pair(keys.generate("a"), tmp_path)
    truncated = tmp_path / "t.key"
    truncated.write_bytes(private.read_bytes()[:40])
    with pytest.raises(KeyFileError, match="truncated or corrupt") as info:
        keys.load_private(truncated)
    assert "PRIVATE KEY" not in str(info.value)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    wrong = tmp_path / "ec.key"
    wrong.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        keys.load_private(wrong)
    with pytest.raises(KeyFileError, match="does not exist"):
        keys.load_private(tmp_path / "missing.key")


def test_trusted_dir(tmp_path: Path) -> None:
    a, b = keys.generate("a"), keys.generate("b")
    keys.write_key_pair(a, tmp_path)
    keys.write_key_pair(b, tmp_path)
    assert set(keys.load_trusted_dir(tmp_path)) == {a.key_id, b.key_id}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match=r"no \*\.pub files"):
        keys.load_trusted_dir(empty)
    with pytest.raises(ConfigurationError, match="does not exist"):
        keys.load_trusted_dir(tmp_path / "nonexistent")
