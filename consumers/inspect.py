"""Turning one Kafka record into a verified ledger entry, or into a reasoned rejection.

Pure functions (no Kafka client, no database) so every bad-input kind is unit-testable:
oversized → key and header limits → undecodable / unknown schema → envelope and event limits
and control characters (:mod:`ledger.events.limits`) → invalid event → header mismatch →
untrusted key → bad signature.  Each failure is a :class:`ledger.errors.RejectedInput` with a
stable reason.

:class:`ParallelInspector` gives the same outcomes for a whole batch, with the decoding and the
Ed25519 checks (the dominant cost) spread over a process pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import (
    DecodeError,
    HeaderMismatchError,
    InvalidEventError,
    OversizedError,
    RejectedInput,
    UntrustedKeyError,
    WrongTopicError,
)
from ledger.events import kafka as k
from ledger.events import limits
from ledger.events.base import EventKind, Record, format_time, validate
from ledger.events.encoding import CONFLUENT_MAGIC, SingleObjectFraming
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.kinds import kind_for_payload_type
from ledger.events.provenance import PROVENANCE
from ledger.index.keys import event_keys
from ledger.store import Origin, PendingEntry, Quarantined
from ledger.trust.dsse import (
    ENVELOPE_CONTENT_TYPE,
    ENVELOPE_RECORD,
    Envelope,
    Signature,
    pae,
    verify_signature,
)
from ledger.trust.keys import raw_public
from ledger.trust.parallel import check_one
from ledger.trust.policy import TRUST_FIELDS, TrustPolicy

DEFAULT_MAX_BYTES = limits.MAX_RECORD_BYTES


@dataclass(frozen=True)
class RawRecord:
    """The parts of a Kafka record the ledger reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    # Set when the Kafka client could not parse the record at this offset (why): it is
    # refused as undecodable, and only its position is known.
    unreadable: str | None = None

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
    if raw.unreadable is not None:
        raise DecodeError(f"the Kafka client cannot read the record: {raw.unreadable}")
    if value is None:
        raise DecodeError("record has no value (a tombstone is not an event)")
    if len(value) > max_bytes:
        raise OversizedError(f"record of {len(value)} bytes exceeds the {max_bytes}-byte limit")
    limits.check_record(raw.key, raw.headers)
    schema, record = limits.decode(value, framing)
    if schema.record != ENVELOPE_RECORD:
        raise DecodeError(f"expected a DSSE envelope, found a {schema.label} record")
    envelope = Envelope.from_record(record)
    kind = kind_for_payload_type(envelope.payload_type)
    schema, event = limits.decode(envelope.payload, framing)
    if schema.record != kind.record:
        raise InvalidEventError(
            f"payloadType {envelope.payload_type!r} announces {kind.record}, "
            f"but the payload is a {schema.record} record",
            reason="payload_type_mismatch",
        )
    validate(kind, event, writing=False)
    return Decoded(raw, envelope, kind, event)


def check_headers(d: Decoded) -> None:
    """Kafka key and CloudEvents headers are routing hints: they must agree with the payload."""
    expected = {
        k.H_SPECVERSION: k.CE_SPECVERSION,
        k.H_ID: d.event["event_id"],
        k.H_TYPE: d.kind.ce_type,
        k.H_TIME: format_time(d.event["event_time"]),
        k.H_CONTENT_TYPE: ENVELOPE_CONTENT_TYPE,
    }
    last = dict(d.raw.headers)  # each name's last value, as ledger.events.kafka.header reads
    for name, want in expected.items():
        got = _text(last.get(name))
        if got != want:
            shown = "missing" if got is None else repr(got)
            raise HeaderMismatchError(
                f"header {name} is {shown}, but the signed payload says {want!r}"
            )
    subject = d.kind.subject(d.event)
    key = d.raw.key.decode("utf-8", "replace") if d.raw.key is not None else None
    if key != subject:
        raise HeaderMismatchError(f"Kafka key {key!r} is not the event's subject {subject!r}")
    ce_subject = _text(last.get(k.H_SUBJECT))
    if ce_subject is not None and ce_subject != subject:
        raise HeaderMismatchError(f"header ce_subject {ce_subject!r} is not {subject!r}")


