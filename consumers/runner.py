"""The ledger consumer: Kafka consumer group → verify → dead-letter or append, exactly once.

Exactly-once into the ledger: each batch's entries, quarantine rows and next offsets commit in
one database transaction, and on every partition assignment the consumer seeks to the offsets
stored in the ledger (never to Kafka's committed offsets, which are only a courtesy for lag
monitoring).  Dead-letter records are written and acknowledged *before* that transaction, so a
crash can repeat a dead-letter record but never lose one.

Speed: with ``workers > 0`` each batch is decoded and its signatures checked in a process pool
(:class:`consumers.inspect.ParallelInspector`) while this process appends the batch before it;
this process only applies the trust policy in order, appends and commits.  Checkpoints (which
extend the authenticated index, cheaper per entry in larger updates) are signed by a policy:
every ``checkpoint_every`` entries or ``checkpoint_seconds``, and whenever the topic goes quiet.
Observability: :attr:`LedgerConsumer.metrics` (Prometheus text via
:class:`consumers.metrics.MetricsServer`) and one JSON log line per batch on the
``assetledger.consumer`` logger at INFO level.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
)

from consumers.catchup import CatchUpTarget, read_target
from consumers.deadletter import DEFAULT_BUDGET as DEFAULT_DLT_BUDGET
from consumers.deadletter import DeadLetter, dead_letter
from consumers.inspect import DEFAULT_MAX_BYTES, InFlight, ParallelInspector, RawRecord
from consumers.metrics import BatchOutcome, ConsumerMetrics
from consumers.registry_feed import RegistryFeed
from consumers.transport import (
    TRANSPORTS,
    ConfluentSource,
    EventsSource,
    KafkaPythonSource,
    confluent_config,
    to_raw,
    unknown_transport,
)
from ledger.errors import AssetLedgerError, BrokerError, ConfigurationError, TopicRecreatedError
from ledger.events import kafka as k
from ledger.events.encoding import SingleObjectFraming
from ledger.events.keyregistry import CE_TYPE as REGISTRY_CE_TYPE
from ledger.events.topics import ensure_registry_topic
from ledger.index.maintain import index_rule
from ledger.log.operator import Checkpointer
from ledger.store import (
    AppendResult,
    Batch,
    LedgerStore,
    PendingEntry,
    Quarantined,
    StoredCheckpoint,
)
from ledger.trust.policy import RegistryTrust, TrustPolicy
from ledger.witness.client import Cosigning

log = logging.getLogger("assetledger.consumer")
LAG_TIMEOUT_MS = 1_000
WITNESS_FLUSH_SECONDS = 10.0  # on a clean stop, wait this long for the last cosignatures
DEFAULT_CHECKPOINT_EVERY = 5_000  # entries appended since the last checkpoint
DEFAULT_CHECKPOINT_SECONDS = 2.0  # age of the oldest entry no checkpoint covers yet


@dataclass
class ConsumerConfig:
    bootstrap_servers: str
    topic: str = k.DEFAULT_TOPIC
    group_id: str = ""  # default: assetledger-ledger.<topic> (one group per events topic)
    max_batch: int = 500
    poll_timeout_ms: int = 500
    fill_ms: int = 100  # after a short poll, keep polling this long to fill the batch
    max_message_bytes: int = DEFAULT_MAX_BYTES
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 2_000
    workers: int = 0  # signature-check processes; 0 checks in the consumer process
    lag_interval: float = 5.0  # seconds between consumer-lag refreshes (end offsets request)
    sync_timeout: float = 30.0  # seconds to read a key-registry sync marker back
    client_settings: dict[str, Any] = field(default_factory=dict)
    # How values are framed: single-object only by default; ledger.events.encoding.MultiFraming with
    # a ledger.events.schema_registry.SchemaRegistryClient also reads the Confluent wire format.
    framing: SingleObjectFraming = field(default_factory=SingleObjectFraming)
    # Bytes of one dead-letter copy (key, value, headers); larger ones are sent bounded.
    dlt_max_bytes: int = DEFAULT_DLT_BUDGET
    dlt_settings: dict[str, Any] = field(default_factory=dict)  # extra dead-letter producer config
    # The events topic's client: "kafka-python" or "confluent" (librdkafka; consumers.transport).
    transport: str = "kafka-python"
    confluent_settings: dict[str, Any] = field(default_factory=dict)  # extra librdkafka config
    # When to sign a checkpoint (it extends the authenticated index first, whose cost per entry
    # falls as more entries go into one update): once this many entries are unanchored, or once
    # the oldest unanchored entry is this many seconds old, and always when a poll brings
    # nothing new and at a clean stop.  checkpoint_every=1 signs after every appending batch.
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS

    def __post_init__(self) -> None:
        if not self.group_id:
            self.group_id = k.default_group(self.topic)
        if self.transport not in TRANSPORTS:
            raise unknown_transport(self.transport)
        if self.checkpoint_every < 1 or not self.checkpoint_seconds >= 0:
            raise ConfigurationError(
                f"checkpoint policy: every {self.checkpoint_every} entries or"
                f" {self.checkpoint_seconds} s",
                hint="checkpoint_every is at least 1, checkpoint_seconds at least 0",
            )

    @property
    def dlt_topic(self) -> str:
        return k.dlt_topic(self.topic)

    @property
    def registry_topic(self) -> str:
        return k.registry_topic(self.topic)


@dataclass
class IngestStats:
    appended: int = 0
    quarantined: int = 0
    duplicates: int = 0
    stale: int = 0
    batches: int = 0
    registry_syncs: int = 0  # key-registry topic read up to a fresh marker (docs/keys.md §3)
    by_reason: dict[str, int] = field(default_factory=dict)
    last_batch_seconds: float = 0.0
    last_checkpoint_size: int = 0
    checkpoints: int = 0  # checkpoints this run signed

    def count(self, result: AppendResult, rejects: Sequence[Quarantined]) -> None:
        self.batches += 1
        self.appended += len(result.appended)
        self.duplicates += len(result.duplicates)
        self.stale += result.stale
        for q in [*rejects, *result.duplicates]:
            self.quarantined += 1
            self.by_reason[q.reason] = self.by_reason.get(q.reason, 0) + 1


class _SeekOnAssign:
    """Note newly assigned partitions; the main loop seeks them (no I/O in the callback)."""

    def __init__(self) -> None:
        self.to_seek: set[TopicPartition] = set()
        self.assigned_at: float | None = None
        self.lock = threading.Lock()

    def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self.lock:
            self.to_seek.update(assigned)
            if assigned:  # an empty assignment is no reason to start the idle clock
                self.assigned_at = time.monotonic()

    def rewind(self, partitions: Any) -> None:
        """Seek these partitions again, as if newly assigned."""
        with self.lock:
            self.to_seek.update(partitions)

    def take(self) -> set[TopicPartition]:
        with self.lock:
            taken, self.to_seek = self.to_seek, set()
            return taken


__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_SECONDS",
    "ConsumerConfig",
    "IngestStats",
    "LedgerConsumer",
    "registry_first",
    "to_raw",
]


def registry_first(raws: list[RawRecord]) -> list[RawRecord]:
    """Reorder a batch so legacy key-registry records come as early as their partition allows.

    Registry records now travel on ``TOPIC.keys`` (:class:`consumers.registry_feed.RegistryFeed`);
    this keeps the records that older producers wrote to the events topic as good as before.
    Partitions have no order between them, and registry events (keyed by actor) and the events
    they authorise (keyed by asset) usually sit on different partitions: an artist enrolled a
    moment before their first event would otherwise be refused as not enrolled whenever the
    event's partition is read first.  Within a partition the order is kept exactly, so an event
    written before its enrolment on the same partition is still judged before it.  The
    ``ce_type`` header is only a hint here: a record that lies about it is refused anyway.
    """
    registry = [_is_registry(r) for r in raws]
    if not any(registry):
        return raws
    queues: dict[tuple[str, int], deque[int]] = {}
    for i, r in enumerate(raws):
        queues.setdefault((r.topic, r.partition), deque()).append(i)
    pending = {tp: deque(i for i in q if registry[i]) for tp, q in queues.items()}
    ordered: list[RawRecord] = []
    while queues:
        tp = _next_partition(queues, pending, registry)
        i = queues[tp].popleft()
        if pending[tp] and pending[tp][0] == i:
            pending[tp].popleft()
        ordered.append(raws[i])
        if not queues[tp]:
            del queues[tp]
    return ordered


def _is_registry(r: RawRecord) -> bool:
    return k.header(r.headers, k.H_TYPE) == REGISTRY_CE_TYPE


Queues = dict[tuple[str, int], deque[int]]


def _next_partition(queues: Queues, pending: Queues, registry: list[bool]) -> tuple[str, int]:
    """A partition whose head is a registry record; else one with a registry record pending
    (earliest first); else the partition holding the earliest record of the batch."""
    heads = [(q[0], tp) for tp, q in queues.items() if registry[q[0]]]
    if heads:
        return min(heads)[1]
    waiting = [(pending[tp][0], tp) for tp in queues if pending[tp]]
    if waiting:
        return min(waiting)[1]
    return min((q[0], tp) for tp, q in queues.items())[1]


class FailedSend:
    """A send that failed at once, shaped like the future a send returns."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        raise self.error


