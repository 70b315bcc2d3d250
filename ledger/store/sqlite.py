"""SQLite ledger backend: embedded, WAL journal, ``synchronous=FULL``.

Durability: with WAL and ``synchronous=FULL`` every committed append is fsynced before
``append`` returns, so an acknowledged batch survives power loss.  Appends are batched (hundreds
of events a transaction), so the fsync costs little per event.  See docs/storage.md.

Concurrency: ``BEGIN IMMEDIATE`` takes SQLite's single write lock for the whole append, so
several connections (threads or processes on one host) append one chain; a waiting writer
retries for up to 30 s (``busy_timeout``).  Across hosts, use PostgreSQL.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.errors import StoreError
from ledger.log.merkle import MerkleTree
from ledger.store.base import (
    ENTRY_COLUMNS,
    HEADERS_FORMAT,
    HEADERS_FORMAT_META,
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
    stored_headers,
)
from ledger.store.index_tables import SqliteIndexTables

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    signer_keyid TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    ref_kind TEXT NOT NULL, ref_key TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (ref_kind, ref_key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merkle_nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, chain_hash BLOB NOT NULL
);
INSERT OR IGNORE INTO head (id, size, chain_hash) VALUES (1, 0, zeroblob(32));
CREATE TABLE IF NOT EXISTS consumer_offsets (
    group_id TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, kafka_partition)
);
CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset INTEGER NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL,
    record_key BLOB, record_value BLOB, headers BLOB NOT NULL, event_id TEXT,
    quarantined_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY, root_hash BLOB NOT NULL, note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cosignatures (
    size INTEGER NOT NULL, witness TEXT NOT NULL, key_id BLOB NOT NULL,
    cosigned_at INTEGER NOT NULL, line TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (size, witness, key_id)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

CHUNK = 400
"""Rows per ``IN (…)`` list: far below SQLite's bound-parameter limit."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:  # naive: local time, as astimezone reads it
        value = value.astimezone(UTC)
    delta = value - EPOCH  # aware datetimes subtract in UTC
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_TYPED_ENTRY = (
    "CAST(seq AS INTEGER), CAST(event_id AS TEXT), CAST(kind AS TEXT),"
    " CAST(event_time AS INTEGER), CAST(envelope AS BLOB), CAST(leaf_hash AS BLOB),"
    " CAST(chain_hash AS BLOB), CAST(signer_keyid AS TEXT), CAST(topic AS TEXT),"
    " CAST(kafka_partition AS INTEGER), CAST(kafka_offset AS INTEGER),"
    " CAST(ingested_at AS INTEGER)"
)
"""``ENTRY_COLUMNS`` as the types of :class:`Entry` (as ``row_to_entry``'s conversions)."""


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class SqliteStore(LedgerStore):
    """``read_only``: never write, never create a file (archived copies, read-only mounts)."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self.read_only = read_only
        self._index: SqliteIndexTables | None = None
        if read_only:
            self.db = _open_read_only(self.path)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.executescript(SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            if _is_read_only(self.path, exc):
                raise StoreError(
                    f"ledger {self.path} is read-only (a read-only file, folder or mount);"
                    " appending to it is impossible",
                    hint="readers (verify, log, info, show, audit, credits, prove) work on a"
                    " read-only ledger; to consume into it, copy it to a writable place",
                ) from None
            raise StoreError(f"cannot open SQLite ledger {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Quarantine headers held as JSON text (ledgers before 2026-11) become bytes."""
        if self.get_meta(HEADERS_FORMAT_META) == HEADERS_FORMAT:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            rows = self.db.execute(
                "SELECT quarantine_id, headers FROM quarantine WHERE typeof(headers) = 'text'"
            ).fetchall()
            self.db.executemany(
                "UPDATE quarantine SET headers = ? WHERE quarantine_id = ?",
                [(headers_to_bytes(stored_headers(h)), qid) for qid, h in rows],
            )
            self.set_meta(HEADERS_FORMAT_META, HEADERS_FORMAT)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- writing ----------------------------------------------------------------------------
    def append(self, batch: Batch) -> AppendResult:
        try:
            self.db.execute("BEGIN IMMEDIATE")  # the write lock: one appender at a time
            try:
                plan = self._plan(batch)
                self._write(plan, batch)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"append to {self.path} failed: {exc}") from exc
        self.keep_index_keys(plan.index_keys)
        return plan.result

    def _plan(self, batch: Batch) -> AppendPlan:
        head = self.head()
        stored = self._stored_offsets(batch.group_id, batch.partitions())
        known = self._known_ids(batch.event_ids())
        tree = MerkleTree(self, head.size)
        return plan_batch(batch, head, stored, known, tree, batch.received_at or datetime.now(UTC))

    def _write(self, plan: AppendPlan, batch: Batch) -> None:
        self._insert_entries(plan.entries)
        self.db.executemany("INSERT INTO refs VALUES (?, ?, ?)", plan.refs)
        self.db.executemany(
            "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)",
            [(level, idx, value) for (level, idx), value in plan.nodes],
        )
        self._insert_quarantine(plan.quarantine, plan.now)
        self._save_offsets(batch.group_id, batch.offsets)
        self._save_head(plan.result.head)

    def _save_head(self, head: Head) -> None:
        self.db.execute(
            "UPDATE head SET size = ?, chain_hash = ? WHERE id = 1", (head.size, head.chain_hash)
        )

    def _insert_entries(self, entries: Sequence[Entry]) -> None:
        # One ingestion time per batch (plan_append): converted once, not per entry.
        ingested = {t: to_micros(t) for t in {e.ingested_at for e in entries}}
        self.db.executemany(
            f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    e.seq,
                    e.event_id,
                    e.kind,
                    to_micros(e.event_time),
                    e.envelope,
                    e.leaf_hash,
                    e.chain_hash,
                    e.signer_keyid,
                    e.origin.topic,
                    e.origin.partition,
                    e.origin.offset,
                    ingested[e.ingested_at],
                )
                for e in entries
            ],
        )

    def _insert_quarantine(self, records: Sequence[Quarantined], now: datetime) -> None:
        self.db.executemany(
            "INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, detail,"
            " record_key, record_value, headers, event_id, quarantined_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                    to_micros(now),
                )
                for q in records
            ],
        )

    def _save_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        self.db.executemany(
            "INSERT INTO consumer_offsets (group_id, topic, kafka_partition, next_offset)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (group_id, topic, kafka_partition)"
            " DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
            [(group_id, t, p, o) for (t, p), o in offsets.items()],
        )

    def _stored_offsets(
        self, group_id: str, partitions: set[TopicPartition]
    ) -> dict[TopicPartition, int]:
        result = {}
        for topic, part in partitions:
            row = self.db.execute(
                "SELECT next_offset FROM consumer_offsets"
                " WHERE group_id = ? AND topic = ? AND kafka_partition = ?",
                (group_id, topic, part),
            ).fetchone()
            if row:
                result[(topic, part)] = int(row[0])
        return result

    def _known_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT event_id FROM entries WHERE event_id IN ({marks})", chunk
            )
            found.update(r[0] for r in rows)
        return found

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO checkpoints (size, root_hash, note, created_at)"
            " VALUES (?, ?, ?, ?)",
            (
                checkpoint.size,
                checkpoint.root_hash,
                checkpoint.note,
                to_micros(checkpoint.created_at),
            ),
        )

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        c = cosignature
        self.db.execute(
            "INSERT OR IGNORE INTO cosignatures"
            " (size, witness, key_id, cosigned_at, line, received_at) VALUES (?, ?, ?, ?, ?, ?)",
            (c.size, c.witness, c.key_id, c.timestamp, c.line, to_micros(datetime.now(UTC))),
        )

    def set_meta(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def get_meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    # --- reading ----------------------------------------------------------------------------
    def head(self) -> Head:
        size, chain = self.db.execute("SELECT size, chain_hash FROM head WHERE id = 1").fetchone()
        return Head(int(size), bytes(chain))

    def offsets(self, group_id: str, topic: str) -> dict[int, int]:
        rows = self.db.execute(
            "SELECT kafka_partition, next_offset FROM consumer_offsets"
            " WHERE group_id = ? AND topic = ?",
            (group_id, topic),
        )
        return {int(p): int(o) for p, o in rows}

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        stop = self.head().size if stop is None else stop
        cursor = self.db.execute(
            f"SELECT {_TYPED_ENTRY} FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
            (start, stop),
        )
        for row in cursor:
            yield self._entry(row)

    def _entry(self, row: Sequence[Any]) -> Entry:
        """A row of ``_TYPED_ENTRY``: typed by SQLite already (verify reads every entry)."""
        seq, event_id, kind, event_time, envelope, leaf, chain, keyid, topic, part, off, ing = row
        return Entry(
            seq,
            event_id,
            kind,
            from_micros(event_time),
            envelope,
            leaf,
            chain,
            keyid,
            Origin(topic, part, off),
            from_micros(ing),
        )

    def entries_at(self, seqs: Sequence[int]) -> list[Entry]:
        wanted = sorted(set(seqs))
        out: list[Entry] = []
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i : i + CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_TYPED_ENTRY} FROM entries WHERE seq IN ({marks}) ORDER BY seq", chunk
            )
            out += [self._entry(row) for row in rows]
        return out

    def entry_by_event_id(self, event_id: str) -> Entry | None:
        row = self.db.execute(
            f"SELECT {_TYPED_ENTRY} FROM entries WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else self._entry(row)

    def seqs_by_ref(self, ref_kind: str, key: str) -> list[int]:
        rows = self.db.execute(
            "SELECT seq FROM refs WHERE ref_kind = ? AND ref_key = ? ORDER BY seq", (ref_kind, key)
        )
        return [int(r[0]) for r in rows]

    def all_refs(self) -> Iterator[tuple[int, str, str]]:
        # Typed by SQLite (as int(), str() would, a row at a time in Python; verify reads all).
        yield from self.db.execute(
            "SELECT CAST(seq AS INTEGER), CAST(ref_kind AS TEXT), CAST(ref_key AS TEXT)"
            " FROM refs ORDER BY seq, ref_kind, ref_key"  # verify sorts an entry's rows so
        )

    def node_count(self) -> int:
        (count,) = self.db.execute("SELECT COUNT(*) FROM merkle_nodes").fetchone()
        return int(count)

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """One query per call (chunked only beyond ``CHUNK`` keys; a tree read asks O(log n))."""
        found: dict[tuple[int, int], bytes] = {}
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            pairs = ",".join("(?,?)" for _ in chunk)
            # A join against the VALUES list uses the primary key; "(level, idx) IN (VALUES …)"
            # would scan the whole table (O(n) per proof).
            rows = self.db.execute(  # typed by SQLite: verify reads two nodes per entry
                "SELECT CAST(m.level AS INTEGER), CAST(m.idx AS INTEGER), CAST(m.hash AS BLOB)"
                f" FROM (VALUES {pairs}) AS k"
                " JOIN merkle_nodes AS m ON m.level = k.column1 AND m.idx = k.column2",
                [n for key in chunk for n in key],
            )
            found.update({(lv, ix): h for lv, ix, h in rows})
        return found

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self.db.execute(
            "SELECT size, root_hash, note, created_at FROM checkpoints ORDER BY size"
        )
        stored = [
            StoredCheckpoint(int(s), bytes(r), str(n), from_micros(int(c))) for s, r, n, c in rows
        ]
        cosignatures = self.db.execute(
            "SELECT size, witness, line FROM cosignatures ORDER BY size, witness, key_id"
        )
        return attach_cosignatures(stored, cosignatures)

    def cosigned_sizes(self) -> dict[tuple[str, bytes], int]:
        rows = self.db.execute(
            "SELECT witness, key_id, MAX(size) FROM cosignatures GROUP BY witness, key_id"
        )
        return {(str(w), bytes(k)): int(s) for w, k, s in rows}

    def quarantine(self, limit: int | None = None) -> list[QuarantineRecord]:
        rows = self.db.execute(
            "SELECT quarantine_id, topic, kafka_partition, kafka_offset, reason, detail,"
            " record_key, record_value, headers, event_id, quarantined_at FROM quarantine"
            " ORDER BY quarantine_id LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [_quarantine_row(r) for r in rows]

    def index_tables(self) -> SqliteIndexTables:
        if self._index is None:
            self._index = SqliteIndexTables(self.db, read_only=self.read_only)
        return self._index

    def close(self) -> None:
        self.db.close()


def _read_only_uri(path: Path, *, immutable: bool) -> str:
    uri = f"{path.resolve().as_uri()}?mode=ro"  # percent-encoded, so ? and # stay in the path
    return uri + "&immutable=1" if immutable else uri


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open for reading only (``mode=ro``); on a read-only folder or mount, ``immutable``.

    A WAL-mode database needs its ``-shm`` file, which a reader cannot create in a read-only
    folder; ``immutable=1`` reads the database file alone.  That is exact only when no
    ``-wal`` file holds committed data, so with one the open is refused, never stale.
    """
    if not path.is_file():
        raise StoreError(f"no SQLite ledger at {path}")
    try:
        return _connect_checked(_read_only_uri(path, immutable=False))
    except sqlite3.Error as exc:
        first = exc
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"cannot read ledger {path}: {first}; its {wal.name} holds data not yet in the"
            " database file, and the folder is read-only",
            hint=f"copy {path.name} with {wal.name} to a writable folder and read it there",
        )
    try:
        return _connect_checked(_read_only_uri(path, immutable=True))
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read SQLite ledger {path}: {exc}") from None


def _connect_checked(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA query_only=ON")  # no statement can write through this connection
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("SELECT size FROM head WHERE id = 1").fetchone()
    except sqlite3.Error:
        db.close()
        raise
    return db


def _is_read_only(path: Path, exc: BaseException) -> bool:
    if "readonly" in str(exc) or "read-only" in str(exc):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return True
    return path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


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
        quarantine_id=int(qid),
        quarantined_at=from_micros(int(at)),
    )
