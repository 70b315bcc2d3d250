"""The audit's map reads checked as one batch (``VerifiedIndex.read_keys``): an index row or
tree node edited in the database is still a named failure, whichever batch reads the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.audit.model import LedgerView
from ledger.errors import VerificationFailure
from ledger.index import smt
from ledger.index.lookup import VerifiedIndex
from ledger.store import LedgerStore, open_store
from tests.ledger.index.index_factory import fill, init, leaf_position, set_node, set_rows


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    url = str(tmp_path / "ledger.db")
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_dsn")
    s = open_store(url)
    fill(s, init(s))
    yield s
    s.close()


def _keys(store: LedgerStore) -> list[str]:
    return sorted(key for _, key, _, _ in store.index_tables().all_keys())


def _victim(store: LedgerStore) -> tuple[str, bytes]:
    """A key listing more than one entry, and its key hash."""
    tables = store.index_tables()
    key = next(k for k in _keys(store) if k.startswith("version:") and len(
        tables.rows(smt.key_hash(k))) > 1)  # fmt: skip
    return key, smt.key_hash(key)


def _index(store: LedgerStore) -> VerifiedIndex:
    index = LedgerView.open(store).index
    assert index is not None
    return index


def _node(store: LedgerStore, position: bytes) -> tuple[bytes, bytes | None]:
    found = store.index_tables().get_nodes([position])
    return found[position]


def test_a_key_relabelled_as_another_keys_leaf_is_not_proven_absent(store: LedgerStore) -> None:
    """The leaf at the end of a key's path relabelled with another key's hash, the key's rows
    deleted: the stored leaf hash still hashes up to the root, but a leaf ending another key's
    path is hashed from that key's own value, so the key cannot pass for absent."""
    victim, k = _victim(store)
    other = smt.key_hash(next(key for key in _keys(store) if key != victim))
    position = leaf_position(store, k)
    set_node(store, position, (_node(store, position)[0], other))
    set_rows(store, k, [])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([victim])


def test_an_inner_node_relabelled_as_a_leaf_hides_no_key_below_it(store: LedgerStore) -> None:
    """The node above a key's leaf (its parent, an inner node) relabelled as another key's
    leaf with the inner node's hash: the key's path would end there with the right hash."""
    victim, k = _victim(store)
    depth = int.from_bytes(leaf_position(store, k)[:2], "big") - 1
    parent = smt.node_id(k, depth)
    other = smt.key_hash(next(key for key in _keys(store) if key != victim))
    set_node(store, parent, (_node(store, parent)[0], other))
    set_rows(store, k, [])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([victim])


@pytest.mark.parametrize("edit", ["deleted", "added", "repointed"])
def test_a_key_read_after_others_proved_the_upper_nodes_is_still_checked(
    store: LedgerStore, edit: str
) -> None:
    """A later batch hashes only up to the nodes an earlier one proved: an edited row in it
    fails there, named, and the earlier batch's keys stay as they were read."""
    victim, k = _victim(store)
    seqs = store.index_tables().rows(k)
    outside = next(s for s in range(store.head().size) if s not in seqs)
    rows = {"deleted": seqs[:-1], "added": sorted([*seqs, outside])}
    set_rows(store, k, rows.get(edit, sorted([outside, *seqs[1:]])))
    others = [key for key in _keys(store) if key != victim]
    index = _index(store)
    index.read_keys(others[: len(others) // 2])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        index.read_keys([*others[len(others) // 2 :], victim])
    assert index.key(others[0]) == store.index_tables().rows(smt.key_hash(others[0]))


def test_rows_given_to_an_absent_key_fail_in_a_batch(store: LedgerStore) -> None:
    victim = "finding:no-such-finding"
    set_rows(store, smt.key_hash(victim), [1])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([*_keys(store), victim])


def test_a_sibling_hash_edited_beside_a_path_fails_the_key(store: LedgerStore) -> None:
    """Subtrees beside the paths are read from the pages, never trusted: an edited one
    makes the batch miss the root."""
    victim, k = _victim(store)
    position = leaf_position(store, k)
    sibling = smt.sibling_id(k, int.from_bytes(position[:2], "big"))
    found = store.index_tables().get_nodes([sibling]).get(sibling)
    set_node(store, sibling, (bytes(32) if found is None else bytes(31) + b"\x01", None))
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([victim])


def test_batches_of_any_split_read_what_one_key_at_a_time_reads(store: LedgerStore) -> None:
    keys = [*_keys(store), *(f"finding:absent-{n}" for n in range(40))]
    alone = _index(store)
    expected = {key: alone.key(key) for key in keys}
    for size in (3, 17, len(keys)):
        index = _index(store)
        for start in range(0, len(keys), size):
            index.read_keys(keys[start : start + size])
        assert {key: index.key(key) for key in keys} == expected
