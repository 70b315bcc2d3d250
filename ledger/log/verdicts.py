"""Four verdicts for one ledger entry, kept apart because users confuse them when merged.

(a) **signature**: the DSSE signature by the entry's recorded signer verifies over the payload;
(b) **signer trusted**: when the entry was appended, its signer was an enrolled key (or, for a
    key registry event, a root key or a delegated enroller) — judged on the registry replayed
    up to the entry's position, as the consumer judged it;
(c) **key valid**: the key was inside its validity window, not replaced, not revoked, at the
    event's time, and the event is in the key's scope — judged with everything the ledger knows
    now, so a revocation recorded later but effective earlier shows here;
(d) **anchored**: a stored checkpoint signed by the log key covers the entry, and an inclusion
    proof from the entry's bytes to that checkpoint's root verifies.  The anchor also says
    whether that checkpoint was signed before the key's revocation entered the log and, for a
    key revoked for compromise, before the compromise took effect: an entry anchored only
    after it could have been written by whoever stole the key, whatever time it claims.

Each verdict is ok, failed or not applicable, with a reason for humans and, when failed, a
stable code.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ledger.errors import (
    AssetLedgerError,
    EnrolmentUnauthorisedError,
    NotEnrolledError,
    RejectedInput,
    SignatureError,
    UntrustedKeyError,
)
from ledger.events.base import Record, format_time
from ledger.events.keyregistry import REGISTRY_RECORD
from ledger.events.kinds import kind_for_payload_type
from ledger.log.checkpoint import Checkpoint, open_checkpoint
from ledger.log.merkle import inclusion_verified, leaf_hash, verify_inclusion
from ledger.log.operator import LogIdentity, entry_for_event, log_identity
from ledger.store import Entry, LedgerStore, StoredCheckpoint
from ledger.trust.dsse import Envelope, verify_signature
from ledger.trust.registry import Authority, KeyRecord, Registry, Revocation, TrustRoot, short
from ledger.trust.replay import (
    META_ROOT_KEYS,
    decode_entry,
    load_grace,
    load_roots,
    registry_entries,
    replay_entry,
)


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    code: str | None = None  # the stable reject reason when failed, e.g. key_revoked

    def to_dict(self) -> dict[str, Any]:
        return {"status": str(self.status), "reason": self.reason, "code": self.code}


def ok(reason: str) -> Verdict:
    return Verdict(Status.OK, reason)


def failed(reason: str, code: str) -> Verdict:
    return Verdict(Status.FAILED, reason, code)


def not_applicable(reason: str) -> Verdict:
    return Verdict(Status.NOT_APPLICABLE, reason)


# a verdict that holds, without its words (entry_verdicts(reasons=False): the audit's signer
# rule reads only why a verdict failed)
_HOLDS = Verdict(Status.OK, "")


@dataclass(frozen=True)
class Anchor:
    """The first signed checkpoint that provably contains the entry."""

    checkpoint_size: int
    root_hash: bytes
    created_at: datetime
    predates_revocation: bool | None  # None: the signer's key has no recorded revocation
    # None: the key was never revoked for compromise; else whether that checkpoint was signed
    # before the compromise took effect (its effective time)
    predates_compromise: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint_size": self.checkpoint_size,
            "root_hash": self.root_hash.hex(),
            "created_at": format_time(self.created_at),
            "predates_revocation": self.predates_revocation,
            "predates_compromise": self.predates_compromise,
        }


@dataclass(frozen=True)
class EntryVerdicts:
    seq: int
    event_id: str
    kind: str
    signer_keyid: str
    signer: str | None  # actor id, root:NAME, or None when unknown
    signature: Verdict
    signer_trusted: Verdict
    key_valid: Verdict
    anchored: Verdict
    anchor: Anchor | None = None
    # Would the consumer's policy, replayed to this position, admit the entry?  False means
    # it entered the ledger behind the consumer's back; None when there is no registry.
    admitted_at_append: bool | None = None
    # Plain words when the signer's key was revoked for compromise and nothing shows this
    # entry existed before the compromise (audits cite it); None otherwise.
    compromised: str | None = None

    @property
    def verdicts(self) -> dict[str, Verdict]:
        return {
            "signature": self.signature,
            "signer_trusted": self.signer_trusted,
            "key_valid": self.key_valid,
            "anchored": self.anchored,
        }

    @property
    def ok(self) -> bool:
        """True when no verdict failed (not-applicable verdicts do not fail an entry)."""
        return all(v.status is not Status.FAILED for v in self.verdicts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "kind": self.kind,
            "signer_keyid": self.signer_keyid,
            "signer": self.signer,
            "verdicts": {name: v.to_dict() for name, v in self.verdicts.items()},
            "anchor": None if self.anchor is None else self.anchor.to_dict(),
            "admitted_at_append": self.admitted_at_append,
            "compromised": self.compromised,
        }


# ---------------------------------------------------------------------------------------------
# (a) signature


def signature_verdict(
    registry: Registry | None, entry: Entry, envelope: Envelope, *, reasons: bool = True
) -> Verdict:
    key = registry.public_key(entry.signer_keyid) if registry is not None else None
    if key is None:
        return not_applicable(f"no public key is known for signer {short(entry.signer_keyid)}")
    try:
        verify_signature(envelope, entry.signer_keyid, key)
    except SignatureError as exc:
        return failed(exc.message, exc.reason)
    if not reasons:
        return _HOLDS
    return ok(f"Ed25519 signature by key {short(entry.signer_keyid)} verifies over the payload")


# ---------------------------------------------------------------------------------------------
# (b) signer trusted and (c) key valid


def trust_verdicts(
    current: Registry,
    positional: Registry,
    entry: Entry,
    envelope: Envelope,
    event: Record,
    *,
    reasons: bool = True,
) -> tuple[Verdict, Verdict]:
    """(b) judged on ``positional`` (the registry before this entry), (c) on ``current``;
    ``reasons=False``: a verdict that holds says no more (see :func:`entry_verdicts`)."""
    if entry.kind == REGISTRY_RECORD:
        return _registry_event_verdicts(current, positional, envelope, event)
    try:
        record = positional.trusted_key(entry.signer_keyid)
    except NotEnrolledError as exc:
        return _untrusted(exc)
    valid = _key_validity(current, positional, entry, event, reasons)
    if not reasons:
        return _HOLDS, valid
    enrolled = f"enrolled for {record.actor_id} by {_who(current, record.enrolled_by)}"
    at = "" if record.enrolled_seq is None else f" (entry {record.enrolled_seq})"
    return ok(enrolled + at), valid


def _untrusted(exc: UntrustedKeyError) -> tuple[Verdict, Verdict]:
    reason = f"when this entry was appended: {exc.message}"
    return failed(reason, exc.reason), not_applicable("the signer is not a trusted key")


def _key_validity(
    current: Registry, positional: Registry, entry: Entry, event: Record, reasons: bool = True
) -> Verdict:
    keyid = entry.signer_keyid
    try:
        positional.keys[keyid].check(event)
        positional.keys[keyid].check_arrival(entry.ingested_at, positional.grace)
    except UntrustedKeyError as exc:
        return failed(f"already refused when this entry was appended: {exc.message}", exc.reason)
    record = current.keys[keyid]
    try:
        record.check(event)
    except UntrustedKeyError as exc:
        return failed(f"{exc.message} (recorded after this entry was appended)", exc.reason)
    return ok(_validity_reason(record, event["event_time"])) if reasons else _HOLDS


def _validity_reason(record: KeyRecord, when: datetime) -> str:
    reason = (
        f"valid at the event time {format_time(when)} "
        f"(from {format_time(record.valid_from)}); scope: {record.scope.summary()}"
    )
    if record.revocation is not None:
        reason += (
            f"; revoked from {format_time(record.revocation.effective_time)} "
            f"({record.revocation.reason}), after this event's time"
        )
    return reason


def _registry_event_verdicts(
    current: Registry, positional: Registry, envelope: Envelope, event: Record
) -> tuple[Verdict, Verdict]:
    try:
        authority = positional.authorise(envelope, event)
    except (NotEnrolledError, EnrolmentUnauthorisedError) as exc:
        return _untrusted(exc)
    except RejectedInput as exc:
        signed = ok("signed by a key known to the registry")
        return signed, failed(
            f"operation not permitted at this position: {exc.message}", exc.reason
        )
    return ok(_authority_reason(current, authority)), _enroller_validity(current, authority, event)


def _authority_reason(registry: Registry, authority: Authority) -> str:
    who = _who(registry, authority.keyid)
    if authority.kind == "root":
        return f"signed by root key {who} (threshold {registry.root.threshold})"
    if authority.kind == "self":
        return f"signed by the revoked key itself ({who})"
    return f"signed by delegated enroller {who}"


def _enroller_validity(current: Registry, authority: Authority, event: Record) -> Verdict:
    if authority.kind == "root":
        return ok("root keys have no validity window; the operation is permitted")
    if authority.kind == "self":
        return ok("a key may always revoke itself")
    try:
        current.keys[authority.keyid].check_time(event["event_time"])
    except UntrustedKeyError as exc:
        return failed(f"{exc.message} (recorded after this entry was appended)", exc.reason)
    return ok("the enroller's key was valid at the event time and within its delegation")


def _who(registry: Registry, keyid: str) -> str:
    return registry.signer_name(keyid) or short(keyid)


# ---------------------------------------------------------------------------------------------
# (d) anchored in a signed checkpoint


class Anchors:
    """Finds the first stored checkpoint, signed by the log key, that provably holds an entry."""

    def __init__(self, store: LedgerStore, log: LogIdentity | None) -> None:
        self.store = store
        self.log = log
        self.stored = sorted(store.checkpoints(), key=lambda c: c.size)
        self._opened: dict[int, Checkpoint | str] = {}
        # (index, tree size, root, leaf hash) whose inclusion :meth:`prove_many` verified
        self._proven: set[tuple[int, int, bytes, bytes]] = set()

    def prove_many(self, entries: Sequence[Entry]) -> None:
        """Verify ahead, in one batch per checkpoint, the inclusion of each entry in the first
        checkpoint covering it (where :meth:`verdict` looks first): the proofs' nodes are read
        together, each proof verified as :meth:`verdict` would.  An entry whose proof fails is
        left to :meth:`verdict`, which says why."""
        if self.log is None:
            return
        groups: dict[int, list[Entry]] = {}
        sizes = [c.size for c in self.stored]
        for entry in entries:
            at = bisect.bisect_right(sizes, entry.seq)
            if at < len(sizes):
                groups.setdefault(at, []).append(entry)
        for at, group in groups.items():
            opened = self._open(self.stored[at])
            if isinstance(opened, str):
                continue
            size, root = opened.size, opened.root_hash
            # proven already in this block (a packet's receipts): :meth:`_prove` asks that too
            group = [
                e for e in group if not inclusion_verified(leaf_hash(e.envelope), e.seq, size, root)
            ]
            if not group:
                continue
            try:
                proofs = self.store.tree(size).inclusion_proofs([e.seq for e in group], size)
            except AssetLedgerError:
                continue  # each entry's own proof names the problem
            for entry in group:
                leaf = leaf_hash(entry.envelope)
                try:
                    verify_inclusion(leaf, entry.seq, size, proofs[entry.seq], root)
                except AssetLedgerError:
                    continue
                self._proven.add((entry.seq, size, root, leaf))

    def verdict(
        self, entry: Entry, key: KeyRecord | None, *, reasons: bool = True
    ) -> tuple[Verdict, Anchor | None]:
        if self.log is None:
            return not_applicable("the ledger has no log key, so no signed checkpoints"), None
        covering = [c for c in self.stored if c.size > entry.seq]
        if not covering:
            latest = self.stored[-1].size if self.stored else 0
            reason = f"no signed checkpoint covers entry {entry.seq} yet (latest size {latest})"
            return failed(reason, "not_anchored"), None
        problems = []
        for stored in covering:
            problem = self._prove(stored, entry)
            if problem is None:
                return self._anchored(stored, entry, key, reasons)
            problems.append(f"checkpoint of size {stored.size}: {problem}")
        return failed("; ".join(problems[:3]), "checkpoint_mismatch"), None

    def _open(self, stored: StoredCheckpoint) -> Checkpoint | str:
        assert self.log is not None
        if stored.size not in self._opened:
            try:
                opened = open_checkpoint(stored.note, self.log.origin, self.log.public_key)
                self._opened[stored.size] = (
                    opened if opened.size == stored.size else "note size differs from its row"
                )
            except AssetLedgerError as exc:
                self._opened[stored.size] = exc.message
        return self._opened[stored.size]

    def _prove(self, stored: StoredCheckpoint, entry: Entry) -> str | None:
        opened = self._open(stored)
        if isinstance(opened, str):
            return opened
        leaf = leaf_hash(entry.envelope)
        if (entry.seq, opened.size, opened.root_hash, leaf) in self._proven or inclusion_verified(
            leaf, entry.seq, opened.size, opened.root_hash
        ):
            return None  # these bytes at this index of this signed tree: verified already
        try:
            proof = self.store.tree(opened.size).inclusion_proof(entry.seq, opened.size)
            verify_inclusion(leaf, entry.seq, opened.size, proof, opened.root_hash)
        except AssetLedgerError as exc:
            return exc.message
        return None

    def _anchored(
        self, stored: StoredCheckpoint, entry: Entry, key: KeyRecord | None, reasons: bool = True
    ) -> tuple[Verdict, Anchor]:
        revocation = _first_recorded(key)
        revocation_seq = revocation.seq if revocation is not None else None
        predates = None if revocation_seq is None else stored.size <= revocation_seq
        compromise = key.compromise if key is not None else None
        before_compromise = (
            None if compromise is None else stored.created_at < compromise.effective_time
        )
        anchor = Anchor(
            stored.size, stored.root_hash, stored.created_at, predates, before_compromise
        )
        if not reasons:
            return _HOLDS, anchor
        reason = (
            f"in the checkpoint of size {stored.size} signed by "
            f"{self.log.origin if self.log else 'the log'}; inclusion proof verified"
        )
        if predates is not None:
            when = "before" if predates else "only after"
            reason += (
                f"; signed {when} the key's revocation entered the log (entry {revocation_seq})"
            )
        if compromise is not None:
            reason += "; " + _compromise_words(entry, compromise, stored.created_at)
        return ok(reason), anchor


def _first_recorded(key: KeyRecord | None) -> Revocation | None:
    """The key's revocation that entered the log first (None: never revoked)."""
    located = [r for r in key.revocations if r.seq is not None] if key is not None else []
    return min(located, key=lambda r: r.seq or 0) if located else None


