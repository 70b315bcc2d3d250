"""Re-derive the ledger from its stored bytes and report the first damage, by kind.

Checks, per entry in sequence order: the sequence is contiguous (deleted / reordered), the leaf
hash matches the stored envelope bytes (altered), the chain hash links to the previous one
(altered, reordered, forged chain), and the producer's DSSE signature verifies with the signer's
key (forged signature).  Then the head row agrees with what was read (truncated), and the Merkle
root of the entries matches every stored signed checkpoint (checkpoint mismatch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import ConfigurationError, DecodeError, RejectedInput, VerificationFailure
from ledger.events.keyregistry import REGISTRY_RECORD
from ledger.events.kinds import kind_for_payload_type
from ledger.log.checkpoint import Checkpoint, open_checkpoint
from ledger.log.merkle import EMPTY_ROOT, leaf_hash, node_hash
from ledger.log.operator import log_identity
from ledger.store import Entry, LedgerStore, StoredCheckpoint
from ledger.store.base import GENESIS_CHAIN, chain_hash
from ledger.trust.dsse import Envelope, pae
from ledger.trust.keys import raw_public
from ledger.trust.parallel import SignatureCheck, SignatureChecker
from ledger.trust.registry import Registry, TrustRoot
from ledger.trust.replay import META_ROOT_KEYS, decode_event, load_roots, replay_entry

ALTERED = "altered"
DELETED = "deleted"
REORDERED = "reordered"
TRUNCATED = "truncated"
FORGED_SIGNATURE = "forged_signature"
UNKNOWN_SIGNER = "unknown_signer"
CHECKPOINT_MISMATCH = "checkpoint_mismatch"
UNTRUSTED_SIGNER = "untrusted_signer"
REGISTRY_REFUSAL = "unauthorised_registry_entry"
# Admission refusals that mean "signer not enrolled / not trusted" (verdict b); every other
# refusal means "enrolled, but the key was not valid then or not in scope" (verdict c).
UNTRUSTED_REASONS = frozenset({"not_enrolled", "unknown_key", "enrolment_unauthorised"})
MAX_CLASSIFIED_BREAKS = 50


@dataclass(frozen=True)
class Damage:
    kind: str
    seq: int | None
    event_id: str | None
    detail: str


@dataclass
class VerdictCounts:
    """How many entries passed each of the four verdicts (``None``: not judged here)."""

    signature_valid: int = 0
    signer_trusted: int | None = None  # enrolled in the registry when appended
    key_valid: int | None = None  # valid at the event time and in scope
    anchored: int = 0  # covered by a verified signed checkpoint


@dataclass
class VerifyReport:
    size: int = 0
    checked: int = 0
    signatures_checked: int = 0
    checkpoints_checked: int = 0
    damage: list[Damage] = field(default_factory=list)
    verdicts: VerdictCounts = field(default_factory=lambda: VerdictCounts())

    @property
    def ok(self) -> bool:
        return not self.damage

    @property
    def first(self) -> Damage | None:
        located = [d for d in self.damage if d.seq is not None]
        if located:
            return min(located, key=lambda d: d.seq or 0)
        return self.damage[0] if self.damage else None


KeyLookup = Callable[[str], Ed25519PublicKey | None]
Progress = Callable[[int], None]


def keys_lookup(keys: Mapping[str, Ed25519PublicKey]) -> KeyLookup:
    return keys.get


class _ChainWalker:
    """Walks entries in order, recording structural damage; chain breaks are classified later."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        self.expected_seq = 0
        self.previous = GENESIS_CHAIN
        self.breaks: list[Entry] = []

    def visit(self, e: Entry) -> bytes:
        """Check one entry; return the leaf hash recomputed from its envelope."""
        r = self.report
        if e.seq != self.expected_seq:
            missing = f"entries {self.expected_seq}..{e.seq - 1} are missing"
            r.damage.append(Damage(DELETED, self.expected_seq, None, missing))
        leaf = leaf_hash(e.envelope)
        if leaf != e.leaf_hash:
            detail = "envelope bytes differ from the leaf hash"
            r.damage.append(Damage(ALTERED, e.seq, e.event_id, detail))
        elif chain_hash(self.previous, e.leaf_hash) != e.chain_hash:
            self.breaks.append(e)
        self.previous = e.chain_hash
        self.expected_seq = e.seq + 1
        r.checked += 1
        return leaf


def _classify_breaks(store: LedgerStore, breaks: list[Entry], report: VerifyReport) -> None:
    """A chain break whose link is explained by another stored entry is a reordering."""
    if not breaks:
        return
    position = {e.chain_hash: e.seq for e in store.entries(0, None)}
    position[GENESIS_CHAIN] = -1
    for i, e in enumerate(breaks):
        if i >= MAX_CLASSIFIED_BREAKS:  # each costs a pass over all hashes; the first matter
            report.damage.append(Damage(ALTERED, e.seq, e.event_id, "chain link broken"))
            continue
        moved_from = next(
            (
                seq
                for prev, seq in position.items()
                if chain_hash(prev, e.leaf_hash) == e.chain_hash
            ),
            None,
        )
        if moved_from is not None:
            detail = f"entry belongs right after entry {moved_from}, not here"
            report.damage.append(Damage(REORDERED, e.seq, e.event_id, detail))
        else:
            detail = "chain hash does not link to the previous entry"
            report.damage.append(Damage(ALTERED, e.seq, e.event_id, detail))


