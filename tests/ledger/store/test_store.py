"""Storage contract: atomic batches, offsets, duplicates, stale records, indexes, Merkle nodes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.log.merkle import root_from_leaf_hashes
from ledger.store import Batch, LedgerStore, Origin, Quarantined, StoredCheckpoint
from ledger.store.base import GENESIS_CHAIN, chain_hash
from ledger.trust import keys
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


def test_get_nodes_returns_exactly_the_stored_keys(store: LedgerStore) -> None:
    pending = signed_entries(SIGNER, 6)
    store.append(Batch(pending, [], {("events", 0): 6}, "g"))
    leaves = [e.leaf_hash for e in store.entries()]
    asked = [(0, 5), (1, 2), (2, 0), (2, 1), (0, 6), (3, 0)]  # (2, 1) and beyond: incomplete
    found = store.get_nodes(asked)
    assert found == {
        (0, 5): leaves[5],
        (1, 2): root_from_leaf_hashes(leaves[4:6]),
        (2, 0): root_from_leaf_hashes(leaves[0:4]),
    }
    assert store.get_nodes([]) == {}


def test_entries_slices_and_single_lookups(store: LedgerStore) -> None:
    pending = signed_entries(SIGNER, 9)
    store.append(Batch(pending, [], {("events", 0): 9}, "g"))
    assert [e.seq for e in store.entries(3, 7)] == [3, 4, 5, 6]
    assert [e.seq for e in store.entries(7)] == [7, 8]
    assert list(store.entries(9)) == []
    entry = store.entry(4)
    assert entry is not None and entry.event_id == pending[4].event_id
    assert entry.origin == pending[4].origin and entry.kind == pending[4].kind
    assert entry.event_time == pending[4].event_time and entry.event_time.tzinfo is not None
    assert store.entry(9) is None
    assert store.entry_by_event_id("00000000-0000-4000-8000-000000000000") is None


def test_repeated_refs_of_one_entry_are_indexed_once(store: LedgerStore) -> None:
    [p] = signed_entries(SIGNER, 1)
    doubled = replace(p, refs=(*p.refs, *p.refs))
    store.append(Batch([doubled], [], {("events", 0): 1}, "g"))
    kind, key = p.refs[0]
    assert store.seqs_by_ref(kind, key) == [0]


def test_checkpoints_and_meta_round_trip(store: LedgerStore) -> None:
    at = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    store.add_checkpoint(StoredCheckpoint(5, b"\x01" * 32, "note 5\n", at))
    store.add_checkpoint(StoredCheckpoint(2, b"\x02" * 32, "note 2\n", at))
    store.add_checkpoint(StoredCheckpoint(5, b"\x03" * 32, "other note\n", at))  # ignored
    assert [(c.size, c.root_hash, c.note) for c in store.checkpoints()] == [
        (2, b"\x02" * 32, "note 2\n"),
        (5, b"\x01" * 32, "note 5\n"),
    ]
    assert store.checkpoints()[0].created_at == at
    assert store.get_meta("origin") is None
    store.set_meta("origin", "a.example/log")
    store.set_meta("origin", "b.example/log")
    assert store.get_meta("origin") == "b.example/log"


def test_quarantine_limit_keeps_arrival_order(store: LedgerStore) -> None:
    rejects = [
        Quarantined(Origin("events", 0, i), "undecodable", f"bad {i}", None, bytes([i]))
        for i in range(5)
    ]
    store.append(Batch([], rejects, {("events", 0): 5}, "g"))
    assert [q.detail for q in store.quarantine(3)] == ["bad 0", "bad 1", "bad 2"]
    assert [q.value for q in store.quarantine()] == [bytes([i]) for i in range(5)]
    assert all(q.quarantined_at is not None for q in store.quarantine())


def test_index_keys_are_kept_after_the_commit_bounded_and_taken_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys a batch carried are kept for the next index update once the append commits,
    taken once, and never more than INDEX_KEYS_KEPT of them."""
    import ledger.store.base as base
    from ledger.store import PendingEntry
    from ledger.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "l.db")
    now = datetime.now(UTC)

    def entry(i: int, keys: tuple[str, ...] | None) -> PendingEntry:
        return PendingEntry(f"e{i}", "provenance_event", now, f"v{i}".encode(), "k",
                            Origin("t", 0, i), index_keys=keys)  # fmt: skip

    store.append(Batch([entry(0, ("a:1",)), entry(1, None), entry(2, ("b:2", "c:3"))], [],
                       {("t", 0): 3}, "g"))  # fmt: skip
    assert store.take_index_keys(1, 3) == {2: ("b:2", "c:3")}
    assert store.take_index_keys(0, 3) == {}  # entry 0 was forgotten with the take below 3
    failing = replace(entry(3, ("d:4",)), event_id="e0")  # a duplicate: no entry
    store.append(Batch([failing], [], {("t", 0): 4}, "g"))
    assert store.take_index_keys(3, 4) == {}
    store.keep_index_keys({3: ("stale:3",)})  # as if an append that never committed kept it
    store.append(Batch([entry(10, None)], [], {("t", 0): 11}, "g"))  # seq 3: no keys carried
    assert store.take_index_keys(3, 4) == {}
    monkeypatch.setattr(base, "INDEX_KEYS_KEPT", 2)
    store.append(Batch([entry(i, (f"x:{i}",)) for i in range(20, 24)], [], {("t", 0): 24}, "g"))
    assert store.take_index_keys(0, 8) == {6: ("x:22",), 7: ("x:23",)}  # seqs 4 … 7
    store.close()
