"""PostgreSQL specifics: DSN handling, errors with hints, concurrent schema creation, paging."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from ledger.errors import ConfigurationError, StoreError
from ledger.store import Batch, open_store
from ledger.store.postgres import PostgresStore, redact
from ledger.trust import keys
from tests.ledger.ledger_factory import signed_entries

SIGNER = keys.generate("editor")


def test_unreachable_server_is_a_store_error_with_a_hint() -> None:
    with pytest.raises(StoreError) as failure:
        PostgresStore("postgresql://postgres:s3cret@127.0.0.1:1/test")
    error = failure.value
    assert "cannot connect to PostgreSQL ledger" in error.message
    assert error.hint is not None and "PostgreSQL is running" in error.hint
    assert "s3cret" not in str(error)


def test_a_malformed_dsn_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid PostgreSQL DSN"):
        PostgresStore("postgresql://postgres@127.0.0.1/test?no_such_option=1")


def test_passwords_are_redacted_from_the_shown_url() -> None:
    assert "s3cret" not in redact("postgresql://ledger:s3cret@db.example:5432/prod")
    assert "***" in redact("postgresql://ledger:s3cret@db.example:5432/prod")
    plain = "postgresql://ledger@db.example/prod?options=-csearch_path%3Dx"
    assert redact(plain) == plain


@pytest.mark.postgres
def test_the_dsn_search_path_selects_the_schema(pg_schema_dsn: str) -> None:
    with psycopg.connect(pg_schema_dsn) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    schema = row[0]
    with PostgresStore(pg_schema_dsn) as store:
        assert store.url == pg_schema_dsn  # no password: shown unchanged
    with psycopg.connect(pg_schema_dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    assert {t for (t,) in tables} >= {"entries", "merkle_nodes", "head", "consumer_offsets"}


@pytest.mark.postgres
def test_a_missing_schema_is_a_configuration_error(pg_schema_dsn: str) -> None:
    with psycopg.connect(pg_schema_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
        assert row is not None
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(row[0])))
    with pytest.raises(ConfigurationError, match="names no existing schema"):
        PostgresStore(pg_schema_dsn)


@pytest.mark.postgres
def test_processes_starting_together_create_the_tables_once(pg_schema_dsn: str) -> None:
    count = 6
    start = threading.Barrier(count)
    failures: list[BaseException] = []
    heads: list[int] = []

    def opener() -> None:
        try:
            start.wait()
            with PostgresStore(pg_schema_dsn) as store:
                heads.append(store.head().size)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    assert heads == [0] * count


@pytest.mark.postgres
def test_entries_are_read_page_by_page(pg_schema_dsn: str) -> None:
    pending = signed_entries(SIGNER, 11)
    with PostgresStore(pg_schema_dsn, page_size=4) as store:
        store.append(Batch(pending, [], {("events", 0): 11}, "g"))
        assert [e.event_id for e in store.entries()] == [p.event_id for p in pending]
        assert [e.seq for e in store.entries(3, 9)] == [3, 4, 5, 6, 7, 8]
        assert [e.seq for e in store.entries(8, 12)] == [8, 9, 10]


@pytest.mark.postgres
def test_a_lost_connection_is_a_store_error_with_a_hint(pg_schema_dsn: str) -> None:
    store = open_store(pg_schema_dsn)
    assert isinstance(store, PostgresStore)
    with psycopg.connect(pg_schema_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
    try:
        with pytest.raises(StoreError) as failure:
            store.head()
        assert failure.value.hint is not None and "restart" in failure.value.hint
    finally:
        store.close()
