"""What one stored envelope says, derived once: the facts every check of verify and the guard reads.

:func:`derive` decodes an entry's envelope and event once and returns :class:`EntryFacts`: the
event id, kind, event time and query index rows the derived rows must match, the part of the
event a trust policy reads (for the key-registry replay), and, when given the signer's raw
public key, whether the recorded signer's signature verifies.  :class:`FactsPool` derives a
chunk of entries in worker processes (decoding and Ed25519 are most of the per-entry CPU), in
order, while the caller reads and hashes the next chunk; small chunks and ``workers <= 1`` are
derived in this process.  Entries go to the workers as plain bytes and strings, and the facts
come back small: the payload is never sent back.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ledger.errors import RejectedInput
from ledger.events import avro_read
from ledger.events.avro_compile import Unsupported
from ledger.events.avro_read import Projection, Reader, compile_projection
from ledger.events.base import EventKind, Record, validate
from ledger.events.encoding import (
    LEARNED_SCHEMA_IDS,
    SchemaVersion,
    SingleObjectFraming,
    reader_framing,
)
from ledger.events.kinds import kind_for_payload_type
from ledger.events.provenance import PROVENANCE
from ledger.index.replay import index_keys
from ledger.trust.dsse import Envelope, Signature, pae
from ledger.trust.parallel import check_one, default_workers
from ledger.trust.policy import TRUST_FIELDS


class EntryFacts(NamedTuple):
    """What an entry's envelope says (``None`` fields: it did not get that far)."""

    envelope_problem: str | None  # why the envelope no longer decodes
    event_problem: str | None  # why the event inside no longer decodes
    payload_type: str = ""
    signatures: tuple[tuple[str, bytes], ...] = ()  # (key id, signature) in the envelope
    record: str | None = None  # the kind's record name
    event_id: str | None = None
    event_time: datetime | None = None
    refs: tuple[tuple[str, str], ...] = ()  # the query index rows the event gives, sorted, once
    # With ``validating`` (for the registry replay): the trust fields of a provenance event
    # (any other kind whole), and whether the event passes validation; ``signatures`` too.
    event: Record | None = None
    valid: bool | None = None
    # The recorded signer's signature: None if the envelope has none by that key id,
    # else (verified with ``signed_with``, or None if no key was given).
    signature: tuple[bool | None, bytes | None] | None = None
    # For entries before ``index_below``: the authenticated index keys of the event.
    index_keys: tuple[str, ...] | None = None

    @property
    def decoded(self) -> bool:
        return self.envelope_problem is None and self.event_problem is None

    def envelope(self) -> Envelope:
        """The envelope without its payload (all a trust policy reads)."""
        sigs = tuple(Signature(k, s) for k, s in self.signatures)
        return Envelope(self.payload_type, b"", sigs)


# (position, envelope bytes, recorded signer key id, that key's raw public key if known)
Job = tuple[int, bytes, str, bytes | None]

# What verify and the guard read of a provenance event (the most common kind, by far) when
# they do not validate it: its columns, its query index rows (``provenance_refs``) and its
# index keys (``ledger.index.keys``).  Every other field is skipped, checked as it would be
# read, so the same events decode or fail to decode (tests/ledger/log/test_entry_facts.py
# compares the rows and keys with a full decoding's).
PROVENANCE_READ: Projection = {
    "event_id": True,
    "event_time": True,
    "production": {"show": True, "episode": True},
    "asset": {"asset_id": True, "version": True},
    "actor": {"actor_id": True},
    "model": {"provider": True, "name": True, "licence_ref": True},
    "ingredients": {"asset_id": True, "version": True},
    "rights": {"licence_ref": True},
    "directed_by": True,
    "likeness": {"performer_id": True},
}
_PROJECTED = {PROVENANCE.record: PROVENANCE_READ}


_PROJECTIONS: dict[bytes, Reader | None] = {}  # by schema fingerprint


def _projection(schema: SchemaVersion) -> Reader | None:
    if schema.fingerprint not in _PROJECTIONS:
        keep = _PROJECTED.get(schema.record)
        try:
            reader = None if keep is None else compile_projection(schema.reading, keep)
        except Unsupported:  # a schema without those fields: read whole
            reader = None
        _PROJECTIONS[schema.fingerprint] = reader
    return _PROJECTIONS[schema.fingerprint]


def decode_event(
    framing: SingleObjectFraming, payload: bytes, whole: bool = True
) -> tuple[SchemaVersion, Record]:
    """The event of a payload; with ``whole`` False, of a provenance event written with the
    current schema only the fields :data:`PROVENANCE_READ` names (the others checked, not
    kept: the payload decodes exactly when it decodes whole)."""
    if not whole:
        try:
            writer, start = framing.locate(payload)
        except RejectedInput:
            writer = None
        if writer is not None and framing.catalog.current(writer.record) is writer:
            reader = _projection(writer)
            if reader is not None:
                try:
                    return writer, avro_read.read(reader, payload, start)
                except Unsupported:
                    pass  # fastavro reads or refuses it, whole
    return framing.decode(payload)


