"""Who may sign: trust policies that pick the key an envelope must verify against.

A policy answers, for one decoded event, *which trusted key* should have signed it (or why no
key is acceptable).  The signature check itself is separate
(:func:`ledger.trust.dsse.verify_signature`) so that it can run in parallel across processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import SignatureError, UntrustedKeyError
from ledger.events.base import EventKind, Record
from ledger.events.keyregistry import REGISTRY_RECORD
from ledger.store import LedgerStore
from ledger.trust.dsse import Envelope
from ledger.trust.registry import Registry
from ledger.trust.replay import registry_from_ledger

# The fields of a provenance event a policy may read.  Consumers that decode in worker
# processes pass policies only these (and an envelope whose payload is left out), so a policy
# must not need more: what signed it, when, for which production, by whom, doing what.
TRUST_FIELDS = ("event_id", "event_time", "production", "actor", "action", "digital_source_type")


class TrustPolicy(Protocol):
    def resolve(
        self, envelope: Envelope, kind: EventKind, event: Record
    ) -> tuple[str, Ed25519PublicKey]:
        """The (key id, public key) that must have signed; raise RejectedInput otherwise."""

    def accepted(self, kind: EventKind, event: Record, keyid: str) -> None:
        """Called, in ledger order, for each event that was appended."""

    def receiving(self, at: datetime) -> None:
        """The records judged next reach the ledger at ``at``: their entries' ``ingested_at``."""

    def known_keys(self) -> Mapping[str, Ed25519PublicKey]:
        """Every key this policy might accept now (key id → key), trusted or not."""


class FolderTrust:
    """Trust a fixed set of public keys (e.g. the ``*.pub`` files of a folder)."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)

    def resolve(
        self, envelope: Envelope, kind: EventKind, event: Record
    ) -> tuple[str, Ed25519PublicKey]:
        if not envelope.signatures:
            raise SignatureError("envelope carries no signature")
        for sig in envelope.signatures:
            key = self.keys.get(sig.keyid)
            if key is not None:
                return sig.keyid, key
        ids = ", ".join(s.keyid[:16] + "…" for s in envelope.signatures)
        raise UntrustedKeyError(f"signed only by key(s) not in the trusted set: {ids}")

    def accepted(self, kind: EventKind, event: Record, keyid: str) -> None:
        return None

    def receiving(self, at: datetime) -> None:
        return None

    def known_keys(self) -> Mapping[str, Ed25519PublicKey]:
        return self.keys


# ---------------------------------------------------------------------------------------------
# The consumer's trust policy


class RegistryTrust:
    """A :class:`ledger.trust.policy.TrustPolicy` over a :class:`Registry` it keeps current.

    The consumer calls :meth:`receiving` with each batch's ingestion time before judging it and
    stores the batch with that same time, so ``verify`` replays exactly these decisions.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.received_at: datetime | None = None

    def receiving(self, at: datetime) -> None:
        """The records judged next reach the ledger at ``at`` (their ``ingested_at``)."""
        self.received_at = at

    @classmethod
    def from_store(cls, store: LedgerStore) -> RegistryTrust:
        """The registry replayed from the ledger's trust root and registry entries."""
        return cls(registry_from_ledger(store))

    def resolve(
        self, envelope: Envelope, kind: EventKind, event: Record
    ) -> tuple[str, Ed25519PublicKey]:
        return self.registry.admit(envelope, kind, event, received_at=self._now())

    def accepted(self, kind: EventKind, event: Record, keyid: str) -> None:
        if kind.record == REGISTRY_RECORD:
            self.registry.apply(event, keyid, received_at=self._now())

    def _now(self) -> datetime:
        return self.received_at or datetime.now(UTC)

    def known_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key ever enrolled, whatever its state: the workers' verification table."""
        return {keyid: record.public_key for keyid, record in self.registry.keys.items()}
