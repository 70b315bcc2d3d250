"""The in-ledger key registry: who may sign what, and from when to when, provable from the ledger.

A ledger has a *trust root*: one or more root public keys (ledger meta ``root_keys``) and a
threshold (meta ``root_threshold``, default 1).  Signers are enrolled, rotated, revoked and
given the right to enrol others by ``key_registry_event`` entries on the same topic, in the
same ledger.  :class:`Registry` is the state machine those events drive; replaying a ledger's
registry entries in sequence order rebuilds it exactly, so the consumer and every later audit
reach the same decisions.  :class:`RegistryTrust` is the consumer's trust policy over it.

Rules (docs/keys.md has the full table):

* a provenance event must be signed by an enrolled key that, at the event's ``event_time``, is
  inside its validity window, not replaced by rotation, not revoked, and whose scope allows the
  event's production, actor, action and digital source type;
* a registry event must be signed by ``threshold`` root keys, or by a key of an actor holding a
  delegation active at the registry event's time (within the delegation's limits), or — for a
  revocation only — by the revoked key itself.  A key with any recorded revocation signs no
  further registry events, whatever the revocation's effective time;
* only root keys delegate.  A key id is enrolled once, ever.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import events, vocab
from ledger.dsse import Envelope, Signature, pae, verify_signature
from ledger.encoding import SingleObjectFraming, reader_framing
from ledger.errors import (
    ConfigurationError,
    EnrolmentUnauthorisedError,
    InvalidEventError,
    KeyExpiredError,
    KeyFileError,
    KeyNotYetValidError,
    KeyRevokedError,
    NotEnrolledError,
    OutOfScopeError,
    RegistryConflictError,
    RejectedInput,
    SignatureError,
    UntrustedKeyError,
)
from ledger.events import EventKind, Record
from ledger.keys import KeyPair, key_id, public_from_raw, raw_public
from ledger.store import Entry, LedgerStore

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

META_ROOT_KEYS = "root_keys"
META_ROOT_THRESHOLD = "root_threshold"
REF_REGISTRY = ("registry", "all")  # index row on every registry entry

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_OPTIONAL_FIELDS = (
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


def short(keyid: str) -> str:
    """A key id shortened for messages (never key material: key ids are public hashes)."""
    return keyid[:16] + "…"


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

    def violation(self, event: Record) -> str | None:
        """Why ``event`` is outside this scope, or None when it is inside."""
        source = event.get("digital_source_type")
        checks = [
            ("production", self.productions, (event.get("production") or {}).get("show")),
            ("actor", self.actors, (event.get("actor") or {}).get("actor_id")),
            ("action", self.actions, event.get("action")),
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
        for name in _OPTIONAL_FIELDS
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


KEY_REGISTRY = events.register_kind(
    EventKind(
        record=REGISTRY_RECORD,
        payload_type=PAYLOAD_TYPE,
        ce_type=CE_TYPE,
        subject=lambda e: str(e["actor_id"]),
        problems=registry_problems,
        refs=registry_refs,
    )
)


# ---------------------------------------------------------------------------------------------
# Building registry events (callers sign them with producers.emitter.build_message)


def enroll_event(
    actor_id: str,
    actor_kind: str,
    display_name: str,
    public_key: Ed25519PublicKey,
    *,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    scope: Scope = Scope(),
    event_time: datetime | None = None,
) -> Record:
    """An ``enroll`` event; ``valid_from`` defaults to the event time."""
    when = event_time or events.now_utc()
    return _base(ENROLL, actor_id, when) | {
        "actor_kind": actor_kind,
        "display_name": display_name,
        **_key_fields(public_key, valid_from or when, valid_until, scope),
    }


def rotate_event(
    actor_id: str,
    previous_key_id: str,
    public_key: Ed25519PublicKey,
    *,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    scope: Scope = Scope(),
    event_time: datetime | None = None,
) -> Record:
    """A ``rotate`` event: the new key replaces ``previous_key_id`` from ``valid_from`` on."""
    when = event_time or events.now_utc()
    return _base(ROTATE, actor_id, when) | {
        "previous_key_id": previous_key_id,
        **_key_fields(public_key, valid_from or when, valid_until, scope),
    }


def revoke_event(
    actor_id: str,
    revoked_key_id: str,
    *,
    effective_time: datetime | None = None,
    reason: str = "unspecified",
    comment: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """A ``revoke`` event; the revocation is effective from ``effective_time`` (default: now)."""
    when = event_time or events.now_utc()
    revocation = {"effective_time": effective_time or when, "reason": reason, "comment": comment}
    return _base(REVOKE, actor_id, when) | {"key_id": revoked_key_id, "revocation": revocation}


def delegate_event(
    actor_id: str,
    *,
    actor_kinds: Sequence[str] = (),
    productions: Sequence[str] = (),
    valid_until: datetime | None = None,
    event_time: datetime | None = None,
) -> Record:
    """A ``delegate`` event: ``actor_id`` may enrol, rotate and revoke within these limits."""
    delegation = {
        "actor_kinds": list(actor_kinds),
        "productions": list(productions),
        "valid_until": valid_until,
    }
    return _base(DELEGATE, actor_id, event_time or events.now_utc()) | {"delegation": delegation}


def _base(operation: str, actor_id: str, when: datetime) -> Record:
    return {
        "event_id": str(uuid.uuid4()),
        "event_time": when,
        "operation": operation,
        "actor_id": actor_id,
        **dict.fromkeys(_OPTIONAL_FIELDS),
        "scope": Scope().to_record(),
    }


def _key_fields(
    public_key: Ed25519PublicKey, start: datetime, end: datetime | None, scope: Scope
) -> Record:
    return {
        "key_id": key_id(public_key),
        "public_key": raw_public(public_key),
        "valid_from": start,
        "valid_until": end,
        "scope": scope.to_record(),
    }


def cosign(envelope: Envelope, signers: Sequence[KeyPair]) -> Envelope:
    """Add signatures by ``signers`` (e.g. more root keys, to meet a threshold)."""
    message = pae(envelope.payload_type, envelope.payload)
    present = {s.keyid for s in envelope.signatures}
    added = tuple(
        Signature(s.key_id, s.private.sign(message)) for s in signers if s.key_id not in present
    )
    return replace(envelope, signatures=envelope.signatures + added)


# ---------------------------------------------------------------------------------------------
# Trust root (ledger meta)


@dataclass(frozen=True)
class RootKey:
    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def to_json(self) -> dict[str, str]:
        raw = raw_public(self.public_key)
        return {"name": self.name, "public_key": base64.b64encode(raw).decode("ascii")}


@dataclass(frozen=True)
class TrustRoot:
    keys: tuple[RootKey, ...]
    threshold: int = 1

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("a ledger needs at least one root key")
        if len({k.key_id for k in self.keys}) != len(self.keys):
            raise ConfigurationError("the same root key is listed twice")
        if not 1 <= self.threshold <= len(self.keys):
            raise ConfigurationError(
                f"root threshold {self.threshold} must be between 1 and {len(self.keys)}"
            )


def set_roots(store: LedgerStore, keys: Sequence[RootKey], threshold: int = 1) -> TrustRoot:
    """Record the ledger's root keys; refuse to replace a different set already recorded."""
    root = TrustRoot(tuple(keys), threshold)
    if store.get_meta(META_ROOT_KEYS) is not None:
        existing = load_roots(store)
        if _fingerprint(existing) != _fingerprint(root):
            raise ConfigurationError(
                f"ledger {store.url} already has other root keys",
                hint="a ledger's trust root is fixed at creation; root rotation is not supported",
            )
        return existing
    store.set_meta(META_ROOT_KEYS, json.dumps([k.to_json() for k in root.keys]))
    store.set_meta(META_ROOT_THRESHOLD, str(threshold))
    return root


