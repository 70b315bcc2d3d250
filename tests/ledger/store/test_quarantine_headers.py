"""Quarantine rows keep any record, byte for byte, on every backend (issue 10 §2).

Headers are stored as bytes (Kafka's record-header encoding): a header name with U+0000 is
fine on SQLite and PostgreSQL alike.  Ledgers written before kept them as JSON text (SQLite) or
JSONB (PostgreSQL); opening one converts its rows once and keeps every header.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ledger.store import Batch, LedgerStore, Origin, Quarantined, open_store
from ledger.store.base import headers_from_bytes, headers_to_bytes

HOSTILE_HEADERS = (
    ("trace\x00id", b"\x00\xff"),
    ("", b""),
    ("ce_source", "/studio/ws12 é\U0001f3ac".encode()),
    ("x" * 300, bytes(range(256)) * 40),
    ("ce_id", b"\x00"),
)

OLD_SQLITE_QUARANTINE = """
CREATE TABLE quarantine (
    quarantine_id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset INTEGER NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL,
    record_key BLOB, record_value BLOB, headers TEXT NOT NULL, event_id TEXT,
    quarantined_at INTEGER NOT NULL
)"""
OLD_POSTGRES_QUARANTINE = """
CREATE TABLE quarantine (
    quarantine_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL,
    record_key BYTEA, record_value BYTEA, headers JSONB NOT NULL, event_id TEXT,
    quarantined_at TIMESTAMPTZ NOT NULL
)"""
OLD_HEADERS = [("ce_id", b"abc"), ("traceparent", b"\x00\x01")]


def reject(offset: int, headers: tuple[tuple[str, bytes], ...], detail: str = "bad") -> Batch:
    q = Quarantined(Origin("t", 0, offset), "undecodable", detail, b"k", b"\x00v", headers)
    return Batch([], [q], {("t", 0): offset + 1}, "g")


def test_header_bytes_round_trip_anything() -> None:
    assert headers_from_bytes(headers_to_bytes(HOSTILE_HEADERS)) == HOSTILE_HEADERS
    assert headers_from_bytes(headers_to_bytes(())) == ()
    assert headers_to_bytes([("a", b"b")]) == b"\x02\x02a\x02b"  # Kafka's zig-zag varints


def test_hostile_headers_and_detail_are_stored_on_every_backend(store: LedgerStore) -> None:
    store.append(reject(0, HOSTILE_HEADERS, detail="NUL \x00 and ESC \x1b in the message"))
    [q] = store.quarantine()
    assert q.headers == HOSTILE_HEADERS
    assert q.value == b"\x00v" and q.key == b"k"
    assert q.detail == "NUL \\x00 and ESC \\x1b in the message"


def _old_sqlite_ledger(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(OLD_SQLITE_QUARANTINE)
        db.execute(
            "INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, detail,"
            " record_key, record_value, headers, event_id, quarantined_at)"
            " VALUES ('t', 0, 0, 'undecodable', 'old', NULL, x'00', ?, NULL, 0)",
            (json.dumps([[n, v.hex()] for n, v in OLD_HEADERS]),),
        )
    db.close()


def _old_postgres_ledger(dsn: str) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(OLD_POSTGRES_QUARANTINE)
        conn.execute(
            "INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, detail,"
            " record_key, record_value, headers, event_id, quarantined_at)"
            " VALUES ('t', 0, 0, 'undecodable', 'old', NULL, '\\x00', %s, NULL, now())",
            (Jsonb([[n, v.hex()] for n, v in OLD_HEADERS]),),
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger whose quarantine holds headers the old way (JSON text / JSONB)."""
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        _old_sqlite_ledger(path)
        return str(path)
    dsn: str = request.getfixturevalue("pg_schema_dsn")
    _old_postgres_ledger(dsn)
    return dsn


def test_an_existing_ledger_keeps_its_quarantine_and_takes_any_header(old_ledger: str) -> None:
    with open_store(old_ledger) as store:
        store.append(reject(1, HOSTILE_HEADERS))
        old, new = store.quarantine()
        assert old.headers == tuple(OLD_HEADERS) and old.detail == "old"
        assert new.headers == HOSTILE_HEADERS
    with open_store(old_ledger) as store:  # opening again changes nothing
        assert [q.headers for q in store.quarantine()] == [tuple(OLD_HEADERS), HOSTILE_HEADERS]
