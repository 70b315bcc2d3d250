"""The tables of the authenticated index (``ledger.index``), for SQLite and PostgreSQL.

``index_head`` (the ledger size the map covers and its root), ``index_nodes`` (the map's
non-empty subtrees by position: hash, and key hash for a single leaf), ``index_keys`` (each key
with its text, how many entries it lists and its value hash) and ``index_rows`` (key hash,
ledger index: what audits read).  Everything here is derived from the entries and committed
by the map root in every signed checkpoint; ``ledger.index`` computes it, this module only
reads and writes rows.  Updates run under a lock (SQLite's write lock, a PostgreSQL row lock
on ``index_head``), so several consumers extending the map take turns.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

StoredNode = tuple[bytes, bytes | None]  # hash, key hash of a single leaf
KeyRow = tuple[str, int, bytes]  # key text, count, value hash
EMPTY_ROOT = bytes(32)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS index_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL
);
INSERT OR IGNORE INTO index_head (id, size, root) VALUES (1, 0, zeroblob(32));
CREATE TABLE IF NOT EXISTS index_nodes (
    node_id BLOB PRIMARY KEY, hash BLOB NOT NULL, leaf_key BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_keys (
    key_hash BLOB PRIMARY KEY, key TEXT NOT NULL, count INTEGER NOT NULL, value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_rows (
    key_hash BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (key_hash, seq)
) WITHOUT ROWID;
"""

