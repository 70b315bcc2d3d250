"""Stored index tables that cover fewer entries than the signed checkpoint says (an insider set
the index head back or deleted it): extending the index is refused with a named failure, and
nothing is written (no entry, no checkpoint, no index row)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ledger.index.smt as smt
from demo.story import EPISODE, SHOW
from ledger.errors import VerificationFailure
from ledger.index.keys import production_key
from ledger.index.lookup import IndexMismatch
from ledger.index.maintain import update_index
from ledger.log import operator
from ledger.store import LedgerStore, open_store
from tests.ledger.index.index_factory import demo_events, init, insider_sql, pending
from tests.ledger.ledger_factory import append_all

EDITS = {
    "head set back to an earlier checkpoint": "back",
    "head row deleted": "DELETE FROM index_head",
    "head set to zero": "UPDATE index_head SET size = 0",
}


def _snapshot(store: LedgerStore) -> tuple[object, ...]:
    lists = insider_sql(store, "SELECT key_hash, first, seqs FROM index_lists ORDER BY 1, 2")
    keys = insider_sql(store, "SELECT key_hash, count, value FROM index_keys ORDER BY 1")
    return store.head().size, len(store.checkpoints()), lists, keys


def _refused_after(store: LedgerStore, edit: str) -> None:
    log_key = init(store)
    events = pending(demo_events())
    third = len(events) // 3
    checkpointer = operator.Checkpointer(store, log_key)
    append_all(store, events[:third])
    first = checkpointer.checkpoint()
    append_all(store, events[third : 2 * third])
    assert checkpointer.checkpoint() is not None and first is not None
    if edit == "back":
        insider_sql(store, "UPDATE index_head SET size = %s", first.size)
    else:
        insider_sql(store, edit)
    append_all(store, events[2 * third :])
    before = _snapshot(store)
    with pytest.raises(IndexMismatch) as caught:
        checkpointer.checkpoint()
    assert isinstance(caught.value, VerificationFailure) and caught.value.exit_code == 1
    assert "index" in caught.value.message and "assetledger verify" in (caught.value.hint or "")
    assert _snapshot(store) == before


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_index_behind_its_signed_checkpoint_is_refused_by_name_sqlite(
    tmp_path: Path, edit: str
) -> None:
    store = open_store(str(tmp_path / "ledger.db"))
    try:
        _refused_after(store, EDITS[edit])
    finally:
        store.close()


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_index_behind_its_signed_checkpoint_is_refused_by_name_postgres(
    pg_schema_dsn: str, edit: str
) -> None:
    store = open_store(pg_schema_dsn)
    try:
        _refused_after(store, EDITS[edit])
    finally:
        store.close()


def _refused_unsigned(store: LedgerStore) -> None:
    """With the checkpoints deleted too, nothing signed says how far the index went: the
    rows it would write twice are refused by name, and the update rolls back."""
    log_key = init(store)
    events = pending(demo_events())
    append_all(store, events[:5])
    assert operator.Checkpointer(store, log_key).checkpoint() is not None
    insider_sql(store, "DELETE FROM checkpoints")
    insider_sql(store, "UPDATE index_head SET size = 0")
    append_all(store, events[5:])
    before = _snapshot(store)
    with pytest.raises(VerificationFailure) as caught:
        update_index(store)
    assert "already lists" in caught.value.message and caught.value.exit_code == 1
    assert _snapshot(store) == before


def test_an_index_head_set_back_with_no_checkpoint_left_is_refused_sqlite(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "ledger.db"))
    try:
        _refused_unsigned(store)
    finally:
        store.close()


def test_an_index_head_set_back_with_no_checkpoint_left_is_refused_postgres(
    pg_schema_dsn: str,
) -> None:
    store = open_store(pg_schema_dsn)
    try:
        _refused_unsigned(store)
    finally:
        store.close()


ROWS_EDITS = {
    "a key's list rows deleted": "DELETE FROM index_lists WHERE key_hash = %s",
    "a key's key row deleted": "DELETE FROM index_keys WHERE key_hash = %s",
}


def _rows_deleted_refused(store: LedgerStore, edit: str) -> None:
    """Index rows of a key deleted with the head left where it is: the checkpointer, whose
    update touches that key again, refuses by name (before, it signed a root over them and
    only ``verify`` found the damage) and writes nothing."""
    log_key = init(store)
    events = pending(demo_events())
    half = len(events) // 2
    checkpointer = operator.Checkpointer(store, log_key)
    append_all(store, events[:half])
    assert checkpointer.checkpoint() is not None
    insider_sql(store, edit, smt.key_hash(production_key(SHOW, EPISODE)))
    append_all(store, events[half:])  # every demo event names the episode
    before = _snapshot(store)
    with pytest.raises(IndexMismatch) as caught:
        checkpointer.checkpoint()
    assert "key row counts" in caught.value.message and caught.value.exit_code == 1
    assert "assetledger verify" in (caught.value.hint or "")
    assert _snapshot(store) == before


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("edit", sorted(ROWS_EDITS))
def test_index_rows_deleted_under_the_head_are_refused_by_the_checkpointer(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, edit: str
) -> None:
    url = (
        str(tmp_path / "ledger.db")
        if backend == "sqlite"
        else request.getfixturevalue("pg_schema_dsn")
    )
    store = open_store(url)
    try:
        _rows_deleted_refused(store, ROWS_EDITS[edit])
    finally:
        store.close()
