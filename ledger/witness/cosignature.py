"""Witness cosignatures: c2sp.org/tlog-cosignature, the Ed25519 ``cosignature/v1`` type.

A cosignature is one more signed-note signature line on a checkpoint::

    — <witness name> base64(key id || timestamp || Ed25519 signature)

* key id = SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4] (type 0x04, not the
  0x01 of the log's own signature);
* timestamp = the POSIX time of cosigning, 8 bytes big-endian, never 0;
* the signature is over ``"cosignature/v1\\n" "time <timestamp>\\n"`` followed by the whole
  checkpoint note text (origin, size, root and any extension lines, final newline included).

A witness's public identity is a verifier key of type 0x04:
``<name>+<hex key id>+base64(0x04 || public key)``.  See docs/proofs.md §8.

The Ed25519 message does not commit to the witness name, so one key published under two names
would make two "witnesses" out of one: a quorum counts distinct public keys, not names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ConfigurationError, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.trust.keys import raw_public

HEADER = b"cosignature/v1\n"
TIMESTAMP_SIZE = 8
SIGNATURE_SIZE = TIMESTAMP_SIZE + 64
MAX_TIMESTAMP = 2**63 - 1
FUTURE_SKEW = 600
"""Seconds a cosignature's timestamp may lie ahead of the verifier's clock (clock skew)."""


@dataclass(frozen=True)
class WitnessKey:
    """A witness a verifier trusts: its name and Ed25519 public key (cosignature/v1)."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return cp.note_key_id(self.name, self.public_key, cp.COSIGNATURE_V1_TYPE)

    @property
    def vkey(self) -> str:
        return cp.vkey(self.name, self.public_key, cp.COSIGNATURE_V1_TYPE)

    @property
    def raw(self) -> bytes:
        return raw_public(self.public_key)


def parse_witness_vkey(text: str) -> WitnessKey:
    """Parse a witness verifier key (signature type 0x04); :class:`KeyFileError` if bad."""
    name, public_key = cp.parse_vkey(text, cp.COSIGNATURE_V1_TYPE)
    return WitnessKey(name, public_key)


