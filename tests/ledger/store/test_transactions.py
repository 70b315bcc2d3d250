"""Appends are atomic and serialised: concurrent appenders, failures mid-append, reopening."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ledger.errors import StoreError
from ledger.log.merkle import root_from_leaf_hashes
from ledger.store import Batch, LedgerStore, Origin, PendingEntry, Quarantined, open_store
from ledger.store.base import GENESIS_CHAIN, TopicPartition, chain_hash
from ledger.store.postgres import PostgresStore
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from tests.ledger.ledger_factory import signed_entries

SIGNER = keys.generate("compositor")


class Boom(RuntimeError):
    """Raised on purpose in the middle of an append."""


class FailingSqliteStore(SqliteStore):
    def _save_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        raise Boom("failed after entries, index rows, nodes and quarantine rows were written")


class FailingPostgresStore(PostgresStore):
    def _save_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        raise Boom("failed after entries, index rows, nodes and quarantine rows were written")


def open_failing(url: str) -> LedgerStore:
    if url.startswith("postgresql://"):
        return FailingPostgresStore(url)
    return FailingSqliteStore(url)


def execute_raw(store: LedgerStore, sql: str, params: Sequence[Any]) -> None:
    """Run one statement (``?`` placeholders) directly on the store's database."""
    if isinstance(store, PostgresStore):
        store.conn.execute(sql.replace("?", "%s"), params)
    else:
        assert isinstance(store, SqliteStore)
        store.db.execute(sql, params)


def batch_of(entries: Sequence[PendingEntry], rejects: Sequence[Quarantined] = ()) -> Batch:
    offsets: dict[TopicPartition, int] = {}
    for o in [p.origin for p in entries] + [r.origin for r in rejects]:
        tp = (o.topic, o.partition)
        offsets[tp] = max(offsets.get(tp, 0), o.offset + 1)
    return Batch(entries, rejects, offsets, "g")


def assert_untouched(store: LedgerStore) -> None:
    """Nothing of a rolled-back append is visible."""
    assert store.head().size == 0 and store.head().chain_hash == GENESIS_CHAIN
    assert list(store.entries(0, 100)) == []
    assert store.get_nodes([(0, 0), (0, 1), (1, 0)]) == {}
    assert store.quarantine() == []
    assert store.offsets("g", "events") == {}


def assert_one_chain(store: LedgerStore, expected: Sequence[PendingEntry]) -> None:
    """Contiguous seqs, an unbroken chain to the head, the full tree, every entry once."""
    entries = list(store.entries())
    assert [e.seq for e in entries] == list(range(len(expected)))
    assert sorted(e.event_id for e in entries) == sorted(p.event_id for p in expected)
    previous = GENESIS_CHAIN
    for e in entries:
        previous = chain_hash(previous, e.leaf_hash)
        assert e.chain_hash == previous
    assert store.head().size == len(expected) and store.head().chain_hash == previous
    assert store.tree().root() == root_from_leaf_hashes([e.leaf_hash for e in entries])


def test_concurrent_appenders_build_one_chain(store: LedgerStore, store_url: str) -> None:
    per_worker, batch_size = 160, 20
    work = {p: signed_entries(SIGNER, per_worker, partition=p) for p in (0, 1, 2)}
    start = threading.Barrier(len(work))
    failures: list[BaseException] = []

    def appender(entries: list[PendingEntry]) -> None:
        try:
            with open_store(store_url) as own:  # its own connection
                start.wait()
                for i in range(0, len(entries), batch_size):
                    own.append(batch_of(entries[i : i + batch_size]))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=appender, args=(e,)) for e in work.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert_one_chain(store, [p for entries in work.values() for p in entries])
    assert store.offsets("g", "events") == {p: per_worker for p in work}
    for partition in work:  # each partition's records keep their Kafka order
        offsets = [e.origin.offset for e in store.entries() if e.origin.partition == partition]
        assert offsets == list(range(per_worker))


def test_failure_mid_append_rolls_everything_back(store: LedgerStore, store_url: str) -> None:
    pending = signed_entries(SIGNER, 5)
    reject = Quarantined(Origin("events", 0, 5), "undecodable", "garbage", None, b"\xff")
    failing = open_failing(store_url)
    try:
        with pytest.raises(Boom):
            failing.append(batch_of(pending, [reject]))
        assert_untouched(failing)
    finally:
        failing.close()
    assert_untouched(store)
    result = store.append(batch_of(pending, [reject]))  # the same batch, now for real
    assert [e.seq for e in result.appended] == list(range(5))
    assert_one_chain(store, pending)
    assert [q.reason for q in store.quarantine()] == ["undecodable"]


def test_constraint_violation_mid_append_is_a_store_error(store: LedgerStore) -> None:
    pending = signed_entries(SIGNER, 6)
    # A stray node where the append will write leaf 4: the entries and refs go in first,
    # then the node insert violates the primary key.
    execute_raw(store, "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)", (0, 4, b"x"))
    with pytest.raises(StoreError) as failure:
        store.append(batch_of(pending))
    assert "append" in str(failure.value)
    assert store.head().size == 0 and list(store.entries(0, 10)) == []
    kind, key = pending[0].refs[0]
    assert store.seqs_by_ref(kind, key) == []
    assert store.offsets("g", "events") == {}
    assert store.get_nodes([(0, 0), (0, 4)]) == {(0, 4): b"x"}


def test_reopened_store_sees_the_same_ledger(store: LedgerStore, store_url: str) -> None:
    pending = signed_entries(SIGNER, 7)
    store.append(batch_of(pending[:4]))
    store.append(batch_of(pending[4:]))
    head, root = store.head(), store.tree().root()
    store.close()
    with open_store(store_url) as again:
        assert again.head() == head
        assert again.tree().root() == root
        assert [e.event_id for e in again.entries()] == [p.event_id for p in pending]
        assert again.offsets("g", "events") == {0: 7}
        more = signed_entries(SIGNER, 2, first_offset=7)
        assert [e.seq for e in again.append(batch_of(more)).appended] == [7, 8]
        assert_one_chain(again, [*pending, *more])
