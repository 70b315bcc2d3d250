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


# --- hostile paths: links, existing files, devices, FIFOs (issue 12 §3) ---------------------


@pytest.mark.parametrize("suffix", [".key", ".pub"])
def test_a_dangling_link_is_refused_and_its_target_never_created(
    tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / "elsewhere" / f"planted{suffix}"
    target.parent.mkdir()
    out = tmp_path / "keys"
    out.mkdir()
    (out / f"artist{suffix}").symlink_to(target)
    with pytest.raises(ConfigurationError, match="symbolic link") as info:
        keys.write_key_pair(keys.generate("artist"), out)
    assert str(target) in info.value.message
    assert not target.exists()
    assert sorted(p.name for p in out.iterdir()) == [f"artist{suffix}"]


def test_a_link_to_an_existing_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "artist.key").symlink_to(victim)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        keys.write_key_pair(keys.generate("artist"), tmp_path)
    assert victim.read_text() == "precious"


def test_an_existing_public_key_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "artist.pub").write_text("mine")
    with pytest.raises(ConfigurationError, match="already exists"):
        keys.write_key_pair(keys.generate("artist"), tmp_path)
    assert (tmp_path / "artist.pub").read_text() == "mine"
    assert not (tmp_path / "artist.key").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "nul\0name"])
def test_a_key_name_must_be_a_plain_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="not a plain file name"):
        keys.write_key_pair(keys.KeyPair(name, keys.generate("x").private), tmp_path / "k")


def test_a_device_is_refused_not_read_into_memory() -> None:
    with pytest.raises(KeyFileError, match=r"not a regular file \(a character device\)"):
        keys.load_private(Path("/dev/zero"))
    with pytest.raises(KeyFileError, match="not a regular file"):
        keys.load_public(Path("/dev/zero"))


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "k.key"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            keys.load_private(fifo)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # unblock the reader so the test run can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO key file blocked waiting for a writer")
    assert len(outcome) == 1 and isinstance(outcome[0], KeyFileError)
    assert "a FIFO" in outcome[0].message


def test_a_huge_regular_file_is_refused_by_size(tmp_path: Path) -> None:
    big = tmp_path / "big.key"
    with big.open("wb") as fh:
        fh.truncate(10 * 1024 * 1024)  # sparse: 10 MiB of zeros
    with pytest.raises(KeyFileError, match="larger than"):
        keys.load_private(big)
