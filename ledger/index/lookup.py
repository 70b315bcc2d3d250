"""Audits reading through the authenticated index, checked against a signed checkpoint.

Instead of re-reading the whole ledger before stating a checkpoint (the linear guard,
:func:`ledger.log.verify.check_prefix`), an audit reads only the entries the index names for
its lookups and checks each read against the checkpoint: the rows of every key it reads must
hash, with the stored path, to the index root the checkpoint commits to (so no row was
deleted, added or repointed), and every entry read must be in the log at its index under the
checkpoint's root (so its bytes are the ones signed).  A query index lookup (``refs`` kind and
key) reads the index keys that hold it (:func:`ledger.index.keys.ref_keys`) and keeps the
entries whose own event gives that row.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ledger.index.smt as smt
from ledger.errors import RejectedInput, VerificationFailure
from ledger.events.base import Record
from ledger.events.encoding import reader_framing, writer_schema
from ledger.events.keyregistry import REF_REGISTRY
from ledger.events.kinds import kind_for_payload_type
from ledger.index.keys import ref_keys
from ledger.index.smt import node_id, sibling_id
from ledger.log.merkle import (
    MerkleTree,
    NodeKey,
    leaf_hash,
    node_hash,
    range_keys,
    verify_inclusion,
)
from ledger.store import Entry, LedgerStore
from ledger.store.index_tables import IndexTables, page_of
from ledger.trust.dsse import Envelope
from ledger.trust.replay import share_decoded


class _Cached:
    """Log-tree nodes read once (found or absent) and kept: proofs share their upper levels.

    Sound because nothing read is trusted: every proof is hashed up to the signed root, so a
    node altered in the database fails the check of each proof through it.
    """

    def __init__(self, read: Callable[[Sequence[NodeKey]], Mapping[NodeKey, bytes]]) -> None:
        self.read = read
        self.found: dict[NodeKey, bytes] = {}
        self.absent: set[NodeKey] = set()

    def get_nodes(self, ids: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored nodes among ``ids``, those not read yet read in one call."""
        found, absent = self.found, self.absent
        wanted = list(dict.fromkeys(i for i in ids if i not in found and i not in absent))
        if wanted:
            got = self.read(wanted)
            found.update(got)
            absent.update(i for i in wanted if i not in got)
        return {i: found[i] for i in ids if i in found}


RUN_MIN = 8
"""Consecutive entries read by one range query from this many on (fewer: by index list)."""


PRELOAD_DEPTH = 16
"""The index's top levels (its first two pages deep, at most 2^16 nodes a depth) are read in
one scan when a view opens: every path starts there."""
PRELOADED_PAGES = page_of(smt.node_id(smt.EMPTY, PRELOAD_DEPTH))
"""The pages that sort below this one are the preloaded ones."""


class _NodePages:
    """The index tree's stored nodes, read a page (eight depths, :func:`page_of`) at a time
    and kept, found or absent: every path shares its upper levels, and a page read serves
    every path through it.

    Sound because nothing read is trusted: every path is hashed up to the signed root, so a
    node altered in the database fails the check of each path through it."""

    def __init__(self, tables: IndexTables) -> None:
        self.tables = tables
        self.found: dict[bytes, smt.Node] = tables.nodes_above(PRELOAD_DEPTH)
        self.pages: set[bytes] = set()  # pages read beside the preloaded ones
        self.tops: set[bytes] = set()  # pages whose top node alone was read
        self.empty: set[bytes] = set()  # of those, the ones holding no node

    def missing(self, nid: bytes) -> bytes | None:
        """The page of node ``nid`` when it is not read yet, else None."""
        page = page_of(nid)
        return None if page < PRELOADED_PAGES or page in self.pages else page

    def load(self, pages: Iterable[bytes], tops: Iterable[bytes] = ()) -> None:
        """Read ``pages`` whole and, of the pages ``tops``, only the top node (a subtree
        beside every path of a batch: its hash is all that is needed of it)."""
        wanted = [p for p in set(pages) if p not in self.pages]
        if wanted:
            self.tables.page_nodes(wanted, into=self.found)
            self.pages.update(wanted)
        heads = [p for p in set(tops) if p not in self.pages and p not in self.tops]
        if heads:
            found = self.tables.page_tops(heads)
            self.found.update(found)
            self.tops.update(heads)
            self.empty.update(p for p in heads if p not in found)

    def get(self, nid: bytes) -> smt.Node | None:
        """Node ``nid`` (None: absent), its page read now if it was not yet."""
        found = self.found.get(nid)
        if found is None and nid not in self.empty and (page := self.missing(nid)) is not None:
            self.load([page])
            found = self.found.get(nid)
        return found


