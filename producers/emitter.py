"""The emitting SDK: pipeline tools call :class:`Emitter` to record what they did.

Usable from a DCC's embedded Python (Nuke, Maya, Houdini) without the CLI::

    from ledger.trust.keys import load_private
    from producers.emitter import Emitter

    signer = load_private(Path("nuke-ws12.key"))
    with Emitter("kafka:9092", signer, source="/studio/nuke/ws12") as em:
        event_id = em.emit({...})   # blocks until the broker acknowledged it; raises on failure

Records are Avro single-object encoded (no registry needed).  With ``schema_registry_url`` the
emitter writes the Confluent wire format instead, for both the envelope (the Kafka value) and
the signed payload inside it: each schema is registered under its record's full name and the
registry's id is written after the ``00`` magic byte.  The signature covers the payload bytes
exactly as sent, Confluent header included (docs/protocol.md §11).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.spawn
import os
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaProducer
from kafka.errors import KafkaError

from ledger.errors import BrokerError, ConfigurationError, OversizedError, RejectedInput
from ledger.events import kafka as k
from ledger.events import limits
from ledger.events.base import EventKind, format_time
from ledger.events.encoding import Framing, MultiFraming, SingleObjectFraming
from ledger.events.kafka import DEFAULT_CONNECT_TIMEOUT
from ledger.events.keyregistry import CE_TYPE as REGISTRY_CE_TYPE
from ledger.events.kinds import encode_checked, kind_for_record
from ledger.events.provenance import PROVENANCE
from ledger.events.schema_registry import SchemaRegistryClient
from ledger.events.topics import ensure_registry_topic
from ledger.trust import dsse
from ledger.trust.keys import KeyPair
from producers.spool import Spool, SpooledRecord


@dataclass(frozen=True)
class Message:
    """One signed Kafka record, ready to send."""

    event_id: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class SequenceCounter:
    """Monotonic producer sequence numbers, starting above any earlier run's (time based)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


_SEQUENCE = SequenceCounter()


def fill_producer(
    event: Mapping[str, Any],
    kind: EventKind,
    producer_id: str,
    sequence: SequenceCounter = _SEQUENCE,
) -> dict[str, Any]:
    """Default ``producer_id`` and a monotonic ``producer_seq`` for provenance events."""
    filled = dict(event)
    if kind is PROVENANCE:
        filled.setdefault("producer_id", producer_id)
        if filled.get("producer_seq") is None:
            filled["producer_seq"] = sequence.next()
    return filled


def build_message(
    event: Mapping[str, Any],
    signer: KeyPair,
    *,
    kind: EventKind = PROVENANCE,
    source: str,
    framing: Framing | None = None,
) -> Message:
    """Validate, encode and sign one event; return the Kafka record.

    Refuses (:class:`ledger.errors.RejectedInput`, with the reason the consumer would give) an
    event beyond the limits of docs/protocol.md §12 or with control characters in its ids,
    names or vocabulary terms, before anything is signed or sent.

    No I/O with the default framing; a Confluent framing asks its registry for schema ids
    (once per schema: they are cached).  Payload and envelope use the same framing.
    """
    framing = framing or SingleObjectFraming()
    limits.check_text("the CloudEvents source", source)
    payload, record = encode_checked(kind, fill_producer(event, kind, source), framing)
    envelope = dsse.sign(kind.payload_type, payload, signer)
    subject = kind.subject(record)
    value = envelope.encode(framing)
    if len(value) > limits.MAX_RECORD_BYTES:
        raise OversizedError(
            f"event {record['event_id']} makes a record of {len(value)} bytes; consumers refuse"
            f" records over {limits.MAX_RECORD_BYTES} bytes",
            hint="shorten its free text or split its ingredients over several events",
        )
    headers = [
        (k.H_SPECVERSION, k.CE_SPECVERSION.encode()),
        (k.H_ID, record["event_id"].encode()),
        (k.H_SOURCE, source.encode()),
        (k.H_TYPE, kind.ce_type.encode()),
        (k.H_TIME, format_time(record["event_time"]).encode()),
        (k.H_SUBJECT, subject.encode()),
        (k.H_CONTENT_TYPE, dsse.ENVELOPE_CONTENT_TYPE.encode()),
    ]
    limits.check_record(subject.encode(), headers)
    return Message(record["event_id"], subject.encode(), value, headers)


# --- signing in a pool of processes (Emitter(..., signing_workers=N or "auto")) -------------