def _fingerprint(root: TrustRoot) -> tuple[frozenset[str], int]:
    return frozenset(k.key_id for k in root.keys), root.threshold


def load_roots(store: LedgerStore) -> TrustRoot:
    """The ledger's trust root; :class:`ConfigurationError` if it has none or it is corrupt."""
    text = store.get_meta(META_ROOT_KEYS)
    if text is None:
        raise ConfigurationError(
            f"ledger {store.url} has no root keys, so no key registry",
            hint="create the ledger with root keys (assetledger init --root-key FILE.pub)",
        )
    return TrustRoot(_parse_roots(text), int(store.get_meta(META_ROOT_THRESHOLD) or "1"))


def _parse_roots(text: str) -> tuple[RootKey, ...]:
    try:
        items = json.loads(text)
        return tuple(
            RootKey(
                str(i["name"]), public_from_raw(base64.b64decode(i["public_key"], validate=True))
            )
            for i in items
        )
    except (ValueError, KeyError, TypeError, binascii.Error, KeyFileError) as exc:
        raise ConfigurationError(f"ledger meta {META_ROOT_KEYS} is corrupt: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Registry state


@dataclass(frozen=True)
class Revocation:
    effective_time: datetime
    reason: str
    comment: str | None
    event_id: str
    seq: int | None  # ledger position of the revoke event (None while not yet appended)


@dataclass
class KeyRecord:
    """One enrolled key and everything the registry has said about it since."""

    key_id: str
    actor_id: str
    public_key: Ed25519PublicKey
    valid_from: datetime
    valid_until: datetime | None
    scope: Scope
    enrolled_by: str
    enrolled_event_id: str
    enrolled_seq: int | None
    previous_key_id: str | None = None
    replaced_by: str | None = None
    replaced_at: datetime | None = None
    revocation: Revocation | None = None

    def status_at(self, when: datetime) -> str:
        """``valid``, ``revoked``, ``not_yet_valid``, ``rotated`` or ``expired`` at ``when``."""
        if self.revocation is not None and when >= self.revocation.effective_time:
            return "revoked"
        if when < self.valid_from:
            return "not_yet_valid"
        if self.replaced_at is not None and when >= self.replaced_at:
            return "rotated"
        if self.valid_until is not None and when >= self.valid_until:
            return "expired"
        return "valid"

    def check_time(self, when: datetime) -> None:
        """Raise the specific :class:`UntrustedKeyError` unless the key is valid at ``when``."""
        status = self.status_at(when)
        at = events.format_time(when)
        name = f"key {short(self.key_id)} of {self.actor_id}"
        if status == "revoked":
            assert self.revocation is not None
            raise KeyRevokedError(
                f"{name} is revoked from {events.format_time(self.revocation.effective_time)}"
                f" ({self.revocation.reason}); the event time {at} is not before that"
            )
        if status == "not_yet_valid":
            raise KeyNotYetValidError(
                f"{name} is valid only from {events.format_time(self.valid_from)}; event time {at}"
            )
        if status == "rotated":
            assert self.replaced_at is not None and self.replaced_by is not None
            raise KeyExpiredError(
                f"{name} was replaced by key {short(self.replaced_by)} from "
                f"{events.format_time(self.replaced_at)}; event time {at}"
            )
        if status == "expired":
            assert self.valid_until is not None
            raise KeyExpiredError(
                f"{name} expired at {events.format_time(self.valid_until)}; event time {at}"
            )

    def check(self, event: Record) -> None:
        """Valid at the event time and in scope, or the specific :class:`UntrustedKeyError`."""
        self.check_time(event["event_time"])
        problem = self.scope.violation(event)
        if problem:
            raise OutOfScopeError(f"key {short(self.key_id)} of {self.actor_id}: {problem}")


@dataclass(frozen=True)
class Delegation:
    actor_kinds: tuple[str, ...]
    productions: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    granted_by: str
    event_id: str

    def active_at(self, when: datetime) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)

    def limit_problem(self, actor_kind: str, scope: Scope) -> str | None:
        if self.actor_kinds and actor_kind not in self.actor_kinds:
            return f"may enrol only {', '.join(self.actor_kinds)} actors, not {actor_kind}"
        if self.productions and not (
            scope.productions and set(scope.productions) <= set(self.productions)
        ):
            return (
                f"may enrol only keys limited to productions {', '.join(self.productions)}"
                f" (this key's productions: {', '.join(scope.productions) or 'any'})"
            )
        return None


