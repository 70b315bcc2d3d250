"""The event kinds this ledger accepts, in one explicit list, and the steps every kind shares.

A new kind is added here (its module defines the :class:`EventKind`; nothing registers itself by
being imported).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any

from ledger.errors import InvalidEventError
from ledger.events import limits, vocab
from ledger.events.approval import APPROVAL
from ledger.events.base import EventKind, Record, now_utc, parse_time, validate
from ledger.events.consent import CONSENT
from ledger.events.disposition import DISPOSITION
from ledger.events.encoding import Framing, default_catalog
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.licence import LICENCE
from ledger.events.provenance import PROVENANCE

KINDS: tuple[EventKind, ...] = (PROVENANCE, CONSENT, KEY_REGISTRY, LICENCE, DISPOSITION, APPROVAL)

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


# The JSON key that states an event's kind in files given to ``assetledger emit``; it is not
# part of any schema and is removed before encoding.
KIND_FIELD = "event_kind"


def kind_names() -> list[str]:
    """The short names of the kinds (``provenance``, ``consent``, …), for ``--kind``."""
    return sorted(short_name(k) for k in all_kinds())


def short_name(kind: EventKind) -> str:
    return kind.record.removesuffix("_event")


def kind_named(name: str) -> EventKind:
    """A kind by short name (``consent``), record (``consent_event``) or CloudEvents type."""
    for kind in all_kinds():
        if name in (short_name(kind), kind.record, kind.ce_type, kind.payload_type):
            return kind
    raise InvalidEventError(
        f"{name!r} is not an event kind; the kinds are " + ", ".join(kind_names())
    )


def stated_kind(
    obj: Mapping[str, Any],
    *,
    default: EventKind | None = None,
    forced: EventKind | None = None,
) -> EventKind:
    """The kind of an event's JSON: ``forced`` (``--kind``), else its :data:`KIND_FIELD`, else
    ``default``.

    Raises :class:`InvalidEventError` when the event states a kind that differs from
    ``forced``, names no kind there is, or states none and there is no default.
    """
    stated = obj.get(KIND_FIELD)
    if stated is None:
        kind = forced or default
        if kind is None:
            raise InvalidEventError(
                f"the event states no {KIND_FIELD}",
                hint=f'add "{KIND_FIELD}": "<kind>" or pass --kind ({", ".join(kind_names())})',
            )
        return kind
    if not isinstance(stated, str):
        raise InvalidEventError(f"{KIND_FIELD} must be a string, not {type(stated).__name__}")
    kind = kind_named(stated)
    if forced is not None and kind is not forced:
        raise InvalidEventError(
            f"the event states {KIND_FIELD} {stated!r}, but --kind says {forced.record}"
        )
    return kind


def prepare(kind: EventKind, obj: Mapping[str, Any]) -> Record:
    """Turn a JSON-shaped mapping into an Avro-ready record.

    Fills the id and time, drops a matching :data:`KIND_FIELD`, and converts JSON values to
    what the kind's current schema holds: ISO 8601 text to a UTC datetime wherever the schema
    has a ``timestamp-micros``, base64 text to bytes wherever it has ``bytes``.
    """
    record = dict(obj)
    stated = record.pop(KIND_FIELD, None)
    if stated is not None and kind_named(str(stated)) is not kind:
        raise InvalidEventError(f"the event states {KIND_FIELD} {stated!r}, not {kind.record}")
    if "event_id" not in record:  # (setdefault would draw a UUID for every event)
        record["event_id"] = str(uuid.uuid4())
    if isinstance(record["event_id"], uuid.UUID):  # a UUID object has one canonical text
        record["event_id"] = str(record["event_id"])
    record["event_time"] = parse_time(record.get("event_time") or now_utc())
    if kind is PROVENANCE and isinstance(record.get("digital_source_type"), str):
        record["digital_source_type"] = vocab.normalise_source_type(record["digital_source_type"])
    converted: Record = json_to_avro(
        default_catalog().current(kind.record).parsed, record, kind.record
    )
    return converted


def json_to_avro(schema: Any, value: Any, where: str) -> Any:
    """``value`` with JSON text turned into the Avro values ``schema`` holds (times, bytes).

    Anything that does not fit is left as it is, for the Avro writer to refuse with its reason.
    """
    return _Converter(_named_types(schema)).convert(schema, value, where)


_NAMED: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(schema) -> (schema, its named types)
# id(record schema) -> (the schema, its fields that json_to_avro may convert)
_FIELDS: dict[int, tuple[Any, list[dict[str, Any]]]] = {}


def _named_types(schema: Any) -> dict[str, Any]:
    """Every named type defined in ``schema``, found once per schema (not once per event)."""
    known = _NAMED.get(id(schema))
    if known is None or known[0] is not schema:
        names: dict[str, Any] = {}
        _learn(schema, names)
        known = _NAMED[id(schema)] = (schema, names)
    return known[1]


def _learn(schema: Any, names: dict[str, Any]) -> None:
    """Add the named types defined in ``schema`` to ``names`` (the first definition wins)."""
    if isinstance(schema, list):
        for s in schema:
            _learn(s, names)
    elif isinstance(schema, dict):
        if "name" in schema:
            names.setdefault(schema["name"], schema)
        for f in schema.get("fields", []):
            _learn(f["type"], names)
        for key in ("items", "values"):
            if key in schema:
                _learn(schema[key], names)


class _Converter:
    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def convert(self, schema: Any, value: Any, where: str) -> Any:
        if isinstance(schema, str):
            schema = self.names.get(schema, schema)
        if isinstance(schema, list):
            return self._union(schema, value, where)
        if not isinstance(schema, dict):
            return _bytes(value, where) if schema == "bytes" else value
        kind = schema.get("type")
        if schema.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
            return parse_time(value, where) if isinstance(value, str) else value
        if kind == "record" and isinstance(value, Mapping):
            return self._record(schema, value, where)
        if kind == "array" and isinstance(value, list):
            return [self.convert(schema["items"], v, f"{where}[{i}]") for i, v in enumerate(value)]
        if kind == "bytes":
            return _bytes(value, where)
        return value

    def _record(self, schema: dict[str, Any], value: Mapping[str, Any], where: str) -> Any:
        out = dict(value)
        for f in self._converted_fields(schema):
            name = f["name"]
            if name in out:
                out[name] = self.convert(f["type"], out[name], f"{where}.{name}")
        return out

    def _converted_fields(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The fields of a record schema whose values may need converting (a time or bytes
        somewhere in their type); the others are left as they are, so they are not walked."""
        known = _FIELDS.get(id(schema))
        if known is None or known[0] is not schema:
            fields = [f for f in schema["fields"] if self._converts(f["type"], set())]
            known = _FIELDS[id(schema)] = (schema, fields)
        return known[1]

    def _converts(self, schema: Any, seen: set[str]) -> bool:
        """Does :meth:`convert` change anything in values of ``schema``?"""
        if isinstance(schema, str):
            if schema in seen:  # a recursive type: its own definition answers
                return False
            named = self.names.get(schema)
            if named is None:
                return schema == "bytes"
            return self._converts(named, seen | {schema})
        if isinstance(schema, list):
            return any(self._converts(b, seen) for b in schema)
        if not isinstance(schema, dict):
            return False
        if schema.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
            return True
        kind = schema.get("type")
        if kind == "bytes":
            return True
        if kind == "record":
            inner = seen | {schema["name"]} if "name" in schema else seen
            return any(self._converts(f["type"], inner) for f in schema.get("fields", []))
        if kind == "array":
            return self._converts(schema["items"], seen)
        return False  # convert leaves any other value as it is

    def _union(self, branches: list[Any], value: Any, where: str) -> Any:
        others = [b for b in branches if b != "null"]
        if value is None or len(others) != 1:
            return value
        return self.convert(others[0], value, where)