def _decode_envelope(e: Entry) -> Envelope | Damage:
    try:
        return Envelope.decode(e.envelope)
    except DecodeError as exc:
        return Damage(
            ALTERED, e.seq, e.event_id, f"stored envelope no longer decodes: {exc.message}"
        )


def raw_keys(lookup: KeyLookup) -> Callable[[str], bytes | None]:
    """``lookup`` giving raw public key bytes, remembered per key id (a key id names one key)."""
    cache: dict[str, bytes] = {}

    def raw(keyid: str) -> bytes | None:
        found = cache.get(keyid)
        if found is None:
            key = lookup(keyid)
            if key is None:
                return None
            found = cache[keyid] = raw_public(key)
        return found

    return raw


def _signature_item(
    e: Entry, env: Envelope | Damage, raw_key: Callable[[str], bytes | None]
) -> SignatureCheck | Damage:
    if isinstance(env, Damage):
        return env
    key = raw_key(e.signer_keyid)
    if key is None:
        return Damage(
            UNKNOWN_SIGNER, e.seq, e.event_id, f"signer key {e.signer_keyid[:16]}… is not known"
        )
    sig = next((s.sig for s in env.signatures if s.keyid == e.signer_keyid), None)
    if sig is None:
        return Damage(
            FORGED_SIGNATURE, e.seq, e.event_id, "envelope has no signature by its recorded signer"
        )
    return key, sig, pae(env.payload_type, env.payload)


def _chunks(entries: Iterator[Entry], size: int) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    for e in entries:
        chunk.append(e)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def verify_ledger(
    store: LedgerStore,
    lookup: KeyLookup | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    chunk_size: int = 4096,
) -> VerifyReport:
    """Check the whole ledger; never stops at the first damage (it is reported first).

    ``lookup`` gives the signers' public keys; without it the ledger's key registry is
    replayed and checked too (each entry admissible when appended, each enrolment authorised).
    """
    head = store.head()
    report = VerifyReport(size=head.size)
    walker = _ChainWalker(report)
    checkpoints = _CheckpointChecker(store, report)
    registry = registry_check(store, report) if lookup is None else None
    if lookup is None:
        if registry is None:
            raise ConfigurationError(
                f"ledger {store.url} has no key registry, so the signers' keys are unknown",
                hint="pass --trusted-keys DIR with the signers' *.pub files",
            )
        lookup = registry.lookup
    raw_key = raw_keys(lookup)
    with SignatureChecker(workers) as checker:
        waiting: Callable[[], None] | None = None
        for chunk in _chunks(store.entries(0, None), chunk_size):
            decoded = [(e, _decode_envelope(e)) for e in chunk]  # once, for both checks
            for e, envelope in decoded:
                checkpoints.add(walker.visit(e))
                if registry is not None:
                    registry.visit(e, envelope)
            # Workers check this chunk's signatures while the next chunk is read and hashed.
            submitted = _submit_signatures(decoded, raw_key, checker, report)
            if waiting is not None:
                waiting()
            waiting = submitted
            if progress:
                progress(len(chunk))
        if waiting is not None:
            waiting()
    checkpoints.finish()
    if registry is not None:
        registry.finish()
    _classify_breaks(store, walker.breaks, report)
    _check_head(store, head.size, walker, report)
    return report


def _submit_signatures(
    decoded: list[tuple[Entry, Envelope | Damage]],
    raw_key: Callable[[str], bytes | None],
    checker: SignatureChecker,
    report: VerifyReport,
) -> Callable[[], None]:
    """Start checking a chunk's signatures; the returned function records the results."""
    items = [(e, _signature_item(e, env, raw_key)) for e, env in decoded]
    checks = [(e, i) for e, i in items if not isinstance(i, Damage)]
    report.damage.extend(i for _, i in items if isinstance(i, Damage))
    results = checker.submit([i for _, i in checks])

    def record() -> None:
        oks = results()
        report.signatures_checked += len(checks)
        report.verdicts.signature_valid += sum(oks)
        for (e, _), ok in zip(checks, oks, strict=True):
            if not ok:
                detail = "producer signature does not verify"
                report.damage.append(Damage(FORGED_SIGNATURE, e.seq, e.event_id, detail))

    return record