@dataclass
class Actor:
    actor_id: str
    kind: str
    display_name: str
    key_ids: list[str] = field(default_factory=list)
    delegation: Delegation | None = None


@dataclass(frozen=True)
class Change:
    """One applied registry event (the registry's history)."""

    seq: int | None
    event_id: str
    operation: str
    actor_id: str
    key_id: str | None
    signer_keyid: str
    event_time: datetime


@dataclass(frozen=True)
class Refusal:
    """A registry entry found in the ledger that the registry does not accept on replay."""

    seq: int
    event_id: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Authority:
    """Why a registry event's signer may issue it."""

    keyid: str
    public_key: Ed25519PublicKey
    kind: str  # "root", "delegate" or "self" (a key revoking itself)
    delegation: Delegation | None = None


def _most_specific(errors: Sequence[UntrustedKeyError]) -> UntrustedKeyError:
    return next((e for e in errors if not isinstance(e, NotEnrolledError)), errors[0])


class Registry:
    """The key registry state machine.  Feed it registry events in ledger order."""

    def __init__(self, root: TrustRoot) -> None:
        self.root = root
        self.roots = {k.key_id: k for k in root.keys}
        self.actors: dict[str, Actor] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.history: list[Change] = []
        self.refusals: list[Refusal] = []
        self._applied: set[str] = set()

    # --- lookups ------------------------------------------------------------------------------
    def key_for(self, keyid: str) -> KeyRecord | None:
        return self.keys.get(keyid)

    def public_key(self, keyid: str) -> Ed25519PublicKey | None:
        """The public key of an enrolled key or a root key (a verify key lookup)."""
        record = self.keys.get(keyid)
        if record is not None:
            return record.public_key
        root = self.roots.get(keyid)
        return root.public_key if root is not None else None

    def signer_name(self, keyid: str) -> str | None:
        """``actor_id`` of an enrolled key, ``root:NAME`` of a root key, else None."""
        if keyid in self.keys:
            return self.keys[keyid].actor_id
        return f"root:{self.roots[keyid].name}" if keyid in self.roots else None

    def trusted_key(self, keyid: str) -> KeyRecord:
        """The enrolled key, or :class:`NotEnrolledError`."""
        record = self.keys.get(keyid)
        if record is not None:
            return record
        if keyid in self.roots:
            raise NotEnrolledError(
                f"key {short(keyid)} is a root key: root keys sign only key registry events"
            )
        raise NotEnrolledError(
            f"key {short(keyid)} is not enrolled in this ledger's key registry",
            hint="enrol it first: assetledger keys enroll",
        )

    # --- admission: which key must have signed, or why none may ----------------------------
    def admit(
        self, envelope: Envelope, kind: EventKind, event: Record
    ) -> tuple[str, Ed25519PublicKey]:
        """The (key id, public key) whose signature makes ``event`` acceptable now."""
        if not envelope.signatures:
            raise SignatureError("envelope carries no signature")
        if kind.record == REGISTRY_RECORD:
            if event["event_id"] in self._applied:  # a replay: the store reports the duplicate
                return self._known_signer(envelope)
            authority = self.authorise(envelope, event)
            return authority.keyid, authority.public_key
        return self._admit_signed_event(envelope, event)

    def _admit_signed_event(
        self, envelope: Envelope, event: Record
    ) -> tuple[str, Ed25519PublicKey]:
        errors: list[UntrustedKeyError] = []
        for sig in envelope.signatures:
            try:
                record = self.trusted_key(sig.keyid)
                record.check(event)
            except UntrustedKeyError as exc:
                errors.append(exc)
            else:
                return sig.keyid, record.public_key
        raise _most_specific(errors)

    def _known_signer(self, envelope: Envelope) -> tuple[str, Ed25519PublicKey]:
        for sig in envelope.signatures:
            key = self.public_key(sig.keyid)
            if key is not None:
                return sig.keyid, key
        raise EnrolmentUnauthorisedError("registry event signed only by unknown keys")

    def authorise(self, envelope: Envelope, event: Record) -> Authority:
        """Who may issue this registry event, checked against the operation's rules."""
        authority = self._authority(envelope, event)
        self._check_operation(event, authority)
        return authority

    def _authority(self, envelope: Envelope, event: Record) -> Authority:
        root_sigs = [s for s in envelope.signatures if s.keyid in self.roots]
        count = self._root_signature_count(envelope, root_sigs)
        if root_sigs and count >= self.root.threshold:
            first = root_sigs[0].keyid
            return Authority(first, self.roots[first].public_key, "root")
        try:
            return self._delegated_authority(envelope, event)
        except EnrolmentUnauthorisedError:
            if root_sigs:
                raise EnrolmentUnauthorisedError(
                    f"registry event carries {count} valid root signature(s); "
                    f"this ledger needs {self.root.threshold}"
                ) from None
            raise

    def _root_signature_count(self, envelope: Envelope, root_sigs: Sequence[Signature]) -> int:
        """Distinct root keys that signed; the first is counted and verified by the caller."""
        if not root_sigs:
            return 0
        message = pae(envelope.payload_type, envelope.payload)
        seen = {root_sigs[0].keyid}
        for s in root_sigs[1:]:
            if s.keyid in seen:
                continue
            try:
                self.roots[s.keyid].public_key.verify(s.sig, message)
            except InvalidSignature:
                continue
            seen.add(s.keyid)
        return len(seen)

    def _delegated_authority(self, envelope: Envelope, event: Record) -> Authority:
        errors: list[UntrustedKeyError] = []
        for sig in envelope.signatures:
            record = self.keys.get(sig.keyid)
            if record is None:
                continue
            try:
                return self._enroller(record, event)
            except UntrustedKeyError as exc:
                errors.append(exc)
        if errors:
            raise _most_specific(errors)
        ids = ", ".join(short(s.keyid) for s in envelope.signatures)
        raise EnrolmentUnauthorisedError(
            f"registry event {event['event_id']} is signed by neither a root key nor a "
            f"delegated enroller (key(s) {ids})"
        )

    def _enroller(self, record: KeyRecord, event: Record) -> Authority:
        if event["operation"] == REVOKE and event["key_id"] == record.key_id:
            return Authority(record.key_id, record.public_key, "self")
        when = event["event_time"]
        delegation = self.actors[record.actor_id].delegation
        if delegation is None or not delegation.active_at(when):
            raise EnrolmentUnauthorisedError(
                f"{record.actor_id} holds no delegation to enrol at {events.format_time(when)}"
            )
        if record.revocation is not None:
            raise KeyRevokedError(
                f"key {short(record.key_id)} of delegate {record.actor_id} has been revoked;"
                " a revoked key signs no further registry events"
            )
        record.check_time(when)
        return Authority(record.key_id, record.public_key, "delegate", delegation)

    # --- the operations' own rules ----------------------------------------------------------
    def _check_operation(self, event: Record, authority: Authority) -> None:
        checks: dict[str, Callable[[Record, Authority], None]] = {
            ENROLL: self._check_enroll,
            ROTATE: self._check_rotate,
            REVOKE: self._check_revoke,
            DELEGATE: self._check_delegate,
        }
        checks[event["operation"]](event, authority)

    def _check_enroll(self, event: Record, authority: Authority) -> None:
        self._require_new_key(event["key_id"])
        actor = self.actors.get(event["actor_id"])
        if actor is not None and actor.kind != event["actor_kind"]:
            raise RegistryConflictError(
                f"actor {actor.actor_id} is enrolled as {actor.kind}, not {event['actor_kind']}"
            )
        scope = Scope.from_record(event["scope"])
        self._check_limits(authority, event["actor_id"], event["actor_kind"], scope)

    def _check_rotate(self, event: Record, authority: Authority) -> None:
        previous = self._actor_key(event["actor_id"], event["previous_key_id"])
        self._require_new_key(event["key_id"])
        kind = self.actors[previous.actor_id].kind
        self._check_limits(authority, previous.actor_id, kind, Scope.from_record(event["scope"]))

    def _check_revoke(self, event: Record, authority: Authority) -> None:
        record = self._actor_key(event["actor_id"], event["key_id"])
        kind = self.actors[record.actor_id].kind
        self._check_limits(authority, record.actor_id, kind, record.scope)

    def _check_delegate(self, event: Record, authority: Authority) -> None:
        if authority.kind != "root":
            raise EnrolmentUnauthorisedError("only root keys may delegate the right to enrol")
        if event["actor_id"] not in self.actors:
            raise RegistryConflictError(
                f"actor {event['actor_id']} is not enrolled; enrol a key before delegating to it"
            )

    def _require_new_key(self, keyid: str) -> None:
        if keyid in self.roots:
            raise RegistryConflictError(f"key {short(keyid)} is a root key; it cannot be enrolled")
        if keyid in self.keys:
            raise RegistryConflictError(
                f"key {short(keyid)} is already enrolled (for {self.keys[keyid].actor_id});"
                " a key id is enrolled once"
            )

    def _actor_key(self, actor_id: str, keyid: str) -> KeyRecord:
        record = self.keys.get(keyid)
        if record is None or record.actor_id != actor_id:
            raise RegistryConflictError(f"{actor_id} has no enrolled key {short(keyid)}")
        return record

    def _check_limits(self, authority: Authority, actor_id: str, kind: str, scope: Scope) -> None:
        if authority.kind != "delegate":
            return
        assert authority.delegation is not None
        target = self.actors.get(actor_id)
        if target is not None and target.delegation is not None:
            raise EnrolmentUnauthorisedError(
                f"{actor_id} is a delegated enroller: only root keys change its keys"
            )
        problem = authority.delegation.limit_problem(kind, scope)
        if problem:
            raise OutOfScopeError(f"delegate key {short(authority.keyid)} {problem}")

    # --- applying admitted events -----------------------------------------------------------
    def apply(self, event: Record, signer_keyid: str, seq: int | None = None) -> None:
        """Apply an admitted registry event (idempotent by event id)."""
        if event["event_id"] in self._applied:
            return
        appliers: dict[str, Callable[[Record, str, int | None], None]] = {
            ENROLL: self._apply_enroll,
            ROTATE: self._apply_rotate,
            REVOKE: self._apply_revoke,
            DELEGATE: self._apply_delegate,
        }
        appliers[event["operation"]](event, signer_keyid, seq)
        self._applied.add(event["event_id"])
        self.history.append(
            Change(
                seq,
                event["event_id"],
                event["operation"],
                event["actor_id"],
                event["key_id"],
                signer_keyid,
                event["event_time"],
            )
        )

    def _new_key(self, event: Record, signer_keyid: str, seq: int | None) -> KeyRecord:
        record = KeyRecord(
            key_id=event["key_id"],
            actor_id=event["actor_id"],
            public_key=public_from_raw(event["public_key"]),
            valid_from=event["valid_from"],
            valid_until=event["valid_until"],
            scope=Scope.from_record(event["scope"]),
            enrolled_by=signer_keyid,
            enrolled_event_id=event["event_id"],
            enrolled_seq=seq,
            previous_key_id=event["previous_key_id"],
        )
        self.keys[record.key_id] = record
        self.actors[record.actor_id].key_ids.append(record.key_id)
        return record

    def _apply_enroll(self, event: Record, signer_keyid: str, seq: int | None) -> None:
        actor = self.actors.setdefault(
            event["actor_id"], Actor(event["actor_id"], event["actor_kind"], event["display_name"])
        )
        actor.display_name = event["display_name"]
        self._new_key(event, signer_keyid, seq)

    def _apply_rotate(self, event: Record, signer_keyid: str, seq: int | None) -> None:
        new = self._new_key(event, signer_keyid, seq)
        previous = self.keys[event["previous_key_id"]]
        previous.replaced_by = new.key_id
        if previous.replaced_at is None or new.valid_from < previous.replaced_at:
            previous.replaced_at = new.valid_from

    def _apply_revoke(self, event: Record, signer_keyid: str, seq: int | None) -> None:
        record = self.keys[event["key_id"]]
        r = event["revocation"]
        revocation = Revocation(
            r["effective_time"], r["reason"], r["comment"], event["event_id"], seq
        )
        if (
            record.revocation is None
            or revocation.effective_time < record.revocation.effective_time
        ):
            record.revocation = revocation  # a later, earlier-dated revocation moves it back

    def _apply_delegate(self, event: Record, signer_keyid: str, seq: int | None) -> None:
        d = event["delegation"]
        self.actors[event["actor_id"]].delegation = Delegation(
            tuple(d["actor_kinds"]),
            tuple(d["productions"]),
            event["event_time"],
            d["valid_until"],
            signer_keyid,
            event["event_id"],
        )

    # --- replay from a ledger ----------------------------------------------------------------
    def replay(self, entry: Entry, framing: SingleObjectFraming | None = None) -> None:
        """Apply one registry entry as the consumer did; record a :class:`Refusal` otherwise."""
        try:
            envelope, event = decode_entry(entry, framing)
            if event["event_id"] in self._applied:
                raise RegistryConflictError(f"event id {event['event_id']} was applied before")
            authority = self.authorise(envelope, event)
            verify_signature(envelope, authority.keyid, authority.public_key)
        except RejectedInput as exc:
            self.refusals.append(Refusal(entry.seq, entry.event_id, exc.reason, exc.message))
            return
        self.apply(event, authority.keyid, entry.seq)

    @classmethod
    def from_ledger(
        cls,
        store: LedgerStore,
        *,
        stop: int | None = None,
        scan: bool = False,
        root: TrustRoot | None = None,
    ) -> Registry:
        """Replay the registry entries with ``seq < stop`` (default: all).

        ``scan=True`` reads every entry instead of the ``registry`` index (for audits that
        must not rely on index rows); ``root`` pins the trust root instead of ledger meta.
        """
        registry = cls(root or load_roots(store))
        framing = reader_framing()
        for entry in registry_entries(store, stop=stop, scan=scan):
            registry.replay(entry, framing)
        return registry

    # --- views ------------------------------------------------------------------------------
    def key_rows(self, when: datetime) -> list[dict[str, Any]]:
        """One row per root and enrolled key, with its status at ``when``."""
        rows = [_root_row(k) for k in self.root.keys]
        rows += [self._key_row(self.keys[k], when) for k in sorted(self.keys, key=self._order)]
        return rows

    def _order(self, keyid: str) -> tuple[str, datetime]:
        record = self.keys[keyid]
        return record.actor_id, record.valid_from

    def _key_row(self, record: KeyRecord, when: datetime) -> dict[str, Any]:
        actor = self.actors[record.actor_id]
        return {
            "actor_id": actor.actor_id,
            "kind": actor.kind,
            "name": actor.display_name,
            "key_id": record.key_id,
            "status": record.status_at(when),
            "valid_from": events.format_time(record.valid_from),
            "valid_until": _time_or_none(_end_of(record)),
            "revoked_from": _time_or_none(
                record.revocation.effective_time if record.revocation else None
            ),
            "revocation_reason": record.revocation.reason if record.revocation else None,
            "scope": record.scope.summary(),
            "enroller": actor.delegation is not None and actor.delegation.active_at(when),
            "enrolled_by": self.signer_name(record.enrolled_by) or record.enrolled_by,
            "replaced_by": record.replaced_by,
        }

    def actor_view(self, actor_id: str, when: datetime) -> dict[str, Any]:
        """An actor with its keys, delegation and registry history (for ``keys show``)."""
        actor = self.actors.get(actor_id)
        if actor is None:
            raise ConfigurationError(f"actor {actor_id} is not in the key registry")
        d = actor.delegation
        return {
            "actor_id": actor.actor_id,
            "kind": actor.kind,
            "display_name": actor.display_name,
            "delegation": None if d is None else _delegation_view(d, self, when),
            "keys": [self._key_row(self.keys[k], when) for k in actor.key_ids],
            "history": [_change_view(c, self) for c in self.history if c.actor_id == actor_id],
        }


