"""Checkpoints (c2sp.org/tlog-checkpoint) as signed notes (c2sp.org/signed-note), Ed25519.

A checkpoint body is::

    <origin>\\n<tree size>\\n<base64 root hash>\\n[<extension line>\\n ...]

A signed note is the body, a blank line, and one or more signature lines::

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\\n

with the em dash U+2014.  The Ed25519 key id is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || 32-byte public key).  A log's public identity is one
verifier-key line (the golang.org/x/mod/sumdb/note format)::

    <name>+<key id as 8 lowercase hex digits>+<base64(0x01 || 32-byte public key)>

Verifiers ignore signature lines of other keys, as the signed-note spec requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ConfigurationError, KeyFileError, VerificationFailure
from ledger.log.merkle import EMPTY_ROOT, HASH_SIZE
from ledger.trust.keys import public_from_raw, raw_public

ED25519_TYPE = b"\x01"
COSIGNATURE_V1_TYPE = b"\x04"  # timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature)
_TYPE_NAMES = {
    ED25519_TYPE: "a log key",
    COSIGNATURE_V1_TYPE: "a cosignature/v1 witness key",
}
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
MAX_DECIMAL_DIGITS = 20  # 2^64 has 20 digits
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")


# ---------------------------------------------------------------------------------------------
# Small shared helpers


def b64encode(data: bytes) -> str:
    """Standard base64 (RFC 4648 §4) with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, what: str, *, canonical: bool = True) -> bytes:
    """Decode padded standard base64 (canonical unless told otherwise).

    Raises :class:`VerificationFailure` on anything else.
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VerificationFailure(f"{what} is not valid base64: {text[:40]!r}") from None
    if canonical and b64encode(data) != text:
        raise VerificationFailure(f"{what} is not canonical base64: {text[:40]!r}")
    return data


def parse_decimal(text: str, what: str) -> int:
    """An ASCII decimal with no sign and no leading zeroes (unless it is ``0``), below 2^64.

    The bound keeps a hostile 5,000-digit "size" from reaching ``int()`` (which refuses more
    than 4,300 digits with a ValueError); no tree or index is that large.
    """
    if len(text) > MAX_DECIMAL_DIGITS or not _DECIMAL.fullmatch(text):
        raise VerificationFailure(
            f"{what} must be a decimal without leading zeroes, below 2^64: {text[:40]!r}"
        )
    value = int(text)
    if value >= 2**64:
        raise VerificationFailure(f"{what} must be below 2^64: {text!r}")
    return value


def is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode spaces, no plus sign, no control characters."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _has_bad_control(text: str) -> bool:
    """True if ``text`` has an ASCII control character other than newline."""
    return any(c < " " and c != "\n" for c in text)


# ---------------------------------------------------------------------------------------------
# Checkpoint body


@dataclass(frozen=True)
class Checkpoint:
    """The tree head a log signs: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _has_bad_control(self.origin):
            raise ConfigurationError(f"bad checkpoint origin {self.origin!r}")
        if self.size < 0:
            raise ConfigurationError(f"checkpoint tree size must be >= 0, got {self.size}")
        if len(self.root_hash) != HASH_SIZE:
            raise ConfigurationError(
                f"checkpoint root hash must be {HASH_SIZE} bytes, got {len(self.root_hash)}"
            )
        for line in self.extensions:
            if not line or "\n" in line or _has_bad_control(line):
                raise ConfigurationError(f"bad checkpoint extension line {line!r}")

    def body(self) -> bytes:
        """The note text: origin, size, base64 root, extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_body(body: bytes) -> Checkpoint:
    """Parse a checkpoint note text strictly; raise :class:`VerificationFailure` if malformed."""
    text = _decode_note_text(body, "checkpoint")
    if not text.endswith("\n"):
        raise VerificationFailure("checkpoint body does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise VerificationFailure(f"checkpoint body has {len(lines)} lines, needs at least 3")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise VerificationFailure("checkpoint origin line is empty")
    if any(not line for line in extensions):
        raise VerificationFailure("checkpoint has an empty extension line")
    size = parse_decimal(size_text, "checkpoint tree size")
    root = b64decode_strict(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise VerificationFailure(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    if size == 0 and root != EMPTY_ROOT:
        raise VerificationFailure("checkpoint of size 0 must carry the empty-tree root")
    return Checkpoint(origin, size, root, tuple(extensions))


def _decode_note_text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationFailure(f"{what} is not valid UTF-8") from None
    if _has_bad_control(text):
        raise VerificationFailure(f"{what} contains control characters other than newline")
    return text


# ---------------------------------------------------------------------------------------------
# Keys


def note_key_id(name: str, public_key: Ed25519PublicKey, key_type: bytes = ED25519_TYPE) -> bytes:
    """The 4-byte signed-note key id: SHA-256(name || 0x0A || type || raw public key)[:4].

    ``key_type`` is the signature type byte: 0x01 for Ed25519 note signatures (the log's),
    0x04 for timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature, witnesses).
    """
    material = name.encode("utf-8") + b"\n" + key_type + raw_public(public_key)
    return hashlib.sha256(material).digest()[:4]


def vkey(name: str, public_key: Ed25519PublicKey, key_type: bytes = ED25519_TYPE) -> str:
    """The one-line verifier key ``<name>+<hex key id>+<base64(type || public key)>``."""
    _check_key_name(name)
    encoded = b64encode(key_type + raw_public(public_key))
    return f"{name}+{note_key_id(name, public_key, key_type).hex()}+{encoded}"


def parse_vkey(text: str, key_type: bytes = ED25519_TYPE) -> tuple[str, Ed25519PublicKey]:
    """Parse a verifier key line of signature type ``key_type`` (default 0x01, Ed25519).

    Raises :class:`KeyFileError` if it is malformed, corrupt, or of another type.
    """
    parts = text.strip().split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise KeyFileError(f"verifier key {text[:60]!r} is not <name>+<key id>+<key>")
    name, id_hex, key_b64 = parts
    if not is_valid_key_name(name):
        raise KeyFileError(f"verifier key name {name!r} is empty or has spaces or '+'")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise KeyFileError(f"verifier key id {id_hex!r} is not 8 hex digits")
    try:
        key_data = b64decode_strict(key_b64, "verifier key")
    except VerificationFailure as exc:
        raise KeyFileError(exc.message) from None
    if key_data[:1] != key_type:
        raise KeyFileError(
            f"verifier key is not an Ed25519 key of type 0x{key_type.hex()}"
            f" ({_TYPE_NAMES.get(key_type, 'unknown')}): its type byte is"
            f" 0x{key_data[:1].hex() or '??'}"
        )
    public_key = public_from_raw(key_data[1:])
    if note_key_id(name, public_key, key_type).hex() != id_hex.lower():
        raise KeyFileError(f"verifier key id {id_hex} does not match the name and key")
    return name, public_key


def _check_key_name(name: str) -> None:
    if not is_valid_key_name(name):
        raise ConfigurationError(
            f"key name {name!r} must be non-empty, without spaces or '+'",
            hint="use a schema-less URL such as example.com/ledger",
        )


# ---------------------------------------------------------------------------------------------
# Signed notes


def sign_note(body: bytes, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``body`` (note text ending in newline) and return the signed note."""
    _check_key_name(name)
    try:
        text = _decode_note_text(body, "note text")
    except VerificationFailure as exc:
        raise ConfigurationError(exc.message) from None
    if not text.endswith("\n"):
        raise ConfigurationError("note text must end with a newline")
    key_id = note_key_id(name, private_key.public_key())
    signature = private_key.sign(body)
    return f"{text}\n{SIGNATURE_PREFIX}{name} {b64encode(key_id + signature)}\n"


