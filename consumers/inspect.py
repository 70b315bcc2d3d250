"""Turning one Kafka record into a verified ledger entry, or into a reasoned rejection.

Pure functions (no Kafka client, no database) so every bad-input kind is unit-testable:
oversized → undecodable / unknown schema → invalid event → header mismatch → untrusted key →
bad signature.  Each failure is a :class:`ledger.errors.RejectedInput` with a stable reason.

:class:`ParallelInspector` gives the same outcomes for a whole batch, with the Ed25519 checks
(the dominant cost) spread over a process pool while this process decodes the next records.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import events
from ledger import kafka as k
from ledger.dsse import ENVELOPE_CONTENT_TYPE, Envelope, pae, verify_signature
from ledger.encoding import SingleObjectFraming
from ledger.errors import (
    DecodeError,
    HeaderMismatchError,
    InvalidEventError,
    OversizedError,
    RejectedInput,
    SignatureError,
)
from ledger.events import PROVENANCE, EventKind, Record
from ledger.keys import raw_public
from ledger.parallel import SignatureCheck, check_chunk
from ledger.store import Origin, PendingEntry, Quarantined
from ledger.trust import TrustPolicy

DEFAULT_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class RawRecord:
    """The parts of a Kafka record the ledger reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def origin(self) -> Origin:
        return Origin(self.topic, self.partition, self.offset)


@dataclass(frozen=True)
class Decoded:
    raw: RawRecord
    envelope: Envelope
    kind: EventKind
    event: Record


def decode(raw: RawRecord, framing: SingleObjectFraming, max_bytes: int) -> Decoded:
    """Envelope → payload → event, validated; raises RejectedInput with a specific reason."""
    value = raw.value
    if value is None:
        raise DecodeError("record has no value (a tombstone is not an event)")
    if len(value) > max_bytes:
        raise OversizedError(f"record of {len(value)} bytes exceeds the {max_bytes}-byte limit")
    envelope = Envelope.decode(value, framing)
    kind = events.kind_for_payload_type(envelope.payload_type)
    schema, event = framing.decode(envelope.payload)
    if schema.record != kind.record:
        raise InvalidEventError(
            f"payloadType {envelope.payload_type!r} announces {kind.record}, "
            f"but the payload is a {schema.record} record",
            reason="payload_type_mismatch",
        )
    events.validate(kind, event, writing=False)
    return Decoded(raw, envelope, kind, event)


def check_headers(d: Decoded) -> None:
    """Kafka key and CloudEvents headers are routing hints: they must agree with the payload."""
    expected = {
        k.H_SPECVERSION: k.CE_SPECVERSION,
        k.H_ID: d.event["event_id"],
        k.H_TYPE: d.kind.ce_type,
        k.H_TIME: events.format_time(d.event["event_time"]),
        k.H_CONTENT_TYPE: ENVELOPE_CONTENT_TYPE,
    }
    for name, want in expected.items():
        got = k.header(d.raw.headers, name)
        if got != want:
            shown = "missing" if got is None else repr(got)
            raise HeaderMismatchError(
                f"header {name} is {shown}, but the signed payload says {want!r}"
            )
    subject = d.kind.subject(d.event)
    key = d.raw.key.decode("utf-8", "replace") if d.raw.key is not None else None
    if key != subject:
        raise HeaderMismatchError(f"Kafka key {key!r} is not the event's subject {subject!r}")
    ce_subject = k.header(d.raw.headers, k.H_SUBJECT)
    if ce_subject is not None and ce_subject != subject:
        raise HeaderMismatchError(f"header ce_subject {ce_subject!r} is not {subject!r}")


def to_pending(d: Decoded, keyid: str) -> PendingEntry:
    assert d.raw.value is not None
    return PendingEntry(
        event_id=d.event["event_id"],
        kind=d.kind.record,
        event_time=d.event["event_time"],
        envelope=d.raw.value,
        signer_keyid=keyid,
        origin=d.raw.origin,
        refs=tuple(d.kind.refs(d.event)),
        key=d.raw.key,
        headers=d.raw.headers,
    )


def reject(raw: RawRecord, error: RejectedInput, event_id: str | None = None) -> Quarantined:
    return Quarantined(
        origin=raw.origin,
        reason=error.reason,
        detail=error.message,
        key=raw.key,
        value=raw.value,
        headers=raw.headers,
        event_id=event_id,
        error_class=type(error).__name__,
    )


