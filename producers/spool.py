"""A durable local outbox for signed events: nothing is lost while the broker is away.

A workstation or render node that loses the network must neither lose an event (provenance
lost for good) nor block the artist.  With a spool, the emitter signs each event and writes
the finished Kafka record (key, value, headers: the event id and the signature are fixed at
signing time) to ``DIR/spool.db`` before sending it.  A record leaves the spool only after the
broker acknowledged it (acks=all).  A crash or ``kill -9`` at any point therefore either keeps
the record for the next flush or has already delivered it; a record delivered and then sent
again is refused by the consumer as ``duplicate_event_id`` and never doubles the ledger.

The spool is SQLite in WAL mode with ``synchronous=FULL``: a record written is on disk.
Records are sent in the order they were spooled.  One flusher at a time (a lock held in
``DIR/flush.lock`` for the flush); another process that finds the lock taken leaves its
records for the running flusher, which keeps going until the spool is empty.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import ConfigurationError

SPOOL_FILE = "spool.db"
LOCK_FILE = "flush.lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    record_key BLOB NOT NULL,
    record_value BLOB NOT NULL,
    headers TEXT NOT NULL,
    spooled_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class SpooledRecord:
    """One signed Kafka record waiting in the spool, in spool order (``seq``)."""

    seq: int
    event_id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    spooled_at: float


@dataclass(frozen=True)
class SpoolStatus:
    path: Path
    waiting: int
    oldest: float | None  # when the oldest waiting record was spooled (Unix time)
    newest: float | None
    topics: dict[str, int]


Send = Callable[[Sequence[SpooledRecord]], None]
"""Sends records in order and returns only once the broker acknowledged all; raises if not."""


class Spool:
    """The outbox in folder ``directory`` (created if needed)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / SPOOL_FILE
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.db = _connect(self.path)
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"cannot open the spool in {self.directory}: {exc}",
                hint="pass a writable folder with --spool (or ASSETLEDGER_SPOOL)",
            ) from None

    # --- writing ----------------------------------------------------------------------------
    def put(
        self, topic: str, records: Sequence[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]
    ) -> list[int]:
        """Append ``(event_id, key, value, headers)`` records durably; return their seqs."""
        now = time.time()
        seqs: list[int] = []
        with self._transaction():
            for event_id, key, value, headers in records:
                cursor = self.db.execute(
                    "INSERT INTO outbox (event_id, topic, record_key, record_value, headers,"
                    " spooled_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (event_id, topic, key, value, _headers_json(headers), now),
                )
                seqs.append(int(cursor.lastrowid or 0))
        return seqs

    def remove(self, seqs: Sequence[int]) -> None:
        """Drop records the broker acknowledged."""
        with self._transaction():
            self.db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    # --- reading ----------------------------------------------------------------------------
    def waiting(self, limit: int | None = None, after: int = 0) -> list[SpooledRecord]:
        rows = self.db.execute(
            "SELECT seq, event_id, topic, record_key, record_value, headers, spooled_at"
            " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, -1 if limit is None else limit),
        )
        return [
            SpooledRecord(
                int(seq), str(eid), str(topic), bytes(key), bytes(value), _headers(h), float(at)
            )
            for seq, eid, topic, key, value, h, at in rows
        ]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def status(self) -> SpoolStatus:
        count, oldest, newest = self.db.execute(
            "SELECT count(*), min(spooled_at), max(spooled_at) FROM outbox"
        ).fetchone()
        topics = dict(
            self.db.execute("SELECT topic, count(*) FROM outbox GROUP BY topic ORDER BY topic")
        )
        return SpoolStatus(self.path, int(count), oldest, newest, topics)

    # --- flushing ---------------------------------------------------------------------------
    def flush(self, send: Send, *, batch: int = 500, wait: float = 0.0) -> int | None:
        """Send every waiting record in spool order, removing each batch once acknowledged.

        Returns how many records were sent, or ``None`` when another flusher holds the lock
        for longer than ``wait`` seconds (it sends these records too).  Raises what ``send``
        raises; records not acknowledged stay in the spool, in order.
        """
        with _flush_lock(self.directory / LOCK_FILE, wait) as held:
            if not held:
                return None
            sent = 0
            while records := self.waiting(batch):
                send(records)
                self.remove([r.seq for r in records])
                sent += len(records)
            return sent

    # --- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:  # disk full, read-only folder, a damaged file
            raise ConfigurationError(
                f"cannot write the spool {self.path}: {exc}",
                hint="free space or pass a writable folder with --spool (or ASSETLEDGER_SPOOL)",
            ) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # a spooled record survives power loss
    return db


@contextmanager
def _flush_lock(path: Path, wait: float) -> Iterator[bool]:
    """An exclusive SQLite lock on ``path``: portable, and released when the holder dies."""
    db = sqlite3.connect(path, isolation_level=None, timeout=wait)
    try:
        try:
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            yield False
            return
        try:
            yield True
        finally:
            db.execute("ROLLBACK")
    finally:
        db.close()


def _headers_json(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[name, value.hex()] for name, value in headers])


def _headers(text: str) -> list[tuple[str, bytes]]:
    return [(str(name), bytes.fromhex(value)) for name, value in json.loads(text)]
