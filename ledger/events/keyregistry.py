"""The key registry event kind: enrol, rotate, revoke and delegate signing keys, and key scopes.

What a ``key_registry_event`` holds and the rules it obeys on its own; the state machine those
events drive is :mod:`ledger.trust.registry`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.events import vocab
from ledger.events.base import EventKind, Record

REGISTRY_RECORD = "key_registry_event"
PAYLOAD_TYPE = "application/vnd.assetledger.key-registry-event+avro"
CE_TYPE = "io.assetledger.keyregistry.v1"

ENROLL, ROTATE, REVOKE, DELEGATE = "enroll", "rotate", "revoke", "delegate"
OPERATIONS = (ENROLL, ROTATE, REVOKE, DELEGATE)
# RFC 5280 §5.3.1 CRLReason names, snake case (the ones that apply to signing keys).
REVOCATION_REASONS = frozenset(
    {
        "unspecified",
        "key_compromise",
        "affiliation_changed",
        "superseded",
        "cessation_of_operation",
        "privilege_withdrawn",
    }
)

REF_REGISTRY = ("registry", "all")  # index row on every registry entry

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
OPTIONAL_FIELDS = (
    "actor_kind",
    "display_name",
    "key_id",
    "public_key",
    "valid_from",
    "valid_until",
    "previous_key_id",
    "revocation",
    "delegation",
)
_REQUIRED: dict[str, frozenset[str]] = {
    ENROLL: frozenset({"actor_kind", "display_name", "key_id", "public_key", "valid_from"}),
    ROTATE: frozenset({"key_id", "public_key", "valid_from", "previous_key_id"}),
    REVOKE: frozenset({"key_id", "revocation"}),
    DELEGATE: frozenset({"delegation"}),
}
_ALLOWED: dict[str, frozenset[str]] = {
    ENROLL: _REQUIRED[ENROLL] | {"valid_until"},
    ROTATE: _REQUIRED[ROTATE] | {"valid_until"},
    REVOKE: _REQUIRED[REVOKE],
    DELEGATE: _REQUIRED[DELEGATE],
}


CLEARANCE_ACTIONS = {"consent_event": "assetledger.consent", "licence_event": "assetledger.licence"}
"""The action a key's scope names to sign consent or licence events (record name to action).
On a ledger created with clearance scopes required (ledger meta ``clearance_scopes``, fixed at
``assetledger init``), only such a key may sign them: see docs/keys.md."""


# ---------------------------------------------------------------------------------------------
# Scope


@dataclass(frozen=True)
class Scope:
    """What a key may sign.  Each list restricts on its own; an empty list allows any value."""

    productions: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    digital_source_types: tuple[str, ...] = ()  # IPTC URIs

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Scope:
        return cls(
            tuple(record.get("productions", ())),
            tuple(record.get("actors", ())),
            tuple(record.get("actions", ())),
            tuple(record.get("digital_source_types", ())),
        )

    def to_record(self) -> dict[str, list[str]]:
        return {
            "productions": list(self.productions),
            "actors": list(self.actors),
            "actions": list(self.actions),
            "digital_source_types": [
                vocab.normalise_source_type(s) for s in self.digital_source_types
            ],
        }

    @property
    def unrestricted(self) -> bool:
        return not (self.productions or self.actors or self.actions or self.digital_source_types)

    def violation(self, event: Record, action: str | None = None) -> str | None:
        """Why ``event`` is outside this scope, or None when it is inside.  ``action`` stands
        for the event's own for kinds that have none (:data:`CLEARANCE_ACTIONS`)."""
        source = event.get("digital_source_type")
        checks = [
            ("production", self.productions, (event.get("production") or {}).get("show")),
            ("actor", self.actors, (event.get("actor") or {}).get("actor_id")),
            ("action", self.actions, action or event.get("action")),
            (
                "digital source type",
                tuple(vocab.source_type_term(s) for s in self.digital_source_types),
                vocab.source_type_term(source) if isinstance(source, str) else None,
            ),
        ]
        for what, allowed, value in checks:
            if allowed and value not in allowed:
                shown = "none" if value is None else repr(value)
                return f"{what} {shown} is not in the key's scope ({', '.join(allowed)})"
        return None

    def summary(self) -> str:
        parts = [
            f"{name}={','.join(values)}"
            for name, values in (
                ("productions", self.productions),
                ("actors", self.actors),
                ("actions", self.actions),
                ("sources", tuple(vocab.source_type_term(s) for s in self.digital_source_types)),
            )
            if values
        ]
        return "; ".join(parts) or "any"


