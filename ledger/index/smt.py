"""The index's sparse Merkle tree: 256-bit key paths, only non-empty subtrees stored.

Hashes (SHA-256, ``||`` is concatenation)::

    key hash    k = SHA-256(key as UTF-8)
    value       v_0 = 32 zero bytes;  v_{i+1} = SHA-256(0x02 || v_i || uint64be(index_i))
                over the key's ledger indices in increasing order
    leaf        SHA-256(0x00 || k || v)
    node        SHA-256(0x01 || left || right)
    empty       32 zero bytes

The hash of the subtree at depth ``d`` (the keys whose first ``d`` bits are a given prefix;
bit 0 is the top bit of byte 0) is *empty* when it holds no key, the *leaf* hash of its key
when it holds one (the path is compressed, as in Diem's Jellyfish Merkle tree and AKD), and
otherwise the *node* hash of its two halves at depth ``d + 1``.  The root is the subtree at
depth 0.

A proof for key ``k`` is the sibling hashes from depth 0 down to the depth ``D`` where the
path of ``k`` ends, and what it ends at: the leaf of ``k`` (present), nothing (absent), or the
leaf of another key sharing the first ``D`` bits (absent).  The verifier hashes up from there.
The 0x00 / 0x01 prefixes keep leaves and nodes apart, so a proof cannot end higher or lower
than the real path.

Nodes are stored by position: ``uint16be(d) || the first d bits, zero-padded to bytes``, each
with its hash and, for a leaf, its key hash.  The map only grows (a key never leaves it), so
an update never deletes: a leaf pushed down by a new neighbour is written again lower, and its
old position becomes a node.
"""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger.errors import VerificationFailure

try:
    import ledger.index._native as _native  # the extension only (not the package's __init__)
except ImportError:  # built without a compiler or OpenSSL: the pure-Python fold
    _native = None  # type: ignore[assignment]
if os.environ.get("ASSETLEDGER_PURE_PYTHON", "") not in ("", "0"):
    _native = None  # type: ignore[assignment]
NATIVE = _native is not None
"""Whether the fold, :func:`chain_leaf` and :func:`root_from` run in C (``ledger.index._native``,
built when the install finds a compiler; ``ASSETLEDGER_PURE_PYTHON=1`` turns it off).  Both
give the same bytes (tests/ledger/index/test_native.py)."""

HASH_SIZE = 32
EMPTY = bytes(HASH_SIZE)
KEY_BITS = 256
FETCH_DEPTHS = 32
"""Depths whose nodes one path read fetches at once (a map of a million keys is ~21 deep)."""


Node = tuple[bytes, bytes | None]
"""A stored subtree: its hash, and the key hash when it is a single leaf (else None)."""


class NodeReader(Protocol):
    def get_nodes(self, ids: Sequence[bytes]) -> Mapping[bytes, Node]:
        """The stored nodes among ``ids`` (absent: an empty subtree or not on a path)."""


class PathReader(NodeReader, Protocol):
    def read_paths(self, keys: Sequence[bytes]) -> Mapping[bytes, Node]:
        """At least the stored nodes on the paths of ``keys`` (sorted) and their siblings."""


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def chain_value(previous: bytes, index: int) -> bytes:
    return hashlib.sha256(b"\x02" + previous + index.to_bytes(8, "big")).digest()


def value_of(indices: Iterable[int]) -> bytes:
    """The value committed for a key's indices (strictly increasing; checked by callers)."""
    value = EMPTY
    for index in indices:
        value = chain_value(value, index)
    return value


def chain_leaf(k: bytes, value: bytes, packed: bytes) -> tuple[bytes, bytes]:
    """The value of key hash ``k`` chained on from ``value`` over the indices ``packed``
    (``uint64be`` each), and the leaf hash of ``k`` with it."""
    if _native is not None:
        return _native.chain(k, value, packed)
    sha256 = hashlib.sha256
    for at in range(0, len(packed), 8):
        value = sha256(b"\x02" + value + packed[at : at + 8]).digest()
    return value, sha256(b"\x00" + k + value).digest()


def leaf_hash(k: bytes, value: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + k + value).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def bit(k: bytes, depth: int) -> int:
    return (k[depth >> 3] >> (7 - (depth & 7))) & 1


_DEPTH = [d.to_bytes(2, "big") for d in range(KEY_BITS + 1)]
_MASK = [(0xFF << (8 - r)) & 0xFF for r in range(8)]
_BYTE = [bytes((b,)) for b in range(256)]


def node_id(k: bytes, depth: int) -> bytes:
    """The position of the depth-``depth`` subtree on the path of key hash ``k``."""
    full, rest = depth >> 3, depth & 7
    if rest:
        return _DEPTH[depth] + k[:full] + _BYTE[k[full] & _MASK[rest]]
    return _DEPTH[depth] + k[:full]