def _compromise_words(entry: Entry, compromise: Revocation, anchored_at: datetime | None) -> str:
    """Where the entry stands against its key's compromise revocation, in plain words."""
    entered = (
        f"entered the ledger before the key's compromise revocation (entry {compromise.seq})"
        if compromise.seq is None or entry.seq < compromise.seq
        else f"entered the ledger after the key's compromise revocation (entry {compromise.seq})"
    )
    effective = format_time(compromise.effective_time)
    if anchored_at is None:
        return f"{entered}; no signed checkpoint shows it existed before the compromise"
    if anchored_at < compromise.effective_time:
        return f"{entered}; anchored before the compromise took effect ({effective})"
    return (
        f"{entered}; first anchored at {format_time(anchored_at)}, not before the"
        f" compromise took effect ({effective})"
    )


# ---------------------------------------------------------------------------------------------
# Putting them together


class VerdictContext:
    """Loaded once per ledger: the registry entries, the current registry, log key, checkpoints.

    :meth:`positional` keeps one registry that it moves forward, so asking for entries in
    sequence order replays each registry entry once.
    """

    def __init__(
        self, store: LedgerStore, *, root: TrustRoot | None = None, scan: bool = False
    ) -> None:
        self.store = store
        self.current: Registry | None = None
        self._entries: list[Entry] = []
        if root is not None or store.get_meta(META_ROOT_KEYS) is not None:
            root = root or load_roots(store)
            self._entries = list(registry_entries(store, scan=scan))
            self.current = _replayed(Registry(root, grace=load_grace(store)), self._entries)
        self.anchors = Anchors(store, log_identity(store))
        self._cursor: Registry | None = None
        self._cursor_seq = 0
        self._applied = 0

    def positional(self, seq: int) -> Registry | None:
        """The registry as it stood just before entry ``seq`` (valid until the next call)."""
        if self.current is None:
            return None
        if self._cursor is None or seq < self._cursor_seq:
            self._cursor = Registry(self.current.root, grace=self.current.grace)
            self._applied = 0
        while self._applied < len(self._entries) and self._entries[self._applied].seq < seq:
            replay_entry(self._cursor, self._entries[self._applied])
            self._applied += 1
        self._cursor_seq = seq
        return self._cursor