def _text(value: bytes | None) -> str | None:
    """A header value as text; undecodable bytes count as absent (as in kafka.header)."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        return None


def to_pending(d: Decoded, keyid: str, index_rule: str = "v1") -> PendingEntry:
    """The entry to append; its index keys derived under the ledger's ``index_rule``."""
    assert d.raw.value is not None
    refs = tuple(d.kind.refs(d.event))
    return PendingEntry(
        event_id=d.event["event_id"],
        kind=d.kind.record,
        event_time=d.event["event_time"],
        envelope=d.raw.value,
        signer_keyid=keyid,
        origin=d.raw.origin,
        refs=refs,
        key=d.raw.key,
        headers=d.raw.headers,
        index_keys=tuple(event_keys(d.kind.record, d.event, refs, index_rule)),
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
    *,
    only: EventKind | None = None,
    index_rule: str = "v1",
) -> PendingEntry | Quarantined:
    """The whole pipeline for one record, sequentially (see consumers.verify for batches).

    ``only``: the one kind the record's topic carries (the key-registry topic's); any other
    is refused as ``wrong_topic``.  ``index_rule``: the ledger's (its index keys' rule).
    """
    decoded: Decoded | None = None
    try:
        decoded = decode(raw, framing, max_bytes)
        if only is not None and decoded.kind is not only:
            raise WrongTopicError(
                f"a {decoded.kind.record} record on {raw.topic}, which carries only"
                f" {only.record} records"
            )
        check_headers(decoded)
        keyid, public_key = trust.resolve(decoded.envelope, decoded.kind, decoded.event)
        verify_signature(decoded.envelope, keyid, public_key)
    except RejectedInput as error:
        return reject(raw, error, decoded.event["event_id"] if decoded else None)
    trust.accepted(decoded.kind, decoded.event, keyid)
    return to_pending(decoded, keyid, index_rule)


def inspect_all(
    raws: Sequence[RawRecord],
    trust: TrustPolicy,
    framing: SingleObjectFraming,
    max_bytes: int,
    index_rule: str = "v1",
) -> list[PendingEntry | Quarantined]:
    return [inspect(r, trust, framing, max_bytes, index_rule=index_rule) for r in raws]


# --- batches decoded and checked in worker processes -------------------------------------

Outcome = PendingEntry | Quarantined


class Refused(NamedTuple):
    """A worker's rejection of a record (rebuilt into a :class:`Quarantined` here)."""

    reason: str
    detail: str
    error_class: str
    event_id: str | None


class Checked(NamedTuple):
    """A provenance event a worker decoded, validated, header-checked and signature-checked.

    ``signatures`` holds (key id, signature, verified) per envelope signature; verified is None
    when the worker did not know the key (this process then checks it itself).  ``view`` is the
    event reduced to :data:`ledger.trust.policy.TRUST_FIELDS`: all a trust policy reads.
    """

    event_id: str
    event_time: datetime
    view: Record
    refs: tuple[tuple[str, str], ...]
    payload_type: str
    signatures: tuple[tuple[str, bytes, bool | None], ...]
    index_keys: tuple[str, ...]  # the event's authenticated index keys (PendingEntry.index_keys)


# What a worker returns per record; None means "inspect it here, in order" (registry and consent
# events may change the trust policy; Confluent-framed records need the Schema Registry client).
WorkerResult = Checked | Refused | None
WireRecord = tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]


@dataclass
class _WorkerSetup:
    """Inherited by each forked worker: never pickled."""

    framing: SingleObjectFraming
    max_bytes: int
    keys: dict[str, bytes]  # key id → raw public key
    index_rule: str = "v1"  # the ledger's index rule (PendingEntry.index_keys)


_SETUP: _WorkerSetup | None = None


def _init_worker(parent: int, setup: _WorkerSetup) -> None:
    global _SETUP
    die_with_parent(parent)
    _SETUP = setup


