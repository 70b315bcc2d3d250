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

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import ledger.index.smt as smt
from ledger.errors import RejectedInput, VerificationFailure
from ledger.events.base import Record
from ledger.events.encoding import reader_framing, writer_schema
from ledger.events.keyregistry import REF_REGISTRY
from ledger.events.kinds import kind_for_payload_type
from ledger.index.keys import ref_keys
from ledger.log.merkle import (
    MerkleTree,
    NodeKey,
    leaf_hash,
    node_hash,
    range_keys,
    verify_inclusion,
)
from ledger.store import Entry, LedgerStore
from ledger.trust.dsse import Envelope

K = TypeVar("K", bytes, tuple[int, int])
V = TypeVar("V")


PRELOAD_DEPTH = 12
"""The index's top levels (at most 2^12 nodes each) are read in one scan when a view opens."""


class _Cached(Generic[K, V]):
    """Nodes read once (found or absent) and kept: every path shares its upper levels.

    Sound because nothing read is trusted: every path and proof is hashed up to the signed
    root, so a node altered in the database fails the check of each path through it.
    """

    def __init__(self, read: Callable[[Sequence[K]], Mapping[K, V]]) -> None:
        self.read: Callable[[Sequence[K]], Mapping[K, V]] = read
        self.found: dict[K, V] = {}
        self.absent: set[K] = set()
        self.complete: Callable[[K], bool] = lambda _: False

    def preload(self, found: Mapping[K, V], complete: Callable[[K], bool]) -> None:
        """``found``: every node for which ``complete`` holds (the others are absent)."""
        self.found.update(found)
        self.complete = complete

    def known(self, i: K) -> bool:
        """Whether node ``i`` was read (found or absent)."""
        return i in self.found or i in self.absent or self.complete(i)

    def get_nodes(self, ids: Sequence[K]) -> dict[K, V]:
        self.load(ids)
        return {i: self.found[i] for i in ids if i in self.found}

    def load(self, ids: Iterable[K]) -> None:
        """Read the nodes among ``ids`` not read yet, in one call."""
        found, absent, complete = self.found, self.absent, self.complete
        wanted = list(
            dict.fromkeys(i for i in ids if i not in found and i not in absent and not complete(i))
        )
        if wanted:
            got = self.read(wanted)
            found.update(got)
            absent.update(i for i in wanted if i not in got)


WINDOW = 8
"""Depths of the index tree one node read fetches below the preloaded top."""

BATCH_WINDOW = 4
"""Depths of every unfinished path one batched node read fetches (:meth:`read_keys`): a read
serves all the keys of a batch, so a narrower window than ``WINDOW`` costs few more reads
and fetches fewer nodes past the paths' ends."""

RUN_MIN = 8
"""Consecutive entries read by one range query from this many on (fewer: by index list)."""


_DEPTH = [d.to_bytes(2, "big") for d in range(smt.KEY_BITS + 1)]
_BYTE = [bytes([b]) for b in range(256)]
_MASK = [0xFF, 0x80, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE]  # the first (depth % 8) bits


class _PathIds:
    """Node positions on the path of one key hash (``ledger.index.smt.node_id`` and
    ``sibling_id``), cut from the key hash's bytes, each computed once."""

    __slots__ = ("_nodes", "_siblings", "k", "kb")

    def __init__(self, k: bytes) -> None:
        self.kb = k
        self.k = int.from_bytes(k, "big")
        self._nodes: list[bytes | None] = [None] * (smt.KEY_BITS + 1)
        self._siblings: list[bytes | None] = [None] * (smt.KEY_BITS + 1)

    def node(self, depth: int) -> bytes:
        found = self._nodes[depth]
        if found is None:
            size = (depth + 7) >> 3
            rest = depth & 7
            if rest:
                last = _BYTE[self.kb[size - 1] & _MASK[rest]]
                found = _DEPTH[depth] + self.kb[: size - 1] + last
            else:
                found = _DEPTH[depth] + self.kb[:size]
            self._nodes[depth] = found
        return found

    def sibling(self, depth: int) -> bytes:
        found = self._siblings[depth]
        if found is None:
            node = self.node(depth)  # the same prefix, its last bit (bit depth - 1) flipped
            found = node[:-1] + _BYTE[node[-1] ^ (0x80 >> ((depth - 1) & 7))]
            self._siblings[depth] = found
        return found


