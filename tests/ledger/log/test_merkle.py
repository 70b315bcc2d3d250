"""Merkle tree: compare against a naive RFC 6962 implementation and known vectors; attack
the verifiers with every single-bit flip, wrong index/size and extra or missing hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from ledger.errors import ConfigurationError, StoreError, VerificationFailure
from ledger.log import merkle
from ledger.log.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleTree,
    NodeKey,
    compute_root,
    consistency_proof_length,
    frontier_keys,
    inclusion_proof_length,
    inclusion_verified,
    leaf_hash,
    new_nodes,
    node_hash,
    remembering_inclusions,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 70

# ---------------------------------------------------------------------------------------------
# A naive RFC 6962 §2.1 implementation, written independently of ledger.log.merkle


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split_point(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes*."""
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return sha(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [naive_mth(leaves)]
    k = split_point(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], complete), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def naive_consistency(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    return naive_subproof(m, leaves, True)


# ---------------------------------------------------------------------------------------------
# Fixtures


LEAVES = [leaf_hash(b"entry %d" % i) for i in range(MAX_SIZE)]


def build(leaves: Sequence[bytes], batches: Sequence[int] = (1,)) -> MerkleTree:
    """A tree over ``leaves`` appended in batches of the given sizes, cycled."""
    store = MemoryNodeStore()
    tree = MerkleTree(store)
    position, turn = 0, 0
    while position < len(leaves):
        count = batches[turn % len(batches)]
        store.put_nodes(tree.append(leaves[position : position + count]))
        position += count
        turn += 1
    return tree


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return build(LEAVES, batches=(1, 3, 2, 7, 5))


class CountingStore:
    """Wrap a store and record every batch of keys requested."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.calls: list[list[NodeKey]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.calls.append(list(keys))
        return self.inner.get_nodes(keys)


def flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# Known vectors: transparency-dev/merkle testonly/constants.go and proof/verify_test.go


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


TD_INPUTS = [hx(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]] + [
    hx("606162636465666768696a6b6c6d6e6f")
]
TD_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
TD_NODES = {
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 3): "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 5): "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# (leaf index, tree size, proof); the Go vectors number leaves from 1.
TD_INCLUSION = [
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
TD_CONSISTENCY = [
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]


def expand(prefixes: list[str]) -> list[bytes]:
    """Map the 8-hex-digit prefixes used in the vector tables to the full node hashes."""
    full = {value[:8]: hx(value) for value in TD_NODES.values()}
    return [full[prefix] for prefix in prefixes]


def td_tree() -> MerkleTree:
    return build([leaf_hash(x) for x in TD_INPUTS], batches=(3, 1, 4))


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == TD_ROOTS[0]
    assert leaf_hash(b"").hex() == TD_NODES[(0, 0)]
    assert node_hash(hx(TD_NODES[(0, 0)]), hx(TD_NODES[(0, 1)])).hex() == TD_NODES[(1, 0)]


def test_known_roots_for_every_size() -> None:
    tree = td_tree()
    for size, expected in enumerate(TD_ROOTS):
        assert tree.root(size).hex() == expected


def test_known_stored_nodes_are_exactly_the_complete_subtrees() -> None:
    tree = td_tree()
    assert isinstance(tree.store, MemoryNodeStore)
    assert {key: value.hex() for key, value in tree.store.nodes.items()} == TD_NODES


@pytest.mark.parametrize(("index", "size", "proof"), TD_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    tree = td_tree()
    assert tree.inclusion_proof(index, size) == expand(proof)
    verify_inclusion(leaf_hash(TD_INPUTS[index]), index, size, expand(proof), hx(TD_ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "proof"), TD_CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    tree = td_tree()
    assert tree.consistency_proof(old, new) == expand(proof)
    verify_consistency(old, new, hx(TD_ROOTS[old]), hx(TD_ROOTS[new]), expand(proof))


# ---------------------------------------------------------------------------------------------
# Every size, index and old size against the naive implementation


def test_roots_for_every_historical_size(tree: MerkleTree) -> None:
    for size in range(MAX_SIZE + 1):
        expected = naive_mth(LEAVES[:size])
        assert tree.root(size) == expected, size
        assert root_from_leaf_hashes(LEAVES[:size]) == expected
        assert compute_root(iter(LEAVES[:size])) == (size, expected)
    assert tree.root() == naive_mth(LEAVES)


def test_inclusion_proofs_for_every_index_and_size(tree: MerkleTree) -> None:
    for size in range(1, MAX_SIZE + 1):
        root = naive_mth(LEAVES[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == naive_path(index, LEAVES[:size]), (index, size)
            assert len(proof) == inclusion_proof_length(index, size)
            verify_inclusion(LEAVES[index], index, size, proof, root)


def test_consistency_proofs_for_every_pair_of_sizes(tree: MerkleTree) -> None:
    for new in range(1, MAX_SIZE + 1):
        new_root = naive_mth(LEAVES[:new])
        for old in range(1, new + 1):
            proof = tree.consistency_proof(old, new)
            assert proof == naive_consistency(old, LEAVES[:new]), (old, new)
            assert len(proof) == consistency_proof_length(old, new)
            verify_consistency(old, new, naive_mth(LEAVES[:old]), new_root, proof)


def test_consistency_from_empty_tree(tree: MerkleTree) -> None:
    assert tree.consistency_proof(0, 5) == []
    verify_consistency(0, 5, EMPTY_ROOT, tree.root(5), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


# ---------------------------------------------------------------------------------------------
# Appending and storage


@pytest.mark.parametrize("batches", [(1,), (2,), (7,), (70,), (5, 1, 9, 2), (64, 6)])
def test_batching_does_not_change_the_stored_nodes(batches: tuple[int, ...]) -> None:
    reference = build(LEAVES)
    other = build(LEAVES, batches)
    assert isinstance(reference.store, MemoryNodeStore)
    assert isinstance(other.store, MemoryNodeStore)
    assert other.store.nodes == reference.store.nodes
    assert other.size == MAX_SIZE


def test_only_complete_subtrees_are_stored(tree: MerkleTree) -> None:
    assert isinstance(tree.store, MemoryNodeStore)
    nodes = tree.store.nodes
    assert len(nodes) == 2 * MAX_SIZE - MAX_SIZE.bit_count()
    for (level, index), value in nodes.items():
        start, end = index << level, (index + 1) << level
        assert end <= MAX_SIZE
        assert value == naive_mth(LEAVES[start:end])


def test_new_nodes_from_a_frontier() -> None:
    size = 11
    frontier = [naive_mth(LEAVES[(i << lv) : (i + 1) << lv]) for lv, i in frontier_keys(size)]
    assert frontier_keys(size) == [(3, 0), (1, 4), (0, 10)]
    created = new_nodes(frontier, size, LEAVES[11:13])
    assert created == [
        ((0, 11), LEAVES[11]),
        ((1, 5), naive_mth(LEAVES[10:12])),
        ((2, 2), naive_mth(LEAVES[8:12])),
        ((0, 12), LEAVES[12]),
    ]
    with pytest.raises(ConfigurationError, match="3 frontier nodes"):
        new_nodes(frontier[:2], size, LEAVES[11:12])
    with pytest.raises(ConfigurationError, match="32 bytes"):
        new_nodes(frontier, size, [b"short"])


def test_append_to_empty_tree_returns_nothing_for_no_leaves() -> None:
    tree = MerkleTree(MemoryNodeStore())
    assert tree.append([]) == []
    assert tree.size == 0
    assert tree.root() == EMPTY_ROOT


def test_every_read_is_one_batch_of_logarithmic_size() -> None:
    size = 5000
    leaves = [leaf_hash(b"%d" % i) for i in range(size)]
    inner = build(leaves, batches=(1000,)).store
    assert isinstance(inner, MemoryNodeStore)
    store = CountingStore(inner)
    tree = MerkleTree(store, size)
    bound = 2 * size.bit_length() + 2
    for index, tree_size in [(0, 5000), (4999, 5000), (2047, 4097), (1234, 3333), (0, 2)]:
        store.calls.clear()
        tree.inclusion_proof(index, tree_size)
        assert len(store.calls) == 1
        assert len(store.calls[0]) <= bound
        assert len(set(store.calls[0])) == len(store.calls[0])
    for old, new in [(1, 5000), (4095, 4097), (1234, 4999), (2500, 5000)]:
        store.calls.clear()
        tree.consistency_proof(old, new)
        assert len(store.calls) == 1
        assert len(store.calls[0]) <= bound
    for root_size in (1, 4096, 4097, 4999):
        store.calls.clear()
        tree.root(root_size)
        assert store.calls == [frontier_keys(root_size)]
    store.calls.clear()
    assert tree.inclusion_proof(0, 1) == []
    assert store.calls == []  # nothing to read
    tree.append([leaf_hash(b"next")])
    assert store.calls == [frontier_keys(size)]


def test_many_inclusion_proofs_are_the_single_ones_read_in_one_batch() -> None:
    size = 5000
    leaves = [leaf_hash(b"%d" % i) for i in range(size)]
    inner = build(leaves, batches=(1000,)).store
    assert isinstance(inner, MemoryNodeStore)
    store = CountingStore(inner)
    tree = MerkleTree(store, size)
    for tree_size, indices in [(5000, [0, 4999, 17, 18, 2048, 17]), (4097, [4096, 0, 2047])]:
        store.calls.clear()
        proofs = tree.inclusion_proofs(indices, tree_size)
        assert len(store.calls) == 1  # the shared nodes read once, together
        assert len(set(store.calls[0])) == len(store.calls[0])
        assert sorted(proofs) == sorted(set(indices))
        for index in indices:
            assert proofs[index] == tree.inclusion_proof(index, tree_size), (index, tree_size)
    assert tree.inclusion_proofs([], size) == {}
    with pytest.raises(ConfigurationError, match="not in a tree of size 10"):
        tree.inclusion_proofs([3, 10], 10)


def test_missing_node_is_a_store_error() -> None:
    tree = build(LEAVES[:8])
    assert isinstance(tree.store, MemoryNodeStore)
    del tree.store.nodes[(1, 3)]
    with pytest.raises(StoreError, match=r"level 1, index 3"):
        tree.inclusion_proof(5, 8)
    assert tree.root(8) == naive_mth(LEAVES[:8])  # (3, 0) is still there


def test_bad_usage_is_a_configuration_error(tree: MerkleTree) -> None:
    with pytest.raises(ConfigurationError):
        tree.root(MAX_SIZE + 1)
    with pytest.raises(ConfigurationError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ConfigurationError):
        tree.inclusion_proof(-1, 5)
    with pytest.raises(ConfigurationError):
        tree.inclusion_proof(0, MAX_SIZE + 1)
    with pytest.raises(ConfigurationError):
        tree.consistency_proof(6, 5)
    with pytest.raises(ConfigurationError):
        MerkleTree(MemoryNodeStore(), -1)


def test_compute_root_of_a_million_leaves() -> None:
    size, root = compute_root(leaf_hash(i.to_bytes(8, "big")) for i in range(1_000_000))
    assert size == 1_000_000
    assert len(root) == 32


# ---------------------------------------------------------------------------------------------
# Verifiers reject every tampering


def rejects_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except VerificationFailure:
        return True
    return False


def rejects_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    try:
        verify_consistency(old, new, old_root, new_root, proof)
    except VerificationFailure:
        return True
    return False


def assert_rejects_flips(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes, bits: Sequence[int]
) -> None:
    """Each of ``bits`` flipped in the leaf, the root or any proof hash is refused."""
    for bit in bits:
        assert rejects_inclusion(flip(leaf, bit), index, size, proof, root)
        assert rejects_inclusion(leaf, index, size, proof, flip(root, bit))
        for position in range(len(proof)):
            bad = list(proof)
            bad[position] = flip(bad[position], bit)
            assert rejects_inclusion(leaf, index, size, bad, root), (index, size)


def test_inclusion_rejects_every_single_bit_flip(tree: MerkleTree) -> None:
    for size in range(1, 13):
        root = tree.root(size)
        for index in range(size):
            leaf, proof = LEAVES[index], tree.inclusion_proof(index, size)
            assert_rejects_flips(leaf, index, size, proof, root, range(256))


def test_consistency_rejects_every_single_bit_flip(tree: MerkleTree) -> None:
    for new in range(2, 13):
        new_root = tree.root(new)
        for old in range(1, new):
            old_root, proof = tree.root(old), tree.consistency_proof(old, new)
            for bit in range(256):
                assert rejects_consistency(old, new, flip(old_root, bit), new_root, proof)
                assert rejects_consistency(old, new, old_root, flip(new_root, bit), proof)
                for position in range(len(proof)):
                    bad = list(proof)
                    bad[position] = flip(bad[position], bit)
                    assert rejects_consistency(old, new, old_root, new_root, bad), (old, new)


def test_inclusion_rejects_wrong_index_extra_and_missing_hashes(tree: MerkleTree) -> None:
    junk = hashlib.sha256(b"junk").digest()
    for size in range(1, 33):
        root = tree.root(size)
        for index in range(size):
            leaf, proof = LEAVES[index], tree.inclusion_proof(index, size)
            for other in [*range(size + 2), -1]:
                if other != index:
                    assert rejects_inclusion(leaf, other, size, proof, root), (index, other)
            for wrong_size in {size * 2, size // 2, size * 16, 0, -1} - {size}:
                assert rejects_inclusion(leaf, index, wrong_size, proof, root)
            for extra in (junk, root, leaf, b""):
                assert rejects_inclusion(leaf, index, size, [*proof, extra], root)
                assert rejects_inclusion(leaf, index, size, [extra, *proof], root)
            for position in range(len(proof)):
                assert rejects_inclusion(
                    leaf, index, size, proof[:position] + proof[position + 1 :], root
                )
                assert rejects_inclusion(
                    leaf, index, size, [*proof[:position], junk, *proof[position:]], root
                )


def test_inclusion_rejects_the_wrong_leaf_and_bad_hash_sizes(tree: MerkleTree) -> None:
    root, proof = tree.root(9), tree.inclusion_proof(4, 9)
    for index in range(9):
        if index != 4:
            assert rejects_inclusion(LEAVES[index], 4, 9, proof, root)
    with pytest.raises(VerificationFailure, match="leaf hash must be a 32-byte"):
        verify_inclusion(LEAVES[4][:31], 4, 9, proof, root)
    with pytest.raises(VerificationFailure, match="root hash must be a 32-byte"):
        verify_inclusion(LEAVES[4], 4, 9, proof, root + b"\x00")
    with pytest.raises(VerificationFailure, match="hash #1"):
        verify_inclusion(LEAVES[4], 4, 9, [proof[0], proof[1][:16], *proof[2:]], root)
    with pytest.raises(VerificationFailure, match="not in a tree of size 9"):
        verify_inclusion(LEAVES[4], 9, 9, proof, root)
    with pytest.raises(VerificationFailure, match="must have 4 hashes, got 3"):
        verify_inclusion(LEAVES[4], 4, 9, proof[:3], root)
    with pytest.raises(VerificationFailure, match="does not lead to the root"):
        verify_inclusion(LEAVES[4], 4, 9, proof, tree.root(10))


def test_inclusion_in_a_single_leaf_tree() -> None:
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    assert rejects_inclusion(LEAVES[0], 0, 1, [], LEAVES[1])
    assert rejects_inclusion(LEAVES[0], 0, 1, [LEAVES[0]], LEAVES[0])
    assert rejects_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)


def test_consistency_rejects_wrong_sizes_extra_and_missing_hashes(tree: MerkleTree) -> None:
    junk = hashlib.sha256(b"junk").digest()
    for new in range(2, 33):
        new_root = tree.root(new)
        for old in range(1, new):
            old_root, proof = tree.root(old), tree.consistency_proof(old, new)
            for other_old in {*range(1, new + 1), 0, -1} - {old}:
                assert rejects_consistency(other_old, new, old_root, new_root, proof)
            for other_new in {new * 2, new // 2, new * 16, old - 1} - {new}:
                assert rejects_consistency(old, other_new, old_root, new_root, proof)
            assert rejects_consistency(old, new, new_root, old_root, proof)
            assert rejects_consistency(old, new, old_root, new_root, [])
            for extra in (junk, old_root, new_root, proof[0], b""):
                assert rejects_consistency(old, new, old_root, new_root, [*proof, extra])
                assert rejects_consistency(old, new, old_root, new_root, [extra, *proof])
            for position in range(len(proof)):
                shorter = proof[:position] + proof[position + 1 :]
                assert rejects_consistency(old, new, old_root, new_root, shorter)


def test_consistency_edge_cases(tree: MerkleTree) -> None:
    r5, r6 = tree.root(5), tree.root(6)
    verify_consistency(5, 5, r5, r5, [])
    with pytest.raises(VerificationFailure, match="the log forked"):
        verify_consistency(5, 5, r5, r6, [])
    with pytest.raises(VerificationFailure, match="must have 0 hashes"):
        verify_consistency(5, 5, r5, r5, [r5])
    with pytest.raises(VerificationFailure, match="old tree of size 0"):
        verify_consistency(0, 5, r5, r5, [])
    with pytest.raises(VerificationFailure, match="must have 0 hashes"):
        verify_consistency(0, 5, EMPTY_ROOT, r5, [EMPTY_ROOT])
    with pytest.raises(VerificationFailure, match="new tree of size 0"):
        verify_consistency(0, 0, EMPTY_ROOT, r5, [])
    with pytest.raises(VerificationFailure, match="old size <= new size"):
        verify_consistency(6, 5, r6, r5, tree.consistency_proof(5, 6))
    with pytest.raises(VerificationFailure, match="old root of size 5"):
        verify_consistency(5, 6, r6, r6, tree.consistency_proof(5, 6))
    with pytest.raises(VerificationFailure, match="new root of size 6"):
        verify_consistency(5, 6, r5, r5, tree.consistency_proof(5, 6))
    with pytest.raises(VerificationFailure, match="new root hash must be a 32-byte"):
        verify_consistency(5, 6, r5, b"", tree.consistency_proof(5, 6))


def test_an_inclusion_is_remembered_only_once_verified_within_the_block() -> None:
    """remembering_inclusions: a later layer may take an inclusion as shown only if
    verify_inclusion verified exactly it (leaf, index, size, root), in this block."""
    tree = build(LEAVES[:13])
    root = tree.root(13)
    proof = tree.inclusion_proof(5, 13)
    verify_inclusion(LEAVES[5], 5, 13, proof, root)
    assert not inclusion_verified(LEAVES[5], 5, 13, root)  # outside a block nothing is kept
    with remembering_inclusions():
        assert not inclusion_verified(LEAVES[5], 5, 13, root)
        with pytest.raises(VerificationFailure):  # a failed proof is not remembered
            verify_inclusion(LEAVES[6], 5, 13, proof, root)
        assert not inclusion_verified(LEAVES[6], 5, 13, root)
        verify_inclusion(LEAVES[5], 5, 13, proof, root)
        with remembering_inclusions():  # nested: the same memory
            assert inclusion_verified(LEAVES[5], 5, 13, root)
            assert inclusion_verified(LEAVES[5], 5, 13, root, proof)
        # another leaf, index, size or root is another fact; another proof is not the one
        # verified (a caller that hands the proof on asks for it)
        assert not inclusion_verified(LEAVES[4], 5, 13, root)
        assert not inclusion_verified(LEAVES[5], 4, 13, root)
        assert not inclusion_verified(LEAVES[5], 5, 12, tree.root(12))
        assert not inclusion_verified(LEAVES[5], 5, 13, bytes(32))
        assert not inclusion_verified(LEAVES[5], 5, 13, root, [bytes(32)] * len(proof))
    assert not inclusion_verified(LEAVES[5], 5, 13, root)


def test_proofs_sharing_remembered_nodes_still_reject_every_altered_hash(
    tree: MerkleTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within remembering_inclusions the interior nodes' hashes are remembered (many proofs
    in one tree share their upper nodes, each hashed once): a proof verified again hashes
    nothing, yet once every proof of the tree verified, any flipped bit of a leaf, a proof hash
    or the root, and a wrong index, are still refused (a changed hash is another node)."""
    hashed: list[bytes] = []
    real = merkle.node_hash
    monkeypatch.setattr(merkle, "node_hash", lambda a, b: hashed.append(a) or real(a, b))
    for size in (1, 2, 7, 12, 13):
        root = tree.root(size)
        proofs = [tree.inclusion_proof(index, size) for index in range(size)]
        with remembering_inclusions():
            for index in range(size):
                verify_inclusion(LEAVES[index], index, size, proofs[index], root)
            before = len(hashed)
            for index in range(size):  # each node hashed already: only looked up
                verify_inclusion(LEAVES[index], index, size, proofs[index], root)
            assert len(hashed) == before
            for index in range(size):
                leaf, proof = LEAVES[index], proofs[index]
                assert_rejects_flips(leaf, index, size, proof, root, (0, 1, 77, 128, 255))
                for other in range(size):
                    if other != index:
                        assert rejects_inclusion(leaf, other, size, proof, root)
                # a bytearray proof hash is hashed, not looked up, and verifies the same
                verify_inclusion(leaf, index, size, [bytearray(p) for p in proof], root)