class _RootTracker:
    """Streaming RFC 6962 root of the leaves seen so far (O(log n) memory)."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (subtree size, hash), left to right
        self.size = 0

    def add(self, leaf: bytes) -> None:
        size, value = 1, leaf
        while self.stack and self.stack[-1][0] == size:
            left_size, left = self.stack.pop()
            size, value = left_size + size, node_hash(left, value)
        self.stack.append((size, value))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


class _CheckpointChecker:
    """Compares every stored signed checkpoint with the root recomputed from the entries."""

    def __init__(self, store: LedgerStore, report: VerifyReport) -> None:
        self.report = report
        self.tracker = _RootTracker()
        self.pending: list[tuple[StoredCheckpoint, Checkpoint]] = []
        identity = log_identity(store)
        for stored in store.checkpoints() if identity else []:
            assert identity is not None
            try:
                opened = open_checkpoint(stored.note, identity.origin, identity.public_key)
            except VerificationFailure as exc:
                detail = f"checkpoint of size {stored.size} does not verify: {exc.message}"
                report.damage.append(Damage(CHECKPOINT_MISMATCH, None, None, detail))
                continue
            self.pending.append((stored, opened))

    def add(self, leaf: bytes) -> None:
        """The next entry's leaf hash, recomputed from its envelope."""
        self.tracker.add(leaf)
        while self.pending and self.pending[0][1].size == self.tracker.size:
            self._compare(*self.pending.pop(0))

    def _compare(self, stored: StoredCheckpoint, opened: Checkpoint) -> None:
        self.report.checkpoints_checked += 1
        if opened.root_hash == self.tracker.root():
            self.report.verdicts.anchored = opened.size
        else:
            detail = (
                f"signed checkpoint of size {opened.size} has root {opened.root_hash.hex()[:16]}…,"
                f" the entries give {self.tracker.root().hex()[:16]}…"
            )
            seq = max(opened.size - 1, 0)
            self.report.damage.append(Damage(CHECKPOINT_MISMATCH, seq, None, detail))

    def finish(self) -> None:
        for _, opened in self.pending:
            detail = (
                f"signed checkpoint of size {opened.size} is beyond the {self.tracker.size} entries"
            )
            self.report.damage.append(Damage(TRUNCATED, self.tracker.size, None, detail))


class RegistryCheck:
    """Replays the key registry alongside the walk, as the consumer applied it.

    Each entry must have been admissible (signer enrolled, key valid at the event time, in
    scope) under the registry as it stood just before it; every registry entry must have been
    authorised.  The replayed registry is also the key lookup for the signature checks.
    """

    def __init__(self, root: TrustRoot, report: VerifyReport) -> None:
        self.registry = Registry(root)
        self.report = report
        report.verdicts.signer_trusted = report.verdicts.key_valid = 0

    def lookup(self, keyid: str) -> Ed25519PublicKey | None:
        return self.registry.public_key(keyid)

    def visit(self, e: Entry, envelope: Envelope | Damage) -> None:
        if isinstance(envelope, Damage):
            return  # an entry that no longer decodes is reported by the signature check
        try:
            kind = kind_for_payload_type(envelope.payload_type)
            event = decode_event(e, envelope)
        except RejectedInput:
            return  # reported as damage elsewhere (signature check, registry replay)
        counts = self.report.verdicts
        if kind.record == REGISTRY_RECORD:
            refused = len(self.registry.refusals)
            replay_entry(self.registry, e)
            if len(self.registry.refusals) == refused:  # authorised when appended
                counts.signer_trusted = (counts.signer_trusted or 0) + 1
                counts.key_valid = (counts.key_valid or 0) + 1
            return
        try:
            self.registry.admit(envelope, kind, event)
        except RejectedInput as exc:
            detail = f"signer not admissible when appended ({exc.reason}): {exc.message}"
            self.report.damage.append(Damage(UNTRUSTED_SIGNER, e.seq, e.event_id, detail))
            if exc.reason not in UNTRUSTED_REASONS:
                counts.signer_trusted = (counts.signer_trusted or 0) + 1
            return
        counts.signer_trusted = (counts.signer_trusted or 0) + 1
        counts.key_valid = (counts.key_valid or 0) + 1

    def finish(self) -> None:
        for r in self.registry.refusals:
            detail = f"registry entry refused on replay ({r.reason}): {r.detail}"
            self.report.damage.append(Damage(REGISTRY_REFUSAL, r.seq, r.event_id, detail))


def registry_check(store: LedgerStore, report: VerifyReport) -> RegistryCheck | None:
    """A registry replay for ledgers created with root keys, else None."""
    if store.get_meta(META_ROOT_KEYS) is None:
        return None
    return RegistryCheck(load_roots(store), report)


def _check_head(store: LedgerStore, size: int, walker: _ChainWalker, report: VerifyReport) -> None:
    if walker.expected_seq < size:
        report.damage.append(
            Damage(
                TRUNCATED,
                walker.expected_seq,
                None,
                f"the ledger head says {size} entries but only {walker.expected_seq} remain",
            )
        )
    elif walker.previous != store.head().chain_hash and size:
        report.damage.append(
            Damage(ALTERED, size - 1, None, "the head's chain hash differs from the last entry's")
        )
