"""RFC 6962 / RFC 9162 Merkle tree: hashing, stored nodes, proofs and their verifiers.

Hashing (RFC 9162 §2.1.1)::

    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)
    empty root = SHA-256("")

Storage model: the node ``(level, index)`` is the hash of the leaves
``[index * 2**level, (index + 1) * 2**level)``.  Level 0 holds the leaf hashes.  Only
*complete* subtrees are stored, never the partial right edge of the tree, so a node, once
written, never changes.  The hash of any other range that a root or proof needs is composed
from the O(log n) complete nodes that cover it.

The verifiers are the RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) algorithms.
They check every hash, every length and every size bound and raise
:class:`~ledger.errors.VerificationFailure` with a specific message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from ledger.errors import ConfigurationError, StoreError, VerificationFailure

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, index)``: the subtree over leaves ``[index << level, (index + 1) << level)``."""

Node = tuple[NodeKey, bytes]


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of one log entry (the leaf input)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


# ---------------------------------------------------------------------------------------------
# Node storage


class NodeStore(Protocol):
    """Read access to stored complete subtree hashes."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Return the hashes of the keys that are stored; missing keys are simply absent."""
        ...


class MemoryNodeStore:
    """A :class:`NodeStore` over a dict, for tests and small in-memory logs."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self.nodes[key] for key in keys if key in self.nodes}

    def put_nodes(self, items: Iterable[Node]) -> None:
        for key, value in items:
            self.nodes[key] = value


# ---------------------------------------------------------------------------------------------
# Addressing


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_keys(start: int, end: int) -> list[NodeKey]:
    """The complete nodes covering leaves ``[start, end)``, left to right.

    ``start`` must be a multiple of the largest power of two not above ``end - start``, which
    holds for every range that appears in an RFC 6962 tree (the whole tree, and every
    subtree the recursive definition splits off).
    """
    keys: list[NodeKey] = []
    offset = start
    remaining = end - start
    while remaining > 0:
        level = remaining.bit_length() - 1
        keys.append((level, offset >> level))
        offset += 1 << level
        remaining -= 1 << level
    return keys


def frontier_keys(size: int) -> list[NodeKey]:
    """The complete subtrees along the right edge of a tree of ``size`` leaves, largest first."""
    return range_keys(0, size)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Compose the hashes of adjacent complete subtrees (largest first) into one range hash."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


# ---------------------------------------------------------------------------------------------
# Appending


def new_nodes(frontier: Sequence[bytes], size: int, leaf_hashes: Sequence[bytes]) -> list[Node]:
    """The nodes that become complete when ``leaf_hashes`` are appended to a tree of ``size``.

    ``frontier`` holds the hashes of :func:`frontier_keys` ``(size)`` in that order.  The
    result contains every new leaf (level 0) and every new interior node, in the order they
    complete; it never contains a partial subtree.  Cost: O(k + log n) hashes for k leaves.
    """
    keys = frontier_keys(size)
    if len(frontier) != len(keys):
        raise ConfigurationError(
            f"a tree of size {size} has {len(keys)} frontier nodes, got {len(frontier)}"
        )
    stack: list[tuple[int, bytes]] = [
        (level, value) for (level, _), value in zip(keys, frontier, strict=True)
    ]
    created: list[Node] = []
    position = size
    for value in leaf_hashes:
        _check_hash_length(value, "leaf hash")
        stack.append((0, value))
        created.append(((0, position), value))
        position += 1
        while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
            level, right = stack.pop()
            _, left = stack.pop()
            parent = (level + 1, (position - 1) >> (level + 1))
            merged = node_hash(left, right)
            stack.append((level + 1, merged))
            created.append((parent, merged))
    return created


def _check_hash_length(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ConfigurationError(f"a {what} is {HASH_SIZE} bytes, got {len(value)}")


# ---------------------------------------------------------------------------------------------
# Proof plans: which ranges a proof is made of, before any hash is read


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[start:end]) as leaf ranges, leaf's sibling first."""
    ranges: list[tuple[int, int]] = []
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[0:n], true) as leaf ranges, in proof order."""
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


# ---------------------------------------------------------------------------------------------
# The tree over a node store


class MerkleTree:
    """An append-only RFC 6962 tree whose complete nodes live in a :class:`NodeStore`.

    Every read is one batched ``get_nodes`` call for O(log n) keys; nothing is rebuilt from
    the leaves.  Roots and proofs work for every historical size ``m <= size``.
    """

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        if size < 0:
            raise ConfigurationError(f"tree size must be >= 0, got {size}")
        self.store = store
        self.size = size

    def append(self, leaf_hashes: Sequence[bytes]) -> list[Node]:
        """Compute the nodes completed by appending ``leaf_hashes`` and advance ``size``.

        Nothing is written: the caller must persist the returned nodes (in the same
        transaction as the entries).  If that fails, discard this object and build a new one
        from the stored size.
        """
        frontier = self._read(frontier_keys(self.size))
        created = new_nodes(frontier, self.size, leaf_hashes)
        self.size += len(leaf_hashes)
        return created

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the tree at ``size`` (default: the current size)."""
        size = self.size if size is None else size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hashes([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ConfigurationError(f"leaf index {index} is not in a tree of size {size}")
        return self._range_hashes(_inclusion_ranges(index, 0, size))

    def inclusion_proofs(self, indices: Iterable[int], size: int) -> dict[int, list[bytes]]:
        """The inclusion proofs of many leaves in the tree of ``size`` leaves, each as
        :meth:`inclusion_proof` gives it, the nodes they share read once, in one batch."""
        self._check_size(size)
        wanted = sorted(set(indices))
        for index in wanted:
            if not 0 <= index < size:
                raise ConfigurationError(f"leaf index {index} is not in a tree of size {size}")
        ranges = {index: _inclusion_ranges(index, 0, size) for index in wanted}
        unique = list(dict.fromkeys(r for rs in ranges.values() for r in rs))
        hashes = dict(zip(unique, self._range_hashes(unique), strict=True))
        return {index: [hashes[r] for r in rs] for index, rs in ranges.items()}

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between the trees of ``old_size`` and ``new_size``.

        Empty when ``old_size`` is 0 or equals ``new_size``.
        """
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ConfigurationError(
                f"consistency needs 0 <= old size <= new size, got {old_size} and {new_size}"
            )
        if old_size in (0, new_size):
            return []
        return self._range_hashes(_consistency_ranges(old_size, new_size))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ConfigurationError(f"tree size {size} is not in 0..{self.size}")

    def _range_hashes(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hash of each range, reading all the needed nodes in one batch."""
        per_range = [range_keys(start, end) for start, end in ranges]
        unique = list(dict.fromkeys(key for keys in per_range for key in keys))
        found = dict(zip(unique, self._read(unique), strict=True))
        return [_fold([found[key] for key in keys]) for keys in per_range]

    def _read(self, keys: Sequence[NodeKey]) -> list[bytes]:
        if not keys:
            return []
        found = self.store.get_nodes(keys)
        missing = [key for key in keys if key not in found]
        if missing:
            level, index = missing[0]
            raise StoreError(
                f"Merkle node (level {level}, index {index}) is missing from the node store "
                f"({len(missing)} of {len(keys)} requested nodes missing, tree size {self.size})",
                hint="the node table is behind the entries; rebuild it from the entries",
            )
        return [found[key] for key in keys]


# ---------------------------------------------------------------------------------------------
# Full recomputation


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Reference MTH of RFC 9162 §2.1.1, recursive, over a list of leaf hashes."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _largest_power_of_two_below(n)
    return node_hash(root_from_leaf_hashes(leaf_hashes[:k]), root_from_leaf_hashes(leaf_hashes[k:]))


def compute_root(leaf_hashes: Iterable[bytes]) -> tuple[int, bytes]:
    """Stream leaf hashes once with O(log n) memory; return ``(size, root)``."""
    stack: list[bytes] = []
    size = 0
    sha256 = hashlib.sha256
    for value in leaf_hashes:
        size += 1
        stack.append(value)
        carry = size
        while carry & 1 == 0:  # one merge per trailing zero bit of the new size
            right = stack.pop()
            stack.append(sha256(NODE_PREFIX + stack.pop() + right).digest())
            carry >>= 1
    if not stack:
        return 0, EMPTY_ROOT
    return size, _fold(stack)


# ---------------------------------------------------------------------------------------------
# Verifiers


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _require_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise VerificationFailure(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, got {size}")


def _require_proof(proof: Sequence[bytes], what: str) -> None:
    for position, value in enumerate(proof):
        if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
            _require_hash(value, f"{what} hash #{position}")  # raises, naming it


def inclusion_proof_length(index: int, size: int) -> int:
    """The exact number of hashes in the inclusion proof of ``index`` in a tree of ``size``."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


_Inclusion = tuple[bytes, int, int, bytes]  # leaf hash, index, tree size, root hash
_VERIFIED: ContextVar[dict[_Inclusion, tuple[bytes, ...]] | None] = ContextVar(
    "verified_inclusions", default=None
)
# (left, right) -> node_hash(left, right): the interior nodes proofs walked (many proofs in
# one tree share their upper nodes); a cache of a pure function, so every proof is still
# walked step by step and its end compared with the root
_NODES: ContextVar[dict[tuple[bytes, bytes], bytes] | None] = ContextVar(
    "inclusion_nodes", default=None
)


@contextmanager
def remembering_inclusions() -> Iterator[None]:
    """Within the block, each inclusion :func:`verify_inclusion` has verified (that leaf hash
    at that index of the tree of that size and root) is remembered, so a later layer holding
    the same fact can ask :func:`inclusion_verified` instead of fetching and hashing a proof
    again (a delivery packet's verify checks every entry's receipt first; the key verdicts and
    receipts of its audit re-run prove the same inclusions).  The interior nodes' hashes are
    remembered too (each computed once for all the proofs sharing it).  Outside such a block
    nothing is kept."""
    token = _VERIFIED.set(_VERIFIED.get() if _VERIFIED.get() is not None else {})
    nodes = _NODES.set(_NODES.get() if _NODES.get() is not None else {})
    try:
        yield
    finally:
        _NODES.reset(nodes)
        _VERIFIED.reset(token)


def inclusion_verified(
    leaf_hash: bytes,
    index: int,
    size: int,
    root: bytes,
    proof: Sequence[bytes] | None = None,
) -> bool:
    """Whether :func:`verify_inclusion` verified exactly this inclusion within the current
    :func:`remembering_inclusions` block (False outside one); given ``proof``, with that very
    proof (for a caller that hands the proof on, e.g. in a receipt)."""
    known = _VERIFIED.get()
    if known is None:
        return False
    verified = known.get((bytes(leaf_hash), index, size, bytes(root)))
    return verified is not None and (proof is None or tuple(proof) == verified)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`VerificationFailure` unless ``proof`` proves that
    ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root``
    (remembered within :func:`remembering_inclusions`)."""
    _require_hash(leaf_hash, "leaf hash")
    _require_hash(root, "root hash")
    _require_proof(proof, "inclusion proof")
    if index < 0 or size < 0:
        raise VerificationFailure(f"negative leaf index {index} or tree size {size}")
    if index >= size:
        raise VerificationFailure(f"leaf index {index} is not in a tree of size {size}")
    expected = inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise VerificationFailure(
            f"inclusion proof for leaf {index} of {size} must have {expected} hashes, "
            f"got {len(proof)}"
        )
    fn, sn, r = index, size - 1, leaf_hash
    nodes = _NODES.get()
    for p in proof:
        if sn == 0:
            raise VerificationFailure("inclusion proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            r = node_hash(p, r) if nodes is None else _remembered_node(nodes, p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p) if nodes is None else _remembered_node(nodes, r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailure("inclusion proof is too short for the tree size")
    if not _same(r, root):
        raise VerificationFailure(
            f"inclusion proof for leaf {index} does not lead to the root of tree size {size}: "
            f"computed {r.hex()}, expected {root.hex()}"
        )
    known = _VERIFIED.get()
    if known is not None:
        known[(bytes(leaf_hash), index, size, bytes(root))] = tuple(proof)


def _remembered_node(nodes: dict[tuple[bytes, bytes], bytes], left: bytes, right: bytes) -> bytes:
    if type(left) is not bytes or type(right) is not bytes:  # a bytearray cannot be a key
        return node_hash(left, right)
    found = nodes.get((left, right))
    if found is None:
        found = nodes[(left, right)] = node_hash(left, right)
    return found


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """The exact number of hashes in the consistency proof from ``old_size`` to ``new_size``."""
    if old_size in (0, new_size):
        return 0
    trailing = (old_size & -old_size).bit_length() - 1
    length = inclusion_proof_length(old_size - 1, new_size) - trailing
    return length if old_size == 1 << trailing else length + 1


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`VerificationFailure` unless ``proof`` proves the tree
    of ``old_size`` leaves with ``old_root`` is a prefix of the tree with ``new_root``.

    Edge cases: ``old_size == new_size`` needs an empty proof and equal roots;
    ``old_size == 0`` needs an empty proof and ``old_root`` equal to :data:`EMPTY_ROOT`.
    """
    _require_hash(old_root, "old root hash")
    _require_hash(new_root, "new root hash")
    _require_proof(proof, "consistency proof")
    if old_size < 0 or new_size < old_size:
        raise VerificationFailure(
            f"consistency needs 0 <= old size <= new size, got {old_size} and {new_size}"
        )
    expected = consistency_proof_length(old_size, new_size)
    if len(proof) != expected:
        raise VerificationFailure(
            f"consistency proof from size {old_size} to {new_size} must have {expected} hashes, "
            f"got {len(proof)}"
        )
    if old_size == 0:
        if not _same(old_root, EMPTY_ROOT):
            raise VerificationFailure("old tree of size 0 must have the empty root")
        if new_size == 0 and not _same(new_root, EMPTY_ROOT):
            raise VerificationFailure("new tree of size 0 must have the empty root")
        return
    if old_size == new_size:
        if not _same(old_root, new_root):
            raise VerificationFailure(
                f"two different roots for the same tree size {old_size}: the log forked"
            )
        return
    _chain_consistency(old_size, new_size, old_root, new_root, proof)


def _chain_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Steps 2-7 of RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationFailure("consistency proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailure("consistency proof is too short for the new tree size")
    if not _same(fr, old_root):
        raise VerificationFailure(
            f"consistency proof does not reproduce the old root of size {old_size}: "
            f"computed {fr.hex()}, expected {old_root.hex()}"
        )
    if not _same(sr, new_root):
        raise VerificationFailure(
            f"consistency proof does not reproduce the new root of size {new_size}: "
            f"computed {sr.hex()}, expected {new_root.hex()}"
        )