POSTGRES_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS index_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, root BYTEA NOT NULL
    )""",
    """INSERT INTO index_head (id, size, root) VALUES (1, 0, decode(repeat('00', 32), 'hex'))
        ON CONFLICT (id) DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS index_nodes (
        node_id BYTEA PRIMARY KEY, hash BYTEA NOT NULL, leaf_key BYTEA
    )""",
    """CREATE TABLE IF NOT EXISTS index_keys (
        key_hash BYTEA PRIMARY KEY, key TEXT NOT NULL, count BIGINT NOT NULL,
        value BYTEA NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS index_rows (
        key_hash BYTEA NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (key_hash, seq)
    )""",
)

CHUNK = 400


class IndexTables(ABC):
    """Rows of the authenticated index; reads see committed data, writes go in :meth:`locked`."""

    @abstractmethod
    def head(self) -> tuple[int, bytes]:
        """The ledger size the stored map covers, and its root."""

    @abstractmethod
    @contextmanager
    def locked(self) -> Iterator[tuple[int, bytes]]:
        """A transaction holding the map's lock; yields the head read under it."""

    @abstractmethod
    def get_nodes(self, ids: Sequence[bytes]) -> dict[bytes, StoredNode]: ...

    @abstractmethod
    def nodes_above(self, depth: int) -> dict[bytes, StoredNode]:
        """Every node at a depth below ``depth`` (the top of the tree, read in one scan)."""

    @abstractmethod
    def keys(self, key_hashes: Sequence[bytes]) -> dict[bytes, KeyRow]: ...

    @abstractmethod
    def rows(self, key_hash: bytes) -> list[int]:
        """The ledger indices listed for a key, in order."""

    def rows_of(self, key_hashes: Sequence[bytes]) -> dict[bytes, list[int]]:
        """The ledger indices listed for each of many keys, in order (absent keys: none)."""
        return {k: self.rows(k) for k in key_hashes}

    @abstractmethod
    def all_rows(self) -> Iterator[tuple[bytes, int]]:
        """Every row as (key hash, index), ordered, streamed (for ``verify``)."""

    @abstractmethod
    def all_keys(self) -> Iterator[tuple[bytes, str, int, bytes]]:
        """Every key row as (key hash, key, count, value), ordered by key hash, streamed."""

    @abstractmethod
    def all_nodes(self) -> Iterator[tuple[bytes, bytes, bytes | None]]:
        """Every node as (position, hash, leaf key hash), streamed (for ``verify``)."""

    @abstractmethod
    def entry_count(self, start: int, stop: int) -> int:
        """How many entries with ``start <= seq < stop`` the ledger holds (a gap is damage)."""

    @abstractmethod
    def write(
        self,
        head: tuple[int, bytes],
        rows: Sequence[tuple[bytes, int]],
        keys: dict[bytes, KeyRow],
        nodes: dict[bytes, StoredNode],
    ) -> None:
        """Inside :meth:`locked`: add rows, upsert key rows and nodes, set the head."""


class SqliteIndexTables(IndexTables):
    def __init__(self, db: sqlite3.Connection, *, read_only: bool) -> None:
        self.db = db
        if read_only:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'index_head'"
            ).fetchone()
            self.absent = found is None
        else:
            db.executescript(SQLITE_SCHEMA)
            self.absent = False

    def head(self) -> tuple[int, bytes]:
        if self.absent:
            return 0, EMPTY_ROOT
        row = self.db.execute("SELECT size, root FROM index_head WHERE id = 1").fetchone()
        return (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))

    @contextmanager
    def locked(self) -> Iterator[tuple[int, bytes]]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.head()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def get_nodes(self, ids: Sequence[bytes]) -> dict[bytes, StoredNode]:
        found: dict[bytes, StoredNode] = {}
        if self.absent:
            return found
        for i in range(0, len(ids), CHUNK):
            chunk = list(ids[i : i + CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT node_id, hash, leaf_key FROM index_nodes WHERE node_id IN ({marks})",
                chunk,
            )
            found.update({n: (h, leaf) for n, h, leaf in rows})  # BLOBs come back as bytes
        return found

    def nodes_above(self, depth: int) -> dict[bytes, StoredNode]:
        if self.absent:
            return {}
        rows = self.db.execute(
            "SELECT node_id, hash, leaf_key FROM index_nodes WHERE node_id < ?",
            (depth.to_bytes(2, "big"),),
        )
        return {n: (h, leaf) for n, h, leaf in rows}

    def keys(self, key_hashes: Sequence[bytes]) -> dict[bytes, KeyRow]:
        found: dict[bytes, KeyRow] = {}
        if self.absent:
            return found
        for i in range(0, len(key_hashes), CHUNK):
            chunk = list(key_hashes[i : i + CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key_hash, key, count, value FROM index_keys WHERE key_hash IN ({marks})",
                chunk,
            )
            found.update((bytes(k), (str(t), int(c), bytes(v))) for k, t, c, v in rows)
        return found

    def rows(self, key_hash: bytes) -> list[int]:
        if self.absent:
            return []
        rows = self.db.execute(
            "SELECT seq FROM index_rows WHERE key_hash = ? ORDER BY seq", (key_hash,)
        )
        return [int(r[0]) for r in rows]

    def rows_of(self, key_hashes: Sequence[bytes]) -> dict[bytes, list[int]]:
        found: dict[bytes, list[int]] = {k: [] for k in key_hashes}
        if self.absent:
            return found
        for i in range(0, len(key_hashes), CHUNK):
            chunk = list(key_hashes[i : i + CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key_hash, seq FROM index_rows WHERE key_hash IN ({marks})"
                " ORDER BY key_hash, seq",
                chunk,
            )
            for k, seq in rows:
                found[bytes(k)].append(int(seq))
        return found

    def all_rows(self) -> Iterator[tuple[bytes, int]]:
        if self.absent:
            return
        for k, seq in self.db.execute(
            "SELECT key_hash, seq FROM index_rows ORDER BY key_hash, seq"
        ):
            yield bytes(k), int(seq)

    def all_keys(self) -> Iterator[tuple[bytes, str, int, bytes]]:
        if self.absent:
            return
        query = "SELECT key_hash, key, count, value FROM index_keys ORDER BY key_hash"
        for k, t, c, v in self.db.execute(query):
            yield bytes(k), str(t), int(c), bytes(v)

    def all_nodes(self) -> Iterator[tuple[bytes, bytes, bytes | None]]:
        if self.absent:
            return
        for n, h, leaf in self.db.execute("SELECT node_id, hash, leaf_key FROM index_nodes"):
            yield bytes(n), bytes(h), None if leaf is None else bytes(leaf)

    def entry_count(self, start: int, stop: int) -> int:
        query = "SELECT COUNT(*) FROM entries WHERE seq >= ? AND seq < ?"
        return int(self.db.execute(query, (start, stop)).fetchone()[0])

    def write(
        self,
        head: tuple[int, bytes],
        rows: Sequence[tuple[bytes, int]],
        keys: dict[bytes, KeyRow],
        nodes: dict[bytes, StoredNode],
    ) -> None:
        # In primary-key order: each B-tree is then written page after page, not at random.
        self.db.executemany("INSERT INTO index_rows (key_hash, seq) VALUES (?, ?)", sorted(rows))
        self.db.executemany(
            "INSERT OR REPLACE INTO index_keys (key_hash, key, count, value) VALUES (?,?,?,?)",
            [(k, t, c, v) for k, (t, c, v) in sorted(keys.items())],
        )
        self.db.executemany(
            "INSERT OR REPLACE INTO index_nodes (node_id, hash, leaf_key) VALUES (?,?,?)",
            [(n, h, leaf) for n, (h, leaf) in sorted(nodes.items())],
        )
        self.db.execute("UPDATE index_head SET size = ?, root = ? WHERE id = 1", head)


class PostgresIndexTables(IndexTables):
    """``conn`` is a psycopg connection (typed loosely: psycopg is an optional dependency)."""

    def __init__(self, conn: Any, dsn: str, *, read_only: bool) -> None:
        self.conn = conn
        self.dsn = dsn
        if read_only:
            row = conn.execute("SELECT to_regclass('index_head')").fetchone()
            self.absent = row is None or row[0] is None
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('assetledger index ddl'))")
            for statement in POSTGRES_SCHEMA:
                conn.execute(statement)
        self.absent = False

    def head(self) -> tuple[int, bytes]:
        if self.absent:
            return 0, EMPTY_ROOT
        row = self.conn.execute("SELECT size, root FROM index_head WHERE id = 1").fetchone()
        return (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))

    @contextmanager
    def locked(self) -> Iterator[tuple[int, bytes]]:
        with self.conn.transaction():
            row = self.conn.execute(
                "SELECT size, root FROM index_head WHERE id = 1 FOR UPDATE"
            ).fetchone()
            yield int(row[0]), bytes(row[1])

    def get_nodes(self, ids: Sequence[bytes]) -> dict[bytes, StoredNode]:
        if self.absent or not ids:
            return {}
        rows = self.conn.execute(
            "SELECT node_id, hash, leaf_key FROM index_nodes WHERE node_id = ANY(%s::bytea[])",
            (list(ids),),
        ).fetchall()
        return dict(_node(r) for r in rows)

    def nodes_above(self, depth: int) -> dict[bytes, StoredNode]:
        if self.absent:
            return {}
        rows = self.conn.execute(
            "SELECT node_id, hash, leaf_key FROM index_nodes WHERE node_id < %s",
            (depth.to_bytes(2, "big"),),
        ).fetchall()
        return dict(_node(r) for r in rows)

    def keys(self, key_hashes: Sequence[bytes]) -> dict[bytes, KeyRow]:
        if self.absent or not key_hashes:
            return {}
        rows = self.conn.execute(
            "SELECT key_hash, key, count, value FROM index_keys WHERE key_hash = ANY(%s::bytea[])",
            (list(key_hashes),),
        ).fetchall()
        return {bytes(k): (str(t), int(c), bytes(v)) for k, t, c, v in rows}

    def rows(self, key_hash: bytes) -> list[int]:
        if self.absent:
            return []
        rows = self.conn.execute(
            "SELECT seq FROM index_rows WHERE key_hash = %s ORDER BY seq", (key_hash,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def rows_of(self, key_hashes: Sequence[bytes]) -> dict[bytes, list[int]]:
        found: dict[bytes, list[int]] = {k: [] for k in key_hashes}
        if self.absent or not key_hashes:
            return found
        rows = self.conn.execute(
            "SELECT key_hash, seq FROM index_rows WHERE key_hash = ANY(%s::bytea[])"
            " ORDER BY key_hash, seq",
            (list(key_hashes),),
        ).fetchall()
        for k, seq in rows:
            found[bytes(k)].append(int(seq))
        return found

    def all_rows(self) -> Iterator[tuple[bytes, int]]:
        if self.absent:
            return
        query = "SELECT key_hash, seq FROM index_rows ORDER BY key_hash, seq"
        for k, seq in self._stream(query):
            yield bytes(k), int(seq)

    def all_keys(self) -> Iterator[tuple[bytes, str, int, bytes]]:
        if self.absent:
            return
        query = "SELECT key_hash, key, count, value FROM index_keys ORDER BY key_hash"
        for k, t, c, v in self._stream(query):
            yield bytes(k), str(t), int(c), bytes(v)

    def all_nodes(self) -> Iterator[tuple[bytes, bytes, bytes | None]]:
        if self.absent:
            return
        for n, h, leaf in self._stream("SELECT node_id, hash, leaf_key FROM index_nodes"):
            yield bytes(n), bytes(h), None if leaf is None else bytes(leaf)

    def _stream(self, query: str) -> Iterator[tuple[Any, ...]]:
        """A server-side cursor on a second connection, so other reads may interleave."""
        import psycopg

        with psycopg.connect(self.dsn) as conn, conn.cursor(name="index_scan") as cur:
            cur.execute(query)
            yield from cur

    def entry_count(self, start: int, stop: int) -> int:
        query = "SELECT COUNT(*) FROM entries WHERE seq >= %s AND seq < %s"
        return int(self.conn.execute(query, (start, stop)).fetchone()[0])

    def write(
        self,
        head: tuple[int, bytes],
        rows: Sequence[tuple[bytes, int]],
        keys: dict[bytes, KeyRow],
        nodes: dict[bytes, StoredNode],
    ) -> None:
        with self.conn.cursor() as cur:
            if rows:
                with cur.copy("COPY index_rows (key_hash, seq) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["bytea", "int8"])
                    for row in sorted(rows):
                        cp.write_row(row)
            cur.executemany(
                "INSERT INTO index_keys (key_hash, key, count, value) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT (key_hash) DO UPDATE SET key = EXCLUDED.key,"
                " count = EXCLUDED.count, value = EXCLUDED.value",
                [(k, t, c, v) for k, (t, c, v) in sorted(keys.items())],
            )
            cur.executemany(
                "INSERT INTO index_nodes (node_id, hash, leaf_key) VALUES (%s,%s,%s)"
                " ON CONFLICT (node_id) DO UPDATE SET hash = EXCLUDED.hash,"
                " leaf_key = EXCLUDED.leaf_key",
                [(n, h, leaf) for n, (h, leaf) in sorted(nodes.items())],
            )
            cur.execute("UPDATE index_head SET size = %s, root = %s WHERE id = 1", head)


def _node(row: Sequence[Any]) -> tuple[bytes, StoredNode]:
    node, value, leaf = row
    return bytes(node), (bytes(value), None if leaf is None else bytes(leaf))