def inspect(
    raw: RawRecord,
    trust: TrustPolicy,
    framing: SingleObjectFraming,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PendingEntry | Quarantined:
    """The whole pipeline for one record, sequentially (see consumers.verify for batches)."""
    decoded: Decoded | None = None
    try:
        decoded = decode(raw, framing, max_bytes)
        check_headers(decoded)
        keyid, public_key = trust.resolve(decoded.envelope, decoded.kind, decoded.event)
        verify_signature(decoded.envelope, keyid, public_key)
    except RejectedInput as error:
        return reject(raw, error, decoded.event["event_id"] if decoded else None)
    trust.accepted(decoded.kind, decoded.event, keyid)
    return to_pending(decoded, keyid)


def inspect_all(
    raws: Sequence[RawRecord], trust: TrustPolicy, framing: SingleObjectFraming, max_bytes: int
) -> list[PendingEntry | Quarantined]:
    return [inspect(r, trust, framing, max_bytes) for r in raws]


# --- batches with parallel signature checks ---------------------------------------------------

Outcome = PendingEntry | Quarantined


@dataclass(frozen=True)
class _Waiting:
    """A record whose signature is being checked in the pool."""

    index: int
    decoded: Decoded
    keyid: str


class ParallelInspector:
    """:func:`inspect_all` with the signature checks of a batch spread over ``workers`` processes.

    This process decodes, checks headers and asks the trust policy for the key of each record,
    in record order, and sends (public key, signature, PAE) in chunks to the pool while it goes
    on with the next records.  ``trust.accepted`` is then called in record order for each record
    whose signature verified.  A policy's state may change when it accepts a record that is not
    a provenance event (a key registry event enrols or revokes keys), so before such a record
    every pending check is finished and accepted, and the record itself is inspected
    sequentially: outcomes are exactly those of :func:`inspect_all`.

    ``workers=0`` checks in this process (no pool).  Call :meth:`start` before a Kafka client
    starts its threads: the workers are forked then, and (on Linux) are killed by the kernel
    when this process dies, even by ``kill -9``.
    """

    def __init__(
        self,
        trust: TrustPolicy,
        framing: SingleObjectFraming,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        workers: int = 0,
        chunk_size: int = 128,
    ) -> None:
        self.trust = trust
        self.framing = framing
        self.max_bytes = max_bytes
        self.workers = workers
        self.chunk_size = chunk_size
        self._pool: ProcessPoolExecutor | None = None
        self._raw_keys: dict[str, tuple[Ed25519PublicKey, bytes]] = {}

    def start(self) -> None:
        """Start the worker processes now (before a Kafka client starts its threads)."""
        if self.workers <= 0 or self._pool is not None:
            return
        context = multiprocessing.get_context("fork")
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
        )
        for f in [self._pool.submit(check_chunk, []) for _ in range(self.workers)]:
            f.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ParallelInspector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, raws: Sequence[RawRecord]) -> list[Outcome]:
        if self.workers <= 0:
            return inspect_all(raws, self.trust, self.framing, self.max_bytes)
        self.start()
        return _Batch(self, raws).run()

    # --- helpers used by _Batch --------------------------------------------------------------
    def raw_key(self, keyid: str, key: Ed25519PublicKey) -> bytes:
        cached = self._raw_keys.get(keyid)
        if cached is None or cached[0] is not key:
            cached = (key, raw_public(key))
            self._raw_keys[keyid] = cached
        return cached[1]

    def submit(self, items: list[SignatureCheck]) -> Future[list[bool]]:
        assert self._pool is not None
        return self._pool.submit(check_chunk, items)


class _Batch:
    """One batch going through a :class:`ParallelInspector` (state of a single call)."""

    def __init__(self, inspector: ParallelInspector, raws: Sequence[RawRecord]) -> None:
        self.inspector = inspector
        self.trust = inspector.trust
        self.raws = raws
        self.outcomes: list[Outcome | None] = [None] * len(raws)
        self.chunk: list[tuple[_Waiting, SignatureCheck]] = []
        self.submitted: list[tuple[list[_Waiting], Future[list[bool]]]] = []

    def run(self) -> list[Outcome]:
        try:
            for index, raw in enumerate(self.raws):
                self.visit(index, raw)
            self.drain()
        finally:
            for _, future in self.submitted:
                future.cancel()
        done = [o for o in self.outcomes if o is not None]
        assert len(done) == len(self.raws)
        return done

    def visit(self, index: int, raw: RawRecord) -> None:
        insp = self.inspector
        try:
            decoded = decode(raw, insp.framing, insp.max_bytes)
        except RejectedInput as error:
            self.outcomes[index] = reject(raw, error)
            return
        try:
            check_headers(decoded)
        except RejectedInput as error:
            self.outcomes[index] = reject(raw, error, decoded.event["event_id"])
            return
        if decoded.kind is not PROVENANCE:  # may change the policy: finish what is pending
            self.drain()
            self.outcomes[index] = inspect(raw, self.trust, insp.framing, insp.max_bytes)
            return
        try:
            keyid, key = self.trust.resolve(decoded.envelope, decoded.kind, decoded.event)
            item = signature_check(decoded.envelope, keyid, insp.raw_key(keyid, key))
        except RejectedInput as error:
            self.outcomes[index] = reject(raw, error, decoded.event["event_id"])
            return
        self.chunk.append((_Waiting(index, decoded, keyid), item))
        if len(self.chunk) >= insp.chunk_size:
            self.flush()

    def flush(self) -> None:
        if self.chunk:
            waiting = [w for w, _ in self.chunk]
            self.submitted.append((waiting, self.inspector.submit([i for _, i in self.chunk])))
            self.chunk = []

    def drain(self) -> None:
        """Wait for every submitted check; accept in record order those that verified."""
        self.flush()
        for waiting, future in self.submitted:
            for w, ok in zip(waiting, future.result(), strict=True):
                self.settle(w, ok)
        self.submitted = []

    def settle(self, w: _Waiting, ok: bool) -> None:
        d = w.decoded
        if not ok:
            error = SignatureError(
                f"signature by key {w.keyid[:16]}… does not verify over the payload"
            )
            self.outcomes[w.index] = reject(d.raw, error, d.event["event_id"])
            return
        self.trust.accepted(d.kind, d.event, w.keyid)
        self.outcomes[w.index] = to_pending(d, w.keyid)


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Pool initializer: the kernel kills this worker when ``parent`` dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def signature_check(envelope: Envelope, keyid: str, raw_key: bytes) -> SignatureCheck:
    """The (public key, signature, PAE) to verify, as :func:`ledger.dsse.verify_signature` does."""
    for s in envelope.signatures:
        if s.keyid == keyid:
            return raw_key, s.sig, pae(envelope.payload_type, envelope.payload)
    raise SignatureError(f"envelope has no signature by key {keyid[:16]}…")
