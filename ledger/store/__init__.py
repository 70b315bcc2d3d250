"""Ledger storage backends, chosen by URL: a file path (SQLite) or ``postgresql://`` DSN."""

from __future__ import annotations

from ledger.events.encoding import LEARNED_SCHEMA_IDS
from ledger.store.base import (
    AppendResult,
    Batch,
    Entry,
    Head,
    LedgerStore,
    Origin,
    PendingEntry,
    Quarantined,
    QuarantineRecord,
    StoredCheckpoint,
    StoredCosignature,
)
from ledger.store.schema_ids import load_schema_ids

__all__ = [
    "AppendResult",
    "Batch",
    "Entry",
    "Head",
    "LedgerStore",
    "Origin",
    "PendingEntry",
    "QuarantineRecord",
    "Quarantined",
    "StoredCheckpoint",
    "StoredCosignature",
    "open_store",
]


def open_store(url: str) -> LedgerStore:
    """Open (creating if needed) the ledger at ``url``; learn the schema ids it recorded."""
    store = _open(url)
    LEARNED_SCHEMA_IDS.learn(load_schema_ids(store))
    return store


def _open(url: str) -> LedgerStore:
    if url.startswith(("postgresql://", "postgres://")):
        from ledger.store.postgres import PostgresStore  # optional dependency

        store: LedgerStore = PostgresStore(url)
        return store
    if url.startswith("sqlite:///"):
        url = url.removeprefix("sqlite:///")
    from ledger.store.sqlite import SqliteStore

    return SqliteStore(url)