BatchHook = Callable[[AppendResult, IngestStats], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _BatchRegistry:
    """The key-registry topic as one batch sees it (:class:`consumers.inspect.RegistryReader`).

    ``polled`` numbers the poll that fetched the batch; a sync made after a later poll already
    covers it.  ``follow`` is False for policies that never learn keys from the registry.
    """

    feed: RegistryFeed
    polled: int
    latest_poll: Callable[[], int]
    follow: bool

    def take(self) -> list[RawRecord]:
        return self.feed.take()

    def catch_up(self) -> list[RawRecord]:
        if not self.follow or self.feed.synced_through >= self.polled:
            return []
        return self.feed.sync(self.latest_poll())


class LedgerConsumer:
    """Consume the events topic into a ledger store until stopped or idle."""

    def __init__(
        self,
        store: LedgerStore,
        trust: TrustPolicy,
        config: ConsumerConfig,
        *,
        on_batch: BatchHook | None = None,
        checkpointer: Checkpointer | None = None,
        cosigning: Cosigning | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: each batch's arrival time (default: the current UTC time; a test sets
        when records arrive without waiting for it)."""
        self.store = store
        self.trust = trust
        self.config = config
        self.clock = clock or _utc_now
        self.on_batch = on_batch
        self.checkpointer = checkpointer
        self.cosigning = cosigning  # witnesses asked to cosign each checkpoint (in background)
        self.framing = config.framing
        self._parallel = ParallelInspector(
            trust,
            self.framing,
            config.max_message_bytes,
            workers=config.workers,
            index_rule=index_rule(store),
        )
        self.stats = IngestStats()
        self.metrics = ConsumerMetrics(config.workers)
        self._positions: dict[tuple[str, int], int] = {}
        self._lag_checked = 0.0
        self.stop_event = threading.Event()
        self._listener = _SeekOnAssign()
        self._known_topic_ids: dict[str, str] = {}
        self._registry = RegistryFeed(
            config.registry_topic,
            config.group_id,
            store,
            max_records=config.max_batch,
            sync_timeout=config.sync_timeout,
        )
        self._follows_registry = isinstance(trust, RegistryTrust)
        self._polls = 0  # non-empty polls so far: numbers the batches
        self._consumer: EventsSource | None = None
        self._dlt: Any = None
        self._unanchored = 0  # entries this run appended since its last checkpoint
        self._unanchored_since: float | None = None  # monotonic time the oldest one came

    @property
    def events(self) -> EventsSource:
        """The events topic's client (connected)."""
        assert self._consumer is not None, "LedgerConsumer is not connected"
        return self._consumer

    # --- lifecycle ----------------------------------------------------------------------------
    def _connect(self) -> None:
        c = self.config
        common = {"bootstrap_servers": c.bootstrap_servers, **c.client_settings}
        try:  # before any client: a registry topic with several partitions stops us here
            ensure_registry_topic(c.bootstrap_servers, c.topic, c.client_settings)
        except AssetLedgerError:
            self.close()
            raise
        try:
            self._consumer = self._events_source(common)
            self._consumer.subscribe(c.topic, self._listener)
            dlt_settings = {
                "acks": "all",
                "enable_idempotence": True,
                "max_request_size": max(1_048_576, c.dlt_max_bytes + 65_536),
                **common,
                **c.dlt_settings,
            }
            self._dlt = KafkaProducer(**dlt_settings)
            self._registry.connect(common, self._dlt)
        except KafkaError as exc:
            self.close()
            raise BrokerError(
                f"cannot connect to Kafka at {c.bootstrap_servers}: {exc}",
                hint="start a broker or pass --bootstrap-servers",
            ) from exc

    def _events_source(self, common: dict[str, Any]) -> EventsSource:
        c = self.config
        if c.transport == "confluent":
            settings = confluent_config(
                c.bootstrap_servers,
                c.group_id,
                session_timeout_ms=c.session_timeout_ms,
                heartbeat_interval_ms=c.heartbeat_interval_ms,
                max_message_bytes=c.max_message_bytes,
                extra=c.confluent_settings,
            )
            admin = {"bootstrap.servers": c.bootstrap_servers, "log_level": 3,
                     **c.confluent_settings}  # fmt: skip
            return ConfluentSource(settings, self._stored_offsets, admin)
        return KafkaPythonSource(
            {
                "group_id": c.group_id,
                "enable_auto_commit": False,
                "auto_offset_reset": "none",  # positions come from the ledger, never a guess
                "session_timeout_ms": c.session_timeout_ms,
                "heartbeat_interval_ms": c.heartbeat_interval_ms,
                "max_poll_records": c.max_batch,
                "metadata_max_age_ms": 10_000,  # notice a recreated topic (new id) promptly
                "fetch_max_bytes": max(52_428_800, c.max_message_bytes * 2),
                "max_partition_fetch_bytes": max(1_048_576, c.max_message_bytes + 65_536),
                **common,
            },
            {
                "max_partition_fetch_bytes": max(1_048_576, c.max_message_bytes + 65_536),
                **common,
            },
        )

    def _stored_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """The ledger's next offsets of ``topic`` (where a new assignment starts)."""
        return self.store.offsets(self.config.group_id, topic)

    def stop(self) -> None:
        """Ask the loop to finish its current batch and return (safe from a signal handler)."""
        self.stop_event.set()

    def close(self) -> None:
        self._registry.close()
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self.cosigning is not None:
            self.cosigning.close()
        if self._dlt is not None:
            self._dlt.close(timeout=10)
            self._dlt = None
        self._parallel.close()

    # --- the loop -------------------------------------------------------------------------------
    def run(self, until_idle: float | None = None, until_caught_up: bool = False) -> IngestStats:
        """Consume until :meth:`stop` is called, or ``until_idle`` seconds pass with nothing new,
        or (``until_caught_up``) the ledger holds what the topics held at the start
        (:mod:`consumers.catchup`)."""
        self._parallel.start()  # fork the pool before the Kafka client starts its threads
        self._connect()
        self._anchor_leftovers()
        started = last_activity = time.monotonic()
        join_grace = self.config.session_timeout_ms / 1000 * 2
        in_flight: InFlight | None = None
        try:
            target = self._catch_up_target() if until_caught_up else None
            while not self.stop_event.is_set():
                # With a batch in flight, take only what is buffered: it is finished next.
                polled = self._poll_batch(0 if in_flight else self.config.poll_timeout_ms)
                quiet = False
                if in_flight is None and not polled:
                    self._after_rebalance()
                    if self._process(self._parallel.begin([])):  # registry records alone
                        last_activity = time.monotonic()
                    else:
                        quiet = True  # a whole poll brought nothing new
                        self._anchor()  # idle: no entry waits for the next checkpoint
                else:
                    in_flight = self._step(in_flight, polled)
                    last_activity = time.monotonic()
                self._anchor_if_due()
                self._refresh_lag()
                self._witness_tick()
                self._check_topic_incarnation()  # a recreated topic may deliver nothing at all
                if target is not None and quiet and self._caught_up(target, started, join_grace):
                    break
                if until_idle is not None and self._idle(
                    started, last_activity, until_idle + join_grace, until_idle
                ):
                    self._warn_if_behind(target)
                    break
            if in_flight is not None:  # stopped: finish the batch in flight
                self._step(in_flight, [])
                in_flight = None
            self._anchor()  # a clean stop leaves every entry it appended anchored
            self._witness_tick(flush=WITNESS_FLUSH_SECONDS)
        finally:
            if in_flight is not None:
                in_flight.cancel()
            self.close()
        return self.stats

    def _step(self, in_flight: InFlight | None, polled: list[RawRecord]) -> InFlight | None:
        """Hand the batch just polled to the workers, then finish the one in flight meanwhile.

        On a broker outage nothing of the unfinished batches was committed, but the Kafka
        position already moved past them: every partition is rewound to the offsets stored with
        the ledger, so they come again.  A batch polled before a rebalance keeps only the
        partitions still assigned once the ledger's offsets include the batch before it.
        """
        following = None
        if polled:
            self._polls += 1
            following = self._parallel.begin(registry_first(polled))
            following.polled = self._polls
        try:
            if in_flight is not None:
                self._process(in_flight)
        except TopicRecreatedError:
            raise
        except (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, BrokerError) as exc:
            log.warning("batch not ingested (%s); rewinding to the ledger's offsets", exc)
            if following is not None:
                following.cancel()
            self._listener.rewind(self.events.assignment())
            self._registry.rewind()
            self.stop_event.wait(1.0)
            return None
        moved = self._after_rebalance()
        if following is not None:
            following.dropped |= moved
        return following

    def _poll_batch(self, timeout_ms: int) -> list[RawRecord]:
        """Up to ``max_batch`` records: a poll, topped up for ``fill_ms`` while records come.

        kafka-python returns what it has buffered, often a few hundred records short of a full
        batch; every batch costs a commit, so fill it first.
        """
        c = self.config
        records = self._poll(timeout_ms, c.max_batch)
        deadline = time.monotonic() + c.fill_ms / 1000
        while records and len(records) < c.max_batch and not self.stop_event.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = self._poll(left_ms, c.max_batch - len(records))
            if not more:
                break
            records += more
        return records

    def _poll(self, timeout_ms: int, max_records: int) -> list[RawRecord]:
        """One poll that survives broker outages and never lets Kafka guess a position.

        A record the Kafka client cannot parse (e.g. a header name that is not UTF-8) comes
        back unreadable: refused as ``undecodable``, quarantined, its offset committed.
        """
        try:
            polled = self.events.poll(timeout_ms, max_records)
        except NoOffsetForPartitionError:
            return []  # a new partition: _after_rebalance seeks it to the ledger's offset
        except OffsetOutOfRangeError as exc:
            raise BrokerError(
                f"the broker no longer holds the offsets the ledger consumed up to ({exc}):"
                " the topic was truncated or recreated, or the broker lost data",
                hint="if that is expected, consume with a new --group; events already in the"
                " ledger are refused as duplicates, nothing is lost",
            ) from exc
        except (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError) as exc:
            log.warning("broker unavailable (%s); retrying", exc)
            self.stop_event.wait(1.0)
            return []
        for r in polled:
            if r.unreadable is not None:
                log.error("record %s/%d@%d cannot be read: %s", r.topic, r.partition,
                          r.offset, r.unreadable)  # fmt: skip
        return polled

    def _catch_up_target(self) -> CatchUpTarget:
        target = read_target(self.events, self.config.topic, self.config.registry_topic)
        log.info("reading up to the end offsets seen at start: %s, registry %d",
                 dict(target.events), target.registry)  # fmt: skip
        return target

    def _behind(self, target: CatchUpTarget) -> dict[str, int]:
        """What the ledger still lacks of the start targets (whoever in the group reads it)."""
        events = self.store.offsets(self.config.group_id, self.config.topic)
        stored = self.store.offsets(self.config.group_id, self.config.registry_topic).get(0, 0)
        return target.behind(events, max(stored, self._registry.position))

    def _caught_up(self, target: CatchUpTarget, started: float, join_limit: float) -> bool:
        """The ledger holds the start targets; not before this member joined its group (a
        member that leaves mid-join can hold the group up for the next one), unless no
        partition came within ``join_limit`` (more members than partitions)."""
        if self._listener.assigned_at is None and time.monotonic() - started < join_limit:
            return False
        if self._behind(target):
            return False
        log.info("caught up with the end offsets seen at start")
        return True

    def _warn_if_behind(self, target: CatchUpTarget | None) -> None:
        behind = {} if target is None else self._behind(target)
        if behind:
            log.warning("stopped idle before catching up; offsets short: %s", behind)

    def _idle(self, started: float, last_activity: float, join_limit: float, idle: float) -> bool:
        """Idle time counts from the group join (Kafka joins can take seconds)."""
        now = time.monotonic()
        assigned_at = self._listener.assigned_at
        if assigned_at is None:
            if now - started >= join_limit:
                log.warning("no partitions assigned after %.0f s; stopping", now - started)
                return True
            return False
        return now - max(last_activity, assigned_at) >= idle

    def _check_topic_incarnation(self) -> None:
        """Refuse to resume on a topic that was deleted and recreated (its offsets restarted).

        The ledger's stored offsets belong to one incarnation of each topic it reads (the events
        topic and its key-registry topic), named by its Kafka topic id.  Seeking them in a new
        incarnation would skip its first records silently.
        """
        self._check_incarnation(self.config.topic, self.events.topic_id(self.config.topic))
        self._check_incarnation(self.config.registry_topic, self._registry.topic_id())

    def _check_incarnation(self, topic: str, topic_id: str | None) -> None:
        if topic_id is None or self._known_topic_ids.get(topic) == topic_id:
            return
        key = f"kafka.topic_id/{self.config.group_id}/{topic}"
        known = self.store.get_meta(key)
        if known is None:
            self.store.set_meta(key, topic_id)
        elif known != topic_id:
            raise TopicRecreatedError(
                f"topic {topic} was recreated (topic id {known} is now {topic_id}):"
                " the ledger's stored offsets do not apply to it, so nothing more was ingested",
                hint="if the broker lost its data, consume the new topic with a new --group;"
                " events already in the ledger are refused as duplicates, nothing is lost",
            )
        self._known_topic_ids[topic] = topic_id

    def _after_rebalance(self) -> set[tuple[str, int]]:
        """Seek newly assigned partitions to the ledger's offsets; return them (records fetched
        for them before the seek are dropped)."""
        assigned = self._listener.take()
        if not assigned:
            return set()
        self._check_topic_incarnation()
        stored = self.store.offsets(self.config.group_id, self.config.topic)
        for tp in assigned:
            if tp.partition in stored:
                self.events.seek(tp, stored[tp.partition])
            else:
                self.events.seek_to_beginning(tp)
            self._positions[(tp.topic, tp.partition)] = stored.get(tp.partition, 0)
        self._lag_checked = 0.0
        log.info("assigned %s; resumed from ledger offsets %s", sorted(assigned), stored)
        return {(tp.topic, tp.partition) for tp in assigned}

    def _process(self, in_flight: InFlight) -> int:
        """Judge, dead-letter and append one batch; return how many records it held."""
        started = time.monotonic()
        self._check_topic_incarnation()  # metadata may have changed since the assignment
        # One arrival time per batch: the trust policy judges arrival against it and the
        # entries are stored with it, so verify's replay reaches the same decisions.
        received_at = self.clock()
        self.trust.receiving(received_at)
        reader = _BatchRegistry(self._registry, in_flight.polled, lambda: self._polls,
                                self._follows_registry)  # fmt: skip
        raws, outcomes = in_flight.settle(reader)
        self.stats.registry_syncs = self._registry.syncs
        self.metrics.set_registry_syncs(self._registry.syncs)
        if not raws:
            return 0
        entries = [o for o in outcomes if isinstance(o, PendingEntry)]
        rejects = [o for o in outcomes if isinstance(o, Quarantined)]
        self._dead_letter(self._not_handled_yet(rejects))
        offsets: dict[tuple[str, int], int] = {}
        for r in raws:
            tp = (r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        registry_tp = (self.config.registry_topic, 0)
        if registry_tp in offsets:  # past the sync markers read after its last record too
            offsets[registry_tp] = max(offsets[registry_tp], self._registry.position)
        batch = Batch(entries, rejects, offsets, self.config.group_id, received_at)
        result = self.store.append(batch)
        self._dead_letter(result.duplicates)
        self.stats.count(result, rejects)
        self.stats.last_batch_seconds = time.monotonic() - started
        events_offsets = {tp: o for tp, o in offsets.items() if tp != registry_tp}
        self._commit_to_kafka(events_offsets)
        self._positions.update(events_offsets)
        if result.appended:
            self._unanchored += len(result.appended)
            if self._unanchored_since is None:
                self._unanchored_since = started
            self._anchor_if_due()
        self._observe(len(raws), result, rejects, time.monotonic() - started)
        for q in [*rejects, *result.duplicates]:
            log.warning(
                "quarantined %s/%d@%d: %s: %s",
                q.origin.topic,
                q.origin.partition,
                q.origin.offset,
                q.reason,
                q.detail,
            )
        if self.on_batch is not None:
            self.on_batch(result, self.stats)
        return len(raws)

    def _not_handled_yet(self, rejects: list[Quarantined]) -> list[Quarantined]:
        """The rejects less registry-topic records another process of the group already handled.

        Every process reads the whole registry topic; one dead-letter copy is enough (the
        append drops the others' quarantine rows as stale in any case).
        """
        topic = self.config.registry_topic
        if not any(q.origin.topic == topic for q in rejects):
            return rejects
        stored = self.store.offsets(self.config.group_id, topic).get(0, 0)
        return [q for q in rejects if q.origin.topic != topic or q.origin.offset >= stored]

    def _dead_letter(self, rejects: Sequence[Quarantined]) -> None:
        """Write rejects to the dead-letter topic and wait for every acknowledgement.

        A copy too large for the topic is sent bounded (:mod:`consumers.deadletter`).  A copy
        the producer or broker refuses for good (not a passing outage) is logged and counted,
        and the record stays in the quarantine table: one record never stops the consumer.  A
        broker outage raises :class:`BrokerError`: the batch is read again later.
        """
        sent = []
        for q in rejects:
            copy = dead_letter(q, self.config.dlt_max_bytes)
            if copy.truncated:
                self.metrics.dead_letter_was_truncated()
                log.warning(
                    "dead-letter copy of %s/%d@%d bounded to %d bytes (the original has %d)",
                    *(q.origin.topic, q.origin.partition, q.origin.offset),
                    *(copy.size, dead_letter(q, 1 << 62).size),
                )
            sent.append((q, self._send_dead_letter(copy)))
        for q, future in sent:
            try:
                future.get(timeout=30)
            except KafkaError as exc:
                self._dead_letter_failed(q, exc)

    def _send_dead_letter(self, copy: DeadLetter) -> Any:
        try:
            return self._dlt.send(
                self.config.dlt_topic, key=copy.key, value=copy.value, headers=copy.headers
            )
        except KafkaError as exc:  # refused before sending (e.g. over the request size)
            return FailedSend(exc)
        except (ValueError, TypeError, AssertionError) as exc:  # arguments the client refuses
            return FailedSend(KafkaError(f"{type(exc).__name__}: {exc}"))

    def _dead_letter_failed(self, q: Quarantined, exc: KafkaError) -> None:
        if getattr(exc, "retriable", False) or isinstance(exc, KafkaTimeoutError):
            raise BrokerError(
                f"dead-letter topic {self.config.dlt_topic} did not take a record: {exc}"
            ) from exc
        self.metrics.dead_letter_has_failed()
        log.error(
            "quarantined %s/%d@%d (%s) but not written to the dead-letter topic %s: %s;"
            " the quarantine table keeps it",
            *(q.origin.topic, q.origin.partition, q.origin.offset, q.reason),
            *(self.config.dlt_topic, exc),
        )

    def _anchor_leftovers(self) -> None:
        """Sign entries an earlier run appended but did not anchor (killed between the commit
        and the checkpoint); otherwise they would wait, unanchored, for the next new entry."""
        if self.checkpointer is None:
            return
        last = self.store.latest_checkpoint()
        if self.store.head().size > (0 if last is None else last.size):
            self._checkpoint()

    def _anchor_if_due(self) -> None:
        """Sign a checkpoint once the policy says so (:class:`ConsumerConfig`)."""
        if self._unanchored_since is None:
            return
        c = self.config
        age = time.monotonic() - self._unanchored_since
        if self._unanchored >= c.checkpoint_every or age >= c.checkpoint_seconds:
            self._anchor()

    def _anchor(self) -> None:
        """Sign a checkpoint if this run appended entries since its last one."""
        if self._unanchored_since is None:
            return
        self._checkpoint()
        self._unanchored, self._unanchored_since = 0, None

    def _checkpoint(self) -> None:
        """Sign the new tree head and publish it to TOPIC.checkpoints (best effort)."""
        if self.checkpointer is None:
            return
        stored = self.checkpointer.checkpoint()
        if stored is None:
            return
        self.stats.last_checkpoint_size = stored.size
        self.stats.checkpoints += 1
        self.metrics.set_checkpoint(stored.size)
        self._publish(stored)
        if self.cosigning is not None:
            self.cosigning.offer(stored)
            self._witness_tick()

    def _publish(self, stored: StoredCheckpoint) -> None:
        """Send a checkpoint note (with its cosignatures so far) to TOPIC.checkpoints."""
        assert self.checkpointer is not None
        topic = k.checkpoint_topic(self.config.topic)
        try:
            self._dlt.send(topic, key=self.checkpointer.origin.encode(), value=stored.note.encode())
        except KafkaError as exc:  # the checkpoint is stored; publishing is a courtesy
            log.warning("could not publish checkpoint %d to %s: %s", stored.size, topic, exc)

    def _witness_tick(self, flush: float | None = None) -> None:
        """Store the witnesses' answers, ask those behind; publish newly cosigned checkpoints.

        Never blocks on a witness (unless ``flush``: then waits up to that many seconds).
        """
        if self.cosigning is None or self.checkpointer is None:
            return
        changed = self.cosigning.tick() if flush is None else self.cosigning.flush(flush)
        self.metrics.set_witnesses(self.cosigning.sizes())
        latest = max(changed, key=lambda c: c.size, default=None)
        # An older checkpoint cosigned late is not published again: on the compacted topic it
        # would replace a newer one.
        if latest is not None and latest.size >= self.stats.last_checkpoint_size:
            self._publish(latest)

    def _observe(
        self, records: int, result: AppendResult, rejects: Sequence[Quarantined], seconds: float
    ) -> None:
        """Update the metrics and log the batch as one JSON line."""
        by_reason: dict[str, int] = {}
        for q in [*rejects, *result.duplicates]:
            by_reason[q.reason] = by_reason.get(q.reason, 0) + 1
        outcome = BatchOutcome(
            records=records,
            appended=len(result.appended),
            quarantined_by_reason=by_reason,
            duplicates=len(result.duplicates),
            stale=result.stale,
            seconds=seconds,
            ledger_size=result.head.size,
        )
        self.metrics.observe_batch(outcome)
        if log.isEnabledFor(logging.INFO):
            log.info("%s", json.dumps(self.metrics.batch_record(outcome), sort_keys=True))

    def _refresh_lag(self) -> None:
        """Lag per assigned partition: broker end offset minus the ledger's next offset.

        One end-offsets request every ``lag_interval`` seconds (Tansu's end offsets can be a
        little off; this is a gauge, never used for correctness).
        """
        now = time.monotonic()
        if now - self._lag_checked < self.config.lag_interval:
            return
        self._lag_checked = now
        assigned = list(self.events.assignment())
        if not assigned:
            self.metrics.set_lag({})
            return
        try:
            ends = self.events.end_offsets(assigned, timeout_ms=LAG_TIMEOUT_MS)
        except KafkaError as exc:
            log.debug("end offsets unavailable for the lag gauge: %s", exc)
            return
        self.metrics.set_lag(
            {
                (tp.topic, tp.partition): end - self._positions.get((tp.topic, tp.partition), 0)
                for tp, end in ends.items()
            }
        )

    def _commit_to_kafka(self, offsets: dict[tuple[str, int], int]) -> None:
        """Courtesy commit for lag monitoring; the ledger's own offsets are authoritative."""
        try:
            self.events.commit_async(offsets)
        except KafkaError as exc:
            log.debug("courtesy offset commit failed: %s", exc)
