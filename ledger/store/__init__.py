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


def open_store(url: str, *, read_only: bool = False) -> LedgerStore:
    """Open (creating if needed) the ledger at ``url``; learn the schema ids it recorded.

    ``read_only``: open an existing ledger so that nothing can be written through this store
    and nothing is created: SQLite opens ``mode=ro`` (``immutable`` on a read-only folder or
    mount, so archived copies can be read), PostgreSQL sessions are read-only with no DDL.
    """
    store = _open(url, read_only)
    LEARNED_SCHEMA_IDS.learn(load_schema_ids(store))
    return store


def _open(url: str, read_only: bool) -> LedgerStore:
    if url.startswith(("postgresql://", "postgres://")):
        from ledger.store.postgres import PostgresStore  # optional dependency

        store: LedgerStore = PostgresStore(url, read_only=read_only)
        return store
    if url.startswith("sqlite:///"):
        url = url.removeprefix("sqlite:///")
    from ledger.store.sqlite import SqliteStore

    return SqliteStore(url, read_only=read_only)
