"""Keeping the map: derive the index keys of new entries and fold them into the stored tree.

The map at ledger size ``N + k`` is the map at ``N`` plus the keys of entries ``N … N+k-1``
(:func:`fold`), whether computed into the store at checkpoint time (:func:`update_index`) or in
memory (:class:`MemoryMap`; the replay of ``verify`` and the monitor keeps the same map in
bounded memory, ``ledger.index.replay.ReplayMap``).  Its root goes into every signed
checkpoint as the extension line ``index/v1 <base64 root>`` (:func:`extension_line`), or
``index/v2 <base64 root>`` on a ledger whose index rule (ledger meta ``index_rule``, fixed at
init) is ``v2``: the line names the rule its root was derived under.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import ledger.index.smt as smt
from ledger.errors import RejectedInput, StoreError
from ledger.events.encoding import SingleObjectFraming, reader_framing
from ledger.events.kinds import kind_for_payload_type
from ledger.index.keys import INDEX_RULES, RULE_V1, RULE_V2, check_rule, event_keys
from ledger.store import Entry, LedgerStore
from ledger.store.index_tables import IndexTables, KeyRow, ListRow
from ledger.trust.dsse import Envelope

EXTENSION_PREFIX = "index/v1 "
"""The checkpoint extension line carrying a ``v1`` map root: ``index/v1 <base64 root>``."""
LINE_TAGS = {f"index/{rule}": rule for rule in INDEX_RULES}

META_INDEX_RULE = "index_rule"
"""Ledger meta naming the ledger's index rule; absent = ``v1`` (ledgers older than ``v2``)."""
NEW_LEDGER_RULE = RULE_V2
"""The rule a ledger created now gets (:func:`set_new_ledger_rule`)."""


def index_rule(store: LedgerStore) -> str:
    """The ledger's index rule: meta ``index_rule``, ``v1`` when absent."""
    value = store.get_meta(META_INDEX_RULE)
    if value is None:
        return RULE_V1
    if value not in INDEX_RULES:
        raise StoreError(
            f"the ledger's index rule {value!r} is not one this version knows"
            f" ({', '.join(INDEX_RULES)})",
            hint="upgrade assetledger",
        )
    return value


def set_new_ledger_rule(store: LedgerStore) -> None:
    """Fix a new ledger's index rule at :data:`NEW_LEDGER_RULE` (a ledger with entries or an
    index rule already keeps its own: its checkpoints commit to roots of that rule)."""
    if store.get_meta(META_INDEX_RULE) is None and store.head().size == 0:
        store.set_meta(META_INDEX_RULE, NEW_LEDGER_RULE)


def extension_line(root: bytes, rule: str = RULE_V1) -> str:
    """``index/<rule> <base64 root>``."""
    return f"index/{check_rule(rule)} " + base64.b64encode(root).decode("ascii")


def _index_lines(extensions: Sequence[str]) -> list[str]:
    return [line for line in extensions if line.split(" ", 1)[0] in LINE_TAGS]


def rule_in(extensions: Sequence[str]) -> str | None:
    """The index rule a checkpoint's index line names (``v1``/``v2``); None unless there is
    exactly one index line (of either version)."""
    lines = _index_lines(extensions)
    return LINE_TAGS[lines[0].split(" ", 1)[0]] if len(lines) == 1 else None


def root_in(extensions: Sequence[str]) -> bytes | None:
    """The map root a checkpoint's extension lines commit to (None: no index line).

    ``b""`` (no valid root) when the line is not exactly ``index/v1`` or ``index/v2`` and
    canonical base64 of 32 bytes, or when there are two index lines (of any versions): a
    checkpoint committing to two maps commits to none (one verifier would read the first,
    another the last).  :func:`rule_in` names the rule the root was derived under."""
    lines = _index_lines(extensions)
    if not lines:
        return None
    text = lines[0].partition(" ")[2]
    try:
        root = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return b""
    canonical = base64.b64encode(root).decode("ascii") == text
    return root if len(lines) == 1 and canonical and len(root) == smt.HASH_SIZE else b""


def entry_keys(
    envelope: bytes, framing: SingleObjectFraming | None = None, rule: str = RULE_V1
) -> list[str]:
    """The index keys of one entry's envelope bytes under index rule ``rule``; [] for one that
    does not decode."""
    framing = framing or reader_framing()
    try:
        env = Envelope.decode(envelope, framing)
        kind = kind_for_payload_type(env.payload_type)
        schema, event = framing.decode(env.payload)
    except RejectedInput:
        return []
    if schema.record != kind.record:
        return []
    return event_keys(kind.record, event, kind.refs(event), rule)


