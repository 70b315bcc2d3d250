"""Storage contract: atomic batches, offsets, duplicates, stale records, indexes, Merkle nodes."""

from __future__ import annotations

from ledger import keys
from ledger.merkle import root_from_leaf_hashes
from ledger.store import Batch, LedgerStore, Origin, Quarantined
from ledger.store.base import GENESIS_CHAIN, chain_hash
from tests.ledger.ledger_factory import signed_entries

SIGNER = keys.generate("artist")


def test_empty_ledger(store: LedgerStore) -> None:
    head = store.head()
    assert (head.size, head.chain_hash) == (0, GENESIS_CHAIN)
    assert list(store.entries()) == []
    assert store.offsets("g", "events") == {}


def test_append_numbers_chains_and_indexes(store: LedgerStore) -> None:
    pending = signed_entries(SIGNER, 12)
    result = store.append(Batch(pending[:5], [], {("events", 0): 5}, "g"))
    result2 = store.append(Batch(pending[5:], [], {("events", 0): 12}, "g"))
    assert [e.seq for e in result.appended + result2.appended] == list(range(12))
    entries = list(store.entries())
    previous = GENESIS_CHAIN
    for e, p in zip(entries, pending, strict=True):
        assert e.envelope == p.envelope and e.event_id == p.event_id
        previous = chain_hash(previous, e.leaf_hash)
        assert e.chain_hash == previous
    assert store.head().chain_hash == previous
    assert store.offsets("g", "events") == {0: 12}
    assert store.tree().root() == root_from_leaf_hashes([e.leaf_hash for e in entries])
    roto = store.seqs_by_ref("asset_version", "fallen-tower/ep101/sq040/sh010/roto@v001")
    assert roto == [2]
    users_of_plate = store.seqs_by_ref("ingredient", "fallen-tower/ep101/sq040/sh010/plate@v002")
    assert users_of_plate == [4, 7]
    assert store.entry_by_event_id(pending[3].event_id).seq == 3  # type: ignore[union-attr]


def test_duplicate_event_ids_are_quarantined_not_appended(store: LedgerStore) -> None:
    pending = signed_entries(SIGNER, 3)
    store.append(Batch(pending, [], {("events", 0): 3}, "g"))
    again = [signed_entries(SIGNER, 1, first_offset=3)[0]]
    replay = [type(again[0])(**{**again[0].__dict__, "event_id": pending[0].event_id})]
    result = store.append(Batch(replay, [], {("events", 0): 4}, "g"))
    assert result.appended == []
    assert [d.reason for d in result.duplicates] == ["duplicate_event_id"]
    assert store.head().size == 3
    assert [q.reason for q in store.quarantine()] == ["duplicate_event_id"]


def test_records_below_the_stored_offset_are_dropped(store: LedgerStore) -> None:
    pending = signed_entries(SIGNER, 4)
    store.append(Batch(pending, [], {("events", 0): 4}, "g"))
    late = signed_entries(SIGNER, 2, first_offset=2)  # offsets 2, 3: already consumed
    result = store.append(Batch(late, [], {("events", 0): 4}, "g"))
    assert result.stale == 2 and result.appended == []
    assert store.head().size == 4


def test_rejects_are_kept_with_their_bytes(store: LedgerStore) -> None:
    reject = Quarantined(
        Origin("events", 1, 9), "undecodable", "bad magic 0001", b"k", b"\x00\x01", (("h", b"v"),)
    )
    store.append(Batch([], [reject], {("events", 1): 10}, "g"))
    [q] = store.quarantine()
    assert (q.reason, q.value, q.key, q.headers) == (
        "undecodable",
        b"\x00\x01",
        b"k",
        (("h", b"v"),),
    )
    assert store.offsets("g", "events") == {1: 10}


def test_offsets_never_move_backwards(store: LedgerStore) -> None:
    store.append(Batch([], [], {("events", 0): 10}, "g"))
    store.append(Batch([], [], {("events", 0): 5}, "g"))
    assert store.offsets("g", "events") == {0: 10}