def inspect_chunk(records: list[WireRecord], new_keys: dict[str, bytes]) -> list[WorkerResult]:
    """Worker side: decode, validate, check headers and verify signatures of a chunk."""
    assert _SETUP is not None, "inspect_chunk runs in a ParallelInspector worker"
    _SETUP.keys.update(new_keys)
    return [_inspect_wire(RawRecord("", 0, 0, *r), _SETUP) for r in records]


def _inspect_wire(raw: RawRecord, setup: _WorkerSetup) -> WorkerResult:
    if raw.value is not None and raw.value[:1] == CONFLUENT_MAGIC:
        return None
    try:
        decoded = decode(raw, setup.framing, setup.max_bytes)
    except RejectedInput as error:
        return Refused(error.reason, error.message, type(error).__name__, None)
    event = decoded.event
    try:
        check_headers(decoded)
    except RejectedInput as error:
        return Refused(error.reason, error.message, type(error).__name__, event["event_id"])
    if decoded.kind is not PROVENANCE:
        return None
    env = decoded.envelope
    message = pae(env.payload_type, env.payload)
    signatures = tuple(
        (s.keyid, s.sig, _verified(setup.keys.get(s.keyid), s.sig, message)) for s in env.signatures
    )
    refs = tuple(PROVENANCE.refs(event))
    return Checked(
        event["event_id"],
        event["event_time"],
        {f: event.get(f) for f in TRUST_FIELDS},
        refs,
        env.payload_type,
        signatures,
        tuple(event_keys(PROVENANCE.record, event, refs, setup.index_rule)),
    )


def _verified(raw_key: bytes | None, sig: bytes, message: bytes) -> bool | None:
    return None if raw_key is None else check_one((raw_key, sig, message))


class ParallelInspector:
    """:func:`inspect_all` with the per-record work of a batch spread over ``workers`` processes.

    Workers decode, validate and header-check each record and verify its signatures with the
    keys they know; this process then takes the results in record order, asks the trust policy
    which key must have signed (so the policy's state is always exactly that of sequential
    inspection), and accepts the record if that key's signature verified.  A signature made by
    a key the workers did not know yet (enrolled in this batch) is checked here.  Records that
    may change the policy (key registry events) are inspected here, in order.  Outcomes are
    exactly those of :func:`inspect_all`.

    ``workers=0`` does everything in this process (no pool).  Call :meth:`start` before a Kafka
    client starts its threads: the workers are forked then, inheriting the framing and the
    policy's keys without pickling, and (on Linux) are killed by the kernel when this process
    dies, even by ``kill -9``.
    """

    def __init__(
        self,
        trust: TrustPolicy,
        framing: SingleObjectFraming,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        workers: int = 0,
        chunk_size: int = 256,  # records per task: fewer, larger messages to the workers
        index_rule: str = "v1",  # the ledger's: the rule the entries' index keys follow
    ) -> None:
        self.trust = trust
        self.index_rule = index_rule
        self.framing = framing
        self.max_bytes = max_bytes
        self.workers = workers
        self.chunk_size = chunk_size
        self._pool: ProcessPoolExecutor | None = None
        self._raw_keys: dict[str, tuple[Ed25519PublicKey, bytes]] = {}
        self._forked_keys: dict[str, bytes] = {}  # what every worker was forked with
        self._new_keys: dict[str, bytes] = {}  # keys known since, sent with every chunk

    def start(self) -> None:
        """Start the worker processes now (before a Kafka client starts its threads)."""
        if self.workers <= 0 or self._pool is not None:
            return
        self._forked_keys = self._known_raw_keys()
        self._new_keys = {}
        setup = _WorkerSetup(SingleObjectFraming(self.framing.catalog), self.max_bytes,
                             dict(self._forked_keys), self.index_rule)  # fmt: skip
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=(os.getpid(), setup),
        )
        for f in [self._pool.submit(inspect_chunk, [], {}) for _ in range(self.workers)]:
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
        return self.begin(raws).settle()[1]

    def begin(self, raws: Sequence[RawRecord]) -> InFlight:
        """Hand a batch to the workers now; its outcomes come from :meth:`InFlight.settle`."""
        self.start()
        return InFlight(self, raws)

    # --- helpers used by InFlight --------------------------------------------------------------
    def raw_key(self, keyid: str, key: Ed25519PublicKey) -> bytes:
        cached = self._raw_keys.get(keyid)
        if cached is None or cached[0] is not key:
            cached = (key, raw_public(key))
            self._raw_keys[keyid] = cached
        return cached[1]

    def _known_raw_keys(self) -> dict[str, bytes]:
        return {kid: self.raw_key(kid, key) for kid, key in self.trust.known_keys().items()}

    def keys_changed(self) -> None:
        """The policy may know new keys: send them with every later chunk."""
        if self.workers <= 0:
            return
        known = self._known_raw_keys()
        self._new_keys = {k: v for k, v in known.items() if self._forked_keys.get(k) != v}

    def worker_knew(self, keyid: str, raw_key: bytes) -> bool:
        """Whether the workers verified ``keyid`` signatures with exactly this key."""
        return (self._forked_keys.get(keyid) or self._new_keys.get(keyid)) == raw_key

    def submit(self, raws: Sequence[RawRecord]) -> Future[list[WorkerResult]]:
        assert self._pool is not None
        wire = [(r.key, r.value, r.headers) for r in raws]
        return self._pool.submit(inspect_chunk, wire, self._new_keys)