def split_note(note: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split a signed note into its text and ``(key name, signature bytes)`` pairs.

    Checks the syntax only; raises :class:`VerificationFailure` on a malformed note.
    """
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise VerificationFailure("malformed note: not valid UTF-8") from None
    if _has_bad_control(note):
        raise VerificationFailure("malformed note: control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationFailure("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise VerificationFailure("malformed note: signature block empty or not newline-ended")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationFailure(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return text.encode("utf-8"), [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise VerificationFailure(f"malformed note: not a signature line: {line[:60]!r}")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name) or not encoded:
        raise VerificationFailure(f"malformed note: bad signature line {line[:60]!r}")
    try:  # other implementations' lines need not be canonical base64
        signature = b64decode_strict(encoded, f"signature by {name}", canonical=False)
    except VerificationFailure as exc:
        raise VerificationFailure(f"malformed note: {exc.message}") from None
    if len(signature) < 5:
        raise VerificationFailure(f"malformed note: signature by {name} is too short")
    return name, signature


def verify_note(note: str, name: str, public_key: Ed25519PublicKey) -> bytes:
    """Verify the signature of key ``(name, public_key)`` on ``note``; return the note text.

    Signature lines of other keys (another name or another key id) are ignored.  Raises
    :class:`VerificationFailure` if the note is malformed, has no signature by this key, or
    a signature by this key does not verify.
    """
    body, signatures = split_note(note)
    key_id = note_key_id(name, public_key)
    matching = [sig[4:] for signer, sig in signatures if signer == name and sig[:4] == key_id]
    if not matching:
        raise VerificationFailure(
            f"note has no signature by key {name}+{key_id.hex()}",
            hint="check the log name and public key (vkey) you trust",
        )
    for signature in matching:
        try:
            public_key.verify(signature, body)
        except InvalidSignature:
            raise VerificationFailure(
                f"invalid signature by key {name}+{key_id.hex()}: the note was altered "
                "or signed by another key"
            ) from None
    return body


# ---------------------------------------------------------------------------------------------
# Signed checkpoints


def signed_checkpoint(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a signed note by key ``name``."""
    return sign_note(checkpoint.body(), name, private_key)


def open_checkpoint(
    note: str, name: str, public_key: Ed25519PublicKey, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and parse its body.

    The checkpoint's origin must equal ``origin`` (default: the key ``name``), so that a
    checkpoint of another log signed with the same key is not accepted.
    """
    checkpoint = parse_body(verify_note(note, name, public_key))
    want = name if origin is None else origin
    if checkpoint.origin != want:
        raise VerificationFailure(f"checkpoint is for log {checkpoint.origin!r}, expected {want!r}")
    return checkpoint