class _Mismatch(Exception):
    """A key batch whose rows do not give the proven hashes (named one key at a time)."""


class _MapBatch:
    """One multi-key map proof: the keys' rows (their leaves' values), the stored sibling
    subtrees beside their paths and, where a key's path ends at another key's leaf, that
    leaf's value, hashed up together to nodes already proven (at first only the signed index
    root), each node on the union of the paths hashed once.

    Keys are sorted by key hash, so the keys below a node are a slice ``lo:hi``; a node is
    named by its depth and the slice.  :meth:`check` returns the positions and hashes it
    proved, or None when the hashes do not meet (the caller then names the key)."""

    def __init__(
        self,
        hashes: Sequence[bytes],
        rows: Sequence[list[int]],
        nodes: _NodePages,
        proven: Mapping[bytes, bytes],
    ) -> None:
        self.kb = list(hashes)
        self.ints = [int.from_bytes(k, "big") for k in hashes]
        self.rows = rows
        self.nodes = nodes
        self.proven = proven
        self.others: dict[bytes, bytes] = {}  # leaf key hash -> its value (other keys' ends)
        self.hashed: dict[bytes, bytes] = {}

    def fetch(self) -> None:
        """Read every page the batch's paths and their siblings cross, one query per page
        depth, and the values of other keys' leaves the paths end at."""
        nodes, kb, n = self.nodes, self.kb, len(self.kb)
        found, read = nodes.found, nodes.pages
        frontier = [(0, 0, n)] if n else []
        ends: set[bytes] = set()
        while frontier:
            later: list[tuple[int, int, int]] = []
            pages: set[bytes] = set()
            tops: set[bytes] = set()
            stack = frontier
            while stack:
                depth, lo, hi = stack.pop()
                k = kb[lo]
                while True:  # down the group's path while its keys go one way
                    nid = node_id(k, depth)
                    if depth >= PRELOAD_DEPTH and not depth & 7:  # a page's top: a new page
                        page = page_of(nid)
                        if page not in read:
                            pages.add(page)
                            later.append((depth, lo, hi))
                            break
                    node = found.get(nid)
                    if node is None or depth == smt.KEY_BITS:
                        break
                    if node[1] is not None:
                        if hi - lo > 1 or k != node[1]:
                            ends.add(node[1])
                        break
                    if hi - lo > 1:
                        mid = self._split(depth, lo, hi)
                        if lo < mid < hi:
                            stack.append((depth + 1, lo, mid))
                            stack.append((depth + 1, mid, hi))
                            break
                    # one side holds no key: the hash of the subtree there is read (below a
                    # page's top it lies in the page of its parent, read already)
                    depth += 1
                    if depth >= PRELOAD_DEPTH and not depth & 7:  # its page's top node
                        page = page_of(sibling_id(k, depth))
                        if page not in read:
                            tops.add(page)
            nodes.load(pages, tops - pages)
            frontier = later
        if ends:
            self.others = {k: row[2] for k, row in nodes.tables.keys(sorted(ends)).items()}

    def _split(self, depth: int, lo: int, hi: int) -> int:
        """The first key of ``lo:hi`` (sharing ``depth`` bits) whose bit ``depth`` is 1."""
        shift = smt.KEY_BITS - depth
        boundary = (((self.ints[lo] >> shift) << 1) | 1) << (shift - 1)
        return bisect_left(self.ints, boundary, lo, hi)

    def check(self, lo: int, hi: int) -> dict[bytes, bytes] | None:
        """Keys ``lo:hi`` checked: the nodes proven by them, or None when they fail."""
        self.hashed = {}
        try:
            self._verify(0, lo, hi, smt.ROOT_ID)
        except _Mismatch:
            return None
        return self.hashed

    def _verify(self, depth: int, lo: int, hi: int, nid: bytes) -> None:
        """Node ``nid`` at ``depth`` above keys ``lo:hi`` is proven: descend through proven
        children, then hash from the first node that is not (its hash must be the proven
        one)."""
        kb, proven = self.kb, self.proven
        if depth < smt.KEY_BITS:
            mid = self._split(depth, lo, hi)
            left = node_id(kb[lo], depth + 1) if lo < mid else None
            right = node_id(kb[mid], depth + 1) if mid < hi else None
            if (left is None or left in proven) and (right is None or right in proven):
                if left is not None:
                    self._verify(depth + 1, lo, mid, left)
                if right is not None:
                    self._verify(depth + 1, mid, hi, right)
                return
        if self._hash(depth, lo, hi, nid) != proven[nid]:
            raise _Mismatch

    def _hash(self, depth: int, lo: int, hi: int, nid: bytes) -> bytes:
        """The hash of subtree ``nid`` at ``depth`` above keys ``lo:hi``, from their rows and
        the stored hashes of the subtrees beside their paths."""
        if hi - lo == 1:
            return self._alone(depth, lo, nid)
        kb = self.kb
        node = self.nodes.get(nid)
        if node is None or node[1] is not None:
            value = self._terminal(depth, lo, hi, None if node is None else node[1])
        elif depth == smt.KEY_BITS:
            raise VerificationFailure("index tree: a path runs deeper than 256 bits")
        else:
            mid = self._split(depth, lo, hi)
            if lo < mid < hi:
                left = self._child(depth + 1, lo, mid, node_id(kb[lo], depth + 1))
                right = self._child(depth + 1, mid, hi, node_id(kb[mid], depth + 1))
            elif mid == hi:  # every key goes left
                left = self._child(depth + 1, lo, hi, node_id(kb[lo], depth + 1))
                right = self._beside(sibling_id(kb[lo], depth + 1))
            else:
                left = self._beside(sibling_id(kb[lo], depth + 1))
                right = self._child(depth + 1, lo, hi, node_id(kb[lo], depth + 1))
            value = smt.node_hash(left, right)
        self.hashed[nid] = value
        return value

    def _alone(self, depth: int, i: int, nid: bytes) -> bytes:
        """:meth:`_hash` below the depth where key ``i`` parts from the batch's other keys:
        down its path (each sibling's stored hash) to its end or to a proven node, then the
        hashes up again, one a depth."""
        k, nodes, hashed = self.kb[i], self.nodes, self.hashed
        path: list[tuple[bytes, int, bytes]] = []  # (node, its depth, its child's sibling)
        while True:
            node = nodes.get(nid)
            if node is None or node[1] is not None:
                value = self._terminal(depth, i, i + 1, None if node is None else node[1])
                hashed[nid] = value
                break
            if depth == smt.KEY_BITS:
                raise VerificationFailure("index tree: a path runs deeper than 256 bits")
            sid = sibling_id(k, depth + 1)
            sibling = nodes.get(sid)
            path.append((nid, depth, smt.EMPTY if sibling is None else sibling[0]))
            hashed[sid] = path[-1][2]
            depth += 1
            nid = node_id(k, depth)
            proven = self.proven.get(nid)
            if proven is not None:
                self._verify(depth, i, i + 1, nid)
                value = proven
                break
        bits = self.ints[i]
        for parent, above, beside in reversed(path):
            if (bits >> (smt.KEY_BITS - 1 - above)) & 1:
                value = smt.node_hash(beside, value)
            else:
                value = smt.node_hash(value, beside)
            hashed[parent] = value
        return value

    def _child(self, depth: int, lo: int, hi: int, nid: bytes) -> bytes:
        proven = self.proven.get(nid)
        if proven is None:
            return self._hash(depth, lo, hi, nid)
        self._verify(depth, lo, hi, nid)
        return proven

    def _beside(self, nid: bytes) -> bytes:
        """A stored subtree beside the paths (empty when none is stored)."""
        node = self.nodes.get(nid)
        value = smt.EMPTY if node is None else node[0]
        self.hashed[nid] = value
        return value

    def _terminal(self, depth: int, lo: int, hi: int, leaf: bytes | None) -> bytes:
        """Where the paths of keys ``lo:hi`` end: nothing (none of them may list rows), or
        the leaf of key hash ``leaf``: one of them (its rows give the value, the others list
        none), or another key sharing their ``depth`` bits, whose value the key table gives
        (the leaf's hash is computed, never read: it binds that key; both 32 bytes, else
        other lengths could split the bytes of the real leaf's hash)."""
        rows = self.rows
        if leaf is None:
            if any(rows[i] for i in range(lo, hi)):
                raise _Mismatch
            return smt.EMPTY
        value: bytes | None = None
        for i in range(lo, hi):
            if self.kb[i] == leaf:
                if not rows[i]:
                    raise _Mismatch
                value = smt.leaf_hash(leaf, smt.value_of(rows[i]))
            elif rows[i]:
                raise _Mismatch
        if value is not None:
            return value
        other = self.others.get(leaf)
        shift = smt.KEY_BITS - depth
        if (
            other is None
            or len(leaf) != smt.HASH_SIZE  # a key hash cut short (or padded) and its value
            or len(other) != smt.HASH_SIZE  # lengthened would hash as the real leaf's bytes
            or int.from_bytes(leaf, "big") >> shift != self.ints[lo] >> shift
        ):
            raise _Mismatch
        return smt.leaf_hash(leaf, other)


