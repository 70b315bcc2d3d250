"""Re-derive the ledger from its stored bytes and report the first damage, by kind.

Checks, per entry in sequence order: the sequence is contiguous (deleted / reordered), the leaf
hash matches the stored envelope bytes (altered), the chain hash links to the previous one
(altered, reordered, forged chain), and the producer's DSSE signature verifies with the signer's
key (forged signature).  Then the head row agrees with what was read (truncated), and the Merkle
root of the entries matches every stored signed checkpoint (checkpoint mismatch).

Every row derived from the envelopes is recomputed and compared too, each with its own kind:
the entry's event id (``event_id_mismatch``), its kind, event time and signer columns
(``entry_field_mismatch``), the query index rows that audits and credits read
(``reference_index_mismatch``), the stored Merkle nodes that proofs are built from
(``merkle_node_mismatch``) and each checkpoint row against its signed note
(``checkpoint_row_mismatch``).  The key registry is not materialised anywhere: it is replayed
from the entries (:class:`RegistryCheck`), and so is consent.

The first damage named is the root cause: at one position, a damaged entry (altered,
reordered, forged or untrusted) comes before the derived rows and the checkpoint that merely
disagree with it as a consequence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import (
    AssetLedgerError,
    ConfigurationError,
    RejectedInput,
    VerificationFailure,
)
from ledger.events.base import format_time
from ledger.events.keyregistry import REGISTRY_RECORD
from ledger.events.kinds import kind_for_record
from ledger.index.replay import INDEX_ROOT_MISMATCH, INDEX_ROW_MISMATCH, IndexReplay
from ledger.log.checkpoint import Checkpoint, open_checkpoint
from ledger.log.entry_facts import EntryFacts, FactsPool
from ledger.log.merkle import EMPTY_ROOT, Node, NodeKey, leaf_hash, node_hash
from ledger.log.operator import log_identity
from ledger.store import Entry, LedgerStore, StoredCheckpoint
from ledger.store.base import GENESIS_CHAIN, chain_hash
from ledger.trust.dsse import Envelope, pae
from ledger.trust.keys import raw_public
from ledger.trust.parallel import check_one, default_workers
from ledger.trust.registry import Registry, TrustRoot
from ledger.trust.replay import META_ROOT_KEYS, load_grace, load_roots, replay_entry

ALTERED = "altered"
DELETED = "deleted"
REORDERED = "reordered"
TRUNCATED = "truncated"
FORGED_SIGNATURE = "forged_signature"
UNKNOWN_SIGNER = "unknown_signer"
CHECKPOINT_MISMATCH = "checkpoint_mismatch"
UNTRUSTED_SIGNER = "untrusted_signer"
REGISTRY_REFUSAL = "unauthorised_registry_entry"
# Derived rows that disagree with the envelopes they are computed from.
EVENT_ID_MISMATCH = "event_id_mismatch"
ENTRY_FIELD_MISMATCH = "entry_field_mismatch"
REFERENCE_INDEX_MISMATCH = "reference_index_mismatch"
MERKLE_NODE_MISMATCH = "merkle_node_mismatch"
CHECKPOINT_ROW_MISMATCH = "checkpoint_row_mismatch"
DERIVED_KINDS = frozenset(
    {
        INDEX_ROW_MISMATCH,
        EVENT_ID_MISMATCH,
        ENTRY_FIELD_MISMATCH,
        REFERENCE_INDEX_MISMATCH,
        MERKLE_NODE_MISMATCH,
        CHECKPOINT_ROW_MISMATCH,
    }
)
# At one position, damage to the entry itself is the cause; derived rows and checkpoints that
# disagree with it are consequences, named after it.
_CONSEQUENCE_RANK = {
    **dict.fromkeys(DERIVED_KINDS, 1),
    CHECKPOINT_MISMATCH: 2,
    INDEX_ROOT_MISMATCH: 2,
}
# Admission refusals that mean "signer not enrolled / not trusted" (verdict b); every other
# refusal means "enrolled, but the key was not valid then or not in scope" (verdict c).
UNTRUSTED_REASONS = frozenset({"not_enrolled", "unknown_key", "enrolment_unauthorised"})
MAX_CLASSIFIED_BREAKS = 50
GUARD_PARALLEL_FROM = 20_000  # entries from which check_prefix decodes in worker processes


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
    index_roots_checked: int = 0  # checkpoints whose index root the replay recomputed
    damage: list[Damage] = field(default_factory=list)
    verdicts: VerdictCounts = field(default_factory=lambda: VerdictCounts())

    @property
    def ok(self) -> bool:
        return not self.damage

    @property
    def first(self) -> Damage | None:
        """The root cause: the lowest position, damage to the entry before its consequences."""
        return min(self.damage, key=damage_order) if self.damage else None


def is_consequence(d: Damage) -> bool:
    return d.kind in _CONSEQUENCE_RANK


def damage_order(d: Damage) -> tuple[bool, int, int]:
    """Located damage first, by position; at one position, causes before consequences."""
    return d.seq is None, d.seq or 0, _CONSEQUENCE_RANK.get(d.kind, 0)


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


def _chunks(entries: Iterator[Entry], size: int) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    for e in entries:
        chunk.append(e)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


EntryVisit = Callable[[Entry, EntryFacts], bool]
ChunkEnd = Callable[[list[Entry], list[EntryFacts]], None]


def one_pass(
    entries: Iterator[Entry],
    pool: FactsPool,
    visit: EntryVisit,
    *,
    raw_key: Callable[[str], bytes | None] | None = None,
    end_chunk: ChunkEnd | None = None,
    progress: Progress | None = None,
    chunk_size: int = 4096,
) -> None:
    """Feed every entry, in ledger order, with the facts of its envelope to ``visit``.

    Each envelope is decoded once, in ``pool`` (with its recorded signer's signature checked
    when ``raw_key`` knows the key), while this process reads the next chunk; memory holds two
    chunks at most.  ``visit`` returns False to stop the pass; ``end_chunk`` runs after each
    chunk's last visit.  The one loop of :func:`verify_ledger` and :func:`check_prefix`: a new
    per-entry check is one more call in their ``visit``.
    """
    waiting: tuple[list[Entry], Callable[[], list[EntryFacts]]] | None = None

    def settle(chunk: list[Entry], facts: list[EntryFacts]) -> bool:
        for e, f in zip(chunk, facts, strict=True):
            if not visit(e, f):
                return False
        if end_chunk is not None:
            end_chunk(chunk, facts)
        if progress:
            progress(len(chunk))
        return True

    try:
        for chunk in _chunks(entries, chunk_size):
            jobs = [
                (
                    e.seq,
                    e.envelope,
                    e.signer_keyid,
                    None if raw_key is None else raw_key(e.signer_keyid),
                )
                for e in chunk
            ]
            derived = pool.submit(jobs)  # the workers decode this chunk while ...
            if waiting is not None and not settle(waiting[0], waiting[1]()):  # ... we check
                return
            waiting = chunk, derived
        if waiting is not None:
            settle(waiting[0], waiting[1]())
    finally:
        close = getattr(entries, "close", None)
        if close is not None:
            close()  # a generator: ends its database cursor now


def verify_ledger(
    store: LedgerStore,
    lookup: KeyLookup | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    chunk_size: int = 4096,
) -> VerifyReport:
    """Check the whole ledger; never stops at the first damage (the root cause is first).

    ``lookup`` gives the signers' public keys; without it the ledger's key registry is
    replayed and checked too (each entry admissible when appended, each enrolment authorised).
    One pass (:func:`one_pass`): each envelope is decoded once, its signature checked in the
    same worker, and every check below is fed from those facts in ledger order.
    """
    head = store.head()
    report = VerifyReport(size=head.size)
    walker = _ChainWalker(report)
    checkpoints = _CheckpointChecker(store, report)
    registry = registry_check(store, report) if lookup is None else None
    index = IndexReplay(store)
    if lookup is None:
        if registry is None:
            raise ConfigurationError(
                f"ledger {store.url} has no key registry, so the signers' keys are unknown",
                hint="pass --trusted-keys DIR with the signers' *.pub files",
            )
        lookup = registry.lookup
    raw_key = raw_keys(lookup)
    signatures = SignatureVerdicts(report, raw_key)
    nodes: list[Node] = []
    # Last before the try: it opens the scan of the index rows, which only derived.close()
    # ends (left open, it outlives the store and fails when the garbage collector ends it).
    derived = DerivedCheck(store, report)

    def visit(e: Entry, facts: EntryFacts) -> bool:
        leaf = walker.visit(e)
        nodes.extend(checkpoints.add(leaf))
        derived.visit(e, facts)
        index.visit_keys(e.seq, facts.index_keys or ())
        if registry is not None:
            registry.visit(e, facts)
        return True

    def end_chunk(chunk: list[Entry], facts: list[EntryFacts]) -> None:
        derived.flush()
        derived.check_nodes(nodes)
        nodes.clear()
        # After the chunk's registry entries are replayed: keys they enrol are known.
        for e, f in zip(chunk, facts, strict=True):
            signatures.visit(e, f)

    try:
        with FactsPool(
            workers,
            validating=registry is not None,
            index_below=index.horizon,
            index_rule=index.rule,
        ) as pool:
            one_pass(
                store.entries(0, None),
                pool,
                visit,
                raw_key=raw_key,
                end_chunk=end_chunk,
                progress=progress,
                chunk_size=chunk_size,
            )
    finally:
        derived.close()
    checkpoints.finish()
    index_damage(index, report)
    if registry is not None:
        registry.finish()
    _classify_breaks(store, walker.breaks, report)
    derived.finish(checkpoints.tracker.size, checkpoints)
    _check_head(store, head.size, walker, report)
    _name_consequences(report)
    return report


def index_damage(index: IndexReplay, report: VerifyReport) -> None:
    """The authenticated index replayed: committed roots and stored rows that differ."""
    report.damage += [Damage(f.kind, f.seq, None, f.detail) for f in index.finish()]
    report.index_roots_checked = index.checked


def _name_consequences(report: VerifyReport) -> None:
    """Sort the damage (root causes first) and say what each consequence follows from."""
    causes = sorted(
        (d for d in report.damage if not is_consequence(d) and d.seq is not None), key=damage_order
    )
    named = []
    for d in report.damage:
        cause = None
        if d.kind in (CHECKPOINT_MISMATCH, INDEX_ROOT_MISMATCH) and d.seq is not None:
            cause = next((c for c in causes if (c.seq or 0) <= d.seq), None)
        elif is_consequence(d) and d.seq is not None:
            cause = next((c for c in causes if c.seq == d.seq), None)
        if cause is not None:
            detail = f"{d.detail} (a consequence of the {cause.kind} at entry {cause.seq})"
            d = dataclasses.replace(d, detail=detail)
        named.append(d)
    report.damage = sorted(named, key=damage_order)


class SignatureVerdicts:
    """Verdict (a): the recorded signer's signature over each envelope verifies.

    The workers checked it when the key was known as the chunk was read; a key learned since
    (enrolled in the chunk) is checked here.
    """

    def __init__(self, report: VerifyReport, raw_key: Callable[[str], bytes | None]) -> None:
        self.report = report
        self.raw_key = raw_key

    def _damage(self, kind: str, e: Entry, detail: str) -> None:
        self.report.damage.append(Damage(kind, e.seq, e.event_id, detail))

    def visit(self, e: Entry, facts: EntryFacts) -> None:
        if facts.envelope_problem is not None:
            self._damage(ALTERED, e, facts.envelope_problem)
            return
        key = self.raw_key(e.signer_keyid)
        if key is None:
            self._damage(UNKNOWN_SIGNER, e, f"signer key {e.signer_keyid[:16]}… is not known")
            return
        if facts.signature is None:
            self._damage(FORGED_SIGNATURE, e, "envelope has no signature by its recorded signer")
            return
        verified, checked_with = facts.signature
        if verified is None or checked_with != key:
            verified = _check_here(e, key)
        self.report.signatures_checked += 1
        if verified:
            self.report.verdicts.signature_valid += 1
        else:
            self._damage(FORGED_SIGNATURE, e, "producer signature does not verify")


def _check_here(e: Entry, key: bytes) -> bool:
    env = Envelope.decode(e.envelope)
    sig = next(s.sig for s in env.signatures if s.keyid == e.signer_keyid)
    return check_one((key, sig, pae(env.payload_type, env.payload)))


class _RootTracker:
    """Streaming RFC 6962 root of the leaves seen so far (O(log n) memory)."""

    def __init__(self) -> None:
        # the hashes of the complete subtrees, left to right: one per 1 bit of the size
        self.stack: list[bytes] = []
        self.size = 0

    def add(self, leaf: bytes) -> list[Node]:
        """Add the next leaf; return the complete nodes it finishes, the leaf's own first."""
        index = self.size
        self.size = index + 1
        nodes: list[Node] = [((0, index), leaf)]
        level, value, below = 0, leaf, index
        while below & 1:  # each trailing 1 bit of the index: a subtree this leaf completes
            level, value, below = level + 1, node_hash(self.stack.pop(), value), below >> 1
            nodes.append(((level, below), value))
        self.stack.append(value)
        return nodes

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        value = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