# ---------------------------------------------------------------------------------------------
# Validation and the event kind


def _presence_problems(event: Record, operation: str) -> list[str]:
    problems = [
        f"{operation} needs {name}" for name in sorted(_REQUIRED[operation]) if event[name] is None
    ]
    problems += [
        f"{name} does not belong in a {operation} event"
        for name in OPTIONAL_FIELDS
        if name not in _ALLOWED[operation] and event[name] is not None
    ]
    if operation not in (ENROLL, ROTATE) and not Scope.from_record(event["scope"]).unrestricted:
        problems.append(f"scope does not belong in a {operation} event")
    return problems


def _key_problems(event: Record) -> list[str]:
    problems = []
    keyid, public = event["key_id"], event["public_key"]
    if keyid is not None and not _HEX64.match(keyid):
        problems.append("key_id must be 64 lowercase hex digits (SHA-256 of the public key)")
    if public is not None:
        if len(public) != 32:
            problems.append(f"public_key must be a raw 32-byte Ed25519 key, got {len(public)}")
        elif keyid is not None and hashlib.sha256(public).hexdigest() != keyid:
            problems.append("key_id is not the SHA-256 of public_key")
    if event["previous_key_id"] is not None and event["previous_key_id"] == keyid:
        problems.append("a rotation must introduce a new key")
    start, end = event["valid_from"], event["valid_until"]
    if start is not None and end is not None and end <= start:
        problems.append("valid_until must be after valid_from")
    return problems


def _scope_problems(scope: Record, writing: bool) -> list[str]:
    problems: list[str | None] = [vocab.check_action(a, writing=writing) for a in scope["actions"]]
    problems += [vocab.check_source_type(s, writing=writing) for s in scope["digital_source_types"]]
    problems += [
        f"scope.{name} has an empty entry"
        for name in ("productions", "actors")
        if "" in scope[name]
    ]
    return [p for p in problems if p]


def _kinds_problems(where: str, kinds: Sequence[str]) -> list[str]:
    return [
        f"{where} {k!r} is not one of {', '.join(sorted(vocab.ACTOR_KINDS))}"
        for k in kinds
        if k not in vocab.ACTOR_KINDS
    ]


def _grant_problems(event: Record) -> list[str]:
    problems = []
    revocation, delegation = event["revocation"], event["delegation"]
    if revocation is not None and revocation["reason"] not in REVOCATION_REASONS:
        problems.append(
            f"revocation reason {revocation['reason']!r} is not one of "
            + ", ".join(sorted(REVOCATION_REASONS))
        )
    if delegation is not None:
        problems += _kinds_problems("delegation actor kind", delegation["actor_kinds"])
        until = delegation["valid_until"]
        if until is not None and until <= event["event_time"]:
            problems.append("delegation.valid_until must be after the event time")
    return problems


def registry_problems(event: Record, writing: bool) -> list[str]:
    """Every rule a key registry event breaks on its own (the registry checks the rest)."""
    try:
        uuid.UUID(event["event_id"])
        problems = []
    except ValueError:
        problems = [f"event_id {event['event_id']!r} is not a UUID"]
    operation = event["operation"]
    if operation not in OPERATIONS:
        return [*problems, f"operation {operation!r} is not one of {', '.join(OPERATIONS)}"]
    if not event["actor_id"]:
        problems.append("actor_id is empty")
    if event["actor_kind"] is not None:
        problems += _kinds_problems("actor_kind", [event["actor_kind"]])
    problems += _presence_problems(event, operation)
    problems += _key_problems(event)
    problems += _scope_problems(event["scope"], writing)
    problems += _grant_problems(event)
    return problems


def registry_refs(event: Record) -> list[tuple[str, str]]:
    rows = [REF_REGISTRY, ("registry_actor", event["actor_id"])]
    rows += [("registry_key", k) for k in (event["key_id"], event["previous_key_id"]) if k]
    return rows


KEY_REGISTRY = EventKind(
    record=REGISTRY_RECORD,
    payload_type=PAYLOAD_TYPE,
    ce_type=CE_TYPE,
    subject=lambda e: str(e["actor_id"]),
    problems=registry_problems,
    refs=registry_refs,
)