class _ProvenNodes:
    """Log-tree nodes for :class:`MerkleTree`: proven ones first, others read (and noted)."""

    def __init__(self, proven: Mapping[NodeKey, bytes], stored: _Cached) -> None:
        self.proven = proven
        self.stored = stored
        self.read = False

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        found = {k: self.proven[k] for k in keys if k in self.proven}
        missing = [k for k in keys if k not in found]
        if missing:
            self.read = True
            found.update(self.stored.get_nodes(missing))
        return found


class IndexMismatch(VerificationFailure):
    """The stored index or an entry read does not match the signed checkpoint."""


class VerifiedIndex:
    """Lookups at a signed checkpoint of ``size`` entries, ``root`` and ``index_root``, whose
    index line names index rule ``rule`` (which keys exist: ``licence-record:`` under ``v2``)."""

    def __init__(
        self, store: LedgerStore, size: int, root: bytes, index_root: bytes, rule: str = "v1"
    ) -> None:
        self.store = store
        self.size = size
        self.root = root
        self.index_root = index_root
        self.rule = rule
        self.tables = store.index_tables()
        self.nodes = _NodePages(self.tables)
        self.log_nodes = _Cached(store.get_nodes)
        self.tree = MerkleTree(self.log_nodes, size)
        self.framing = reader_framing()
        self._keys: dict[str, list[int]] = {}
        self._entries: dict[int, Entry] = {}  # checked: in the signed tree, columns its own
        self._proven: dict[NodeKey, bytes] = {}  # log tree nodes hashed up to the signed root
        self._refs: dict[int, set[tuple[str, str]]] = {}
        # each checked entry's event as decoded for the check, with its writer schema version
        # (None when that cannot be told): audits reuse it instead of decoding again
        self._decoded: dict[int, tuple[int | None, Record]] = {}
        self._seqs: dict[tuple[str, str], list[int]] = {}
        # index tree positions whose hashes were hashed up to the signed index root
        self._index_proven: dict[bytes, bytes] = {smt.ROOT_ID: index_root}

    def key(self, key: str) -> list[int]:
        """The entries the index lists for ``key``, checked against the signed index root."""
        if key not in self._keys:
            self.read_keys([key])
        return self._keys[key]

    def read_keys(self, keys: Iterable[str]) -> None:
        """Read and check many keys at once (the multi-key form of the map proof): their
        rows in one query, the pages of all their paths one query per page depth, then all
        their rows hashed up together (:class:`_MapBatch`) to nodes already proven (the first
        batch up to the signed root), so a node shared by several paths is hashed once.  If
        the batch fails, each key is checked alone, and the first that fails is named."""
        todo = [key for key in dict.fromkeys(keys) if key not in self._keys]
        if not todo:
            return
        hashes = {key: smt.key_hash(key) for key in todo}
        stored = self.tables.rows_of(list(hashes.values()))
        order = sorted(todo, key=hashes.__getitem__)
        rows = [stored.get(hashes[key], []) for key in order]
        batch = _MapBatch([hashes[key] for key in order], rows, self.nodes, self._index_proven)
        batch.fetch()
        proven = batch.check(0, len(order))
        if proven is None:
            at = {key: i for i, key in enumerate(order)}
            for key in todo:  # alone, in the order asked: the first that fails is named
                i = at[key]
                proven = batch.check(i, i + 1)
                if proven is None:
                    raise self._mismatch(key, rows[i])
                self._index_proven.update(proven)
            raise self._mismatch(todo[0], rows[at[todo[0]]])  # pragma: no cover
        self._index_proven.update(proven)
        for key, found in zip(order, rows, strict=True):
            self._keys[key] = found

    def _mismatch(self, key: str, rows: list[int]) -> IndexMismatch:
        return IndexMismatch(
            f"index_row_mismatch: the stored index rows of key {key!r} (entries"
            f" {rows[:10]}) do not give the index root the signed checkpoint of size"
            f" {self.size} commits to: rows were deleted, added or repointed in the database",
            hint="run assetledger verify (or assetledger monitor) to see all the damage",
        )

    def entry(self, seq: int) -> Entry:
        """Entry ``seq``, its bytes checked to be the ones the signed tree holds there."""
        if seq not in self._entries:
            self.check_entries([seq])
        return self._entries[seq]

    def decoded(self, entry: Entry) -> tuple[int | None, Record] | None:
        """The event of checked entry ``entry`` as its check decoded it, with its writer
        schema version (shared: never mutate it); None unless that entry was checked."""
        checked = self._entries.get(entry.seq)
        if checked is None or checked.envelope != entry.envelope:
            return None
        return self._decoded.get(entry.seq)

    def check_entries(self, seqs: Sequence[int]) -> None:
        """Read and check the entries ``seqs`` at once: their leaves are hashed up together
        through the log tree (each shared node once) to the signed root."""
        wanted = sorted({s for s in seqs if s not in self._entries})
        if not wanted:
            return
        entries = self._read_entries(wanted)
        self._prove_included(entries, wanted)
        for entry in entries:
            self._refs[entry.seq] = self._check_columns(entry)
            self._entries[entry.seq] = entry

    def _prove_included(self, entries: Sequence[Entry], wanted: Sequence[int]) -> None:
        """Hash ``entries`` up to the signed root together; if the root does not come out,
        check each alone, so the failure names the first that is not the signed one."""
        if self._prove_leaves({e.seq: leaf_hash(e.envelope) for e in entries}):
            return
        for entry in entries:
            self._check_inclusion(entry)
        raise IndexMismatch(  # pragma: no cover - a leaf set fails only through one leaf
            f"entries {wanted[:10]} are not the ones the signed checkpoint of size"
            f" {self.size} holds",
            hint="run assetledger verify",
        )

    def inclusion_proofs(self, seqs: Sequence[int]) -> tuple[dict[int, list[bytes]], bool]:
        """RFC 9162 inclusion proofs of entries ``seqs`` (each checked first), built from the
        log-tree nodes this view already hashed up to the signed root; and whether every
        node of them was such a proven node (then they need no check of their own: each is
        made of hashes the signed root was computed from).  A node not proven is read from
        the node table, and the caller must verify the proofs."""
        self.check_entries(seqs)
        nodes = _ProvenNodes(self._proven, self.log_nodes)
        proofs = MerkleTree(nodes, self.size).inclusion_proofs(seqs, self.size)
        return proofs, not nodes.read

    def signed_event_ids(self, seqs: Sequence[int]) -> dict[int, str]:
        """The event id each entry of ``seqs`` holds in its signed envelope, its inclusion
        checked (many at a time, as :meth:`check_entries`) but its other columns not read:
        for a scan that needs only the event ids (a record proven absent from a key's list).
        The id is read from the front of the envelope and its payload, whose writer schemas
        begin with those fields (else the entry is decoded and checked whole)."""
        wanted = sorted(set(seqs))
        out = {s: self._entries[s].event_id for s in wanted if s in self._entries}
        entries = self._read_entries([s for s in wanted if s not in out])
        self._prove_included(entries, wanted)
        for entry in entries:
            found = _leading_event_id(self.framing, entry.envelope)
            if found is None:
                found = self.entry(entry.seq).event_id  # decoded and checked whole
            out[entry.seq] = found
        return out

    def _read_entries(self, wanted: list[int]) -> list[Entry]:
        """Entries ``wanted`` (sorted): runs of consecutive indices by range, the others by
        index list, a few queries in all."""
        inside = [s for s in wanted if 0 <= s < self.size]
        if len(inside) != len(wanted):
            self._read_entry(next(s for s in wanted if not 0 <= s < self.size))  # raises
        runs: list[tuple[int, int]] = []  # [start, stop) of consecutive indices
        for s in inside:
            if runs and runs[-1][1] == s:
                runs[-1] = (runs[-1][0], s + 1)
            else:
                runs.append((s, s + 1))
        out: list[Entry] = []
        scattered: list[int] = []
        for start, stop in runs:
            if stop - start >= RUN_MIN:
                out += self.store.entries(start, stop)
            else:
                scattered += range(start, stop)
        out += self.store.entries_at(scattered)
        if len(out) != len(wanted):
            got = {e.seq for e in out}
            self._read_entry(next(s for s in wanted if s not in got))  # raises: it is absent
        return sorted(out, key=lambda e: e.seq)

    def _read_entry(self, seq: int) -> Entry:
        entry = self.store.entry(seq) if 0 <= seq < self.size else None
        if entry is None:
            raise IndexMismatch(
                f"entry {seq}, which the signed index names, is not in the ledger below size"
                f" {self.size}",
                hint="run assetledger verify",
            )
        return entry

    def _check_inclusion(self, entry: Entry) -> None:
        """One entry's RFC 9162 inclusion proof against the signed root."""
        try:
            proof = self.tree.inclusion_proof(entry.seq, self.size)
            verify_inclusion(leaf_hash(entry.envelope), entry.seq, self.size, proof, self.root)
        except VerificationFailure as exc:
            raise IndexMismatch(
                f"entry {entry.seq} is not the one the signed checkpoint of size {self.size}"
                f" holds there: {exc.message}",
                hint="run assetledger verify",
            ) from None

    def _prove_leaves(self, leaves: dict[int, bytes]) -> bool:
        """Whether the leaf hashes ``leaves`` (index -> hash) give the signed root.

        The tree of ``size`` leaves is a row of perfect subtrees (RFC 9162 §2.1.1 split at
        powers of two); the ones holding a leaf are hashed up from the leaves level by level,
        each missing sibling read from the node table (or taken from nodes an earlier call
        already hashed up to the root), and the row folded to the root.  Every hash that
        reaches the signed root is then proven; none read is trusted before.
        """
        hashed: dict[NodeKey, bytes] = {}
        tops: list[bytes] = []
        try:
            for level, index in range_keys(0, self.size):
                lo, hi = index << level, (index + 1) << level
                mine = {s: h for s, h in leaves.items() if lo <= s < hi}
                if mine:
                    tops.append(self._subtree(level, index, mine, hashed))
                else:
                    tops.append(self._node((level, index), hashed))
        except LookupError:
            return False
        root = tops[-1]
        for value in reversed(tops[:-1]):
            root = node_hash(value, root)
        if root != self.root:
            return False
        self._proven.update(hashed)
        return True

    def _subtree(
        self, top: int, index: int, leaves: dict[int, bytes], hashed: dict[NodeKey, bytes]
    ) -> bytes:
        """The hash of perfect subtree ``(top, index)`` from ``leaves`` in it, hashed up level
        by level; a node already proven must come out the same, and stops its climb."""
        self._prefetch(top, set(leaves), hashed)
        level_hashes = dict(leaves)
        for level in range(top):
            for i, value in list(level_hashes.items()):
                hashed[(level, i)] = value
                proven = self._proven.get((level, i))
                if proven is not None:
                    if proven != value:
                        raise LookupError((level, i))
                    del level_hashes[i]  # its way up is proven
            if not level_hashes:
                return self._node((top, index), hashed)
            parents: dict[int, bytes] = {}
            for i in level_hashes:
                if i >> 1 not in parents:
                    left = level_hashes.get(i & ~1) or self._node((level, i & ~1), hashed)
                    right = level_hashes.get(i | 1) or self._node((level, i | 1), hashed)
                    parents[i >> 1] = node_hash(left, right)
            level_hashes = parents
        (value,) = level_hashes.values()
        hashed[(top, index)] = value
        return value

    def _prefetch(self, top: int, indices: set[int], hashed: dict[NodeKey, bytes]) -> None:
        """Read, in one call, the siblings the climb from leaves ``indices`` will need."""
        wanted: list[NodeKey] = []
        for level in range(top):
            indices = {i for i in indices if (level, i) not in self._proven}
            if not indices:
                break
            wanted += [
                (level, i ^ 1)
                for i in indices
                if i ^ 1 not in indices and (level, i ^ 1) not in self._proven
            ]
            indices = {i >> 1 for i in indices}
        self._fetch(wanted, hashed)

    def _fetch(self, keys: list[NodeKey], hashed: dict[NodeKey, bytes]) -> None:
        if keys:
            hashed.update(self.log_nodes.get_nodes(keys))

    def _node(self, key: NodeKey, hashed: dict[NodeKey, bytes]) -> bytes:
        if key in hashed:
            return hashed[key]
        if key in self._proven:
            return self._proven[key]
        found = self.log_nodes.get_nodes([key])
        if key not in found:
            raise LookupError(key)
        hashed[key] = found[key]
        return found[key]

    def _check_columns(self, entry: Entry) -> set[tuple[str, str]]:
        """The columns audits read beside the envelope (event id, kind, signer) are its own;
        the entry's query index rows (``refs``), from the same decoding."""
        try:
            envelope = Envelope.decode(entry.envelope, self.framing)
            kind = kind_for_payload_type(envelope.payload_type)
            schema, event = self.framing.decode(envelope.payload)
        except RejectedInput as exc:
            raise IndexMismatch(f"entry {entry.seq} no longer decodes: {exc.message}") from None
        self._decoded[entry.seq] = (self._writer_version(envelope.payload), event)
        share_decoded(entry, envelope, schema.record, event)  # within decoding_once: once
        problem = None
        if event["event_id"] != entry.event_id:
            problem = (
                f"event_id_mismatch at entry {entry.seq}: it is stored under event id"
                f" {entry.event_id!r}, its signed envelope holds event {event['event_id']}"
            )
        elif kind.record != entry.kind:
            problem = (
                f"entry_field_mismatch at entry {entry.seq}: its kind column says"
                f" {entry.kind!r}, the envelope holds a {kind.record}"
            )
        elif entry.signer_keyid not in {sig.keyid for sig in envelope.signatures}:
            problem = (
                f"entry_field_mismatch at entry {entry.seq}: its signer column names key"
                f" {entry.signer_keyid[:16]}…, which did not sign the envelope"
            )
        if problem:
            raise IndexMismatch(
                f"the ledger's data does not match the signed checkpoint of size {self.size}:"
                f" {problem}; no report is stated on it",
                hint="run assetledger verify to see all the damage",
            )
        return set(kind.refs(event))

    def _writer_version(self, payload: bytes) -> int | None:
        try:
            return writer_schema(self.framing, payload).version
        except RejectedInput:
            return None

    def seqs(self, ref_kind: str, value: str) -> list[int]:
        """The entries with query index row ``(ref_kind, value)``, read through the index."""
        if (ref_kind, value) not in self._seqs:
            self.prefetch([(ref_kind, value)])
        return list(self._seqs[(ref_kind, value)])

    def prefetch(self, lookups: Iterable[tuple[str, str]]) -> None:
        """Answer many lookups at once: the keys of all of them read and checked together
        (:meth:`read_keys`), then all their candidate entries (:meth:`check_entries`)."""
        todo = [q for q in dict.fromkeys(lookups) if q not in self._seqs]
        if not todo:
            return
        keys: dict[tuple[str, str], list[str]] = {}
        for ref_kind, value in todo:
            keys[(ref_kind, value)] = ref_keys(ref_kind, value)
            if not keys[(ref_kind, value)]:
                raise IndexMismatch(f"the index holds no key for query index rows of {ref_kind!r}")
        self.read_keys(k for ks in keys.values() for k in ks)
        candidates = {q: sorted({s for k in ks for s in self._keys[k]}) for q, ks in keys.items()}
        self.check_entries(sorted({s for c in candidates.values() for s in c}))
        for q, seqs in candidates.items():
            self._seqs[q] = [s for s in seqs if q in self._refs[s]]

    def check_registry(self) -> None:
        """The key registry's rows (read by the registry replay through the query index)
        are the index's, and each registry entry is the one signed (audits judge keys and
        counsel's scopes from them)."""
        stored = [s for s in self.store.seqs_by_ref(*REF_REGISTRY) if s < self.size]
        proven = self.seqs(*REF_REGISTRY)  # each entry read and checked
        if stored != proven:
            raise IndexMismatch(
                f"reference_index_mismatch: the key registry's query index rows list entries"
                f" {sorted(set(stored) ^ set(proven))[:10]} unlike the signed index",
                hint="run assetledger verify",
            )


