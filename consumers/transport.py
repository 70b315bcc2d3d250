"""The events topic's Kafka client: kafka-python (the default) or librdkafka (confluent-kafka).

:class:`consumers.runner.LedgerConsumer` reads the events topic through one of these two
sources, chosen by ``ConsumerConfig.transport`` (``consume --transport``).  Both give the
runner the same things: records as :class:`consumers.inspect.RawRecord`, partition assignments
through the same listener, seeks to the ledger's stored offsets, end offsets, topic ids and
courtesy commits; and both raise kafka-python's error types, which the runner handles.
Everything else (the dead-letter and checkpoint producer, the key-registry feed on
``TOPIC.keys``) stays on kafka-python whatever the transport: only the events topic is hot.

``confluent`` (the ``kafka-fast`` extra) parses fetched records in C: per record the
consumer's main thread does a few C calls instead of kafka-python's pure-Python record
parsing.  Guarantees are the same: auto commit off, no offset reset (a position out of range
stops the consumer as with kafka-python), positions taken from the ledger on every
assignment.  A record whose header name is not UTF-8 comes back unreadable (refused as
``undecodable``) at once, without kafka-python's probing.  One difference the binding
imposes: it reads a header name up to its first NUL byte (kafka-python keeps the whole name).
"""

from __future__ import annotations

import base64
import logging
import operator
import time
import uuid
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CorruptRecordError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    OffsetOutOfRangeError,
)

from consumers.inspect import RawRecord
from ledger.errors import BrokerError, ConfigurationError

log = logging.getLogger("assetledger.consumer")
TRANSPORTS = ("kafka-python", "confluent")
TOPIC_ID_MAX_AGE = 10.0  # seconds: notice a recreated topic (new topic id) this promptly


class Listener(Protocol):
    def on_partitions_assigned(self, assigned: Any) -> None: ...

    def on_partitions_revoked(self, revoked: Any) -> None: ...


