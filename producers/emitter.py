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

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ledger.errors import BrokerError, ConfigurationError
from ledger.events import kafka as k
from ledger.events.base import EventKind, format_time
from ledger.events.encoding import Framing, MultiFraming, SingleObjectFraming
from ledger.events.kinds import encode_checked
from ledger.events.provenance import PROVENANCE
from ledger.events.schema_registry import SchemaRegistryClient
from ledger.trust import dsse
from ledger.trust.keys import KeyPair


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

    No I/O with the default framing; a Confluent framing asks its registry for schema ids
    (once per schema: they are cached).  Payload and envelope use the same framing.
    """
    framing = framing or SingleObjectFraming()
    payload, record = encode_checked(kind, fill_producer(event, kind, source), framing)
    envelope = dsse.sign(kind.payload_type, payload, signer)
    subject = kind.subject(record)
    headers = [
        (k.H_SPECVERSION, k.CE_SPECVERSION.encode()),
        (k.H_ID, record["event_id"].encode()),
        (k.H_SOURCE, source.encode()),
        (k.H_TYPE, kind.ce_type.encode()),
        (k.H_TIME, format_time(record["event_time"]).encode()),
        (k.H_SUBJECT, subject.encode()),
        (k.H_CONTENT_TYPE, dsse.ENVELOPE_CONTENT_TYPE.encode()),
    ]
    return Message(record["event_id"], subject.encode(), envelope.encode(framing), headers)


class Emitter:
    """Signs events and sends them durably (acks=all, idempotent), waiting for the ack.

    ``schema_registry_url``: write the Confluent wire format with ids from this Confluent
    Schema Registry (see the module docstring); default: single-object encoding.
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
        **producer_config: Any,
    ) -> None:
        self.signer = signer
        self.topic = topic
        self.source = source
        self.producer_id = producer_id or source
        self.sequence = SequenceCounter()
        self.framing: SingleObjectFraming = (
            SingleObjectFraming()
            if schema_registry_url is None
            else MultiFraming(registry=SchemaRegistryClient(schema_registry_url))
        )
        settings: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "client_id": f"assetledger-emitter:{self.producer_id}",
        }
        settings.update(producer_config)
        try:
            self.producer = KafkaProducer(**settings)
        except KafkaError as exc:
            raise BrokerError(
                f"cannot connect to Kafka at {bootstrap_servers}: {exc}",
                hint="check --bootstrap-servers / ASSETLEDGER_BOOTSTRAP_SERVERS",
            ) from exc

    def _fill(self, event: Mapping[str, Any], kind: EventKind) -> dict[str, Any]:
        return fill_producer(event, kind, self.producer_id, self.sequence)

    def emit(
        self, event: Mapping[str, Any], *, kind: EventKind = PROVENANCE, timeout: float = 30.0
    ) -> str:
        """Sign and send one event; return its id once the broker acknowledged it."""
        return self.emit_many([event], kind=kind, timeout=timeout)[0]

    def emit_many(
        self,
        batch: Iterable[Mapping[str, Any]],
        *,
        kind: EventKind = PROVENANCE,
        timeout: float = 60.0,
    ) -> list[str]:
        """Send all, then wait for every acknowledgement; raise on the first failure."""
        signer = self._require_signer()
        messages = [
            build_message(
                self._fill(e, kind),
                signer,
                kind=kind,
                source=self.source,
                framing=self.framing,
            )
            for e in batch
        ]
        futures = [
            (m, self.producer.send(self.topic, key=m.key, value=m.value, headers=m.headers))
            for m in messages
        ]
        self.producer.flush(timeout)
        for m, future in futures:
            try:
                future.get(timeout=timeout)
            except KafkaError as exc:
                raise BrokerError(f"Kafka did not acknowledge event {m.event_id}: {exc}") from exc
        return [m.event_id for m in messages]

    def _require_signer(self) -> KeyPair:
        if self.signer is None:
            raise ConfigurationError("this emitter has no signing key; it can only send_raw")
        return self.signer

    def send_raw(self, message: Message, timeout: float = 30.0) -> None:
        """Send an already built record (tests, replay tools)."""
        future = self.producer.send(
            self.topic, key=message.key, value=message.value, headers=message.headers
        )
        try:
            future.get(timeout=timeout)
        except KafkaError as exc:
            raise BrokerError(f"Kafka did not acknowledge a record: {exc}") from exc

    def close(self, timeout: float = 10.0) -> None:
        self.producer.close(timeout=timeout)

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
