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

The spool is private to the user who signs: the folder is created ``0700`` and the file
``0600``; a spool file that is a symbolic link, belongs to another user or is writable by
others is refused (another user could drop or redirect the signed records in it).  A record
that can no longer be read (a damaged or edited row) is set aside, verbatim, in the
``damaged`` table: it is never sent, never blocks the records after it, and is counted by
:meth:`Spool.status`.  Records are not re-verified here; the consumer verifies every one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
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
CREATE TABLE IF NOT EXISTS damaged (
    seq INTEGER PRIMARY KEY, event_id, topic, record_key, record_value, headers, spooled_at,
    problem TEXT NOT NULL, found_at REAL NOT NULL
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
    damaged: int = 0  # unreadable records set aside (never sent)


Send = Callable[[Sequence[SpooledRecord]], None]
"""Sends records in order and returns only once the broker acknowledged all; raises if not."""


class Spool:
    """The outbox in folder ``directory`` (created if needed)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / SPOOL_FILE
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(self.path)
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
        """Records in spool order; unreadable ones are set aside (see :meth:`damaged`)."""
        while True:
            rows = self.db.execute(
                "SELECT seq, event_id, topic, record_key, record_value, headers, spooled_at"
                " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, -1 if limit is None else limit),
            ).fetchall()
            records: list[SpooledRecord] = []
            bad: list[tuple[int, str]] = []
            for row in rows:
                try:
                    records.append(_record(row))
                except (ValueError, TypeError) as exc:
                    bad.append((int(row[0]), f"{type(exc).__name__}: {exc}"[:500]))
            if not bad:
                return records
            self._set_aside(bad)

    def _set_aside(self, bad: Sequence[tuple[int, str]]) -> None:
        now = time.time()
        with self._transaction():
            for seq, problem in bad:
                self.db.execute(
                    "INSERT OR REPLACE INTO damaged SELECT seq, event_id, topic, record_key,"
                    " record_value, headers, spooled_at, ?, ? FROM outbox WHERE seq = ?",
                    (problem, now, seq),
                )
                self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def damaged(self) -> list[tuple[int, str]]:
        """(seq, problem) of each record set aside as unreadable, never sent."""
        rows = self.db.execute("SELECT seq, problem FROM damaged ORDER BY seq")
        return [(int(seq), str(problem)) for seq, problem in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def status(self) -> SpoolStatus:
        count, oldest, newest = self.db.execute(
            "SELECT count(*), min(spooled_at), max(spooled_at) FROM outbox"
        ).fetchone()
        topics = dict(
            self.db.execute("SELECT topic, count(*) FROM outbox GROUP BY topic ORDER BY topic")
        )
        damaged = int(self.db.execute("SELECT count(*) FROM damaged").fetchone()[0])
        return SpoolStatus(self.path, int(count), oldest, newest, topics, damaged)

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


def _check_private(path: Path) -> None:
    """Create the spool file ``0600``, or check that the one there is this user's own; in a
    folder only this user (or root) may change."""
    _check_owner(path.parent, os.stat(path.parent), "folder")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW, 0o600))
        return
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise OSError(f"the spool file {path} is a symbolic link or not a regular file")
    _check_owner(path, info, "file")


def _check_owner(path: Path, info: os.stat_result, what: str) -> None:
    if not hasattr(os, "getuid"):  # Windows: the folder's ACL decides
        return
    problem = None
    # Group-writable is fine for the user's own primary group (user private groups, umask 002).
    others = 0o002 if info.st_gid == os.getgid() else 0o022
    if info.st_uid not in (os.getuid(), 0):
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & others:
        problem = (
            f"is writable by other users (mode {stat.S_IMODE(info.st_mode):04o}; chmod go-w it)"
        )
    if problem is not None:
        raise OSError(
            f"the spool {what} {path} {problem}: another user could drop or redirect the"
            " signed records in it"
        )


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _record(row: Sequence[object]) -> SpooledRecord:
    seq, eid, topic, key, value, headers, at = row
    if not isinstance(key, bytes) or not isinstance(value, bytes):
        raise TypeError("the record's key or value is not bytes")
    if not isinstance(eid, str) or not isinstance(topic, str) or not isinstance(headers, str):
        raise TypeError("the record's event id, topic or headers are not text")
    return SpooledRecord(int(str(seq)), eid, topic, key, value, _headers(headers), float(str(at)))


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
    pairs = json.loads(text)
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise ValueError("the record's headers are not a list of [name, hex value] pairs")
    return [(name, bytes.fromhex(value)) for name, value in pairs]
