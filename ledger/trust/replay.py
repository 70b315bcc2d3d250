"""The key registry rebuilt from a ledger: its trust root in ledger meta, then its entries.

Replaying a ledger's registry entries in sequence order rebuilds :class:`Registry` exactly as
the consumer built it, so every later audit reaches the same decisions.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from ledger.errors import (
    ConfigurationError,
    InvalidEventError,
    KeyFileError,
    RegistryConflictError,
    RejectedInput,
)
from ledger.events.base import Record, validate
from ledger.events.encoding import SingleObjectFraming, reader_framing
from ledger.events.keyregistry import REF_REGISTRY, REGISTRY_RECORD
from ledger.events.kinds import kind_for_payload_type
from ledger.store import Entry, LedgerStore
from ledger.trust.dsse import Envelope, verify_signature
from ledger.trust.keys import public_from_raw
from ledger.trust.registry import DEFAULT_GRACE, Refusal, Registry, RootKey, TrustRoot

META_ROOT_KEYS = "root_keys"
META_ROOT_THRESHOLD = "root_threshold"
META_ROTATION_GRACE = "rotation_grace_seconds"
META_CLEARANCE_SCOPES = "clearance_scopes"
"""``required`` on ledgers created since clearance scopes exist (``assetledger init``): consent
and licence events then need a key whose scope names their kind.  Absent on older ledgers, whose
enrolments never named it; fixed at creation like the root keys (docs/keys.md)."""


def set_roots(
    store: LedgerStore,
    keys: Sequence[RootKey],
    threshold: int = 1,
    *,
    clearance_scopes: bool = False,
) -> TrustRoot:
    """Record the ledger's root keys; refuse to replace a different set already recorded.

    ``clearance_scopes``: consent and licence events need a key whose scope names their kind
    (recorded only with the root keys, at creation; an existing ledger keeps its rule)."""
    root = TrustRoot(tuple(keys), threshold, clearance_scopes)
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
    if clearance_scopes:
        store.set_meta(META_CLEARANCE_SCOPES, "required")
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
    threshold = int(store.get_meta(META_ROOT_THRESHOLD) or "1")
    required = store.get_meta(META_CLEARANCE_SCOPES) == "required"
    return TrustRoot(_parse_roots(text), threshold, required)


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
# Reading entries


_Decoded = dict[tuple[int, str, bytes], tuple[Envelope, Record]]
_SHARED: ContextVar[_Decoded | None] = ContextVar("decoded_entries", default=None)


@contextmanager
def decoding_once() -> Iterator[None]:
    """Within the block, :func:`decode_entry` decodes and validates each entry (its sequence
    number, kind and bytes) once and hands every caller the same envelope and record, which
    callers read and never change.  A delivery packet's build and verify read each entry in
    many layers (the store's query index, the key registry, signatures, key verdicts, records,
    completeness); outside such a block nothing is kept."""
    token = _SHARED.set(_SHARED.get() or {})
    try:
        yield
    finally:
        _SHARED.reset(token)


def decode_entry(
    entry: Entry, framing: SingleObjectFraming | None = None
) -> tuple[Envelope, Record]:
    """The envelope and the validated event of a stored entry (RejectedInput if damaged)."""
    default = reader_framing()
    shared = _SHARED.get() if framing is None or framing is default else None
    if shared is not None:
        key = (entry.seq, entry.kind, entry.envelope)
        found = shared.get(key)
        if found is None:
            envelope = Envelope.decode(entry.envelope, default)
            found = shared[key] = (envelope, decode_event(entry, envelope, default))
        return found
    framing = framing or default
    envelope = Envelope.decode(entry.envelope, framing)
    return envelope, decode_event(entry, envelope, framing)


def share_decoded(entry: Entry, envelope: Envelope, record: str, event: Record) -> None:
    """Within :func:`decoding_once`: the envelope and event (of schema ``record``) a caller
    decoded from ``entry``'s bytes with the reader framing, checked and validated here as
    :func:`decode_entry` would, become what it hands every layer (no second decoding).  An
    event that does not validate is not kept: :func:`decode_entry` then names why itself.
    The caller hands over the record and never changes it."""
    shared = _SHARED.get()
    if shared is None:
        return
    key = (entry.seq, entry.kind, entry.envelope)
    if key not in shared:
        try:
            shared[key] = (envelope, _checked_event(entry, envelope, record, event))
        except RejectedInput:
            return


def shared_decoding(entry: Entry) -> tuple[Envelope, Record] | None:
    """Within :func:`decoding_once`, the envelope and validated event every layer shares for
    ``entry`` (read them, never change them); None outside such a block or when the entry does
    not decode and validate (the caller then decodes it itself, as before, and names why)."""
    if _SHARED.get() is None:
        return None
    try:
        return decode_entry(entry)
    except RejectedInput:
        return None


def decode_event(
    entry: Entry, envelope: Envelope, framing: SingleObjectFraming | None = None
) -> Record:
    """The validated event inside an already decoded envelope of ``entry``."""
    framing = framing or reader_framing()
    schema, event = framing.decode(envelope.payload)
    return _checked_event(entry, envelope, schema.record, event)


def _checked_event(entry: Entry, envelope: Envelope, record: str, event: Record) -> Record:
    kind = kind_for_payload_type(envelope.payload_type)
    if record != kind.record or kind.record != entry.kind:
        raise InvalidEventError(
            f"entry {entry.seq} is recorded as {entry.kind}, its envelope holds {record}",
            reason="payload_type_mismatch",
        )
    validate(kind, event, writing=False)
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


def set_grace(store: LedgerStore, grace: timedelta) -> timedelta:
    """Record the grace window for late deliveries after a rotation or a non-compromise
    revocation; refuse to change one already recorded (past admissions depend on it)."""
    seconds = int(grace.total_seconds())
    if seconds < 0 or grace != timedelta(seconds=seconds):
        raise ConfigurationError(f"the grace window must be whole seconds >= 0, got {grace}")
    existing = store.get_meta(META_ROTATION_GRACE)
    if existing is not None and existing != str(seconds):
        raise ConfigurationError(
            f"ledger {store.url} already has a grace window of {existing} s",
            hint="the grace window is fixed at creation: the consumer's past decisions and"
            " verify's replay of them depend on it",
        )
    store.set_meta(META_ROTATION_GRACE, str(seconds))
    return grace


def load_grace(store: LedgerStore) -> timedelta:
    """The ledger's grace window (default 24 hours when none was recorded)."""
    text = store.get_meta(META_ROTATION_GRACE)
    if text is None:
        return DEFAULT_GRACE
    if not text.isdigit():
        raise ConfigurationError(f"ledger meta {META_ROTATION_GRACE} is corrupt: {text!r}")
    return timedelta(seconds=int(text))


# ---------------------------------------------------------------------------------------------
# Replaying


def replay_entry(
    registry: Registry, entry: Entry, framing: SingleObjectFraming | None = None
) -> None:
    """Apply one registry entry as the consumer did; record a :class:`Refusal` otherwise."""
    try:
        envelope, event = decode_entry(entry, framing)
        if registry.was_applied(event["event_id"]):
            raise RegistryConflictError(f"event id {event['event_id']} was applied before")
        authority = registry.authorise(envelope, event)
        verify_signature(envelope, authority.keyid, authority.public_key)
    except RejectedInput as exc:
        registry.refusals.append(Refusal(entry.seq, entry.event_id, exc.reason, exc.message))
        return
    registry.apply(event, authority.keyid, entry.seq, entry.ingested_at)


def registry_from_ledger(
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
    registry = Registry(root or load_roots(store), grace=load_grace(store))
    framing = reader_framing()
    for entry in registry_entries(store, stop=stop, scan=scan):
        replay_entry(registry, entry, framing)
    return registry