def _reasons(error: type[RejectedInput]) -> set[str]:
    return {error.reason}.union(*(_reasons(sub) for sub in error.__subclasses__()))


# Refusals by a trust policy: the ones a registry record not read yet could turn into an accept.
UNTRUSTED_REASONS = frozenset(_reasons(UntrustedKeyError))


class RegistryReader(Protocol):
    """The key-registry topic as one batch sees it (see consumers.registry_feed)."""

    def take(self) -> list[RawRecord]:
        """Registry records read since the last batch (no waiting)."""

    def catch_up(self) -> list[RawRecord]:
        """Registry records up to a point after this batch was fetched ([] if already there)."""


class InFlight:
    """A batch handed to a :class:`ParallelInspector`'s workers, settled later in this process.

    The workers start at once, so a consumer can append the previous batch meanwhile.
    :meth:`settle` must be called in batch order: it applies the trust policy record by record.
    """

    def __init__(self, inspector: ParallelInspector, raws: Sequence[RawRecord]) -> None:
        self.inspector = inspector
        self.trust = inspector.trust
        self.raws = list(raws)
        # (topic, partition) pairs to leave out: moved to other consumers since the fetch
        self.dropped: set[tuple[str, int]] = set()
        self.polled = 0  # which poll fetched the batch (set by the consumer; see RegistryReader)
        size = inspector.chunk_size
        self.futures = [(start, inspector.submit(self.raws[start : start + size]))
                        for start in range(0, len(self.raws), size)
                        if inspector.workers > 0]  # fmt: skip

    def settle(
        self, registry: RegistryReader | None = None
    ) -> tuple[list[RawRecord], list[Outcome]]:
        """The records, in ledger order, and their outcomes (the two lists are aligned).

        Without ``registry``: the batch's records outside :attr:`dropped` partitions.  With
        it, the registry records it has read so far come first; and when a record is about to
        be refused for a key the policy does not know, the registry is caught up, the records
        that brings are placed right there, and the record is judged again.
        """
        records: list[RawRecord] = []
        outcomes: list[Outcome] = []

        def add(raw: RawRecord, outcome: Outcome) -> None:
            records.append(raw)
            outcomes.append(outcome)

        known: Mapping[str, object] | None = None  # keys only grow: a stale copy errs safely
        try:
            for raw in registry.take() if registry is not None else ():
                add(raw, self.settle_registry(raw))
            for raw, result in self._results():
                outcome = self.settle_one(raw, result)
                if registry is not None and self.untrusted(outcome):
                    known = self.trust.known_keys() if known is None else known
                    if self.unknown_signer(raw, known):
                        caught_up, registry = registry.catch_up(), None  # once per batch
                        for registry_raw in caught_up:
                            add(registry_raw, self.settle_registry(registry_raw))
                        if caught_up:
                            outcome = self.settle_one(raw, result)
                add(raw, outcome)
        finally:
            self.cancel()
        return records, outcomes

    def _results(self) -> Iterator[tuple[RawRecord, WorkerResult]]:
        """Each record outside :attr:`dropped` partitions with its worker result, in order."""
        dropped = self.dropped
        if not self.futures:
            yield from ((r, None) for r in self.raws if (r.topic, r.partition) not in dropped)
            return
        for start, future in self.futures:
            for i, result in enumerate(future.result(), start):
                raw = self.raws[i]
                if (raw.topic, raw.partition) not in dropped:
                    yield raw, result

    def cancel(self) -> None:
        for _, future in self.futures:
            future.cancel()

    def settle_one(self, raw: RawRecord, result: WorkerResult) -> Outcome:
        insp = self.inspector
        if result is None or raw.unreadable is not None:  # inspected here, in order
            outcome = inspect(raw, self.trust, insp.framing, insp.max_bytes,
                              index_rule=insp.index_rule)  # fmt: skip
            if isinstance(outcome, PendingEntry) and outcome.kind != PROVENANCE.record:
                insp.keys_changed()
            return outcome
        if isinstance(result, Refused):
            return Quarantined(raw.origin, result.reason, result.detail, raw.key, raw.value,
                               raw.headers, result.event_id, result.error_class)  # fmt: skip
        return self.admit(raw, result)

    def settle_registry(self, raw: RawRecord) -> Outcome:
        """A record of the key-registry topic: inspected here, in order; registry events only."""
        insp = self.inspector
        outcome = inspect(raw, self.trust, insp.framing, insp.max_bytes, only=KEY_REGISTRY,
                          index_rule=insp.index_rule)  # fmt: skip
        if isinstance(outcome, PendingEntry):
            insp.keys_changed()
        return outcome

    @staticmethod
    def untrusted(outcome: Outcome) -> bool:
        """Whether the trust policy refused the record (as opposed to its bytes or headers)."""
        return isinstance(outcome, Quarantined) and outcome.reason in UNTRUSTED_REASONS

    def unknown_signer(self, raw: RawRecord, known: Mapping[str, object]) -> bool:
        """Whether one of the record's signers is a key not in ``known``."""
        try:
            envelope = Envelope.decode(raw.value or b"", self.inspector.framing)
        except RejectedInput:
            return False
        return any(s.keyid not in known for s in envelope.signatures)

    def admit(self, raw: RawRecord, c: Checked) -> Outcome:
        """Ask the policy for the signing key; accept if that key's signature verified."""
        envelope = Envelope(c.payload_type, b"", tuple(Signature(k, s) for k, s, _ in c.signatures))
        try:
            keyid, key = self.trust.resolve(envelope, PROVENANCE, c.view)
        except RejectedInput as error:
            return reject(raw, error, c.event_id)
        verified = next(v for k, _, v in c.signatures if k == keyid)
        if not (verified and self.inspector.worker_knew(keyid, self.inspector.raw_key(keyid, key))):
            try:  # a key the workers did not know, or a bad signature: check (and word) it here
                assert raw.value is not None
                verify_signature(Envelope.decode(raw.value, self.inspector.framing), keyid, key)
            except RejectedInput as error:
                return reject(raw, error, c.event_id)
        self.trust.accepted(PROVENANCE, c.view, keyid)
        assert raw.value is not None
        return PendingEntry(c.event_id, PROVENANCE.record, c.event_time, raw.value, keyid,
                            raw.origin, c.refs, raw.key, raw.headers, c.index_keys)  # fmt: skip


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Pool initializer: the kernel kills this worker when ``parent`` dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)
