"""The in-ledger key registry: who may sign what, and from when to when, provable from the ledger.

A ledger has a *trust root*: one or more root public keys (ledger meta ``root_keys``) and a
threshold (meta ``root_threshold``, default 1).  Signers are enrolled, rotated, revoked and
given the right to enrol others by ``key_registry_event`` entries on the same topic, in the
same ledger.  :class:`Registry` is the state machine those events drive; replaying a ledger's
registry entries in sequence order (:mod:`ledger.trust.replay`) rebuilds it exactly, so the
consumer and every later audit reach the same decisions.  The events' shape and own rules are
:mod:`ledger.events.keyregistry`, building them :mod:`ledger.trust.records`, and the consumer's
trust policy over the registry :class:`ledger.trust.policy.RegistryTrust`.

Rules (docs/keys.md has the full table):

* a provenance event must be signed by an enrolled key that, at the event's ``event_time``, is
  inside its validity window, not replaced by rotation, not revoked, and whose scope allows the
  event's production, actor, action and digital source type;
* a registry event must be signed by ``threshold`` root keys, or by a key of an actor holding a
  delegation active at the registry event's time (within the delegation's limits), or — for a
  revocation only — by the revoked key itself.  A key with any recorded revocation signs no
  further registry events, whatever the revocation's effective time;
* only root keys delegate.  A key id is enrolled once, ever;
* a record is also judged by when it reached the ledger: once a revocation for
  ``key_compromise`` (or with no stated reason) has entered the ledger, nothing more signed by
  that key is admitted, whatever event time it claims; after any other revocation, and after a
  rotation, late deliveries are admitted for a grace window (ledger meta
  ``rotation_grace_seconds``, default 24 hours) from the later of the change entering the
  ledger and its effective time.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import (
    ClearanceScopeError,
    ConfigurationError,
    EnrolmentUnauthorisedError,
    KeyExpiredError,
    KeyNotYetValidError,
    KeyRevokedError,
    NotEnrolledError,
    OutOfScopeError,
    RegistryConflictError,
    SignatureError,
    UntrustedKeyError,
)
from ledger.events.base import EventKind, Record, format_time
from ledger.events.keyregistry import (
    CLEARANCE_ACTIONS,
    DELEGATE,
    ENROLL,
    REGISTRY_RECORD,
    REVOKE,
    ROTATE,
    Scope,
)
from ledger.trust.dsse import Envelope, Signature, pae
from ledger.trust.keys import key_id, public_from_raw, raw_public

DEFAULT_GRACE = timedelta(hours=24)
COMPROMISE = "key_compromise"
# Revocations after which a key signs nothing more that reaches the ledger: no grace window.
# A revocation that does not say why is treated as the worst case.
STRICT_REASONS = frozenset({COMPROMISE, "unspecified"})


def short(keyid: str) -> str:
    """A key id shortened for messages (never key material: key ids are public hashes)."""
    return keyid[:16] + "…"


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
    clearance_scopes: bool = False  # consent/licence events need a key naming their kind

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("a ledger needs at least one root key")
        if len({k.key_id for k in self.keys}) != len(self.keys):
            raise ConfigurationError("the same root key is listed twice")
        if not 1 <= self.threshold <= len(self.keys):
            raise ConfigurationError(
                f"root threshold {self.threshold} must be between 1 and {len(self.keys)}"
            )


# ---------------------------------------------------------------------------------------------
# Registry state


@dataclass(frozen=True)
class Revocation:
    effective_time: datetime
    reason: str
    comment: str | None
    event_id: str
    seq: int | None  # ledger position of the revoke event (None while not yet appended)
    received_at: datetime | None = None  # when the revoke event reached the ledger

    @property
    def strict(self) -> bool:
        """No grace window: nothing signed by the key is admitted once this has entered."""
        return self.reason in STRICT_REASONS

    @property
    def where(self) -> str:
        at = "" if self.seq is None else f" (entry {self.seq})"
        when = "" if self.received_at is None else f" at {format_time(self.received_at)}"
        return f"entered the ledger{when}{at}"


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
    rotation_received_at: datetime | None = None  # when the first rotation reached the ledger
    revocation: Revocation | None = None  # the one with the earliest effective time
    revocations: list[Revocation] = field(default_factory=list)  # all, in ledger order

    @property
    def compromise(self) -> Revocation | None:
        """The first revocation for key compromise to enter the ledger, if any."""
        return next((r for r in self.revocations if r.reason == COMPROMISE), None)

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
        if status == "valid":
            return  # the words below only for a refusal (the consumer asks this per record)
        at = format_time(when)
        name = f"key {short(self.key_id)} of {self.actor_id}"
        if status == "revoked":
            assert self.revocation is not None
            raise KeyRevokedError(
                f"{name} is revoked from {format_time(self.revocation.effective_time)}"
                f" ({self.revocation.reason}); the event time {at} is not before that"
            )
        if status == "not_yet_valid":
            raise KeyNotYetValidError(
                f"{name} is valid only from {format_time(self.valid_from)}; event time {at}"
            )
        if status == "rotated":
            assert self.replaced_at is not None and self.replaced_by is not None
            raise KeyExpiredError(
                f"{name} was replaced by key {short(self.replaced_by)} from "
                f"{format_time(self.replaced_at)}; event time {at}"
            )
        if status == "expired":
            assert self.valid_until is not None
            raise KeyExpiredError(
                f"{name} expired at {format_time(self.valid_until)}; event time {at}"
            )

    def check_arrival(self, received_at: datetime, grace: timedelta) -> None:
        """Refuse a record reaching the ledger after this key's revocation or rotation entered.

        Judged on what the ledger recorded before the record (so the caller's registry must
        hold exactly the registry entries before it), never on the event's claimed time.
        """
        if not self.revocations and self.rotation_received_at is None:
            return  # never revoked nor rotated: nothing to arrive after
        name = f"key {short(self.key_id)} of {self.actor_id}"
        arrived = format_time(received_at)
        for r in self.revocations:
            if r.strict:
                raise KeyRevokedError(
                    f"{name} was revoked ({r.reason}) by a registry entry that {r.where};"
                    f" this record arrived after it ({arrived}), so no event time it claims"
                    " makes it valid"
                )
            deadline = max(r.received_at or r.effective_time, r.effective_time) + grace
            if received_at > deadline:
                raise KeyRevokedError(
                    f"{name} was revoked ({r.reason}) by a registry entry that {r.where};"
                    f" this record arrived at {arrived}, after the grace window for late"
                    f" deliveries ({_duration(grace)}) ended at {format_time(deadline)}"
                )
        if self.replaced_at is not None and self.rotation_received_at is not None:
            deadline = max(self.rotation_received_at, self.replaced_at) + grace
            if received_at > deadline:
                assert self.replaced_by is not None
                raise KeyExpiredError(
                    f"{name} was replaced by key {short(self.replaced_by)} in a rotation that"
                    f" entered the ledger at {format_time(self.rotation_received_at)};"
                    f" this record arrived at {arrived}, after the grace window for late"
                    f" deliveries ({_duration(grace)}) ended at {format_time(deadline)}"
                )

    def check(self, event: Record, action: str | None = None, *, required: bool = False) -> None:
        """Valid at the event time and in scope, or the specific :class:`UntrustedKeyError`.

        ``action`` is the clearance action of a consent or licence event; ``required``: the
        key's scope must name it (a ledger with clearance scopes required)."""
        self.check_time(event["event_time"])
        if required and action is not None and action not in self.scope.actions:
            raise ClearanceScopeError(
                f"key {short(self.key_id)} of {self.actor_id} may not sign a "
                f"{action.rsplit('.', 1)[1]} record: its scope does not name {action}",
                hint=f"sign it with a clearances key (keys enroll … --action {action})",
            )
        problem = self.scope.violation(event, action)
        if problem:
            raise OutOfScopeError(f"key {short(self.key_id)} of {self.actor_id}: {problem}")


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


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

    def __init__(self, root: TrustRoot, *, grace: timedelta = DEFAULT_GRACE) -> None:
        self.root = root
        self.grace = grace
        self.roots = {k.key_id: k for k in root.keys}
        self.actors: dict[str, Actor] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.history: list[Change] = []
        self.refusals: list[Refusal] = []
        self._applied: set[str] = set()

    # --- lookups ------------------------------------------------------------------------------
    def was_applied(self, event_id: str) -> bool:
        """Whether the registry event ``event_id`` has been applied."""
        return event_id in self._applied

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
        self,
        envelope: Envelope,
        kind: EventKind,
        event: Record,
        *,
        received_at: datetime | None = None,
    ) -> tuple[str, Ed25519PublicKey]:
        """The (key id, public key) whose signature makes ``event`` acceptable now.

        ``received_at`` is when the record reached the ledger (its entry's ``ingested_at``);
        None judges it as arriving now.
        """
        if not envelope.signatures:
            raise SignatureError("envelope carries no signature")
        if kind.record == REGISTRY_RECORD:
            if event["event_id"] in self._applied:  # a replay: the store reports the duplicate
                return self._known_signer(envelope)
            authority = self.authorise(envelope, event)
            return authority.keyid, authority.public_key
        action = CLEARANCE_ACTIONS.get(kind.record)
        return self._admit_signed_event(envelope, event, action, received_at or datetime.now(UTC))

    def _admit_signed_event(
        self, envelope: Envelope, event: Record, action: str | None, received_at: datetime
    ) -> tuple[str, Ed25519PublicKey]:
        errors: list[UntrustedKeyError] = []
        required = self.root.clearance_scopes
        for sig in envelope.signatures:
            try:
                record = self.trusted_key(sig.keyid)
                record.check(event, action, required=required)
                record.check_arrival(received_at, self.grace)
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
                f"{record.actor_id} holds no delegation to enrol at {format_time(when)}"
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
    def apply(
        self,
        event: Record,
        signer_keyid: str,
        seq: int | None = None,
        received_at: datetime | None = None,
    ) -> None:
        """Apply an admitted registry event (idempotent by event id).

        ``received_at`` is when it reached the ledger (the grace windows count from it).
        """
        if event["event_id"] in self._applied:
            return
        if event["operation"] == ROTATE:
            self._apply_rotate(event, signer_keyid, seq, received_at)
        elif event["operation"] == REVOKE:
            self._apply_revoke(event, signer_keyid, seq, received_at)
        else:
            appliers: dict[str, Callable[[Record, str, int | None], None]] = {
                ENROLL: self._apply_enroll,
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

    def _apply_rotate(
        self, event: Record, signer_keyid: str, seq: int | None, received_at: datetime | None
    ) -> None:
        new = self._new_key(event, signer_keyid, seq)
        previous = self.keys[event["previous_key_id"]]
        previous.replaced_by = new.key_id
        if previous.replaced_at is None or new.valid_from < previous.replaced_at:
            previous.replaced_at = new.valid_from
        if previous.rotation_received_at is None:
            previous.rotation_received_at = received_at

    def _apply_revoke(
        self, event: Record, signer_keyid: str, seq: int | None, received_at: datetime | None
    ) -> None:
        record = self.keys[event["key_id"]]
        r = event["revocation"]
        revocation = Revocation(
            r["effective_time"], r["reason"], r["comment"], event["event_id"], seq, received_at
        )
        record.revocations.append(revocation)
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
            "valid_from": format_time(record.valid_from),
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
            raise ConfigurationError(
                f"actor {actor_id} is not in the key registry",
                hint="assetledger keys list shows every actor enrolled",
            )
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
    return None if value is None else format_time(value)


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
        "valid_from": format_time(d.valid_from),
        "valid_until": _time_or_none(d.valid_until),
        "granted_by": registry.signer_name(d.granted_by) or d.granted_by,
    }


def _change_view(c: Change, registry: Registry) -> dict[str, Any]:
    return {
        "seq": c.seq,
        "event_id": c.event_id,
        "operation": c.operation,
        "key_id": c.key_id,
        "event_time": format_time(c.event_time),
        "signed_by": registry.signer_name(c.signer_keyid) or c.signer_keyid,
    }