def sibling_id(k: bytes, depth: int) -> bytes:
    """The position of the sibling of the depth-``depth`` subtree on the path of ``k``."""
    position = node_id(k, depth)  # bit depth - 1, the last of the prefix, is in its last byte
    return position[:-1] + _BYTE[position[-1] ^ (0x80 >> ((depth - 1) & 7))]


ROOT_ID = node_id(EMPTY, 0)


# ---------------------------------------------------------------------------------------------
# Updating


@dataclass
class Update:
    """The result of applying changed leaves: the new root and every node to (re)write."""

    root: bytes
    writes: dict[bytes, Node] = field(default_factory=dict)


def apply(reader: NodeReader, changes: Mapping[bytes, bytes]) -> Update:
    """Set the leaf hash of each key hash in ``changes``; read only the nodes on their paths.

    The nodes are read by the reader's ``read_paths`` when it has one (:class:`PathReader`:
    the index tables read a page level at a time), else a depth at a time (one ``get_nodes``
    call per depth).  Every node on the changed paths is hashed and written once, however many
    of them pass through it.
    """
    items = sorted(changes.items())
    keys = [k for k, _ in items]
    known = _read_paths(reader, keys)
    if not items:
        return Update(_hash_at(known, ROOT_ID))
    return fold_tree(known, keys, [v for _, v in items])


def fold_tree(known: Mapping[bytes, Node], keys: list[bytes], values: list[bytes]) -> Update:
    """Set leaf hashes ``values`` of the key hashes ``keys`` (sorted, at least one) in the
    tree whose stored nodes on their paths and beside them are ``known``: the new root and the
    nodes to write.  In C when built (:data:`NATIVE`); a stored node that is not (32 bytes,
    32 bytes or None) sends it to the Python fold, which treats it as it always did."""
    if _native is not None and type(known) is dict:
        writes: dict[bytes, Node] = {}
        try:
            return Update(_native.fold(known, keys, values, writes), writes)
        except ValueError:
            pass
    update = Update(EMPTY)
    update.root = _Fold(known, keys, values, update.writes).apply(0, 0, len(keys))
    return update


def _hash_at(known: Mapping[bytes, Node], nid: bytes) -> bytes:
    found = known.get(nid)
    return EMPTY if found is None else found[0]


def _read_paths(reader: NodeReader, keys: list[bytes]) -> Mapping[bytes, Node]:
    """The stored nodes on the paths of ``keys`` (sorted) and their siblings: by the reader's
    ``read_paths`` when it has one (:class:`PathReader`), else a depth at a time."""
    read = getattr(reader, "read_paths", None)
    return read(keys) if read is not None else _prefetch(reader, keys)


def _prefetch(reader: NodeReader, keys: list[bytes]) -> dict[bytes, Node]:
    """The stored nodes on the paths of ``keys`` (sorted) and their siblings, depth by depth."""
    known: dict[bytes, Node] = {}
    groups: list[tuple[int, int]] = [(0, len(keys))] if keys else []  # ranges of ``keys``
    depth = 0
    while groups:
        here = [node_id(keys[lo], depth) for lo, _ in groups]
        ids = set(here)
        if depth:
            flip = 0x80 >> ((depth - 1) & 7)
            ids.update([n[:-1] + _BYTE[n[-1] ^ flip] for n in here])
        known.update(reader.get_nodes(sorted(ids)))
        next_groups = []
        for (lo, hi), nid in zip(groups, here, strict=True):
            found = known.get(nid)
            if found is None or found[1] is not None:
                continue  # the whole subtree is known: empty or one leaf
            cut = bisect_left(keys, _boundary(keys[lo], depth), lo, hi)
            if cut > lo:
                next_groups.append((lo, cut))
            if cut < hi:
                next_groups.append((cut, hi))
        groups, depth = next_groups, depth + 1
    return known


def _boundary(k: bytes, depth: int) -> bytes:
    """The smallest key hash sharing the first ``depth`` bits of ``k`` with bit ``depth`` set
    (cut short: every key hash that starts with it sorts after it, every other one before)."""
    full, rest = depth >> 3, depth & 7
    return k[:full] + _BYTE[(k[full] & _MASK[rest]) | (0x80 >> rest)]


