"""Ed25519 key files: generation, PEM storage (private 0600, optional passphrase), key ids.

Key id rule (documented in docs/protocol.md §5.3): lowercase hex SHA-256 of the raw 32-byte
Ed25519 public key.  Private key material never appears in messages, logs or the ledger.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ConfigurationError, KeyFileError

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw public key: the DSSE ``keyid`` of this key."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()


@dataclass(frozen=True)
class KeyPair:
    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @cached_property
    def key_id(self) -> str:
        """Computed once per key pair (every signature names it)."""
        return key_id(self.public)


def generate(name: str) -> KeyPair:
    return KeyPair(name, Ed25519PrivateKey.generate())


def private_pem(private: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


MAX_KEY_FILE_BYTES = 64 * 1024
"""Largest key (or passphrase) file read: a PEM key is under 1 KiB; a device is refused."""


def write_key_pair(
    pair: KeyPair, out_dir: Path, passphrase: bytes | None = None
) -> tuple[Path, Path]:
    """Write ``NAME.key`` (mode 0600, created so) and ``NAME.pub`` in ``out_dir``.

    Both files are created exclusively and without following a symbolic link at their path
    (``O_CREAT | O_EXCL | O_NOFOLLOW``): an existing file, or a link planted there (even a
    dangling one), is refused and left untouched.
    """
    if not pair.name or pair.name.startswith(".") or any(c in pair.name for c in "/\\\0"):
        raise ConfigurationError(
            f"key name {pair.name!r} is not a plain file name",
            hint="use letters, digits, '-', '_' or '.', not starting with '.'",
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / f"{pair.name}{PRIVATE_SUFFIX}"
    public_path = out_dir / f"{pair.name}{PUBLIC_SUFFIX}"
    for path in (private_path, public_path):
        _refuse_existing(path)
    _create_exclusive(private_path, private_pem(pair.private, passphrase), 0o600)
    try:
        _create_exclusive(public_path, public_pem(pair.public), 0o644)
    except BaseException:
        private_path.unlink()  # ours: created exclusively just above
        raise
    return private_path, public_path


def _refuse_existing(path: Path) -> None:
    if path.is_symlink():
        raise ConfigurationError(
            f"{path} is a symbolic link (to {os.readlink(path)}); key files are never written"
            " through a link",
            hint="remove the link, or choose another name or folder",
        )
    if path.exists():
        raise ConfigurationError(
            f"{path} already exists",
            hint="choose another name or folder; keys are never overwritten",
        )


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing file, never through a link) holding ``data``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        _refuse_existing(path)  # raced in since the check: say what is there
        raise ConfigurationError(f"{path} already exists") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        if hasattr(os, "fchmod"):  # POSIX: whatever the umask (Windows has no modes)
            os.fchmod(fh.fileno(), mode)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_bounded(path: Path, what: str, limit: int = MAX_KEY_FILE_BYTES) -> bytes:
    """Read a small regular file: never more than ``limit`` bytes, never block on a FIFO.

    A device, FIFO, socket or folder is refused by its type; a regular file larger than
    ``limit`` is refused by its size.  Errors are :class:`KeyFileError` with the path.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise KeyFileError(f"{what} file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(
                f"{what} file {path} is not a regular file ({_file_type(info.st_mode)})",
                hint=f"pass the path of the {what} file itself",
            )
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise KeyFileError(
            f"{what} file {path} is larger than {limit} bytes"
            + ("; a key file is under 1 KiB" if limit == MAX_KEY_FILE_BYTES else ""),
            hint=f"pass the path of the {what} file itself",
        )
    return data


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read(path: Path, what: str) -> bytes:
    return read_bounded(path, what)


def load_private(path: Path, passphrase: bytes | None = None) -> KeyPair:
    """Load an Ed25519 private key (PEM PKCS#8); clear errors, never echoing key bytes."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase:
            raise KeyFileError(f"{path} is not encrypted, but a passphrase was given") from None
        raise KeyFileError(
            f"{path} is encrypted with a passphrase",
            hint="pass it with --passphrase-file or ASSETLEDGER_KEY_PASSPHRASE",
        ) from None
    except ValueError:
        if passphrase and b"ENCRYPTED" in data:
            raise KeyFileError(f"wrong passphrase for {path}") from None
        if b"-----BEGIN PUBLIC KEY-----" in data:
            raise KeyFileError(
                f"{path} holds a public key, not a private key",
                hint=f"sign with the private half, {path.name.removesuffix('.pub')}.key",
            ) from None
        raise KeyFileError(
            f"{path} is not a readable PEM private key (truncated or corrupt)",
            hint="generate one with: assetledger keys generate NAME --out DIR",
        ) from None
    except UnsupportedAlgorithm:
        raise KeyFileError(f"{path} uses an unsupported key algorithm; want Ed25519") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return KeyPair(path.name.removesuffix(PRIVATE_SUFFIX), key)


def load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        if b"PRIVATE KEY-----" in data:
            raise KeyFileError(
                f"{path} holds a private key, not a public key",
                hint=f"give its public half, {path.name.removesuffix('.key')}.pub"
                " (keep the private key where it is)",
            ) from None
        raise KeyFileError(
            f"{path} is not a readable PEM public key (truncated or corrupt)",
            hint="give the NAME.pub that assetledger keys generate wrote",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def public_from_raw(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise KeyFileError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_trusted_dir(folder: Path) -> dict[str, Ed25519PublicKey]:
    """Every ``*.pub`` in ``folder``, by key id."""
    if not folder.is_dir():
        raise ConfigurationError(
            f"trusted-keys folder {folder} does not exist",
            hint="create keys with: assetledger keys generate NAME --out DIR",
        )
    keys = {key_id(k): k for k in (load_public(p) for p in sorted(folder.glob("*.pub")))}
    if not keys:
        raise ConfigurationError(f"no *.pub files in trusted-keys folder {folder}")
    return keys
