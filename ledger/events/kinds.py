"""The event kinds this ledger accepts, in one explicit list, and the steps every kind shares.

A new kind is added here (its module defines the :class:`EventKind`; nothing registers itself by
being imported).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ledger.errors import InvalidEventError
from ledger.events import vocab
from ledger.events.base import EventKind, Record, now_utc, parse_time, validate
from ledger.events.consent import CONSENT
from ledger.events.encoding import Framing
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.provenance import PROVENANCE

KINDS: tuple[EventKind, ...] = (PROVENANCE, CONSENT, KEY_REGISTRY)

_KINDS_BY_RECORD = {kind.record: kind for kind in KINDS}
_KINDS_BY_PAYLOAD_TYPE = {kind.payload_type: kind for kind in KINDS}


def kind_for_record(record: str) -> EventKind:
    try:
        return _KINDS_BY_RECORD[record]
    except KeyError:
        raise InvalidEventError(f"{record!r} is not an event kind this ledger accepts") from None


def kind_for_payload_type(payload_type: str) -> EventKind:
    try:
        return _KINDS_BY_PAYLOAD_TYPE[payload_type]
    except KeyError:
        raise InvalidEventError(
            f"unknown DSSE payloadType {payload_type!r}", reason="unknown_payload_type"
        ) from None


def all_kinds() -> list[EventKind]:
    return list(_KINDS_BY_RECORD.values())


def prepare(kind: EventKind, obj: Mapping[str, Any]) -> Record:
    """Turn a JSON-shaped mapping into an Avro-ready record: fill id and time, parse times."""
    record = dict(obj)
    record.setdefault("event_id", str(uuid.uuid4()))
    if isinstance(record["event_id"], uuid.UUID):  # a UUID object has one canonical text
        record["event_id"] = str(record["event_id"])
    record["event_time"] = parse_time(record.get("event_time") or now_utc())
    if kind is PROVENANCE and isinstance(record.get("digital_source_type"), str):
        record["digital_source_type"] = vocab.normalise_source_type(record["digital_source_type"])
    return record


def encode_checked(
    kind: EventKind, obj: Mapping[str, Any], framing: Framing
) -> tuple[bytes, Record]:
    """Prepare, encode and re-decode an event, then validate exactly what will be signed."""
    record = prepare(kind, obj)
    try:
        payload = framing.encode(kind.record, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidEventError(
            f"event {record['event_id']} does not fit the {kind.record} schema: {exc}",
            hint="field names and types are those of schemas/" + kind.record + ".v*.avsc",
        ) from exc
    _, decoded = framing.decode(payload)
    validate(kind, decoded, writing=True)
    return payload, decoded