class _CheckpointChecker:
    """Compares every stored signed checkpoint with the root recomputed from the entries."""

    def __init__(self, store: LedgerStore, report: VerifyReport) -> None:
        self.report = report
        self.tracker = _RootTracker()
        self.pending: list[tuple[StoredCheckpoint, Checkpoint]] = []
        self.mismatched: list[Checkpoint] = []
        identity = log_identity(store)
        for stored in store.checkpoints() if identity else []:
            assert identity is not None
            try:
                opened = open_checkpoint(stored.note, identity.origin, identity.public_key)
            except VerificationFailure as exc:
                detail = f"checkpoint of size {stored.size} does not verify: {exc.message}"
                report.damage.append(Damage(CHECKPOINT_MISMATCH, None, None, detail))
                continue
            if (opened.size, opened.root_hash) != (stored.size, stored.root_hash):
                detail = (
                    f"the checkpoint row of size {stored.size}"
                    f" (root {stored.root_hash.hex()[:16]}…)"
                    f" differs from its signed note (size {opened.size},"
                    f" root {opened.root_hash.hex()[:16]}…)"
                )
                seq = max(stored.size - 1, 0)
                report.damage.append(Damage(CHECKPOINT_ROW_MISMATCH, seq, None, detail))
            self.pending.append((stored, opened))
        self.pending.sort(key=lambda p: p[1].size)

    def add(self, leaf: bytes) -> list[Node]:
        """The next entry's leaf hash, recomputed from its envelope; the nodes it completes."""
        nodes = self.tracker.add(leaf)
        while self.pending and self.pending[0][1].size == self.tracker.size:
            self._compare(self.pending.pop(0)[1])
        return nodes

    def _compare(self, opened: Checkpoint) -> None:
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
            self.mismatched.append(opened)

    def finish(self) -> None:
        for _, opened in self.pending:
            detail = (
                f"signed checkpoint of size {opened.size} is beyond the {self.tracker.size} entries"
            )
            self.report.damage.append(Damage(TRUNCATED, self.tracker.size, None, detail))