def _zigzag(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro long at ``pos`` and the position after it."""
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift > 63:
            raise IndexError("an Avro long longer than 10 bytes")


def _sized(data: bytes, pos: int) -> tuple[bytes, int]:
    """An Avro string or bytes value at ``pos`` and the position after it."""
    size, pos = _zigzag(data, pos)
    if size < 0 or pos + size > len(data):
        raise IndexError("an Avro string runs past the datum")
    return data[pos : pos + size], pos + size


_LEADS: dict[tuple[str, bytes, tuple[tuple[str, str], ...]], bool] = {}


def _leads_with(writer: Any, fields: tuple[tuple[str, str], ...]) -> bool:
    """Whether the record schema ``writer`` begins with these (name, Avro type) fields
    (remembered per schema: its label and fingerprint name its fields)."""
    key = (writer.label, writer.fingerprint, fields)
    if key not in _LEADS:
        _LEADS[key] = _begins(writer.parsed, fields)
    return _LEADS[key]


def _begins(schema: Any, fields: tuple[tuple[str, str], ...]) -> bool:
    given = schema.get("fields", []) if isinstance(schema, dict) else []
    if len(given) < len(fields):
        return False
    for field, (name, kind) in zip(given, fields, strict=False):
        found = field.get("type")
        found = found.get("type") if isinstance(found, dict) else found
        if field.get("name") != name or found != kind:
            return False
    return True


_ENVELOPE_FRONT = (("payloadType", "string"), ("payload", "bytes"))
_EVENT_FRONT = (("event_id", "string"),)


def _leading_event_id(framing: Any, envelope: bytes) -> str | None:
    """The event id in a DSSE envelope's payload, read from the front of both binary datums
    without decoding the rest; None when their writer schemas do not begin with the fields
    read (``payloadType``, ``payload``; ``event_id``) or the bytes do not parse."""
    try:
        writer, pos = framing.locate(envelope)
        if not _leads_with(writer, _ENVELOPE_FRONT):
            return None
        _, pos = _sized(envelope, pos)
        payload, _ = _sized(envelope, pos)
        writer, pos = framing.locate(payload)
        if not _leads_with(writer, _EVENT_FRONT):
            return None
        return _sized(payload, pos)[0].decode("utf-8")
    except (RejectedInput, IndexError, UnicodeDecodeError):
        return None