class KeyHashes(dict[str, bytes]):
    """Key hashes, each computed once (a batch names the same keys many times)."""

    def __missing__(self, key: str) -> bytes:
        value = self[key] = smt.key_hash(key)
        return value

    def __call__(self, key: str) -> bytes:
        return self[key]


@dataclass
class Fold:
    """What folding new entries into the map writes."""

    lists: list[ListRow] = field(default_factory=list)  # one per key, ordered by key hash
    keys: dict[bytes, KeyRow] = field(default_factory=dict)
    changes: dict[bytes, bytes] = field(default_factory=dict)  # key hash -> new leaf hash


def fold(
    new: Iterable[tuple[int, Sequence[str]]],
    current: Mapping[bytes, KeyRow],
    hashes: Mapping[str, bytes] | None = None,
) -> Fold:
    """Extend the key rows ``current`` (all keys the new entries name) with ``new``.

    ``new``: (ledger index, keys) in increasing index order; ``hashes``: the key hash of every
    key named (computed here when not given).
    """
    hashes = KeyHashes() if hashes is None else hashes
    listed: dict[bytes, tuple[str, list[int]]] = {}
    for seq, keys in new:
        for key in keys:
            k = hashes[key]
            found = listed.get(k)
            if found is None:
                listed[k] = (key, [seq])
            else:
                found[1].append(seq)
    out = Fold()
    lists, out_keys, changes = out.lists, out.keys, out.changes
    chain_leaf, empty = smt.chain_leaf, (None, 0, smt.EMPTY)
    for k in sorted(listed):
        key, seqs = listed[k]
        _, count, value = current.get(k) or empty
        packed = struct.pack(f">{len(seqs)}Q", *seqs)  # as index_lists packs them
        value, changes[k] = chain_leaf(k, value, packed)
        lists.append((k, seqs[0], packed))
        out_keys[k] = (key, count + len(seqs), value)
    return out


def store_reader(store: LedgerStore) -> smt.NodeReader:
    return store.index_tables()


@dataclass(frozen=True)
class IndexHead:
    size: int
    root: bytes


def update_index(store: LedgerStore, size: int | None = None) -> IndexHead:
    """Extend the stored map to cover the first ``size`` entries (default: the head).

    One transaction under the map's lock; a consumer that finds the map already as far (another
    consumer did it) changes nothing.  Returns the stored map's size and root.  The keys of the
    entries this store appended with their keys (:attr:`PendingEntry.index_keys`, derived when
    the consumer decoded the event) are taken as they are; the others' are derived from their
    envelopes.
    """
    tables = store.index_tables()
    target = store.head().size if size is None else size
    with tables.locked() as (done, root):
        kept = store.take_index_keys(done, target)
        if done >= target:
            return IndexHead(done, root)
        _check_signed(store, done, root)
        new = _new_keys(store, tables, done, target, kept, index_rule(store))
        hashes = {key: smt.key_hash(key) for key in {k for _, keys in new for k in keys}}
        current = tables.keys(sorted(hashes.values()))
        _check_counts(tables, current, hashes)
        folded = fold(new, current, hashes)
        root = _apply(tables, target, folded)
    return IndexHead(target, root)


UPDATE_GROUP = 500
"""Keys whose leaves one pass of the map's update changes (and whose paths it holds decoded).

The pages of a path below the top two bands hold more nodes as the map grows (about two per
65,536 keys of the map each, up to 511), so an update that held every changed key's pages at
once grew with the ledger (the consumer's peak RSS).  Keys are applied in groups of this many,
in key-hash order (each group's pages below the root page are its own), each written (in the
same transaction) before the next is read; only the top pages stay decoded between groups.  One
5,000-entry update at 1M entries: +374 MB RSS in one pass, +38 MB in groups of 500, the same
CPU (docs/benchmarks.md, 2026-12-08)."""


def _apply(tables: IndexTables, target: int, folded: Fold) -> bytes:
    """Apply ``folded`` to the stored map, :data:`UPDATE_GROUP` keys at a time; the new root.
    The map is a function of its keys' leaves, so the groups in turn give the one root that
    applying them at once gives."""
    changes = sorted(folded.changes.items())
    lists, keys = folded.lists, folded.keys
    root = b""
    for start in range(0, max(len(changes), 1), UPDATE_GROUP):
        update = smt.apply(tables, dict(changes[start : start + UPDATE_GROUP]))
        tables.write((target, update.root), lists, keys, update.writes)
        lists, keys = [], {}  # written with the first group
        tables.forget_deep_pages()
        root = update.root
    return root