SIGNING_CHUNK = 100  # events per task: large enough that pickling is a small share
AUTO_POOL_FROM = 5_000
"""With ``signing_workers="auto"``: an :meth:`Emitter.emit_many` of at least this many events
starts the signing pool (kept for the emitter's later batches); smaller ones, and every
:meth:`Emitter.emit`, are built in the calling process, as a DCC's embedded Python needs."""
_SIGNER: KeyPair | None = None
_FRAMING: SingleObjectFraming | None = None

Built = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""A :class:`Message` as a plain tuple, as it comes back from a signing worker (pickles small)."""


def _init(name: str, private: bytes) -> None:
    global _SIGNER, _FRAMING
    _SIGNER = KeyPair(name, Ed25519PrivateKey.from_private_bytes(private))
    _FRAMING = SingleObjectFraming()


def _build_chunk(
    events: list[dict[str, Any]], record: str, source: str
) -> tuple[list[Built], Exception | None]:
    """Worker side: the signed messages of a chunk (events already filled by the emitter), and
    the refusal of the first event refused (the messages before it are built, as in-process)."""
    assert _SIGNER is not None and _FRAMING is not None, "runs in a SigningPool worker"
    kind = kind_for_record(record)
    built: list[Built] = []
    for e in events:
        try:
            m = build_message(e, _SIGNER, kind=kind, source=source, framing=_FRAMING)
        except RejectedInput as exc:
            return built, exc
        built.append((m.event_id, m.key, m.value, m.headers))
    return built, None


def can_spawn() -> bool:
    """Can this interpreter start worker processes?  Not inside a DCC (Nuke, Maya, Houdini),
    whose executable is the application, not a Python interpreter."""
    name = Path(os.fsdecode(multiprocessing.spawn.get_executable() or "")).name.lower()
    return name.startswith("python")


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Start processes that do not run the caller's ``__main__`` again.

    A spawned process imports the parent's main script or module first (as ``__mp_main__``),
    which re-runs a tool script's unguarded top-level code: its emits too.  The workers need
    only this module, so while they start ``__main__`` is an empty module.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class SigningPool:
    """``workers`` processes that encode and sign events for one signer.

    Started with ``spawn`` (never ``fork``: the emitter's Kafka client already runs a thread);
    each worker gets the signer's private key once, as raw bytes.  Events come back as
    :class:`Message` in their original order; a refused event raises its
    :class:`ledger.errors.RejectedInput` here, after the messages before it, as it would without
    the pool.  With ``wait=False`` the workers start in the background (spawn imports the
    ledger: about a second) and :meth:`build` signs in this process until they are up.
    """

    def __init__(self, signer: KeyPair, workers: int, *, wait: bool = True) -> None:
        private = signer.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        self.signer = signer
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(signer.name, private),
        )
        # Start every worker now, not at the first event (each submit starts one).
        with _main_hidden():
            self._starting = [
                self._pool.submit(_init, signer.name, private) for _ in range(workers)
            ]
        if wait:
            self._started()

    def _started(self) -> bool:
        """Are the workers up (raises if one failed to start)?"""
        if any(not f.done() for f in self._starting):
            return False
        for f in self._starting:
            f.result()
        return True

    def pids(self) -> list[int]:
        """The workers' process ids (the bench reads their CPU time)."""
        return list(getattr(self._pool, "_processes", None) or {})

    def build(
        self,
        events: Iterable[dict[str, Any]],
        kind: EventKind,
        source: str,
        framing: SingleObjectFraming,
    ) -> Iterator[Message]:
        """The signed messages of ``events``, in order, with twice ``workers`` chunks in flight
        (signed here, with ``framing``, while the workers are still starting)."""
        waiting: deque[Future[tuple[list[Built], Exception | None]]] = deque()
        chunk: list[dict[str, Any]] = []
        started = self._started()

        def results() -> Iterator[Message]:
            built, refused = waiting.popleft().result()
            for b in built:
                yield Message(*b)
            if refused is not None:
                raise refused

        for event in events:
            if not started and not waiting:
                started = self._started()
                if not started:
                    yield build_message(event, self.signer, kind=kind, source=source,
                                        framing=framing)  # fmt: skip
                    continue
            chunk.append(event)
            if len(chunk) == SIGNING_CHUNK:
                waiting.append(self._pool.submit(_build_chunk, chunk, kind.record, source))
                chunk = []
                if len(waiting) > 2 * self.workers:
                    yield from results()
        if chunk:
            waiting.append(self._pool.submit(_build_chunk, chunk, kind.record, source))
        while waiting:
            yield from results()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


RECONNECT_INTERVAL = 30.0
"""With a spool: after a failed connection, spool straight away for this many seconds."""

MAX_IN_FLIGHT = 10_000
"""Records sent and not yet acknowledged, at most, while :meth:`Emitter.emit_many` sends."""

SEND_BURST = 64
"""Records :meth:`Emitter.emit_many` builds before it sends them, back to back: the Kafka
client's I/O thread wakes when a send starts a new batch, so sends spread between the builds
found each batch drained and woke it almost every record (py-spy: 12-14 % of the emitter's
main thread in ``NetworkSelector.wakeup``)."""

SendRecord = tuple[str, bytes, bytes, list[tuple[str, bytes]], str]
"""(topic, key, value, headers, event id): one record to send."""


@dataclass(frozen=True)
class FlushOutcome:
    """What one attempt to send the spool did."""

    sent: int  # records acknowledged by the broker and removed from the spool
    waiting: int  # records still in the spool
    error: str | None  # why records are still waiting (no broker, no acknowledgement)


class Emitter:
    """Signs events and sends them durably (acks=all, idempotent), waiting for the ack.

    Key-registry records go to ``TOPIC.keys`` (created with one partition before the first
    send when missing, refused when it has more), everything else to ``topic``: see
    docs/keys.md §3.

    ``schema_registry_url``: write the Confluent wire format with ids from this Confluent
    Schema Registry (see the module docstring); default: single-object encoding.

    ``spool``: a folder for the durable outbox (:mod:`producers.spool`).  Each signed record
    is written there first and removed once the broker acknowledged it; when the broker is
    unreachable or does not acknowledge in time, :meth:`emit` returns the event id all the
    same and the record waits for the next successful connection (this emitter's next emit,
    or ``assetledger spool flush``).  Without a spool, an unreachable broker raises
    :class:`BrokerError` after ``connect_timeout`` seconds.

    ``signing_workers``: encode and sign in that many processes (:class:`SigningPool`) while
    this one sends; 0: everything in this process.  Default ``"auto"``: one process per core,
    started by the first :meth:`emit_many` of :data:`AUTO_POOL_FROM` events or more (events
    are signed here until they are up) and only where this interpreter can start Python
    processes (:func:`can_spawn`: not inside a DCC); single emits and small batches are always
    signed in this process.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        signer: KeyPair | None,
        *,
        topic: str = k.DEFAULT_TOPIC,
        source: str = "/assetledger/emitter",
        producer_id: str | None = None,
        schema_registry_url: str | None = None,
        spool: Path | str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        signing_workers: int | Literal["auto"] = "auto",
        **producer_config: Any,
    ) -> None:
        self.signer = signer
        self.topic = topic
        self.source = source
        self.producer_id = producer_id or source
        self.bootstrap_servers = bootstrap_servers
        self._checked_registry_topics: set[str] = set()
        self.sequence = SequenceCounter()
        self.framing: SingleObjectFraming = (
            SingleObjectFraming()
            if schema_registry_url is None
            else MultiFraming(registry=SchemaRegistryClient(schema_registry_url))
        )
        timeout_ms = max(1, int(connect_timeout * 1000))
        self._settings: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": True,
            # Pipelined sends (emit_many) fill large batches; a single emit flushes at once.
            "linger_ms": 20,
            "batch_size": 256 * 1024,
            "client_id": f"assetledger-emitter:{self.producer_id}",
            "bootstrap_timeout_ms": timeout_ms,  # how long a first connection may take
        }
        self._settings.update(producer_config)
        self.spool = None if spool is None else Spool(spool)
        self.producer: KafkaProducer | None = None
        self._next_connect = 0.0
        self.last_error: str | None = None
        if self.spool is None:
            self.producer = self._connect()
        self._signing: SigningPool | None = None
        self._auto_workers = 0  # "auto": the pool's size, started at the first large batch
        if signing_workers == "auto":
            if signer is not None and schema_registry_url is None and can_spawn():
                self._auto_workers = os.cpu_count() or 1
        elif signing_workers > 0 and signer is not None:
            if schema_registry_url is not None:
                raise ConfigurationError(
                    "signing_workers works with the default single-object framing only",
                    hint="leave out signing_workers or schema_registry_url",
                )
            self._signing = SigningPool(signer, signing_workers)

    def _connect(self) -> KafkaProducer:
        try:
            return KafkaProducer(**self._settings)
        except KafkaError as exc:
            raise BrokerError(
                f"cannot connect to Kafka at {self.bootstrap_servers}: {exc}",
                hint="start the broker or check --bootstrap-servers /"
                " ASSETLEDGER_BOOTSTRAP_SERVERS; with --spool DIR (or ASSETLEDGER_SPOOL)"
                " events wait on this machine until the broker is back",
            ) from exc

    def _producer(self) -> KafkaProducer:
        """The connected producer; with a spool, reconnect at most every RECONNECT_INTERVAL."""
        if self.producer is None:
            now = time.monotonic()
            if now < self._next_connect:
                raise BrokerError(self.last_error or "no broker connection")
            try:
                self.producer = self._connect()
            except BrokerError:
                self._next_connect = now + RECONNECT_INTERVAL
                raise
        return self.producer

    def topic_for(self, message: Message) -> str:
        """Where ``message`` goes: ``TOPIC.keys`` for a key-registry record, else ``TOPIC``."""
        if k.header(message.headers, k.H_TYPE) == REGISTRY_CE_TYPE:
            return k.registry_topic(self.topic)
        return self.topic

    def _check_topic(self, topic: str) -> None:
        """Before the first send to a key-registry topic: it exists with one partition."""
        if not topic.endswith(k.REGISTRY_SUFFIX) or topic in self._checked_registry_topics:
            return
        events_topic = topic.removesuffix(k.REGISTRY_SUFFIX)
        ensure_registry_topic(self.bootstrap_servers, events_topic, self._settings)
        self._checked_registry_topics.add(topic)

    def _fill(self, event: Mapping[str, Any], kind: EventKind) -> dict[str, Any]:
        return fill_producer(event, kind, self.producer_id, self.sequence)

    def emit(
        self, event: Mapping[str, Any], *, kind: EventKind = PROVENANCE, timeout: float = 30.0
    ) -> str:
        """Sign and send one event; return its id once the broker acknowledged it.

        With a spool: return its id once it is acknowledged or safely spooled.
        """
        return self.emit_many([event], kind=kind, timeout=timeout)[0]

    def emit_many(
        self,
        batch: Iterable[Mapping[str, Any]],
        *,
        kind: EventKind = PROVENANCE,
        timeout: float = 60.0,
    ) -> list[str]:
        """Send all, then wait for every acknowledgement; raise on the first failure.

        Pipelined: events are sent as soon as they are signed, :data:`SEND_BURST` at a time,
        while the Kafka client's I/O thread sends the ones before them, and at most
        :data:`MAX_IN_FLIGHT` records wait for their acknowledgement at any time (``batch``
        may be a long generator).  With
        ``signing_workers`` the events are encoded and signed in that many processes.

        With a spool: write all to the spool, then send the whole spool in order; records
        the broker did not acknowledge stay spooled (see :attr:`last_error`), nothing raises.
        """
        messages = self._build_all(batch, kind)
        if self.spool is not None:
            built = list(messages)
            if built:  # one kind, so one topic
                topic = self.topic_for(built[0])
                self.spool.put(topic, [(m.event_id, m.key, m.value, m.headers) for m in built])
            self.flush_spool(timeout)
            return [m.event_id for m in built]
        ids: list[str] = []
        # one kind, so one topic (what topic_for says of each of its messages)
        topic = k.registry_topic(self.topic) if kind.ce_type == REGISTRY_CE_TYPE else self.topic

        def records() -> Iterator[SendRecord]:
            for burst in _bursts(messages, SEND_BURST):
                for m in burst:
                    ids.append(m.event_id)
                    yield topic, m.key, m.value, m.headers, m.event_id

        self._send_and_wait(records(), timeout)
        return ids

    def _build_all(self, batch: Iterable[Mapping[str, Any]], kind: EventKind) -> Iterator[Message]:
        """The signed records of ``batch``, in order (built here, or by the signing pool)."""
        signer = self._require_signer()
        events = iter(batch)
        if self._signing is None and self._auto_workers:
            first = list(itertools.islice(events, AUTO_POOL_FROM))
            if len(first) == AUTO_POOL_FROM:  # a large batch: worth the workers
                self._signing = SigningPool(signer, self._auto_workers, wait=False)
            events = itertools.chain(first, events)
        filled = (self._fill(e, kind) for e in events)
        if self._signing is not None:
            return self._signing.build(filled, kind, self.source, self.framing)
        return (
            build_message(f, signer, kind=kind, source=self.source, framing=self.framing)
            for f in filled
        )

    def signing_pids(self) -> list[int]:
        """The signing workers' process ids (none while every event is signed here)."""
        return [] if self._signing is None else self._signing.pids()

    def flush_spool(self, timeout: float = 60.0, *, wait: float = 0.0) -> FlushOutcome:
        """Send every spooled record in order; never raises for an absent broker."""
        spool = self._require_spool()
        self.last_error = None
        sent: int | None = 0
        try:
            if spool.count():
                sent = spool.flush(lambda records: self._send_spooled(records, timeout), wait=wait)
        except BrokerError as exc:
            self.last_error = exc.message
        if sent is None:
            self.last_error = "another process is sending this spool; it sends these too"
        return FlushOutcome(sent or 0, spool.count(), self.last_error)

    def _send_spooled(self, records: Sequence[SpooledRecord], timeout: float) -> None:
        self._send_and_wait(
            ((r.topic, r.key, r.value, r.headers, r.event_id) for r in records), timeout
        )

    def _send_and_wait(self, records: Iterable[SendRecord], timeout: float) -> None:
        """Send in order, then wait for every acknowledgement; raise on the first failure.

        Records are sent as they come; once :data:`MAX_IN_FLIGHT` are unacknowledged, the
        oldest is waited for before the next is sent.  A key-registry record is acknowledged
        before anything after it is sent, so an event that follows its key's enrolment in one
        batch (or one spool) is sent only once the enrolment is on the registry topic, as
        docs/keys.md §3 requires.
        """
        producer = self._producer()
        futures: deque[tuple[str, Any]] = deque()
        for topic, key, value, headers, event_id in records:
            self._check_topic(topic)
            try:
                future = producer.send(topic, key=key, value=value, headers=headers)
            except KafkaError as exc:
                raise BrokerError(f"Kafka did not take event {event_id}: {exc}") from exc
            futures.append((event_id, future))
            if topic.endswith(k.REGISTRY_SUFFIX):
                _await(producer, futures, timeout)
                futures.clear()
            elif len(futures) > MAX_IN_FLIGHT:
                _acknowledged(*futures.popleft(), timeout)
        _await(producer, futures, timeout)

    def _require_signer(self) -> KeyPair:
        if self.signer is None:
            raise ConfigurationError("this emitter has no signing key; it can only send_raw")
        return self.signer

    def _require_spool(self) -> Spool:
        if self.spool is None:
            raise ConfigurationError("this emitter has no spool (pass spool=DIR)")
        return self.spool

    def send_raw(
        self, message: Message, timeout: float = 30.0, *, topic: str | None = None
    ) -> None:
        """Send an already built record (tests, replay tools) to :meth:`topic_for` or ``topic``."""
        target = self.topic_for(message) if topic is None else topic
        producer = self._producer()
        self._check_topic(target)
        future = producer.send(
            target, key=message.key, value=message.value, headers=message.headers
        )
        try:
            future.get(timeout=timeout)
        except KafkaError as exc:
            raise BrokerError(f"Kafka did not acknowledge a record: {exc}") from exc

    def close(self, timeout: float = 10.0) -> None:
        if self._signing is not None:
            self._signing.close()
            self._signing = None
        if self.producer is not None:
            if self.spool is not None and self.spool.count():
                timeout = min(timeout, 1.0)  # what is unacknowledged waits in the spool
            self.producer.close(timeout=timeout)
            self.producer = None
        if self.spool is not None:
            self.spool.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bursts(messages: Iterable[Message], size: int) -> Iterator[list[Message]]:
    """``messages`` in lists of ``size`` (the last shorter), each built before it is given.

    An event refused while a burst is built ends it: the messages built before it are given
    (sent, as one at a time would have), then the refusal is raised.
    """
    burst: list[Message] = []
    try:
        for m in messages:
            burst.append(m)
            if len(burst) == size:
                yield burst
                burst = []
    except Exception:
        if burst:
            yield burst
        raise
    if burst:
        yield burst


def _await(producer: KafkaProducer, futures: Iterable[tuple[str, Any]], timeout: float) -> None:
    """Flush, then wait for each acknowledgement; raise on the first failure."""
    waiting = list(futures)
    if not waiting:
        return
    producer.flush(timeout)
    for event_id, future in waiting:
        _acknowledged(event_id, future, timeout)


def _acknowledged(event_id: str, future: Any, timeout: float) -> None:
    """Wait for one record's acknowledgement; raise BrokerError if it failed."""
    try:
        future.get(timeout=timeout)
    except KafkaError as exc:
        raise BrokerError(f"Kafka did not acknowledge event {event_id}: {exc}") from exc
