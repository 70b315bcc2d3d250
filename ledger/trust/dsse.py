"""DSSE v1 envelopes with Ed25519, carried as Avro (schemas/dsse_envelope.v1.avsc).

The signature is over PAE(payloadType, payload) =
``"DSSEv1" SP len(payloadType) SP payloadType SP len(payload) SP payload`` with lengths as
ASCII decimal byte counts.  ``payload`` is the Avro-encoded event exactly as sent: single-object
encoding, or the Confluent wire format when the emitter uses a Schema Registry.  The envelope
itself is framed the same way (see :mod:`ledger.events.encoding`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import DecodeError, SignatureError, UntrustedKeyError
from ledger.events.avro_compile import Unsupported
from ledger.events.avro_read import read_bytes, read_long, read_string
from ledger.events.encoding import (
    SOE_MAGIC,
    Framing,
    SingleObjectFraming,
    default_catalog,
    reader_framing,
)
from ledger.trust.keys import KeyPair

ENVELOPE_RECORD = "dsse_envelope"
ENVELOPE_CONTENT_TYPE = "application/vnd.assetledger.dsse+avro"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: exactly the bytes that are signed."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = field(default_factory=tuple)

    def to_record(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": self.payload,
            "signatures": [{"keyid": s.keyid, "sig": s.sig} for s in self.signatures],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Envelope:
        sigs = tuple(Signature(s["keyid"], s["sig"]) for s in record["signatures"])
        return cls(record["payloadType"], record["payload"], sigs)

    def encode(self, framing: Framing | None = None) -> bytes:
        return (framing or SingleObjectFraming()).encode(ENVELOPE_RECORD, self.to_record())

    @classmethod
    def decode(cls, data: bytes, framing: Framing | None = None) -> Envelope:
        if framing is None or (
            isinstance(framing, SingleObjectFraming) and framing.catalog is default_catalog()
        ):  # what the hand-read path reads, that framing reads the same way
            fast = _read_soe_envelope(data)
            if fast is not None:
                return fast
        schema, record = (framing or reader_framing()).decode(data)
        if schema.record != ENVELOPE_RECORD:
            raise DecodeError(f"expected a DSSE envelope, found a {schema.label} record")
        return cls.from_record(record)


@cache
def _envelope_prefix() -> bytes:
    """The single-object header of the current envelope schema (every envelope written)."""
    return SOE_MAGIC + default_catalog().current(ENVELOPE_RECORD).fingerprint


def _read_soe_envelope(data: bytes) -> Envelope | None:
    """A single-object-encoded envelope read by hand (one per ledger entry read: verify and
    the guard read every one), or None for the framing to read or refuse: another framing or
    schema version, or anything unusual (block sizes, bad text, trailing or missing bytes)."""
    prefix = _envelope_prefix()
    if type(data) is not bytes or not data.startswith(prefix):
        return None
    try:
        payload_type, pos = read_string(data, len(prefix))
        payload, pos = read_bytes(data, pos)
        count, pos = read_long(data, pos)
        sigs = []
        while count:
            if count < 0:
                return None  # a block with its byte size: left to fastavro
            for _ in range(count):
                keyid, pos = read_string(data, pos)
                sig, pos = read_bytes(data, pos)
                sigs.append(Signature(keyid, sig))
            count, pos = read_long(data, pos)
    except Unsupported:
        return None
    if pos != len(data):
        return None
    return Envelope(payload_type, payload, tuple(sigs))


def sign(payload_type: str, payload: bytes, signer: KeyPair) -> Envelope:
    sig = signer.private.sign(pae(payload_type, payload))
    return Envelope(payload_type, payload, (Signature(signer.key_id, sig),))


_VERIFIED: dict[tuple[bytes, bytes, bytes], None] = {}
"""(public key, signature, SHA-256 of the signed message) of signatures that verified: one
entry is checked by ``packet verify`` and again by the audit it re-runs (and by each audit of
a long-running portal); a verified signature stays verified.  Bounded by :data:`_VERIFIED_MAX`."""
_VERIFIED_MAX = 1 << 16


def forget_verified() -> None:
    """Forget every remembered verification (benchmarks: each run starts cold, as a fresh
    process does)."""
    _VERIFIED.clear()


@dataclass(frozen=True)
class Claim:
    """A signature to check: by ``public_key`` (raw Ed25519) over ``message`` (the PAE bytes)."""

    public_key: bytes
    sig: bytes
    message: bytes
    digest: bytes  # SHA-256 of message: how verify_signature remembers it

    def holds(self) -> bool:
        """True when the signature verifies (an Ed25519 check; bytes in, so any process can)."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(self.sig, self.message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @property
    def seen(self) -> tuple[bytes, bytes, bytes]:
        return (self.public_key, self.sig, self.digest)


def claim(envelope: Envelope, keyid: str, public_key: Ed25519PublicKey) -> Claim:
    """The signature by ``keyid`` in ``envelope``, to check with ``public_key`` (SignatureError
    when the envelope carries none by that key)."""
    message = pae(envelope.payload_type, envelope.payload)
    for s in envelope.signatures:
        if s.keyid == keyid:
            digest = hashlib.sha256(message).digest()
            return Claim(public_key.public_bytes_raw(), s.sig, message, digest)
    raise SignatureError(f"envelope has no signature by key {keyid[:16]}…")


_PENDING: ContextVar[frozenset[tuple[bytes, bytes, bytes]]] = ContextVar(
    "pending_signatures", default=frozenset()
)


@contextmanager
def taken_as_verified(claims: Iterable[Claim]) -> Iterator[None]:
    """Within the block, :func:`verify_signature` takes the signatures of ``claims`` as
    verified, unchecked: for a caller that checks them meanwhile elsewhere (another process)
    and uses nothing computed in the block unless every one of them holds.  Nothing is
    remembered beyond the block; :func:`remember` what was shown to hold."""
    token = _PENDING.set(_PENDING.get() | {c.seen for c in claims})
    try:
        yield
    finally:
        _PENDING.reset(token)


def remember(claims: Iterable[Claim]) -> None:
    """Remember ``claims`` as verified: call only for claims whose :meth:`Claim.holds` was true."""
    for c in claims:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[c.seen] = None


def verify_signature(envelope: Envelope, keyid: str, public_key: Ed25519PublicKey) -> None:
    """Raise :class:`SignatureError` unless the signature by ``keyid`` verifies."""
    c = claim(envelope, keyid, public_key)
    if c.seen in _VERIFIED or c.seen in _PENDING.get():
        return
    try:
        public_key.verify(c.sig, c.message)
    except InvalidSignature:
        raise not_verified(keyid) from None
    remember((c,))


def not_verified(keyid: str) -> SignatureError:
    """The error of a signature by ``keyid`` that does not verify."""
    return SignatureError(f"signature by key {keyid[:16]}… does not verify over the payload")


def verify_trusted(envelope: Envelope, trusted: Mapping[str, Ed25519PublicKey]) -> str:
    """Verify the first signature whose key is trusted; return its key id."""
    if not envelope.signatures:
        raise SignatureError("envelope carries no signature")
    for s in envelope.signatures:
        key = trusted.get(s.keyid)
        if key is not None:
            verify_signature(envelope, s.keyid, key)
            return s.keyid
    ids = ", ".join(s.keyid[:16] + "…" for s in envelope.signatures)
    raise UntrustedKeyError(f"signed only by unknown key(s) {ids}", reason="unknown_key")