def _end_of(record: KeyRecord) -> datetime | None:
    ends = [t for t in (record.valid_until, record.replaced_at) if t is not None]
    return min(ends) if ends else None


def _time_or_none(value: datetime | None) -> str | None:
    return None if value is None else events.format_time(value)


def _root_row(key: RootKey) -> dict[str, Any]:
    return {
        "actor_id": f"root:{key.name}",
        "kind": "root",
        "name": key.name,
        "key_id": key.key_id,
        "status": "root",
        "scope": "key registry events only",
    }


def _delegation_view(d: Delegation, registry: Registry, when: datetime) -> dict[str, Any]:
    return {
        "active": d.active_at(when),
        "actor_kinds": list(d.actor_kinds),
        "productions": list(d.productions),
        "valid_from": events.format_time(d.valid_from),
        "valid_until": _time_or_none(d.valid_until),
        "granted_by": registry.signer_name(d.granted_by) or d.granted_by,
    }


def _change_view(c: Change, registry: Registry) -> dict[str, Any]:
    return {
        "seq": c.seq,
        "event_id": c.event_id,
        "operation": c.operation,
        "key_id": c.key_id,
        "event_time": events.format_time(c.event_time),
        "signed_by": registry.signer_name(c.signer_keyid) or c.signer_keyid,
    }


