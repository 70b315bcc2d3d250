"""Event kinds, validation and JSON conversion.

An *event kind* ties together an Avro record schema (``schemas/<record>.vN.avsc``), the DSSE
``payloadType`` that announces it, the CloudEvents ``ce_type`` header, the rule choosing its Kafka
key, and its validation rules.  Every kind's record has ``event_id`` (UUID string) and
``event_time`` (timestamp-micros) fields.

The ``.vN`` suffix of a ``ce_type`` (``io.assetledger.provenance.v1``) is the version of the
event kind's *contract* — what the event means and the rules it obeys — not of its Avro schema.
Compatible schema evolution (``provenance_event.v1`` → ``v2``, resolved by Avro schema
resolution) keeps the ``ce_type``; only a change in meaning that old readers must not silently
accept would be a new kind with a new ``ce_type`` and ``payloadType``.

``event_id`` must be the canonical text of a UUID — 8-4-4-4-12 lowercase hex digits — exactly as
signed.  Nothing rewrites it: an uppercase, braced, ``urn:uuid:`` or unhyphenated form, or text
that is no UUID at all, is an invalid event, so the ledger, the ``ce_id`` header and every
reference hold the very text the producer signed.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger import vocab
from ledger.encoding import Framing
from ledger.errors import InvalidEventError

Record = dict[str, Any]
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # use with fullmatch
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class EventKind:
    record: str  # schema record name, e.g. "provenance_event"
    payload_type: str  # DSSE payloadType
    ce_type: str  # CloudEvents type; its .vN is the kind's contract version, not the schema's
    subject: Callable[[Record], str]  # Kafka message key (per-subject order)
    problems: Callable[[Record, bool], list[str]]  # validation; bool = writing a new event
    refs: Callable[[Record], list[tuple[str, str]]] = lambda _: []  # query index rows


_KINDS_BY_RECORD: dict[str, EventKind] = {}
_KINDS_BY_PAYLOAD_TYPE: dict[str, EventKind] = {}


def register_kind(kind: EventKind) -> EventKind:
    _KINDS_BY_RECORD[kind.record] = kind
    _KINDS_BY_PAYLOAD_TYPE[kind.payload_type] = kind
    return kind


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


# --- provenance events -------------------------------------------------------------------


def _check_hash(where: str, value: str) -> list[str]:
    return [] if _SHA256_HEX.fullmatch(value) else [f"{where} must be 64 lowercase hex digits"]


def event_id_problems(value: Any, where: str = "event_id") -> list[str]:
    """Empty when ``value`` is a UUID's canonical text (lowercase 8-4-4-4-12), else why not."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return []
    try:
        canonical = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        canonical = None
    if canonical is None:
        return [f"{where} {value!r} is not a UUID"]
    return [
        f"{where} {value!r} is not a UUID's canonical text: write {canonical!r}"
        " (lowercase hex digits, hyphenated 8-4-4-4-12)"
    ]


def _check_present(where: str, value: Any) -> list[str]:
    """A required text field must not be empty or blank."""
    return [] if isinstance(value, str) and value.strip() else [f"{where} must not be empty"]


def _presence_problems(event: Record) -> list[str]:
    asset, actor = event["asset"], event["actor"]
    required = [
        ("producer_id", event["producer_id"]),
        ("production.show", event["production"]["show"]),
        ("asset.asset_id", asset["asset_id"]),
        ("asset.version", asset["version"]),
        ("asset.media_type", asset["media_type"]),
        ("actor.actor_id", actor["actor_id"]),
    ]
    for i, ing in enumerate(event["ingredients"]):
        required += [
            (f"ingredients[{i}].asset_id", ing["asset_id"]),
            (f"ingredients[{i}].version", ing["version"]),
        ]
    required += [(f"directed_by[{i}]", a) for i, a in enumerate(event.get("directed_by", []))]
    required += [
        (f"likeness[{i}].performer_id", u["performer_id"])
        for i, u in enumerate(event.get("likeness", []))
    ]
    return [p for where, value in required for p in _check_present(where, value)]


def provenance_problems(event: Record, writing: bool) -> list[str]:
    """Every rule a provenance event breaks; empty when it is valid."""
    problems = event_id_problems(event["event_id"])
    problems += _presence_problems(event)
    problems += _check_hash("asset.content_sha256", event["asset"]["content_sha256"])
    for i, ing in enumerate(event["ingredients"]):
        problems += _check_hash(f"ingredients[{i}].content_sha256", ing["content_sha256"])
        if ing["relationship"] not in vocab.RELATIONSHIPS:
            problems.append(
                f"ingredients[{i}].relationship {ing['relationship']!r} is not one of "
                + ", ".join(sorted(vocab.RELATIONSHIPS))
            )
    if event["actor"]["kind"] not in vocab.ACTOR_KINDS:
        problems.append(
            f"actor.kind {event['actor']['kind']!r} is not one of "
            + ", ".join(sorted(vocab.ACTOR_KINDS))
        )
    for problem in (
        vocab.check_action(event["action"], writing=writing),
        vocab.check_source_type(event["digital_source_type"], writing=writing),
    ):
        if problem:
            problems.append(problem)
    if event["actor"]["kind"] == "ai_model" and event.get("model") is None:
        problems.append("an ai_model actor must name its model (name, version, provider)")
    problems += _rights_problems(event.get("rights", {}))
    problems += _likeness_problems(event.get("likeness", []))
    return problems