def derive(
    job: Job,
    framing: SingleObjectFraming | None = None,
    *,
    validating: bool = False,
    index_below: int = 0,
    index_rule: str = "v1",
    texts: dict[str, str] | None = None,
) -> EntryFacts:
    """Decode one stored envelope and its event once; check the recorded signer's signature.

    ``texts``: equal strings of a chunk's facts made one object (the payload type, key ids,
    query rows and index keys repeat from entry to entry), so the facts pickle once each.
    ``index_below``: entries at positions below it get their index keys (the replay reads
    none beyond the last size it compares), derived under the ledger's ``index_rule``.
    Without ``validating`` a provenance event is read only as far as the facts need it.
    """
    one = (texts if texts is not None else {}).setdefault
    seq, data, signer_keyid, raw_key = job
    framing = framing or reader_framing()
    try:
        env = Envelope.decode(data, framing)
    except RejectedInput as exc:
        return EntryFacts(f"stored envelope no longer decodes: {exc.message}", None)
    signatures = tuple((one(s.keyid, s.keyid), s.sig) for s in env.signatures)
    signature = _signature(env, signer_keyid, raw_key)
    try:
        kind = kind_for_payload_type(env.payload_type)
        schema, event = decode_event(framing, env.payload, whole=validating)
    except RejectedInput as exc:
        problem = f"stored event no longer decodes: {exc.message}"
        return EntryFacts(None, problem, env.payload_type, signatures, signature=signature)
    if schema.record != kind.record:
        problem = f"payloadType announces {kind.record}, the payload is a {schema.record}"
        return EntryFacts(None, problem, env.payload_type, signatures, signature=signature)
    refs = kind.refs(event)
    return EntryFacts(
        None,
        None,
        one(env.payload_type, env.payload_type),
        signatures if validating else (),
        kind.record,
        event.get("event_id"),
        event.get("event_time"),
        tuple(sorted(set(refs))),
        _trust_view(kind, event) if validating else None,
        _valid(kind, event) if validating else None,
        signature,
        _one_each(one, index_keys(kind, event, refs, index_rule)) if seq < index_below else None,
    )


def _one_each(one: Callable[[str, str], str], texts: list[str]) -> tuple[str, ...]:
    return tuple(map(one, texts, texts))


def _signature(
    env: Envelope, signer_keyid: str, raw_key: bytes | None
) -> tuple[bool | None, bytes | None] | None:
    sig = next((s.sig for s in env.signatures if s.keyid == signer_keyid), None)
    if sig is None:
        return None
    if raw_key is None:
        return None, None
    return check_one((raw_key, sig, pae(env.payload_type, env.payload))), raw_key


def _trust_view(kind: EventKind, event: Record) -> Record:
    """What the registry replay reads: a provenance event's trust fields, any other whole."""
    return {f: event.get(f) for f in TRUST_FIELDS} if kind is PROVENANCE else event


def _valid(kind: EventKind, event: Record) -> bool:
    try:
        validate(kind, event, writing=False)
    except RejectedInput:
        return False
    return True


def derive_chunk(
    jobs: Sequence[Job], validating: bool, index_below: int = 0, index_rule: str = "v1"
) -> list[tuple[object, ...]]:
    """The facts of ``jobs`` as plain tuples (they pickle in half the time of the named ones;
    :func:`facts_of` makes them :class:`EntryFacts` again), event times as microseconds."""
    framing = reader_framing()
    texts: dict[str, str] = {}
    return [
        _plain(derive(j, framing, validating=validating, index_below=index_below,
                      index_rule=index_rule, texts=texts))
        for j in jobs
    ]  # fmt: skip


_TIME_AT = EntryFacts._fields.index("event_time")
_as_facts = tuple.__new__  # EntryFacts._make without its length check: derive made them
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _plain(facts: EntryFacts) -> tuple[object, ...]:
    time = facts.event_time
    if type(time) is datetime and time.tzinfo is UTC:  # as read: sent as a number
        return (*facts[:_TIME_AT], (time - _EPOCH) // _MICROSECOND, *facts[_TIME_AT + 1 :])
    return tuple(facts)


def facts_of(plain: tuple[object, ...]) -> EntryFacts:
    """The facts :func:`derive_chunk` sent."""
    time = plain[_TIME_AT]
    if type(time) is int:
        at = _EPOCH + timedelta(microseconds=time)
        plain = (*plain[:_TIME_AT], at, *plain[_TIME_AT + 1 :])
    return _as_facts(EntryFacts, plain)


def _learn_schema_ids(ids: dict[int, bytes]) -> None:
    LEARNED_SCHEMA_IDS.learn(ids)


def _start_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes that know the Confluent schema ids this ledger recorded.

    Forked when this process runs one thread (fastest: nothing to import); from a fork server
    otherwise (the portal, a threaded caller), since forking a process whose other threads
    may hold locks is unsafe.
    """
    method = "fork" if threading.active_count() == 1 else "forkserver"
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_learn_schema_ids,
        initargs=(dict(LEARNED_SCHEMA_IDS.fingerprints),),
    )


class FactsPool:
    """Derive chunks of entries across ``workers`` processes (in this process when small)."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        validating: bool = False,
        index_below: int = 0,  # index keys for the entries before this position
        index_rule: str = "v1",  # the ledger's index rule, for them
        min_parallel: int = 64,
    ) -> None:
        self.workers = default_workers() if workers is None else workers
        self.validating = validating
        self.index_below = index_below
        self.index_rule = index_rule
        self.min_parallel = min_parallel
        self._pool: Executor | None = None

    def submit(self, jobs: Sequence[Job]) -> Callable[[], list[EntryFacts]]:
        """Start deriving; the returned function waits for the facts (in order)."""
        args = (self.validating, self.index_below, self.index_rule)
        if self.workers <= 1 or len(jobs) < self.min_parallel:
            facts = list(map(facts_of, derive_chunk(jobs, *args)))
            return lambda: facts
        if self._pool is None:
            self._pool = _start_pool(self.workers)
        size = -(-len(jobs) // (2 * self.workers))  # two pieces each: no worker waits long
        futures = [self._pool.submit(derive_chunk, jobs[i : i + size], *args)
                   for i in range(0, len(jobs), size)]  # fmt: skip
        return lambda: [facts_of(f) for future in futures for f in future.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FactsPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