def _bytes(value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise InvalidEventError(f"{where} must be base64 text (bytes in JSON)") from None


def encode_checked(
    kind: EventKind, obj: Mapping[str, Any], framing: Framing
) -> tuple[bytes, Record]:
    """Prepare, encode and re-decode an event, then validate exactly what will be signed.

    The encoded event must keep the limits and text rules of :mod:`ledger.events.limits`
    (raises :class:`ledger.errors.LimitExceededError` or :class:`ledger.errors.InvalidTextError`).
    """
    record = prepare(kind, obj)
    try:
        payload = framing.encode(kind.record, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidEventError(
            f"event {record['event_id']} does not fit the {kind.record} schema: {exc}",
            hint=_fit_hint(kind, obj),
        ) from exc
    _, decoded = limits.decode(payload, framing)
    validate(kind, decoded, writing=True)
    return payload, decoded


def _fit_hint(kind: EventKind, obj: Mapping[str, Any]) -> str:
    """Which other kind the JSON looks like (all its required fields present), if any."""
    fields = {k for k in obj if k != KIND_FIELD}
    looks = [
        short_name(k)
        for k in all_kinds()
        if k is not kind and _required_fields(k) and _required_fields(k) <= fields
    ]
    where = "field names and types are those of schemas/" + kind.record + ".v*.avsc"
    if not looks:
        return where
    return (
        f'it looks like a {looks[0]} event: add "{KIND_FIELD}": "{looks[0]}" to it'
        f" or pass --kind {looks[0]}"
    )


def _required_fields(kind: EventKind) -> set[str]:
    schema = default_catalog().current(kind.record).parsed
    return {
        f["name"]
        for f in schema["fields"]
        if "default" not in f and f["name"] not in ("event_id", "event_time")
    }