def _rights_problems(rights: Mapping[str, Any]) -> list[str]:
    """CAWG training-and-mining entries.

    ``constraint_info`` stays optional, as in CAWG 1.1 (``constrained`` without it reads as
    ``notAllowed``), but when present it must say something.
    """
    problems = [
        p
        for i, ref in enumerate(rights.get("consent_refs", []))
        for p in event_id_problems(ref, f"rights.consent_refs[{i}]")
    ]
    for p in rights.get("training_mining", []):
        if p["use_kind"] not in vocab.TRAINING_MINING_KINDS:
            problems.append(f"training_mining use_kind {p['use_kind']!r} is not a CAWG entry")
        if p["use"] not in vocab.TRAINING_MINING_USES:
            problems.append(
                f"training_mining use {p['use']!r} is not allowed|notAllowed|constrained"
            )
        info = p.get("constraint_info")
        if info is not None and not info.strip():
            problems.append(
                "training_mining constraint_info is empty: describe the constraint or write null"
            )
    return problems


def _likeness_problems(likeness: list[Mapping[str, Any]]) -> list[str]:
    problems = []
    for i, u in enumerate(likeness):
        if u["use"] not in vocab.LIKENESS_USES:
            problems.append(
                f"likeness[{i}].use {u['use']!r} is not one of "
                + ", ".join(sorted(vocab.LIKENESS_USES))
            )
        ref = u.get("consent_ref")
        if ref is not None:
            problems += event_id_problems(ref, f"likeness[{i}].consent_ref")
    return problems


def asset_key(asset_id: str, version: str) -> str:
    return f"{asset_id}@{version}"


def provenance_refs(event: Record) -> list[tuple[str, str]]:
    """Index rows built at append time: asset, asset version, ingredients, actor, production."""
    asset = event["asset"]
    production = event["production"]
    rows = [
        ("asset", asset["asset_id"]),
        ("asset_version", asset_key(asset["asset_id"], asset["version"])),
        ("actor", event["actor"]["actor_id"]),
        ("show", production["show"]),
    ]
    if production.get("episode"):
        rows.append(("episode", f"{production['show']}/{production['episode']}"))
    rows += [("ingredient", asset_key(i["asset_id"], i["version"])) for i in event["ingredients"]]
    rows += [("directed_by", a) for a in event.get("directed_by", [])]
    rows += [("performer", u["performer_id"]) for u in event.get("likeness", [])]
    return rows


PROVENANCE = register_kind(
    EventKind(
        record="provenance_event",
        payload_type="application/vnd.assetledger.provenance-event+avro",
        ce_type="io.assetledger.provenance.v1",
        subject=lambda e: str(e["asset"]["asset_id"]),
        problems=provenance_problems,
        refs=provenance_refs,
    )
)


def validate(kind: EventKind, event: Record, *, writing: bool) -> None:
    """Raise :class:`InvalidEventError` listing every rule ``event`` breaks.

    Every kind's ``event_id`` must be a UUID's canonical text (see the module docstring).
    """
    problems = list(
        dict.fromkeys([*event_id_problems(event["event_id"]), *kind.problems(event, writing)])
    )
    if problems:
        raise InvalidEventError(
            f"invalid {kind.record} {event.get('event_id')}: " + "; ".join(problems)
        )


# --- JSON <-> Avro record ------------------------------------------------------------------


def parse_time(value: Any, where: str = "event_time") -> datetime:
    """An aware UTC datetime from an ISO 8601 string or datetime (naive is refused)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEventError(f"{where} {value!r} is not an ISO 8601 time") from None
    else:
        raise InvalidEventError(f"{where} must be an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        raise InvalidEventError(f"{where} {value!r} has no time zone; write it in UTC with Z")
    return parsed.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


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


def to_json(value: Any) -> Any:
    """A JSON-serialisable copy of a decoded record (times as ISO 8601 Z, bytes as base64)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with microseconds, as in the ``ce_time`` header."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _register_builtin_kinds() -> None:
    """Import the modules that define the other event kinds, so every reader knows them."""
    from ledger import consent, registry  # noqa: F401  (imported for register_kind)


_register_builtin_kinds()
