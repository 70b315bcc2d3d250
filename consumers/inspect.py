"""Turning one Kafka record into a verified ledger entry, or into a reasoned rejection.

Pure functions (no Kafka client, no database) so every bad-input kind is unit-testable:
oversized → undecodable / unknown schema → invalid event → header mismatch → untrusted key →
bad signature.  Each failure is a :class:`ledger.errors.RejectedInput` with a stable reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger import events
from ledger import kafka as k
from ledger.dsse import ENVELOPE_CONTENT_TYPE, Envelope, verify_signature
from ledger.encoding import SingleObjectFraming
from ledger.errors import (
    DecodeError,
    HeaderMismatchError,
    InvalidEventError,
    OversizedError,
    RejectedInput,
)
from ledger.events import EventKind, Record
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