class _ProvenNodes:
    """Log-tree nodes for :class:`MerkleTree`: proven ones first, others read (and noted)."""

    def __init__(self, proven: Mapping[NodeKey, bytes], stored: _Cached[NodeKey, bytes]) -> None:
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
        self.nodes: _Cached[bytes, smt.Node] = _Cached(self.tables.get_nodes)
        top = smt.node_id(smt.EMPTY, PRELOAD_DEPTH)[:2]  # every path starts in the top levels
        self.nodes.preload(self.tables.nodes_above(PRELOAD_DEPTH), lambda n: n[:2] < top)
        self.log_nodes: _Cached[NodeKey, bytes] = _Cached(store.get_nodes)
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
        rows in one query, the nodes of all their paths a few depths at a time in one query
        per step down, then each key's rows hashed up its path until it meets a node already
        proven (the first key up to the signed root), so a node shared by several paths is
        hashed and compared once.  No key is checked less than by its own path."""
        todo = [key for key in dict.fromkeys(keys) if key not in self._keys]
        if not todo:
            return
        hashes = {key: smt.key_hash(key) for key in todo}
        rows = self.tables.rows_of(list(hashes.values()))
        paths = {key: _PathIds(k) for key, k in hashes.items()}
        self._fetch_paths(list(paths.values()))
        for key in todo:
            self._keys[key] = self._check_key(key, paths[key], rows.get(hashes[key], []))

    def _fetch_paths(self, paths: Sequence[_PathIds]) -> None:
        """Read the nodes (and siblings) of many paths, below the part already proven,
        ``WINDOW`` depths of every unfinished path per read."""
        cache = self.nodes
        frontier = {ids: self._proven_depth(ids) for ids in paths}
        while frontier:
            wanted: list[bytes] = []
            for ids, depth in frontier.items():
                stop = min(depth + BATCH_WINDOW, smt.KEY_BITS + 1)
                wanted += [ids.node(d) for d in range(depth, stop)]
                wanted += [ids.sibling(d) for d in range(max(depth, 1), stop)]
            cache.load(wanted)
            later: dict[_PathIds, int] = {}
            for ids, depth in frontier.items():
                start = depth
                while depth <= smt.KEY_BITS:
                    nid = ids.node(depth)
                    if not cache.known(nid) or (
                        depth > start and not cache.known(ids.sibling(depth))
                    ):
                        later[ids] = depth  # not read yet: the next window starts here
                        break
                    found = cache.found.get(nid)
                    if found is None or found[1] is not None:
                        break  # the path ends here (empty, or a single leaf)
                    depth += 1
            frontier = later

    def _check_key(self, key: str, ids: _PathIds, rows: list[int]) -> list[int]:
        """``rows`` of ``key`` hashed up its path to a proven node (at worst the signed
        index root); :class:`IndexMismatch` unless they meet it."""
        k = ids.kb
        top = self._proven_depth(ids)
        found = self._read_path(ids, top)
        if rows:
            terminal = smt.leaf_hash(k, smt.value_of(rows))
        elif found.leaf is not None and found.leaf[0] != k:
            terminal = found.leaf[1]
        else:
            terminal = smt.EMPTY
        hashed = self._hash_up(ids, top, found.siblings, terminal)
        if hashed is None:
            raise IndexMismatch(
                f"index_row_mismatch: the stored index rows of key {key!r} (entries"
                f" {rows[:10]}) do not give the index root the signed checkpoint of size"
                f" {self.size} commits to: rows were deleted, added or repointed in the database",
                hint="run assetledger verify (or assetledger monitor) to see all the damage",
            )
        self._index_proven.update(hashed)
        return rows

    def _proven_depth(self, ids: _PathIds) -> int:
        """The depth of the deepest node on the path already hashed up to the signed root.

        The proven nodes on a path are the ones above some depth (a proven node's parent is
        proven with it), so a binary search finds it."""
        lo, hi = 0, smt.KEY_BITS + 1  # node(lo) is proven, node(hi) is not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ids.node(mid) in self._index_proven:
                lo = mid
            else:
                hi = mid
        return lo

    def _hash_up(
        self, ids: _PathIds, top: int, siblings: Sequence[bytes], terminal: bytes
    ) -> dict[bytes, bytes] | None:
        """Hash from ``terminal`` (at depth ``top + len(siblings)``) up to the proven node at
        depth ``top``; every node and sibling on the way (proven with it), or None when the
        hashes do not meet."""
        hashed: dict[bytes, bytes] = {}
        value = terminal
        for depth in range(top + len(siblings), top, -1):
            hashed[ids.node(depth)] = value
            sibling = siblings[depth - top - 1]
            hashed[ids.sibling(depth)] = sibling
            bit = (ids.k >> (smt.KEY_BITS - depth)) & 1
            value = smt.node_hash(sibling, value) if bit else smt.node_hash(value, sibling)
        return hashed if value == self._index_proven[ids.node(top)] else None

    def _read_path(self, ids: _PathIds, start: int) -> smt.Path:
        """:meth:`_path`, walked straight over the nodes already read (as
        :meth:`_fetch_paths` leaves them); a node not read yet sends it to :meth:`_path`."""
        cache = self.nodes
        found, absent = cache.found, cache.absent
        siblings: list[bytes] = []
        depth = start
        nid = ids.node(depth)
        node = found.get(nid)
        while True:
            if node is None:
                if nid not in absent and not cache.complete(nid):
                    return self._path(ids, start)
                return smt.Path(tuple(siblings), None)
            if node[1] is not None:
                return smt.Path(tuple(siblings), (node[1], node[0]))
            depth += 1
            if depth > smt.KEY_BITS:
                return self._path(ids, start)  # raises: deeper than 256 bits
            sid = ids.sibling(depth)
            sibling = found.get(sid)
            if sibling is None and sid not in absent and not cache.complete(sid):
                return self._path(ids, start)
            siblings.append(smt.EMPTY if sibling is None else sibling[0])
            nid = ids.node(depth)
            node = found.get(nid)

    def _path(self, ids: _PathIds, start: int = 0) -> smt.Path:
        """:func:`ledger.index.smt.path` below depth ``start`` over the cached nodes, reading
        a node only when the path gets to it (the upper levels are preloaded, deeper ones read
        ``WINDOW`` depths at a time); the siblings of depths ``start + 1 …``."""
        siblings: list[bytes] = []
        for depth in range(start, smt.KEY_BITS + 1):
            if depth > start:
                sibling = self._node_at(ids, depth, ids.sibling(depth))
                siblings.append(smt.EMPTY if sibling is None else sibling[0])
            found = self._node_at(ids, depth, ids.node(depth))
            if found is None:
                return smt.Path(tuple(siblings), None)
            if found[1] is not None:
                return smt.Path(tuple(siblings), (found[1], found[0]))
        raise VerificationFailure("index tree: a path runs deeper than 256 bits")

    def _node_at(self, ids: _PathIds, depth: int, nid: bytes) -> smt.Node | None:
        cache = self.nodes
        found = cache.found.get(nid)
        if found is not None or nid in cache.absent or cache.complete(nid):
            return found
        stop = min(depth + WINDOW, smt.KEY_BITS + 1)
        window = [ids.node(d) for d in range(depth, stop)]
        window += [ids.sibling(d) for d in range(max(depth, 1), stop)]
        cache.get_nodes(window)
        return cache.found.get(nid)

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
            event = self.framing.decode(envelope.payload)[1]
        except RejectedInput as exc:
            raise IndexMismatch(f"entry {entry.seq} no longer decodes: {exc.message}") from None
        self._decoded[entry.seq] = (self._writer_version(envelope.payload), event)
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