# ---------------------------------------------------------------------------------------------
# Reading entries


def decode_entry(
    entry: Entry, framing: SingleObjectFraming | None = None
) -> tuple[Envelope, Record]:
    """The envelope and the validated event of a stored entry (RejectedInput if damaged)."""
    framing = framing or reader_framing()
    envelope = Envelope.decode(entry.envelope, framing)
    return envelope, decode_event(entry, envelope, framing)


def decode_event(
    entry: Entry, envelope: Envelope, framing: SingleObjectFraming | None = None
) -> Record:
    """The validated event inside an already decoded envelope of ``entry``."""
    framing = framing or reader_framing()
    kind = events.kind_for_payload_type(envelope.payload_type)
    schema, event = framing.decode(envelope.payload)
    if schema.record != kind.record or kind.record != entry.kind:
        raise InvalidEventError(
            f"entry {entry.seq} is recorded as {entry.kind}, its envelope holds {schema.record}",
            reason="payload_type_mismatch",
        )
    events.validate(kind, event, writing=False)
    return event


def registry_entries(
    store: LedgerStore, *, stop: int | None = None, scan: bool = False
) -> Iterator[Entry]:
    """The registry entries of the ledger with ``seq < stop``, in sequence order."""
    if scan:
        yield from (e for e in store.entries(0, stop) if e.kind == REGISTRY_RECORD)
        return
    for seq in sorted(store.seqs_by_ref(*REF_REGISTRY)):
        if stop is not None and seq >= stop:
            return
        entry = store.entry(seq)
        if entry is not None and entry.kind == REGISTRY_RECORD:
            yield entry


# ---------------------------------------------------------------------------------------------
# The consumer's trust policy


class RegistryTrust:
    """A :class:`ledger.trust.TrustPolicy` over a :class:`Registry` it keeps current."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @classmethod
    def from_store(cls, store: LedgerStore) -> RegistryTrust:
        """The registry replayed from the ledger's trust root and registry entries."""
        return cls(Registry.from_ledger(store))

    def resolve(
        self, envelope: Envelope, kind: EventKind, event: Record
    ) -> tuple[str, Ed25519PublicKey]:
        return self.registry.admit(envelope, kind, event)

    def accepted(self, kind: EventKind, event: Record, keyid: str) -> None:
        if kind.record == REGISTRY_RECORD:
            self.registry.apply(event, keyid)

    def known_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key ever enrolled, whatever its state: the workers' verification table."""
        return {keyid: record.public_key for keyid, record in self.registry.keys.items()}