def _replayed(registry: Registry, entries: list[Entry]) -> Registry:
    for entry in entries:
        replay_entry(registry, entry)
    return registry


def entry_verdicts(ctx: VerdictContext, entry: Entry, *, reasons: bool = True) -> EntryVerdicts:
    """The four verdicts of ``entry``.

    ``reasons=False``: a verdict that holds is not put in words (its reason is empty; the key
    registry's own entries keep theirs): for a caller that reads only why a verdict failed (the
    audit's signer rule, over thousands of entries).  Every check runs the same: statuses,
    codes, failures' words, the anchor and the rest are those of the full verdicts."""
    current = ctx.current
    signer = current.signer_name(entry.signer_keyid) if current else None
    record = current.key_for(entry.signer_keyid) if current else None
    anchored, anchor = ctx.anchors.verdict(entry, record, reasons=reasons)
    compromised = _compromised(entry, record, anchor)
    try:
        envelope, event = decode_entry(entry)
    except RejectedInput as exc:
        damaged = failed(f"the stored entry does not decode: {exc.message}", exc.reason)
        na = not_applicable("the stored entry does not decode")
        return _verdicts(entry, signer, damaged, na, na, anchored, anchor)
    signature = signature_verdict(current, entry, envelope, reasons=reasons)
    if current is None:
        na = not_applicable("this ledger has no key registry (no root keys)")
        return _verdicts(entry, signer, signature, na, na, anchored, anchor)
    before = ctx.positional(entry.seq)
    assert before is not None
    admitted_by = _admitted_by(before, entry, envelope, event)
    admitted = admitted_by is not None
    trusted, valid = trust_verdicts(current, before, entry, envelope, event, reasons=reasons)
    if (
        entry.kind != REGISTRY_RECORD
        and admitted_by is not None
        and admitted_by != entry.signer_keyid
    ):
        # a cosigned entry whose signer column names another of its signers: the column is not
        # in the signed log, so the key it names is not the one the entry is judged by
        trusted = failed(
            f"the entry's signer column names key {short(entry.signer_keyid)}, but the key"
            f" registry at its position admits it by {short(admitted_by)} (the signer is"
            " derived, not chosen: the column was altered; run assetledger verify)",
            "entry_field_mismatch",
        )
    return _verdicts(
        entry, signer, signature, trusted, valid, anchored, anchor, admitted, compromised
    )