def signed_message(note_text: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header line, time line, then the checkpoint note text."""
    return HEADER + f"time {timestamp}\n".encode("ascii") + note_text


def cosign(
    note_text: bytes, name: str, private_key: Ed25519PrivateKey, timestamp: int | None = None
) -> str:
    """The cosignature line (ending in newline) of witness ``name`` on a checkpoint note text."""
    when = int(time.time()) if timestamp is None else timestamp
    if not 0 < when <= MAX_TIMESTAMP:
        raise ConfigurationError(f"cosignature timestamp {when} is out of range")
    key = WitnessKey(name, private_key.public_key())
    signature = private_key.sign(signed_message(note_text, when))
    encoded = cp.b64encode(key.key_id + when.to_bytes(TIMESTAMP_SIZE, "big") + signature)
    return f"{cp.SIGNATURE_PREFIX}{name} {encoded}\n"


@dataclass(frozen=True)
class Cosignature:
    """A cosignature line that verified, and when the witness made it."""

    witness: WitnessKey
    timestamp: int
    line: str  # the signature line, newline included


def signature_lines(note: str) -> list[str]:
    """The signature lines of a signed note (each with its newline); syntax checked."""
    cp.split_note(note)
    block = note[note.rfind("\n\n") + 2 :]
    return [line + "\n" for line in block[:-1].split("\n")]


def verify_cosignatures(
    note: str, witnesses: Sequence[WitnessKey], *, now: float | None = None
) -> list[Cosignature]:
    """The valid cosignatures on ``note`` by the trusted ``witnesses``, one per public key.

    Lines of unknown keys (another name or key id) are ignored, as signed-note requires.  A line
    that matches a trusted witness's name and key id but does not verify, or whose timestamp is
    0 or more than :data:`FUTURE_SKEW` seconds ahead of ``now``, rejects the whole note.
    """
    text, signatures = cp.split_note(note)
    clock = time.time() if now is None else now
    lines = signature_lines(note)
    found: dict[bytes, Cosignature] = {}
    for witness in _distinct(witnesses):
        for (signer, blob), line in zip(signatures, lines, strict=True):
            if signer != witness.name or blob[:4] != witness.key_id:
                continue
            timestamp = _check_line(text, blob, witness, clock)
            found.setdefault(witness.raw, Cosignature(witness, timestamp, line))
    return list(found.values())


def _distinct(witnesses: Sequence[WitnessKey]) -> list[WitnessKey]:
    """One entry per (name, key id); a repeated witness is one witness."""
    return list({(w.name, w.key_id): w for w in witnesses}.values())


def _check_line(text: bytes, blob: bytes, witness: WitnessKey, clock: float) -> int:
    label = f"cosignature by witness {witness.name}+{witness.key_id.hex()}"
    if len(blob) != 4 + SIGNATURE_SIZE:
        raise VerificationFailure(f"{label} is {len(blob) - 4} bytes, not {SIGNATURE_SIZE}")
    timestamp = int.from_bytes(blob[4 : 4 + TIMESTAMP_SIZE], "big")
    if timestamp == 0 or timestamp > MAX_TIMESTAMP:
        raise VerificationFailure(f"{label} has an invalid timestamp {timestamp}")
    if timestamp > clock + FUTURE_SKEW:
        raise VerificationFailure(
            f"{label} is dated {timestamp}, in the future of this clock ({int(clock)})",
            hint="check this machine's clock; a witness never dates a cosignature ahead",
        )
    try:
        witness.public_key.verify(blob[4 + TIMESTAMP_SIZE :], signed_message(text, timestamp))
    except InvalidSignature:
        raise VerificationFailure(
            f"invalid {label}: the checkpoint was altered, or the line was copied from another"
        ) from None
    return timestamp


@dataclass(frozen=True)
class CosignatureLine:
    """A cosignature/v1 line a note carries, as it states itself (not verified): the witness
    name, its 4-byte key id and the timestamp.  A verifier matches it to the keys it holds."""

    witness: str
    key_id: bytes
    timestamp: int

    def to_json(self) -> dict[str, str | int]:
        return {"witness": self.witness, "key_id": self.key_id.hex(), "timestamp": self.timestamp}

    @property
    def label(self) -> str:
        return f"{self.witness}+{self.key_id.hex()}"


def cosignature_lines(note: str) -> list[CosignatureLine]:
    """The cosignature/v1 lines on ``note`` in the note's order (the log's own signature, and
    any line of a length no cosignature has, left out)."""
    _, signatures = cp.split_note(note)
    return [
        CosignatureLine(name, blob[:4], int.from_bytes(blob[4 : 4 + TIMESTAMP_SIZE], "big"))
        for name, blob in signatures
        if len(blob) == 4 + SIGNATURE_SIZE  # the log's own line is 4 + 64 bytes
    ]


def require_quorum(
    note: str, witnesses: Sequence[WitnessKey], quorum: int, *, now: float | None = None
) -> list[Cosignature]:
    """The valid cosignatures on ``note``; :class:`VerificationFailure` if fewer than ``quorum``.

    Witnesses are counted by distinct public key (the cosigned message does not name them).
    """
    check_quorum_setting(witnesses, quorum)
    valid = verify_cosignatures(note, witnesses, now=now)
    if len(valid) < quorum:
        names = ", ".join(c.witness.name for c in valid) or "none"
        raise VerificationFailure(
            f"checkpoint has {len(valid)} valid witness cosignature(s) of the {quorum} required"
            f" (valid: {names})",
            hint="fetch a newer receipt or checkpoint once the witnesses have cosigned it",
        )
    return valid


def check_quorum_setting(witnesses: Sequence[WitnessKey], quorum: int) -> None:
    """A quorum must be at least 1 and at most the number of distinct witness keys given."""
    keys = {w.raw for w in witnesses}
    if quorum < 1:
        raise ConfigurationError(f"a witness quorum must be at least 1, got {quorum}")
    if quorum > len(keys):
        raise ConfigurationError(
            f"quorum {quorum} is more than the {len(keys)} distinct witness key(s) given",
            hint="pass one --witness-key per witness (keys shared by two names count once)",
        )


def add_cosignatures(note: str, lines: Sequence[str]) -> str:
    """``note`` with the cosignature ``lines`` appended (each once, in the order given)."""
    present = set(signature_lines(note))
    extra = [line for line in dict.fromkeys(lines) if line not in present]
    return note + "".join(extra)