class _Fold:
    """Changed leaves (sorted key hashes and their leaf hashes) hashed up into the stored tree;
    ranges of the sorted lists stand for the subtrees (no list is copied)."""

    def __init__(
        self,
        known: Mapping[bytes, Node],
        keys: list[bytes],
        values: list[bytes],
        writes: dict[bytes, Node],
    ) -> None:
        self.known, self.keys, self.values, self.writes = known, keys, values, writes

    def apply(self, depth: int, lo: int, hi: int) -> bytes:
        """The new hash of the subtree at ``depth`` holding changed keys ``lo … hi - 1``."""
        keys = self.keys
        k0 = keys[lo]
        nid = node_id(k0, depth)
        found = self.known.get(nid)
        if found is None:
            return self.build(depth, lo, hi)
        if found[1] is not None:  # one stored leaf: it joins the changed keys below
            other = found[1]
            at = bisect_left(keys, other, lo, hi)
            if at < hi and keys[at] == other:
                return self.build(depth, lo, hi)
            return _build_list(depth, self._with(lo, hi, at, other, found[0]), self.writes)
        cut = bisect_left(keys, _boundary(k0, depth), lo, hi)
        if cut > lo:
            left = self.apply(depth + 1, lo, cut)
        else:  # k0 is on the right: its sibling is the left half
            left = _hash_at(self.known, sibling_id(k0, depth + 1))
        if cut < hi:
            right = self.apply(depth + 1, cut, hi)
        else:
            right = _hash_at(self.known, sibling_id(k0, depth + 1))
        value = node_hash(left, right)
        self.writes[nid] = (value, None)
        return value

    def build(self, depth: int, lo: int, hi: int) -> bytes:
        """Write the subtree at ``depth`` holding exactly changed keys ``lo … hi - 1``."""
        keys = self.keys
        k0 = keys[lo]
        if hi - lo == 1:
            value = self.values[lo]
            self.writes[node_id(k0, depth)] = (value, k0)
            return value
        cut = bisect_left(keys, _boundary(k0, depth), lo, hi)
        left = self.build(depth + 1, lo, cut) if cut > lo else EMPTY
        right = self.build(depth + 1, cut, hi) if cut < hi else EMPTY
        value = node_hash(left, right)
        self.writes[node_id(k0, depth)] = (value, None)
        return value

    def _with(self, lo: int, hi: int, at: int, k: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
        items = list(zip(self.keys[lo:hi], self.values[lo:hi], strict=True))
        items.insert(at - lo, (k, value))
        return items


def _build_list(depth: int, items: list[tuple[bytes, bytes]], writes: dict[bytes, Node]) -> bytes:
    """Write the subtree at ``depth`` holding exactly ``items`` (sorted); return its hash."""
    keys = [k for k, _ in items]
    return _Fold({}, keys, [v for _, v in items], writes).build(depth, 0, len(keys))


# ---------------------------------------------------------------------------------------------
# Proofs


@dataclass(frozen=True)
class Path:
    """Where the path of a key ends, and the sibling hashes above it (depth 0 first).

    ``leaf``: the key hash and leaf hash found at the end, or None for an empty subtree.
    """

    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None


def path(reader: NodeReader, k: bytes, window: int = FETCH_DEPTHS) -> Path:
    """The path of key hash ``k`` through the stored tree, read ``window`` depths a call."""
    siblings: list[bytes] = []
    depth = 0
    while depth <= KEY_BITS:
        stop = min(depth + window, KEY_BITS + 1)
        ids = [node_id(k, d) for d in range(depth, stop)]
        ids += [sibling_id(k, d) for d in range(max(depth, 1), stop)]
        known = reader.get_nodes(ids)
        for d in range(depth, stop):
            if d:
                siblings.append(_hash_at(known, sibling_id(k, d)))
            found = known.get(node_id(k, d))
            if found is None:
                return Path(tuple(siblings), None)
            if found[1] is not None:
                return Path(tuple(siblings), (found[1], found[0]))
        depth = stop
    raise VerificationFailure("index tree: a path runs deeper than 256 bits")


def paths(reader: NodeReader, keys: Iterable[bytes]) -> dict[bytes, Path]:
    """The path of each key hash of ``keys``, each as :func:`path` gives it, the nodes they
    share read once (as :func:`apply` reads them: for all of them together, not one a key)."""
    wanted = sorted(set(keys))
    known = _Known(_read_paths(reader, wanted))
    return {k: path(known, k) for k in wanted}


@dataclass(frozen=True)
class _Known:
    """A reader of the nodes read already: every stored node on the paths asked about."""

    nodes: Mapping[bytes, Node]

    def get_nodes(self, ids: Sequence[bytes]) -> Mapping[bytes, Node]:
        nodes = self.nodes
        return {n: nodes[n] for n in ids if n in nodes}


def root_from(k: bytes, siblings: Sequence[bytes], terminal: bytes) -> bytes:
    """Hash up from ``terminal`` at depth ``len(siblings)`` on the path of ``k``."""
    if (
        _native is not None
        and len(siblings) <= KEY_BITS
        and all(len(s) == HASH_SIZE for s in siblings)  # joined, 16 + 48 bytes read as 32 + 32
    ):
        try:
            return _native.root_from(k, b"".join(siblings), terminal)
        except ValueError:  # not all 32 bytes: hashed as they are, below
            pass
    value = terminal
    for depth in range(len(siblings), 0, -1):
        sibling = siblings[depth - 1]
        value = node_hash(sibling, value) if bit(k, depth - 1) else node_hash(value, sibling)
    return value


def shares_prefix(a: bytes, b: bytes, depth: int) -> bool:
    return all(bit(a, d) == bit(b, d) for d in range(depth))