def _compromised(entry: Entry, key: KeyRecord | None, anchor: Anchor | None) -> str | None:
    """Why an audit must cite this entry: its key was compromised and nothing shows it is older.

    Registry entries are judged by their own rules (a revoked key signs no registry event).
    """
    compromise = key.compromise if key is not None else None
    if compromise is None or entry.kind == REGISTRY_RECORD:
        return None
    if anchor is not None and anchor.predates_compromise:
        return None
    words = _compromise_words(entry, compromise, anchor.created_at if anchor else None)
    return (
        f"was revoked for key compromise effective {format_time(compromise.effective_time)}"
        f" ({compromise.where}); this entry {words}, so whoever held the stolen key could have"
        " written it, whatever time it claims"
    )


def _admitted_by(
    positional: Registry, entry: Entry, envelope: Envelope, event: Record
) -> str | None:
    """The key the consumer's own admission rule (:meth:`Registry.admit`) admits the entry by
    at its position; None if it admits it by none."""
    kind = kind_for_payload_type(envelope.payload_type)
    try:
        keyid, _ = positional.admit(envelope, kind, event, received_at=entry.ingested_at)
    except RejectedInput:
        return None
    return keyid


def _verdicts(
    entry: Entry,
    signer: str | None,
    signature: Verdict,
    trusted: Verdict,
    valid: Verdict,
    anchored: Verdict,
    anchor: Anchor | None,
    admitted: bool | None = None,
    compromised: str | None = None,
) -> EntryVerdicts:
    return EntryVerdicts(
        entry.seq,
        entry.event_id,
        entry.kind,
        entry.signer_keyid,
        signer,
        signature,
        trusted,
        valid,
        anchored,
        anchor,
        admitted,
        compromised,
    )


def verdicts_for_event(store: LedgerStore, event_id: str) -> EntryVerdicts:
    """The four verdicts of one event by id (the entry must hold that event)."""
    return entry_verdicts(VerdictContext(store), entry_for_event(store, event_id))


def ledger_verdicts(
    store: LedgerStore, *, root: TrustRoot | None = None, scan: bool = True
) -> Iterator[EntryVerdicts]:
    """Every entry's verdicts in one pass, replaying the registry alongside (for audits)."""
    ctx = VerdictContext(store, root=root, scan=scan)
    for entry in store.entries(0, None):
        yield entry_verdicts(ctx, entry)