class EventsSource(Protocol):
    """What the runner asks of the events topic's client (see the module docstring)."""

    def subscribe(self, topic: str, listener: Listener) -> None: ...

    def poll(self, timeout_ms: int, max_records: int) -> list[RawRecord]:
        """Records fetched, in partition order; raises kafka-python's errors."""

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    def seek_to_beginning(self, tp: TopicPartition) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    def end_offsets(
        self, tps: list[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, int]: ...

    def beginning_offsets(
        self, tps: list[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, int]: ...

    def topic_id(self, topic: str) -> str | None: ...

    def commit_async(self, offsets: dict[tuple[str, int], int]) -> None: ...

    def close(self) -> None: ...


def to_raw(record: Any) -> RawRecord:
    """A kafka-python ``ConsumerRecord`` as the ledger reads it."""
    headers = record.headers
    return RawRecord(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        tuple([(n, v or b"") for n, v in headers]) if headers else (),
    )


class KafkaPythonSource:
    """kafka-python's ``KafkaConsumer`` (pure Python; the SDK's client too)."""

    def __init__(self, settings: dict[str, Any], probe_settings: dict[str, Any]) -> None:
        self._consumer = KafkaConsumer(**settings)
        self._probe_settings = probe_settings

    def subscribe(self, topic: str, listener: Listener) -> None:
        self._consumer.subscribe([topic], listener=_KafkaPythonListener(listener))

    def poll(self, timeout_ms: int, max_records: int) -> list[RawRecord]:
        try:
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except CorruptRecordError as exc:  # e.g. a header name that is not UTF-8
            return self._skip_unreadable(exc)
        return [to_raw(r) for rs in polled.values() for r in rs]

    def _skip_unreadable(self, exc: CorruptRecordError) -> list[RawRecord]:
        """Find the record the Kafka client cannot parse, and step over it as a refusal.

        kafka-python returns the records before it and then raises at every poll, so the
        consumer would stop there forever.  Each assigned partition is probed from its
        position with a separate client; the one that fails holds the record at its position.
        It comes back as an unreadable :class:`RawRecord` (refused as ``undecodable``,
        quarantined, its offset committed with the batch), and the position moves past it.
        """
        for tp in sorted(self._consumer.assignment()):
            position = self._consumer.position(tp)
            if self._probe_fails(tp, position):
                self._consumer.seek(tp, position + 1)
                return [RawRecord(tp.topic, tp.partition, position, None, None, (), str(exc))]
        raise BrokerError(f"the Kafka client cannot read a fetched record: {exc}") from exc

    def _probe_fails(self, tp: TopicPartition, position: int) -> bool:
        probe = KafkaConsumer(enable_auto_commit=False, **self._probe_settings)
        try:
            probe.assign([tp])
            probe.seek(tp, position)
            for _ in range(3):  # a first fetch can come back empty
                if probe.poll(timeout_ms=2_000, max_records=1):
                    return False
            return False
        except CorruptRecordError:
            return True
        finally:
            probe.close()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(tp, offset)

    def seek_to_beginning(self, tp: TopicPartition) -> None:
        self._consumer.seek_to_beginning(tp)

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        result: set[int] | None = self._consumer.partitions_for_topic(topic)
        return result

    def end_offsets(self, tps: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        result: dict[TopicPartition, int] = self._consumer.end_offsets(tps, timeout_ms=timeout_ms)
        return result

    def beginning_offsets(
        self, tps: list[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, int]:
        result: dict[TopicPartition, int] = self._consumer.beginning_offsets(
            tps, timeout_ms=timeout_ms
        )
        return result

    def topic_id(self, topic: str) -> str | None:
        # kafka-python keeps topic ids in its cluster metadata but has no public accessor.
        topic_id = self._consumer._client.cluster.topic_id(topic)
        return None if topic_id is None else str(topic_id)

    def commit_async(self, offsets: dict[tuple[str, int], int]) -> None:
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit_async(
            {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}
        )

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class _KafkaPythonListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.listener.on_partitions_revoked(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.listener.on_partitions_assigned(assigned)


# --- librdkafka ------------------------------------------------------------------------------

# librdkafka's error codes (rd_kafka_resp_err_t) the source maps to kafka-python's errors.
_ERR_AUTO_OFFSET_RESET = -140  # a position out of range, with no reset allowed
_ERR_BAD_MSG = -199  # a record librdkafka could not parse
_ERR_PARTITION_EOF = -191
_ERR_OFFSET_OUT_OF_RANGE = 1
_UNREACHABLE = {-195, -187, -185}  # transport failure, all brokers down, timed out
_OFFSET_BEGINNING = -2

# Message.headers() of confluent-kafka, called so that CPython always checks its result.  On a
# header name that is not UTF-8 the binding returns a list holding a NULL item *with an
# exception set*: a checked call turns that into SystemError, but the interpreter's specialised
# call of a method descriptor (``m.headers()`` at a hot call site) skips the check and hands the
# broken list on; touching it then crashes the process (found by the unreadable-record test).
# methodcaller goes through PyObject_VectorcallMethod, which checks every result.
_HEADERS = operator.methodcaller("headers")


def _confluent() -> Any:
    try:
        import confluent_kafka
        import confluent_kafka.admin
    except ImportError as exc:
        raise ConfigurationError(
            "the confluent transport needs the confluent-kafka package",
            hint="pip install 'asset-ledger[kafka-fast]', or use --transport kafka-python",
        ) from exc
    return confluent_kafka


def topic_id_text(topic_id: Any) -> str:
    """A librdkafka ``Uuid`` in kafka-python's spelling (the ledger stores this text)."""
    raw = base64.urlsafe_b64decode(str(topic_id) + "==")
    return str(uuid.UUID(bytes=raw))


class ConfluentSource:
    """confluent-kafka's ``Consumer`` (librdkafka: records parsed in C).

    Assignments: librdkafka calls ``on_assign`` from inside :meth:`poll`, in this thread; the
    partitions are assigned at the offsets the runner's ``initial_offsets`` gives (the ledger's)
    and the runner's listener is told, so it seeks them again after the batch in flight, exactly
    as with kafka-python.  Seeks are librdkafka's asynchronous ones: records fetched from
    before a seek are never returned after it.
    """

    def __init__(
        self,
        config: dict[str, Any],
        initial_offsets: Any,
        admin_config: dict[str, Any],
    ) -> None:
        ck = _confluent()
        self._ck = ck
        self._admin = ck.admin.AdminClient(admin_config)
        self._consumer = ck.Consumer(config)
        self._initial_offsets = initial_offsets  # (topic, [partition]) -> {partition: offset}
        self._listener: Listener | None = None
        self._assigned: set[TopicPartition] = set()
        self._topic_ids: dict[str, tuple[float, str | None]] = {}

    def subscribe(self, topic: str, listener: Listener) -> None:
        self._listener = listener
        self._consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        by_topic: dict[str, list[int]] = {}
        for p in partitions:
            by_topic.setdefault(p.topic, []).append(p.partition)
        stored = {t: self._initial_offsets(t, ps) for t, ps in by_topic.items()}
        for p in partitions:
            p.offset = stored[p.topic].get(p.partition, _OFFSET_BEGINNING)
        consumer.assign(partitions)
        assigned = {TopicPartition(p.topic, p.partition) for p in partitions}
        self._assigned = assigned
        if self._listener is not None:
            self._listener.on_partitions_assigned(assigned)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        revoked = {TopicPartition(p.topic, p.partition) for p in partitions}
        consumer.unassign()
        self._assigned = set()
        if self._listener is not None:
            self._listener.on_partitions_revoked(revoked)

    def poll(self, timeout_ms: int, max_records: int) -> list[RawRecord]:
        try:
            messages = self._consumer.consume(max_records, timeout_ms / 1000)
        except self._ck.KafkaException as exc:
            raise _mapped(exc.args[0]) from exc
        out: list[RawRecord] = []
        append = out.append
        for m in messages:
            error = m.error()
            if error is not None:
                record = self._errored(m, error)
                if record is not None:
                    append(record)
                continue
            try:
                headers = _HEADERS(m)  # never m.headers(): see _HEADERS
            except (SystemError, UnicodeDecodeError) as exc:  # a header name not UTF-8
                append(self._unreadable(m, f"a header cannot be read: {exc.__cause__ or exc}"))
                continue
            append(
                RawRecord(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.value(),
                    tuple([(n, v or b"") for n, v in headers]) if headers else (),
                )
            )
        return out

    def _errored(self, m: Any, error: Any) -> RawRecord | None:
        """An error event among the messages: a record to refuse, nothing, or a raise.

        A passing error (a broker down, a timeout) is only logged: librdkafka retries by
        itself, and the records returned with it are kept (dropping them would move past them
        unread).  A position out of range, or a fatal error, raises: nothing of the batch is
        committed, so nothing is lost.
        """
        code = error.code()
        if code == _ERR_PARTITION_EOF:
            return None
        if code == _ERR_BAD_MSG and m.partition() is not None and m.offset() is not None:
            return self._unreadable(m, error.str())
        if code in (_ERR_AUTO_OFFSET_RESET, _ERR_OFFSET_OUT_OF_RANGE) or error.fatal():
            raise _mapped(error)
        log.warning("Kafka client error (retried by librdkafka): %s", error.str())
        return None

    def _unreadable(self, m: Any, why: str) -> RawRecord:
        """Refused as undecodable; the position moves past it (librdkafka already did)."""
        return RawRecord(m.topic(), m.partition(), m.offset(), None, None, (), why)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        try:
            self._consumer.seek(self._ck.TopicPartition(tp.topic, tp.partition, offset))
        except self._ck.KafkaException as exc:
            raise _mapped(exc.args[0]) from exc

    def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.seek(tp, _OFFSET_BEGINNING)

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        try:
            metadata = self._consumer.list_topics(topic, timeout=10)
        except self._ck.KafkaException as exc:
            raise _mapped(exc.args[0]) from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            return None
        return set(found.partitions)

    def _watermarks(
        self, tps: list[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, tuple[int, int]]:
        out = {}
        for tp in tps:
            try:
                low, high = self._consumer.get_watermark_offsets(
                    self._ck.TopicPartition(tp.topic, tp.partition), timeout=timeout_ms / 1000
                )
            except self._ck.KafkaException as exc:
                raise _mapped(exc.args[0]) from exc
            out[tp] = (low, high)
        return out

    def end_offsets(self, tps: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: high for tp, (_, high) in self._watermarks(tps, timeout_ms).items()}

    def beginning_offsets(
        self, tps: list[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, int]:
        return {tp: low for tp, (low, _) in self._watermarks(tps, timeout_ms).items()}

    def topic_id(self, topic: str) -> str | None:
        """The topic's id (kafka-python's spelling), read again every ``TOPIC_ID_MAX_AGE`` s."""
        now = time.monotonic()
        cached = self._topic_ids.get(topic)
        if cached is not None and now - cached[0] < TOPIC_ID_MAX_AGE:
            return cached[1]
        found: str | None = None
        try:
            futures = self._admin.describe_topics(
                self._ck.TopicCollection([topic]), request_timeout=5
            )
            found = topic_id_text(futures[topic].result().topic_id)
        except self._ck.KafkaException:
            found = None if cached is None else cached[1]  # asked again at the next call
            now = 0.0 if cached is None else cached[0]
        self._topic_ids[topic] = (now, found)
        return found

    def commit_async(self, offsets: dict[tuple[str, int], int]) -> None:
        try:
            self._consumer.commit(
                offsets=[self._ck.TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=True,
            )
        except self._ck.KafkaException as exc:
            raise _mapped(exc.args[0]) from exc

    def close(self) -> None:
        self._consumer.close()
        self._admin = None  # librdkafka's handle goes with the last reference


def _mapped(error: Any) -> KafkaError:
    """A librdkafka error as the kafka-python error the runner handles."""
    code = error.code() if hasattr(error, "code") else None
    text = error.str() if hasattr(error, "str") else str(error)
    if code in (_ERR_AUTO_OFFSET_RESET, _ERR_OFFSET_OUT_OF_RANGE):
        return OffsetOutOfRangeError(text)
    if code in _UNREACHABLE:
        return KafkaConnectionError(text)
    if getattr(error, "retriable", lambda: False)():
        return KafkaTimeoutError(text)
    return KafkaError(text)


def confluent_config(
    bootstrap_servers: str,
    group_id: str,
    *,
    session_timeout_ms: int,
    heartbeat_interval_ms: int,
    max_message_bytes: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """librdkafka settings equivalent to the kafka-python consumer's."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",  # positions come from the ledger, never a guess
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": heartbeat_interval_ms,
        "topic.metadata.refresh.interval.ms": 10_000,
        "fetch.max.bytes": max(52_428_800, max_message_bytes * 2),
        "max.partition.fetch.bytes": max(1_048_576, max_message_bytes + 65_536),
        "enable.partition.eof": False,
        # librdkafka prefetches up to this much per partition queue (default 64 MB): bounded
        # so the consumer stays near kafka-python's memory (the bench's 200 MB target).
        "queued.max.messages.kbytes": max(8_192, 2 * max_message_bytes // 1024),
        "log_level": 3,  # errors only: a broker closing an idle connection is no news
        **extra,
    }


def unknown_transport(name: str) -> ConfigurationError:
    return ConfigurationError(
        f"unknown Kafka transport {name!r}", hint=f"one of: {', '.join(TRANSPORTS)}"
    )
