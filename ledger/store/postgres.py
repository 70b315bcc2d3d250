"""PostgreSQL ledger backend: one global chain and tree shared by many consumer processes.

Serialisation: every append locks the single ``head`` row (``SELECT … FOR UPDATE``) first, then
reads the stored offsets and the already-known event ids, so appends from several consumers
(different hosts, different partitions) queue up behind each other and each one sees all that
the previous ones committed.  The sequence numbers, chain hashes and Merkle nodes therefore
form one chain and one tree, with no gaps, whatever the number of consumers.

Speed: entries, index rows and Merkle nodes go in with binary ``COPY``; the tree's node reads
are one query per call; ``entries()`` pages by sequence number (keyset pagination), so a scan
of millions of entries holds one page in memory and no transaction open between pages.

Durability: PostgreSQL's defaults (``fsync=on``, ``synchronous_commit=on``) flush the WAL
before a commit returns.  Opening a store logs a warning when either is off.  See
docs/storage.md.

The DSN is handed to libpq unchanged (so ``options=-csearch_path=…`` selects the schema);
only a ``connect_timeout`` of 10 s is added when neither the DSN nor ``PGCONNECT_TIMEOUT``
sets one.  A store object holds one connection: use it from one thread at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ledger.errors import ConfigurationError, StoreError
from ledger.log.merkle import MerkleTree
from ledger.store.base import (
    ENTRY_COLUMNS,
    AppendPlan,
    AppendResult,
    Batch,
    Entry,
    Head,
    LedgerStore,
    Origin,
    Quarantined,
    QuarantineRecord,
    StoredCheckpoint,
    StoredCosignature,
    TopicPartition,
    attach_cosignatures,
    headers_to_bytes,
    plan_batch,
    quarantine_text,
    row_to_entry,
    stored_headers,
)
from ledger.store.index_tables import PostgresIndexTables

log = logging.getLogger("assetledger.store")

Connection = psycopg.Connection[tuple[Any, ...]]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
        seq BIGINT PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        event_time TIMESTAMPTZ NOT NULL,
        envelope BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL,
        chain_hash BYTEA NOT NULL,
        signer_keyid TEXT NOT NULL,
        topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS refs (
        ref_kind TEXT NOT NULL, ref_key TEXT NOT NULL, seq BIGINT NOT NULL,
        PRIMARY KEY (ref_kind, ref_key, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS merkle_nodes (
        level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS head (
        id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, chain_hash BYTEA NOT NULL
    )""",
    """INSERT INTO head (id, size, chain_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'))
        ON CONFLICT (id) DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS consumer_offsets (
        group_id TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL,
        next_offset BIGINT NOT NULL,
        PRIMARY KEY (group_id, topic, kafka_partition)
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        quarantine_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,
        reason TEXT NOT NULL, detail TEXT NOT NULL,
        record_key BYTEA, record_value BYTEA, headers BYTEA NOT NULL, event_id TEXT,
        quarantined_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        size BIGINT PRIMARY KEY, root_hash BYTEA NOT NULL, note TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS cosignatures (
        size BIGINT NOT NULL REFERENCES checkpoints (size), witness TEXT NOT NULL,
        key_id BYTEA NOT NULL, cosigned_at BIGINT NOT NULL, line TEXT NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (size, witness, key_id)
    )""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

ENTRY_TYPES = [
    "int8",
    "text",
    "text",
    "timestamptz",
    "bytea",
    "bytea",
    "bytea",
    "text",
    "text",
    "int4",
    "int8",
    "timestamptz",
]

PAGE_SIZE = 1000
"""Entries fetched per query by :meth:`PostgresStore.entries`."""

CONNECT_HINT = (
    "check the DSN given with --ledger (or ASSETLEDGER_LEDGER), and that PostgreSQL is "
    "running and accepts connections from this host"
)


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***`` (for messages and ``store.url``)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if "password" not in params:
        return dsn
    return make_conninfo("", **{**params, "password": "***"})


class PostgresStore(LedgerStore):
    """A ledger in a PostgreSQL schema (the DSN's search path), created if missing."""

    def __init__(self, dsn: str, *, page_size: int = PAGE_SIZE, read_only: bool = False) -> None:
        self.dsn = dsn
        self.url = redact(dsn)
        self.page_size = page_size
        self.read_only = read_only
        self._index: PostgresIndexTables | None = None
        self.conn = _connect(dsn, self.url)
        try:
            if read_only:  # every transaction of this session is read-only; no DDL
                with self._failures("open the ledger read-only"):
                    self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    self._require_ledger_tables()
                    self.conn.execute("SELECT size FROM head").fetchone()
                return
            with self._failures("create the ledger tables"):
                self._create_schema()
                _warn_if_not_durable(self.conn, self.url)
        except BaseException:
            self.conn.close()
            raise

    def _require_ledger_tables(self) -> None:
        """A database (or schema) that holds no ledger says so, as a missing SQLite file does."""
        row = self.conn.execute("SELECT to_regclass('head') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            raise ConfigurationError(
                f"no ledger at {self.url}",
                hint="pass --ledger (or ASSETLEDGER_LEDGER), or create one with assetledger"
                " init --origin NAME (or assetledger consume)",
            )

    def _create_schema(self) -> None:
        """Idempotent DDL, serialised per schema so that processes starting together agree."""
        with self.conn.transaction():
            schema = self.conn.execute("SELECT current_schema()").fetchone()
            if schema is None or schema[0] is None:
                raise ConfigurationError(
                    f"PostgreSQL ledger {self.url}: the search path names no existing schema",
                    hint="create the schema first, or fix options=-csearch_path=… in the DSN",
                )
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('assetledger ddl ' || %s))", (schema[0],)
            )
            for statement in SCHEMA:
                self.conn.execute(statement)
            self._migrate(str(schema[0]))

    def _migrate(self, schema: str) -> None:
        """Quarantine headers held as JSONB (ledgers before 2026-11) become bytes.

        JSONB cannot hold U+0000, so a header name with a NUL stopped the consumer.  Runs in
        the DDL transaction, under its lock: all or nothing, once.
        """
        row = self.conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = 'quarantine' AND column_name = 'headers'",
            (schema,),
        ).fetchone()
        if row is None or row[0] != "jsonb":
            return
        log.warning("PostgreSQL ledger %s: storing quarantine headers as bytes", self.url)
        self.conn.execute("ALTER TABLE quarantine ADD COLUMN headers_bytes BYTEA")
        rows = self.conn.execute("SELECT quarantine_id, headers FROM quarantine").fetchall()
        with self.conn.cursor() as cur:
            cur.executemany(
                "UPDATE quarantine SET headers_bytes = %s WHERE quarantine_id = %s",
                [(headers_to_bytes(stored_headers(h)), qid) for qid, h in rows],
            )
        self.conn.execute("ALTER TABLE quarantine DROP COLUMN headers")
        self.conn.execute("ALTER TABLE quarantine RENAME COLUMN headers_bytes TO headers")
        self.conn.execute("ALTER TABLE quarantine ALTER COLUMN headers SET NOT NULL")

    @contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        """Turn psycopg errors into :class:`StoreError` with the action and a hint."""
        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot {action} in PostgreSQL ledger {self.url}: {_summary(exc)}",
                hint=_hint(exc),
            ) from exc

    # --- writing ----------------------------------------------------------------------------
    def append(self, batch: Batch) -> AppendResult:
        with self._failures("append a batch"), self.conn.transaction():
            plan = self._plan(batch)
            self._write(plan, batch)
        self.keep_index_keys(plan.index_keys)
        return plan.result

    def _plan(self, batch: Batch) -> AppendPlan:
        head = self._lock_head()
        stored = self._stored_offsets(batch.group_id, batch.partitions())
        known = self._known_ids(batch.event_ids())
        tree = MerkleTree(self, head.size)
        return plan_batch(batch, head, stored, known, tree, batch.received_at or datetime.now(UTC))

    def _lock_head(self) -> Head:
        """Lock the head row until commit: the one point where appenders queue."""
        row = self.conn.execute("SELECT size, chain_hash FROM head WHERE id = 1 FOR UPDATE")
        size, chain = _one(row.fetchone(), "head")
        return Head(int(size), bytes(chain))

    def _write(self, plan: AppendPlan, batch: Batch) -> None:
        self._copy_rows("entries", ENTRY_COLUMNS, ENTRY_TYPES, _entry_rows(plan.entries))
        self._copy_rows("refs", "ref_kind, ref_key, seq", ["text", "text", "int8"], plan.refs)
        self._copy_rows(
            "merkle_nodes",
            "level, idx, hash",
            ["int4", "int8", "bytea"],
            [(level, idx, value) for (level, idx), value in plan.nodes],
        )
        self._insert_quarantine(plan.quarantine, plan.now)
        self._save_offsets(batch.group_id, batch.offsets)
        self._save_head(plan.result.head)

    def _copy_rows(
        self, table: str, columns: str, types: list[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _insert_quarantine(self, records: Sequence[Quarantined], now: datetime) -> None:
        if not records:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, detail,"
                " record_key, record_value, headers, event_id, quarantined_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        q.origin.topic,
                        q.origin.partition,
                        q.origin.offset,
                        quarantine_text(q.reason),
                        quarantine_text(q.detail),
                        q.key,
                        q.value,
                        headers_to_bytes(q.headers),
                        None if q.event_id is None else quarantine_text(q.event_id),
                        now,
                    )
                    for q in records
                ],
            )

    def _save_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Upsert the next offsets; an offset never moves backwards."""
        if not offsets:
            return
        topics, partitions, values = _columns(offsets)
        self.conn.execute(
            "INSERT INTO consumer_offsets (group_id, topic, kafka_partition, next_offset)"
            " SELECT %s, t, p, o FROM unnest(%s::text[], %s::int4[], %s::int8[]) AS u(t, p, o)"
            " ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE SET next_offset ="
            " GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset)",
            (group_id, topics, partitions, values),
        )

    def _save_head(self, head: Head) -> None:
        self.conn.execute(
            "UPDATE head SET size = %s, chain_hash = %s WHERE id = 1", (head.size, head.chain_hash)
        )

    def _stored_offsets(
        self, group_id: str, partitions: set[TopicPartition]
    ) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        topics = [t for t, _ in partitions]
        numbers = [p for _, p in partitions]
        rows = self.conn.execute(
            "SELECT o.topic, o.kafka_partition, o.next_offset FROM consumer_offsets o"
            " JOIN unnest(%s::text[], %s::int4[]) AS b(topic, kafka_partition)"
            " ON o.topic = b.topic AND o.kafka_partition = b.kafka_partition"
            " WHERE o.group_id = %s",
            (topics, numbers, group_id),
        )
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def _known_ids(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        rows = self.conn.execute(
            "SELECT event_id FROM entries WHERE event_id = ANY(%s::text[])", (ids,)
        )
        return {str(r[0]) for r in rows}

    def add_checkpoint(self, cp: StoredCheckpoint) -> None:
        with self._failures("store a checkpoint"):
            self.conn.execute(
                "INSERT INTO checkpoints (size, root_hash, note, created_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (size) DO NOTHING",
                (cp.size, cp.root_hash, cp.note, cp.created_at),
            )

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        c = cosignature
        with self._failures("store a witness cosignature"):
            self.conn.execute(
                "INSERT INTO cosignatures (size, witness, key_id, cosigned_at, line, received_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (c.size, c.witness, c.key_id, c.timestamp, c.line, datetime.now(UTC)),
            )

    def set_meta(self, name: str, value: str) -> None:
        with self._failures("set a ledger property"):
            self.conn.execute(
                "INSERT INTO meta (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (name, value),
            )

    def get_meta(self, name: str) -> str | None:
        with self._failures("read a ledger property"):
            row = self.conn.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return None if row is None else str(row[0])

    # --- reading ----------------------------------------------------------------------------
    def head(self) -> Head:
        with self._failures("read the head"):
            row = self.conn.execute("SELECT size, chain_hash FROM head WHERE id = 1").fetchone()
        size, chain = _one(row, "head")
        return Head(int(size), bytes(chain))

    def offsets(self, group_id: str, topic: str) -> dict[int, int]:
        with self._failures("read consumer offsets"):
            rows = self.conn.execute(
                "SELECT kafka_partition, next_offset FROM consumer_offsets"
                " WHERE group_id = %s AND topic = %s",
                (group_id, topic),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        """Keyset pagination: one page of ``page_size`` entries in memory at a time."""
        stop = self.head().size if stop is None else stop
        while start < stop:
            page = self._entry_page(start, stop)
            if not page:
                return
            yield from page
            start = page[-1].seq + 1

    def _entry_page(self, start: int, stop: int) -> list[Entry]:
        with self._failures("read entries"):
            rows = self.conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE seq >= %s AND seq < %s"
                " ORDER BY seq LIMIT %s",
                (start, stop, self.page_size),
            ).fetchall()
        return [row_to_entry(r) for r in rows]

    def entries_at(self, seqs: Sequence[int]) -> list[Entry]:
        if not seqs:
            return []
        with self._failures("read entries"):
            rows = self.conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE seq = ANY(%s) ORDER BY seq",
                (sorted(set(seqs)),),
            ).fetchall()
        return [row_to_entry(r) for r in rows]

    def entry_by_event_id(self, event_id: str) -> Entry | None:
        with self._failures("look up an event"):
            row = self.conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE event_id = %s", (event_id,)
            ).fetchone()
        return None if row is None else row_to_entry(row)

    def seqs_by_ref(self, ref_kind: str, key: str) -> list[int]:
        with self._failures("read the reference index"):
            rows = self.conn.execute(
                "SELECT seq FROM refs WHERE ref_kind = %s AND ref_key = %s ORDER BY seq",
                (ref_kind, key),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def all_refs(self) -> Iterator[tuple[int, str, str]]:
        """A server-side cursor on a second connection, so other reads may interleave."""
        with self._failures("read the reference index"):
            conn = _connect(self.dsn, self.url)
        try:
            with (
                self._failures("read the reference index"),
                conn.transaction(),
                conn.cursor(name="assetledger_all_refs") as cursor,
            ):
                cursor.itersize = 10_000
                cursor.execute(  # byte order within an entry, as verify sorts them
                    "SELECT seq, ref_kind, ref_key FROM refs"
                    ' ORDER BY seq, ref_kind COLLATE "C", ref_key COLLATE "C"'
                )
                for seq, kind, key in cursor:
                    yield int(seq), str(kind), str(key)
        finally:
            conn.close()

    def node_count(self) -> int:
        with self._failures("count Merkle nodes"):
            row = self.conn.execute("SELECT COUNT(*) FROM merkle_nodes").fetchone()
        return int(_one(row, "node count")[0])

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """All requested nodes in one query (a join against two unnested arrays)."""
        if not keys:
            return {}
        with self._failures("read Merkle nodes"):
            rows = self.conn.execute(
                "SELECT m.level, m.idx, m.hash"
                " FROM unnest(%s::int4[], %s::int8[]) AS k(level, idx)"
                " JOIN merkle_nodes m ON m.level = k.level AND m.idx = k.idx",
                ([level for level, _ in keys], [idx for _, idx in keys]),
            ).fetchall()
        return {(int(level), int(idx)): bytes(value) for level, idx, value in rows}

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self._failures("read checkpoints"):
            rows = self.conn.execute(
                "SELECT size, root_hash, note, created_at FROM checkpoints ORDER BY size"
            ).fetchall()
            cosignatures = self.conn.execute(
                "SELECT size, witness, line FROM cosignatures ORDER BY size, witness, key_id"
            ).fetchall()
        stored = [StoredCheckpoint(int(s), bytes(r), str(n), c) for s, r, n, c in rows]
        return attach_cosignatures(stored, cosignatures)

    def cosigned_sizes(self) -> dict[tuple[str, bytes], int]:
        with self._failures("read witness cosignatures"):
            rows = self.conn.execute(
                "SELECT witness, key_id, MAX(size) FROM cosignatures GROUP BY witness, key_id"
            ).fetchall()
        return {(str(w), bytes(k)): int(s) for w, k, s in rows}

    def quarantine(self, limit: int | None = None) -> list[QuarantineRecord]:
        with self._failures("read the quarantine"):
            rows = self.conn.execute(
                "SELECT quarantine_id, topic, kafka_partition, kafka_offset, reason, detail,"
                " record_key, record_value, headers, event_id, quarantined_at FROM quarantine"
                " ORDER BY quarantine_id LIMIT %s",
                (limit,),
            ).fetchall()
        return [_quarantine_row(r) for r in rows]

    def index_tables(self) -> PostgresIndexTables:
        if self._index is None:
            with self._failures("open the index tables"):
                self._index = PostgresIndexTables(self.conn, self.dsn, read_only=self.read_only)
        return self._index

    def close(self) -> None:
        self.conn.close()


# --- helpers ----------------------------------------------------------------------------------


def _connect(dsn: str, shown: str) -> Connection:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"invalid PostgreSQL DSN {shown}: {_summary(exc)}",
            hint="use postgresql://USER@HOST:PORT/DATABASE, optionally with"
            " ?options=-csearch_path%3DSCHEMA",
        ) from exc
    extra: dict[str, Any] = {}
    if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
        extra["connect_timeout"] = 10
    try:
        conn: Connection = psycopg.connect(dsn, autocommit=True, **extra)
        conn.execute("SET TIME ZONE 'UTC'")
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to PostgreSQL ledger {shown}: {_summary(exc)}", hint=CONNECT_HINT
        ) from exc
    return conn


def _warn_if_not_durable(conn: Connection, shown: str) -> None:
    row = conn.execute(
        "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
    ).fetchone()
    fsync, synchronous_commit = _one(row, "settings")
    if fsync != "on" or synchronous_commit == "off":
        log.warning(
            "PostgreSQL ledger %s runs with fsync=%s, synchronous_commit=%s: acknowledged"
            " appends can be lost in a crash (set both to on)",
            shown,
            fsync,
            synchronous_commit,
        )


def _summary(exc: BaseException) -> str:
    """The first line of a psycopg error (the rest repeats context we already give)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _hint(exc: psycopg.Error) -> str | None:
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return "the database user needs CREATE on the schema and read/write on its tables"
    if isinstance(exc, psycopg.OperationalError):
        return (
            "the connection to PostgreSQL failed; check that the server is up, then restart:"
            " the consumer resumes from the offsets stored in the ledger"
        )
    return None


