"""Building key registry events, and adding root signatures to a signed one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.events.base import Record, now_utc
from ledger.events.keyregistry import (
    DELEGATE,
    ENROLL,
    OPTIONAL_FIELDS,
    REVOKE,
    ROTATE,
    Scope,
)
from ledger.trust.dsse import Envelope, Signature, pae
from ledger.trust.keys import KeyPair, key_id, raw_public

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
    when = event_time or now_utc()
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
    when = event_time or now_utc()
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
    when = event_time or now_utc()
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
    return _base(DELEGATE, actor_id, event_time or now_utc()) | {"delegation": delegation}


def _base(operation: str, actor_id: str, when: datetime) -> Record:
    return {
        "event_id": str(uuid.uuid4()),
        "event_time": when,
        "operation": operation,
        "actor_id": actor_id,
        **dict.fromkeys(OPTIONAL_FIELDS),
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