def _check_signed(store: LedgerStore, done: int, root: bytes) -> None:
    """Refuse to extend a stored map that covers fewer entries than the latest signed
    checkpoint commits to, or the same number under another root (an insider set the index
    head back or deleted it): folding entries already listed again would write their rows twice."""
    from ledger.index.lookup import IndexMismatch  # lookup reads the map this module keeps
    from ledger.log import checkpoint as cp

    latest = store.latest_checkpoint()
    if latest is None:
        return
    signed = root_in(cp.parse_body(cp.split_note(latest.note)[0]).extensions)
    if signed is None or latest.size < done or (latest.size == done and signed == root):
        return  # no index line (made before the index), or the map is where it was signed
    raise IndexMismatch(
        f"the stored index covers {done} entries (root {cp.b64encode(root)}) but the latest"
        f" signed checkpoint commits to the index of {latest.size} entries (root"
        f" {cp.b64encode(signed)}): the index tables were altered, and the index is not extended"
        " over them",
        hint="run assetledger verify to see what is damaged",
    )


def _check_counts(
    tables: IndexTables, current: Mapping[bytes, KeyRow], hashes: Mapping[str, bytes]
) -> None:
    """Refuse to extend the keys the update touches when their stored lists do not hold as
    many indices as their key rows count (an insider deleted or added list rows, or a key row,
    without moving the index head): the map's root comes from the key rows, so the update
    would sign a root over lists that lookups read wrong."""
    from ledger.index.lookup import IndexMismatch  # lookup reads the map this module keeps

    listed = tables.listed_counts(sorted(hashes.values()))
    for key, k in sorted(hashes.items()):
        counted = current[k][1] if k in current else 0
        if listed.get(k, 0) != counted:
            raise IndexMismatch(
                f"the stored index lists {listed.get(k, 0)} ledger indices for key {key!r}"
                f" where its key row counts {counted}: the index tables were altered, and the"
                " index is not extended over them",
                hint="run assetledger verify to see what is damaged",
            )


def _new_keys(
    store: LedgerStore,
    tables: IndexTables,
    start: int,
    stop: int,
    kept: Mapping[int, Sequence[str]],
    rule: str,
) -> list[tuple[int, Sequence[str]]]:
    """(index, keys) of entries ``start … stop - 1``: kept, or derived from the envelope."""
    if len(kept) == stop - start and tables.entry_count(start, stop) == stop - start:
        return [(seq, kept[seq]) for seq in range(start, stop)]
    framing = reader_framing()
    return [
        (e.seq, kept[e.seq] if e.seq in kept else entry_keys(e.envelope, framing, rule))
        for e in _entries(store, start, stop)
    ]


def _entries(store: LedgerStore, start: int, stop: int) -> list[Entry]:
    entries = list(store.entries(start, stop))
    if len(entries) != stop - start or any(e.seq != start + i for i, e in enumerate(entries)):
        raise StoreError(  # damage to the ledger, not a refused record
            f"the ledger's entries {start}…{stop - 1} are not all there; the index cannot be"
            " extended over them",
            hint="run assetledger verify to see what is damaged",
        )
    return entries


class MemoryMap:
    """The map held in memory, rebuilt from entries (the reference the replay's bounded-memory
    ``ReplayMap`` is tested against)."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, smt.Node] = {}
        self.keys: dict[bytes, KeyRow] = {}
        self.pending: list[tuple[int, Sequence[str]]] = []
        self.root = smt.EMPTY
        self.size = 0

    def get_nodes(self, ids: Sequence[bytes]) -> dict[bytes, smt.Node]:
        return {n: self.nodes[n] for n in ids if n in self.nodes}

    def add(self, seq: int, keys: Sequence[str]) -> None:
        self.pending.append((seq, keys))
        self.size = seq + 1

    def commit(self) -> bytes:
        """Fold the entries added since the last commit; the root."""
        if not self.pending:
            return self.root
        hashes = {key: smt.key_hash(key) for key in {k for _, keys in self.pending for k in keys}}
        known = self.keys
        current = {k: known[k] for k in hashes.values() if k in known}
        folded = fold(self.pending, current, hashes)
        update = smt.apply(self, folded.changes)
        self.nodes.update(update.writes)
        self.keys.update(folded.keys)
        self.pending = []
        self.root = update.root
        return self.root