def _one(row: tuple[Any, ...] | None, what: str) -> tuple[Any, ...]:
    if row is None:
        raise StoreError(
            f"the ledger's {what} row is missing",
            hint="the ledger tables were altered outside asset-ledger",
        )
    return row


def _columns(offsets: Mapping[TopicPartition, int]) -> tuple[list[str], list[int], list[int]]:
    items = sorted(offsets.items())
    return [t for (t, _), _ in items], [p for (_, p), _ in items], [o for _, o in items]


def _entry_rows(entries: Sequence[Entry]) -> list[tuple[Any, ...]]:
    return [
        (
            e.seq,
            e.event_id,
            e.kind,
            e.event_time,
            e.envelope,
            e.leaf_hash,
            e.chain_hash,
            e.signer_keyid,
            e.origin.topic,
            e.origin.partition,
            e.origin.offset,
            e.ingested_at,
        )
        for e in entries
    ]


def _quarantine_row(row: Sequence[Any]) -> QuarantineRecord:
    qid, topic, part, off, reason, detail, key, value, headers, event_id, at = row
    return QuarantineRecord(
        origin=Origin(str(topic), int(part), int(off)),
        reason=str(reason),
        detail=str(detail),
        key=None if key is None else bytes(key),
        value=None if value is None else bytes(value),
        headers=stored_headers(headers),
        event_id=None if event_id is None else str(event_id),
        quarantined_at=at,
        quarantine_id=int(qid),
    )