class _RefRows:
    """The stored index rows, streamed in ``seq`` order and taken entry by entry."""

    def __init__(self, rows: Iterator[tuple[int, str, str]]) -> None:
        self.rows = rows
        self.next = next(rows, None)

    def upto(self, last: int) -> list[tuple[int, str, str]]:
        """Every row not taken yet at positions up to ``last``, in order."""
        taken: list[tuple[int, str, str]] = []
        rows, row = self.rows, self.next
        while row is not None and row[0] <= last:
            taken.append(row)
            row = next(rows, None)
        self.next = row
        return taken

    def rest(self) -> set[int]:
        left: set[int] = set()
        while self.next is not None:
            left.add(self.next[0])
            self.next = next(self.rows, None)
        return left

    def close(self) -> None:
        close = getattr(self.rows, "close", None)
        if close is not None:
            close()  # a generator: ends its database cursor now


def _pairs(rows: set[tuple[str, str]], limit: int = 3) -> str:
    shown = ", ".join(f"{kind}={key!r}" for kind, key in sorted(rows)[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


class DerivedCheck:
    """Recomputes, from each envelope, every row stored beside it and compares.

    The entry's event id, kind and event time columns, its query index rows and the complete
    Merkle nodes.  Streams: the index rows come in one ordered scan, the nodes a chunk at a time.
    """

    def __init__(self, store: LedgerStore, report: VerifyReport) -> None:
        self.store = store
        self.report = report
        self.refs = _RefRows(store.all_refs())
        # Visited entries whose index rows are not compared yet: (seq, event id, the event's
        # rows; None when the envelope or event no longer decodes: its rows are not compared)
        self.pending: list[tuple[int, str | None, tuple[tuple[str, str], ...] | None]] = []
        # level-0 nodes that differ from the entry's leaf: position -> (stored, recomputed)
        self.leaves: dict[int, tuple[bytes, bytes]] = {}

    def _damage(self, kind: str, seq: int | None, event_id: str | None, detail: str) -> None:
        self.report.damage.append(Damage(kind, seq, event_id, detail))

    def visit(self, e: Entry, facts: EntryFacts) -> None:
        """Check one entry's columns; its index rows are compared at :meth:`flush`."""
        if facts.envelope_problem is not None:
            # reported with the signature verdict (verify) or by the leaf hash (guard)
            self.pending.append((e.seq, e.event_id, None))
            return
        if facts.event_problem is not None:
            self._damage(ALTERED, e.seq, e.event_id, facts.event_problem)
            self.pending.append((e.seq, e.event_id, None))
            return
        columns = (facts.event_id, facts.record, facts.event_time)
        if columns != (e.event_id, e.kind, e.event_time):
            self._columns(e, facts)
        self.pending.append((e.seq, e.event_id, facts.refs))

    def flush(self) -> None:
        """Compare the stored index rows of the entries visited since the last flush.

        One comparison for them all (the rows up to the last one visited: a list comparison
        when the store gives them in the facts' order, else as sets); only when they differ,
        entry by entry: rows at positions that have no entry, and each entry's rows
        against its event's.
        """
        pending, self.pending = self.pending, []
        if not pending:
            return
        stored = self.refs.upto(pending[-1][0])
        listed = [(seq, kind, key) for seq, _, refs in pending if refs for kind, key in refs]
        if stored == listed:  # both in (seq, kind, key) order: the store's and the facts'
            return
        expected = set(listed)
        undecoded = {seq for seq, _, refs in pending if refs is None}
        rows = set(stored) if not undecoded else {r for r in stored if r[0] not in undecoded}
        if rows == expected:
            return
        by_seq: dict[int, set[tuple[str, str]]] = {}
        for seq, kind, key in rows:
            by_seq.setdefault(seq, set()).add((kind, key))
        visited = {seq for seq, _, _ in pending}
        for at in sorted(set(by_seq) - visited):
            self._damage(
                REFERENCE_INDEX_MISMATCH,
                at,
                None,
                f"index rows point to entry {at}, which is not in the ledger",
            )
        for seq, event_id, refs in pending:
            if refs is None:
                continue
            want, have = set(refs), by_seq.get(seq, set())
            if want != have:
                self._ref_damage(seq, event_id, want, have)

    def close(self) -> None:
        self.refs.close()

    def _columns(self, e: Entry, facts: EntryFacts) -> None:
        true_id = facts.event_id
        if true_id != e.event_id:
            self._damage(
                EVENT_ID_MISMATCH,
                e.seq,
                true_id,
                f"entry is stored under event id {e.event_id!r}, but its signed envelope"
                f" holds event {true_id}",
            )
        if facts.record != e.kind:
            self._damage(
                ENTRY_FIELD_MISMATCH,
                e.seq,
                true_id,
                f"kind column says {e.kind!r}, the envelope holds a {facts.record}",
            )
        if facts.event_time != e.event_time:
            shown = "none" if facts.event_time is None else format_time(facts.event_time)
            self._damage(
                ENTRY_FIELD_MISMATCH,
                e.seq,
                true_id,
                f"event_time column says {format_time(e.event_time)}, the signed"
                f" event says {shown}",
            )

    def _ref_damage(
        self,
        seq: int,
        event_id: str | None,
        expected: set[tuple[str, str]],
        stored: set[tuple[str, str]],
    ) -> None:
        parts = []
        if expected - stored:
            parts.append(f"missing {_pairs(expected - stored)}")
        if stored - expected:
            parts.append(f"not in the event: {_pairs(stored - expected)}")
        self._damage(
            REFERENCE_INDEX_MISMATCH,
            seq,
            event_id,
            "query index rows differ from the event's: " + "; ".join(parts),
        )

    def check_nodes(self, nodes: list[Node]) -> None:
        """Each stored node must be the hash of its stored children (a leaf: of its entry)."""
        wanted: dict[NodeKey, None] = {}
        for (level, idx), _ in nodes:
            wanted[(level, idx)] = None
            if level:
                wanted[(level - 1, 2 * idx)] = wanted[(level - 1, 2 * idx + 1)] = None
        stored = self.store.get_nodes(list(wanted))
        for (level, idx), value in nodes:
            got = stored.get((level, idx))
            last = ((idx + 1) << level) - 1
            if got is None:
                self._damage(
                    MERKLE_NODE_MISMATCH, last, None, f"Merkle node ({level}, {idx}) is missing"
                )
            elif level == 0:
                if got != value:
                    self.leaves[idx] = (got, value)
            else:
                left, right = stored.get((level - 1, 2 * idx)), stored.get((level - 1, 2 * idx + 1))
                if left is not None and right is not None and got != node_hash(left, right):
                    self._damage(
                        MERKLE_NODE_MISMATCH,
                        last,
                        None,
                        f"stored Merkle node ({level}, {idx}) is not the hash of its"
                        " two stored children",
                    )

    def finish(self, leaves: int, checkpoints: _CheckpointChecker) -> None:
        self.flush()
        for at in sorted(self.refs.rest()):
            self._damage(
                REFERENCE_INDEX_MISMATCH,
                at,
                None,
                f"index rows point to entry {at}, which is not in the ledger",
            )
        self._diagnose_leaves(checkpoints)
        expected = 2 * leaves - leaves.bit_count()
        stored = self.store.node_count()
        if stored > expected:
            self._damage(
                MERKLE_NODE_MISMATCH,
                None,
                None,
                f"{stored - expected} stored Merkle node(s) beyond the {leaves} entries'"
                f" tree ({expected} nodes): a later append would collide with them",
            )

    def _diagnose_leaves(self, checkpoints: _CheckpointChecker) -> None:
        """A stored leaf that differs from its entry: which of the two changed?

        An entry whose leaf is stored at another differing position was moved (reordered).
        An entry whose stored leaf agrees with a signed checkpoint (the stored tree gives that
        checkpoint's root) was rewritten along with its leaf and chain hashes (altered).
        Otherwise the stored node itself was overwritten.
        """
        if not self.leaves:
            return
        located = {d.seq for d in self.report.damage if not is_consequence(d)}
        moved = {stored: at for at, (stored, _) in self.leaves.items()}
        for at, (_, actual) in sorted(self.leaves.items()):
            origin = moved.get(actual)
            signed = self._authentic_tree(at, checkpoints)
            if at in located:
                kind, detail = MERKLE_NODE_MISMATCH, "stored leaf hash differs from the entry's"
            elif origin is not None and origin != at:
                kind = REORDERED
                detail = (
                    f"entry was moved here from position {origin} (the stored tree has it there)"
                )
            elif signed is not None:
                kind = ALTERED
                detail = (
                    f"entry differs from the one the signed checkpoint of size {signed} commits"
                    " to here (rewritten together with its leaf and chain hashes)"
                )
            else:
                kind, detail = MERKLE_NODE_MISMATCH, "stored leaf hash differs from the entry's"
            self._damage(kind, at, None, detail)

    def _authentic_tree(self, at: int, checkpoints: _CheckpointChecker) -> int | None:
        """The size of a mismatched signed checkpoint over ``at`` that the stored tree matches."""
        for opened in checkpoints.mismatched:
            if opened.size > at:
                try:
                    if self.store.tree(opened.size).root() == opened.root_hash:
                        return opened.size
                except AssetLedgerError:
                    return None
        return None


def check_prefix(
    store: LedgerStore,
    size: int,
    root: bytes,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Does what an audit reads below ``size`` match the tree whose root is ``root``?

    One pass over the first ``size`` entries, without signature checks: the RFC 6962 root
    recomputed from the stored envelopes must equal ``root`` (so every envelope read is the one
    the checkpoint commits to), and every entry's event id, kind and event time columns and
    query index rows must be those its envelope gives (so the index an audit follows neither
    hides nor invents entries).  Cost: one read, one SHA-256 and one Avro decoding per entry;
    the decoding in ``workers`` processes (:func:`one_pass`, as :func:`verify_ledger`; by
    default all cores from :data:`GUARD_PARALLEL_FROM` entries on, else this process).
    """
    report = VerifyReport(size=size)
    tracker = _RootTracker()
    stopped = False
    if workers is None:  # starting processes costs about a second: worth it on large ledgers
        workers = default_workers() if size >= GUARD_PARALLEL_FROM else 1
    derived = DerivedCheck(store, report)  # last before the try, as in verify_ledger

    def visit(e: Entry, facts: EntryFacts) -> bool:
        nonlocal stopped
        if e.seq != tracker.size:
            report.damage.append(Damage(DELETED, tracker.size, None, "entry missing"))
            stopped = True
            return False
        leaf = leaf_hash(e.envelope)
        if leaf != e.leaf_hash:
            detail = "envelope bytes differ from the leaf hash"
            report.damage.append(Damage(ALTERED, e.seq, e.event_id, detail))
        tracker.add(leaf)
        derived.visit(e, facts)
        report.checked += 1
        return True

    try:
        with FactsPool(workers) as pool:
            one_pass(
                store.entries(0, size),
                pool,
                visit,
                end_chunk=lambda chunk, facts: derived.flush(),
                progress=progress,
            )
        derived.flush()  # the entries before a missing one
    finally:
        derived.close()
    if stopped:  # an entry is missing: no root to compare
        _name_consequences(report)
        return report
    if tracker.size < size:
        detail = f"only {tracker.size} of the {size} entries are stored"
        report.damage.append(Damage(TRUNCATED, tracker.size, None, detail))
    elif tracker.root() != root:
        detail = (
            f"the entries give root {tracker.root().hex()[:16]}…, the tree read commits to"
            f" {root.hex()[:16]}…"
        )
        report.damage.append(Damage(CHECKPOINT_MISMATCH, max(size - 1, 0), None, detail))
    _name_consequences(report)
    return report


class RegistryCheck:
    """Replays the key registry alongside the walk, as the consumer applied it.

    Each entry must have been admissible (signer enrolled, key valid at the event time and at
    its arrival, in scope) under the registry as it stood just before it; every registry entry
    must have been authorised.  The replayed registry is also the key lookup for the signature
    checks.
    """

    def __init__(self, root: TrustRoot, report: VerifyReport, grace: timedelta) -> None:
        self.registry = Registry(root, grace=grace)
        self.report = report
        report.verdicts.signer_trusted = report.verdicts.key_valid = 0

    def lookup(self, keyid: str) -> Ed25519PublicKey | None:
        return self.registry.public_key(keyid)

    def visit(self, e: Entry, facts: EntryFacts) -> None:
        if not facts.decoded or facts.record is None or facts.event is None:
            return  # an entry that no longer decodes is reported by the other checks
        if not facts.valid:
            return  # reported as damage elsewhere (signature check, registry replay)
        kind = kind_for_record(facts.record)
        counts = self.report.verdicts
        if kind.record == REGISTRY_RECORD:
            refused = len(self.registry.refusals)
            replay_entry(self.registry, e)
            if len(self.registry.refusals) == refused:  # authorised when appended
                counts.signer_trusted = (counts.signer_trusted or 0) + 1
                counts.key_valid = (counts.key_valid or 0) + 1
            return
        try:
            keyid, _ = self.registry.admit(
                facts.envelope(), kind, facts.event, received_at=e.ingested_at
            )
        except RejectedInput as exc:
            detail = f"signer not admissible when appended ({exc.reason}): {exc.message}"
            self.report.damage.append(Damage(UNTRUSTED_SIGNER, e.seq, e.event_id, detail))
            if exc.reason not in UNTRUSTED_REASONS:
                counts.signer_trusted = (counts.signer_trusted or 0) + 1
            return
        if keyid != e.signer_keyid:
            self.report.damage.append(
                Damage(
                    ENTRY_FIELD_MISMATCH,
                    e.seq,
                    e.event_id,
                    f"signer column says key {e.signer_keyid[:16]}…, the registry admits the event"
                    f" as signed by key {keyid[:16]}…",
                )
            )
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
    return RegistryCheck(load_roots(store), report, load_grace(store))


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
