"""The key-registry topic as a ledger consumer reads it: all of it, in order, and up to "now".

``TOPIC.keys`` has one partition, so its records have one order, and every consumer of the
ledger reads all of it (no consumer group: each process assigns itself the partition and starts
from the offset stored with the ledger).  Two reads:

- :meth:`RegistryFeed.take`: whatever the client has fetched so far (never waits).  Called
  before each batch, it keeps the registry about as current as the events.
- :meth:`RegistryFeed.sync`: read *up to a point after now*.  The consumer writes a sync marker
  (a record with a random nonce) to the partition and reads until it reads that marker back.
  Every registry record acknowledged before the marker was written sits before it in the
  partition, so it has then been read.  That bound comes from the log's own order, not from
  an end offset the broker reports (Tansu's can be slightly off).

Why that is enough: a producer waits for its enrolment's acknowledgement before it emits, so
an event the consumer has fetched was written after that enrolment was acknowledged, hence
before any marker written after the fetch.  When a record of a batch is about to be refused
for a key the policy does not know, the consumer syncs once (unless a sync after that batch's
fetch already happened), applies what it read, and judges the record again.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, OffsetOutOfRangeError

from consumers.inspect import RawRecord
from ledger.errors import BrokerError, TopicRecreatedError
from ledger.events import kafka as k
from ledger.store import LedgerStore

SYNC_KEY = b"assetledger.sync"
_MARKER = re.compile(rb"assetledger-sync/1 [0-9a-f]{32}")
POLL_MS = 200


def sync_marker(nonce: str) -> bytes:
    return b"assetledger-sync/1 " + nonce.encode("ascii")


def is_sync_marker(raw: RawRecord) -> bool:
    """Our own control record: a ``sync`` header *and* a value of exactly the marker's form.

    Anything else, control header or not, is input like any other record (so a registry
    record cannot be hidden by dressing it up as a marker).
    """
    return (
        k.header(raw.headers, k.H_CONTROL) == k.CONTROL_SYNC
        and raw.value is not None
        and _MARKER.fullmatch(raw.value) is not None
    )


def _to_raw(record: Any) -> RawRecord:
    return RawRecord(record.topic, record.partition, record.offset, record.key, record.value,
                     tuple((h[0], h[1] or b"") for h in record.headers or ()))  # fmt: skip


class RegistryFeed:
    """Partition 0 of ``TOPIC.keys``, read from the ledger's stored offset (see module doc).

    ``position`` is the next offset to read: everything before it has been returned by
    :meth:`take` or :meth:`sync` (markers are consumed silently), so the consumer commits it
    with the batch that holds those records.
    """

    def __init__(
        self,
        topic: str,
        group_id: str,
        store: LedgerStore,
        *,
        max_records: int = 500,
        sync_timeout: float = 30.0,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self.store = store
        self.max_records = max_records
        self.sync_timeout = sync_timeout
        self.partition = TopicPartition(topic, 0)
        self.position = 0
        self.syncs = 0
        self.synced_through = 0  # batches fetched up to this poll number are covered by a sync
        self._consumer: Any = None
        self._producer: KafkaProducer | None = None

    def connect(self, settings: dict[str, Any], producer: KafkaProducer) -> None:
        """Assign the partition and seek it to the ledger's offset; markers go via ``producer``."""
        self._consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",  # positions come from the ledger, never a guess
            allow_auto_create_topics=False,
            metadata_max_age_ms=10_000,  # notice a recreated topic (new topic id) promptly
            max_poll_records=self.max_records,
            **settings,
        )
        self._consumer.assign([self.partition])
        self._producer = producer
        self.rewind()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def rewind(self) -> None:
        """Back to the offset stored with the ledger (after a batch that was not committed)."""
        self.position = self.store.offsets(self.group_id, self.topic).get(0, 0)
        self._consumer.seek(self.partition, self.position)
        self.synced_through = 0

    def topic_id(self) -> str | None:
        """The topic's Kafka id, once the client has metadata for it."""
        # kafka-python keeps topic ids in its cluster metadata but has no public accessor.
        topic_id = self._consumer._client.cluster.topic_id(self.topic)
        return None if topic_id is None else str(topic_id)

    def take(self) -> list[RawRecord]:
        """The registry records fetched so far, in order (no waiting)."""
        return self._read(0)

    def sync(self, polled: int) -> list[RawRecord]:
        """Write a marker and read up to it; batches fetched up to poll ``polled`` are covered."""
        assert self._producer is not None, "connect() first"
        nonce = uuid.uuid4().hex
        try:
            sent = self._producer.send(
                self.topic,
                partition=0,
                key=SYNC_KEY,
                value=sync_marker(nonce),
                headers=[(k.H_CONTROL, k.CONTROL_SYNC.encode())],
            ).get(timeout=self.sync_timeout)
        except KafkaError as exc:
            raise BrokerError(f"could not write a sync marker to {self.topic}: {exc}") from exc
        records: list[RawRecord] = []
        deadline = time.monotonic() + self.sync_timeout
        while True:
            batch, seen = self._read_until(nonce)
            records += batch
            if seen:
                break
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"sync marker {sent.offset} of {self.topic} not read back within"
                    f" {self.sync_timeout:g} s (read up to {self.position})"
                )
        self.syncs += 1
        self.synced_through = max(self.synced_through, polled)
        return records

    def _read(self, timeout_ms: int) -> list[RawRecord]:
        return self._read_until(None, timeout_ms)[0]

    def _read_until(
        self, nonce: str | None, timeout_ms: int = POLL_MS
    ) -> tuple[list[RawRecord], bool]:
        """One poll: the records (markers left out) and whether marker ``nonce`` was among them."""
        try:
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        except OffsetOutOfRangeError as exc:
            raise TopicRecreatedError(
                f"the broker no longer holds offset {self.position} of {self.topic}, where the"
                f" ledger's registry reading stopped ({exc}): the topic was truncated or recreated",
                hint="registry records must be kept forever (retention.ms=-1); if the topic was"
                " lost, consume with a new --group: records already in the ledger are refused"
                " as duplicates",
            ) from exc
        records: list[RawRecord] = []
        seen = False
        for raw in (_to_raw(r) for rs in polled.values() for r in rs):
            self.position = raw.offset + 1
            if is_sync_marker(raw):
                seen = seen or (nonce is not None and raw.value == sync_marker(nonce))
            else:
                records.append(raw)
        return records, seen
