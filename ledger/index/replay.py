"""Replaying the index from the log: every committed map root, and the stored index rows.

The map at size ``N + k`` is the map at ``N`` plus the keys of the ``k`` new entries, so one
pass over the entries recomputes the root every signed checkpoint commits to in its
``index/v1`` line.  The first root that differs is named: the operator signed a map that is
not the log's, or an entry was changed since.  At the size the stored index covers, the
stored rows and key rows (what audits read) are compared with the replayed ones: a row
deleted, added or repointed in the database is named with its key and entry.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import ledger.index.smt as smt
from ledger.errors import VerificationFailure
from ledger.events.base import EventKind, Record
from ledger.index.keys import event_keys
from ledger.index.maintain import entry_keys, index_rule, root_in, rule_in
from ledger.log.checkpoint import open_checkpoint
from ledger.log.merkle import compute_root, leaf_hash
from ledger.log.operator import log_identity
from ledger.store import LedgerStore

INDEX_ROOT_MISMATCH = "index_root_mismatch"
INDEX_RULE_MISMATCH = "index_rule_mismatch"  # a checkpoint's line names another index rule
INDEX_ROW_MISMATCH = "index_row_mismatch"
LOG_ROOT_MISMATCH = "checkpoint_mismatch"  # verify's name for it
MAX_ROW_FINDINGS = 20


@dataclass(frozen=True)
class Finding:
    kind: str  # INDEX_ROOT_MISMATCH | INDEX_ROW_MISMATCH | INDEX_RULE_MISMATCH
    seq: int | None
    detail: str


SPILL_AT = 200_000
"""Entries (nodes and key rows) the replay map holds in memory before it writes them out to its
temporary SQLite file: the replay's memory is bounded, whatever the ledger's size."""

_CHUNK = 500  # ids per SQL ``IN`` query (SQLite allows 999 parameters by default)


class ReplayMap:
    """The map rebuilt by the replay, in bounded memory: the same fold, rows, values and tree as
    :class:`MemoryMap` (tests compare them), each distinct key of a commit hashed once.

    Nodes are kept as ``hash || leaf key hash`` (32 or 64 bytes) by position and key rows as
    ``uint64be(count) || value`` (40 bytes) by key hash; the key's text is not kept (a stored
    key row's text is checked by hashing it).  Written nodes and key rows gather in two dicts;
    past ``spill_at`` of them they are written to a private temporary SQLite database (deleted
    when the map is closed or collected) and the dicts start again: reads look in the dicts,
    then in the file.
    """

    def __init__(self, spill_at: int | None = None) -> None:
        self.nodes: dict[bytes, bytes] = {}
        self.keys: dict[bytes, bytes] = {}
        self.pending: list[tuple[int, Sequence[str]]] = []
        self.root = smt.EMPTY
        self.size = 0
        self.spill_at = SPILL_AT if spill_at is None else spill_at
        self.db: sqlite3.Connection | None = None

    def add(self, seq: int, keys: Sequence[str]) -> None:
        self.pending.append((seq, keys))
        self.size = seq + 1

    # --- storage ---------------------------------------------------------------------------

    def _spill(self) -> None:
        if self.db is None:
            self.db = sqlite3.connect("")  # private, on disk, deleted when closed
            self.db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-32768;"
                "CREATE TABLE nodes (id BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE keys (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
            )
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO nodes VALUES (?, ?)", self.nodes.items())
            self.db.executemany("INSERT OR REPLACE INTO keys VALUES (?, ?)", self.keys.items())
        self.nodes, self.keys = {}, {}

    def _read(
        self, table: str, column: str, held: dict[bytes, bytes], ids: Sequence[bytes]
    ) -> dict[bytes, bytes]:
        found = {n: held[n] for n in ids if n in held}
        if self.db is not None:
            rest = [n for n in ids if n not in found]
            for at in range(0, len(rest), _CHUNK):
                part = rest[at : at + _CHUNK]
                marks = ",".join("?" * len(part))
                query = f"SELECT {column}, v FROM {table} WHERE {column} IN ({marks})"
                found.update(self.db.execute(query, part))
        return found

    def get_nodes(self, ids: Sequence[bytes]) -> dict[bytes, smt.Node]:
        return {
            n: (v[:32], v[32:] or None)
            for n, v in self._read("nodes", "id", self.nodes, ids).items()
        }

    def key_rows(self, ks: Sequence[bytes]) -> dict[bytes, bytes]:
        """The packed key rows (``uint64be(count) || value``) of those of ``ks`` in the map."""
        return self._read("keys", "k", self.keys, ks)

    def all_keys(self) -> Iterator[tuple[bytes, tuple[int, bytes]]]:
        """Every key row as (key hash, count, value), ordered by key hash."""
        if self.db is not None:
            self._spill()
            assert self.db is not None
            rows: Iterable[tuple[bytes, bytes]] = self.db.execute(
                "SELECT k, v FROM keys ORDER BY k"
            )
        else:
            rows = sorted(self.keys.items())
        for k, v in rows:
            yield k, (int.from_bytes(v[:8], "big"), v[8:])

    def node_count(self) -> int:
        if self.db is not None:
            self._spill()
            assert self.db is not None
            return int(self.db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0])
        return len(self.nodes)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    # --- the fold --------------------------------------------------------------------------

    def commit(self) -> bytes:
        """Fold the entries added since the last commit; the root."""
        if not self.pending:
            return self.root
        sha = hashlib.sha256
        hashes: dict[str, bytes] = {}
        for _, keys in self.pending:
            for key in keys:
                if key not in hashes:
                    hashes[key] = sha(key.encode("utf-8")).digest()
        known = self.key_rows(list(hashes.values()))
        changed: dict[bytes, tuple[int, bytes]] = {}
        for seq, keys in self.pending:
            index = seq.to_bytes(8, "big")
            for key in keys:
                k = hashes[key]
                row = changed.get(k)
                if row is None:
                    packed = known.get(k)
                    row = (
                        (0, smt.EMPTY)
                        if packed is None
                        else (int.from_bytes(packed[:8], "big"), packed[8:])
                    )
                changed[k] = (row[0] + 1, sha(b"\x02" + row[1] + index).digest())
        leaves = {k: sha(b"\x00" + k + value).digest() for k, (_, value) in changed.items()}
        update = smt.apply(self, leaves)
        nodes = self.nodes
        for n, (h, leaf) in update.writes.items():
            nodes[n] = h if leaf is None else h + leaf
        keys_held = self.keys
        for k, (count, value) in changed.items():
            keys_held[k] = count.to_bytes(8, "big") + value
        self.pending = []
        self.root = update.root
        if len(nodes) + len(keys_held) > self.spill_at:
            self._spill()
        return self.root


class IndexReplay:
    """Fed every entry in order (:meth:`visit`); :meth:`finish` returns what disagrees."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.map = ReplayMap()
        self.findings: list[Finding] = []
        self.roots: dict[int, bytes] = {}  # checkpoint size -> committed index root
        self.rule = index_rule(store)  # every entry's keys are derived under it
        identity = log_identity(store)
        for stored in store.checkpoints() if identity else []:
            assert identity is not None
            try:
                opened = open_checkpoint(stored.note, identity.origin, identity.public_key)
            except VerificationFailure:
                continue  # verify names a checkpoint that does not verify on its own
            root = root_in(opened.extensions)
            if root is not None:
                self.roots[opened.size] = root
                line_rule = rule_in(opened.extensions)
                if line_rule is not None and line_rule != self.rule:
                    self.findings.append(
                        Finding(
                            INDEX_RULE_MISMATCH,
                            max(opened.size - 1, 0),
                            f"the signed checkpoint of size {opened.size} names index rule"
                            f" {line_rule}; the ledger's index rule is {self.rule}",
                        )
                    )
        tables = store.index_tables()
        self.stored_size, self.stored_root = tables.head()
        self.compared = False  # the stored rows, key rows and nodes compared at stored_size
        self.differ: list[bytes] = []  # keys whose stored rows are not the log's (the first few)
        self.stored_findings: list[Finding] = []
        self.checked = 0
        # Entries beyond the last size anything is compared at are not replayed.
        self.horizon = max([*self.roots, self.stored_size])
        if self.stored_size == 0:
            self._compare_stored()
        self._at(0)

    def visit(self, seq: int, decoded: tuple[EventKind, Record] | None) -> None:
        """Entry ``seq`` (its decoded kind and event; None if it does not decode)."""
        self.visit_keys(seq, [] if decoded is None else index_keys(*decoded, rule=self.rule))

    def visit_keys(self, seq: int, keys: Sequence[str]) -> None:
        """Entry ``seq`` by its index keys, derived elsewhere (verify's workers: the same
        :func:`index_keys`); none for an entry that does not decode."""
        if seq < self.horizon:
            self.map.add(seq, keys)  # a tuple from the workers: not copied
            self._at(seq + 1)

    def visit_envelope(self, seq: int, envelope: bytes) -> None:
        if seq < self.horizon:
            self.map.add(seq, entry_keys(envelope, rule=self.rule))
            self._at(seq + 1)

    def _at(self, size: int) -> None:
        if size in self.roots:
            root = self.map.commit()
            self.checked += 1
            if root != self.roots[size]:
                self.findings.append(
                    Finding(
                        INDEX_ROOT_MISMATCH,
                        max(size - 1, 0),
                        f"the signed checkpoint of size {size} commits to index root"
                        f" {self.roots[size].hex()[:16]}…, the log's entries give"
                        f" {root.hex()[:16]}…",
                    )
                )
        if size == self.stored_size and self.stored_size:
            root = self.map.commit()
            if root != self.stored_root:
                self.findings.append(
                    Finding(
                        INDEX_ROW_MISMATCH,
                        max(size - 1, 0),
                        f"the stored index root (size {size}) is {self.stored_root.hex()[:16]}…,"
                        f" the log's entries give {root.hex()[:16]}…",
                    )
                )
            self._compare_stored()  # now: the map goes on growing past it, nothing is copied

    def finish(self) -> list[Finding]:
        self.map.commit()
        for size in sorted(s for s in self.roots if s > self.map.size):
            self.findings.append(
                Finding(INDEX_ROOT_MISMATCH, None, f"checkpoint of size {size} is beyond the log")
            )
        if not self.compared or self.map.size < self.stored_size:
            detail = f"the stored index covers {self.stored_size} entries, the log has fewer"
            self.findings.append(Finding(INDEX_ROW_MISMATCH, None, detail))
        else:
            tables = self.store.index_tables()
            found = [
                _row_finding(name, k, tables.rows(k), want)
                for k, (name, want) in self._true_rows(self.differ).items()
            ]
            self.findings += (found + self.stored_findings)[:MAX_ROW_FINDINGS]
        self.map.close()
        return self.findings

    def _compare_stored(self) -> None:
        """The stored rows, key rows and nodes against the replayed map at the stored map's
        size, streamed (both sides ordered by key hash; nodes looked up a chunk at a time):
        each stored key's rows are hashed as its value; the keys that differ are looked at
        entry by entry in :meth:`finish` (one more pass over the entries)."""
        self.compared = True
        tables = self.store.index_tables()
        differ = self.differ
        for k, seqs, want in _merged(_grouped(tables.all_rows()), self.map.all_keys()):
            bad = seqs is None or want is None or want != (len(seqs), _value_of(seqs))
            if bad and len(differ) < MAX_ROW_FINDINGS:
                differ.append(k)
        found = self.stored_findings
        stored_keys = ((k, (t, c, v)) for k, t, c, v in tables.all_keys())
        for k, row, want in _merged(stored_keys, self.map.all_keys()):
            if row is None:
                detail = f"the stored key row of the key with hash {k.hex()[:16]}… is missing"
            elif want is None or smt.key_hash(row[0]) != k or (row[1], row[2]) != want:
                detail = f"the stored key row of {row[0]!r} (count, value) is not the log's"
            else:
                continue
            if len(found) < MAX_ROW_FINDINGS:
                found.append(Finding(INDEX_ROW_MISMATCH, None, detail))
        found += self._compare_nodes()

    def _true_rows(self, wanted: list[bytes]) -> dict[bytes, tuple[str | None, list[int]]]:
        """The key and the indices the log files under each key hash of ``wanted`` (one more
        pass, only when rows differ)."""
        if not wanted:
            return {}
        out: dict[bytes, tuple[str | None, list[int]]] = {k: (None, []) for k in wanted}
        for e in self.store.entries(0, self.stored_size):
            for key in entry_keys(e.envelope):
                k = smt.key_hash(key)
                if k in out:
                    out[k] = (key, out[k][1])
                    out[k][1].append(e.seq)
        return out

    def _compare_nodes(self) -> list[Finding]:
        """The stored tree nodes (proofs are built from them) against the replayed ones."""
        differ = seen = 0
        chunk: list[tuple[bytes, bytes, bytes | None]] = []

        def check() -> None:
            nonlocal differ, seen
            wanted = self.map.get_nodes([n for n, _, _ in chunk])
            for n, h, leaf in chunk:
                if wanted.get(n) == (h, leaf):
                    seen += 1
                else:
                    differ += 1
            chunk.clear()

        for node in self.store.index_tables().all_nodes():
            chunk.append(node)
            if len(chunk) >= 1000:
                check()
        check()
        missing = self.map.node_count() - seen
        if not differ and not missing:
            return []
        detail = (
            f"{differ} stored index tree node(s) differ from the log's or are not in its tree,"
            f" {missing} missing: proofs and audits built from them fail"
        )
        return [Finding(INDEX_ROW_MISMATCH, None, detail)]


def _value_of(indices: list[int]) -> bytes:
    """:func:`smt.value_of` in one loop (the replay computes it for every stored row)."""
    sha = hashlib.sha256
    value = smt.EMPTY
    for index in indices:
        value = sha(b"\x02" + value + index.to_bytes(8, "big")).digest()
    return value


def index_keys(
    kind: EventKind,
    event: Record,
    refs: Sequence[tuple[str, str]] | None = None,
    rule: str = "v1",
) -> list[str]:
    """Every index key of one decoded event under index rule ``rule``: what
    :meth:`IndexReplay.visit` adds for it.

    ``refs``: the event's query index rows (``kind.refs(event)``) when already derived.
    """
    return event_keys(kind.record, event, kind.refs(event) if refs is None else refs, rule)


A = TypeVar("A")
B = TypeVar("B")


def _merged(
    left: Iterator[tuple[bytes, A]], right: Iterator[tuple[bytes, B]]
) -> Iterator[tuple[bytes, A | None, B | None]]:
    """Two streams ordered by key hash, joined: (key hash, left item, right item), None for a
    side without it.  Every item of either side comes out once, paired only with an item of
    the same key hash (a stream out of order gives unpaired items, never a missed one)."""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[0], a[1], None
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            yield b[0], None, b[1]
            b = next(right, None)
        else:
            yield a[0], a[1], b[1]
            a, b = next(left, None), next(right, None)


def _grouped(rows: Iterator[tuple[bytes, int]]) -> Iterator[tuple[bytes, list[int]]]:
    """Rows ordered by key hash, as (key hash, its indices)."""
    current: bytes | None = None
    seqs: list[int] = []
    for k, seq in rows:
        if k != current:
            if current is not None:
                yield current, seqs
            current, seqs = k, []
        seqs.append(seq)
    if current is not None:
        yield current, seqs


def _row_finding(key: str | None, k: bytes, have: list[int], want: list[int]) -> Finding:
    name = repr(key) if key is not None else f"with hash {k.hex()[:16]}…"
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    parts = []
    if missing and extra:
        parts.append(f"repointed: lists entries {extra} where the log has {missing}")
    elif missing:
        parts.append(f"entries {missing} deleted from its rows")
    elif extra:
        parts.append(f"entries {extra} added to its rows, which the log does not file there")
    else:
        parts.append("rows out of order")
    seq = min([*missing, *extra], default=None)
    return Finding(INDEX_ROW_MISMATCH, seq, f"index rows of key {name}: " + "; ".join(parts))


Progress = Callable[[int], None]


@dataclass(frozen=True)
class MonitorReport:
    size: int
    roots_checked: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def monitor(store: LedgerStore, progress: Progress | None = None) -> MonitorReport:
    """Replay the index from the entries alone; every committed root and the stored rows, and
    the latest signed checkpoint's log root recomputed from the same entries."""
    replay = IndexReplay(store)
    latest = _latest(store)
    stop = max(replay.horizon, latest[0] if latest else 0)
    missing: list[int] = []

    def leaves() -> Iterator[bytes]:
        for at, e in enumerate(store.entries(0, stop)):
            if e.seq != at:
                missing.append(at)
                return
            replay.visit_envelope(e.seq, e.envelope)
            if progress and at % 4096 == 4095:
                progress(4096)
            yield leaf_hash(e.envelope)

    size, root = compute_root(leaves())
    if missing:
        detail = f"entry {missing[0]} is missing: the replay stops there"
        return MonitorReport(size, replay.checked, [Finding(INDEX_ROOT_MISMATCH, size, detail)])
    findings = replay.finish()
    if latest is not None and (size, root) != latest:
        detail = (
            f"the latest signed checkpoint (size {latest[0]}) has log root {latest[1].hex()[:16]}…,"
            f" the {size} entries give {root.hex()[:16]}…"
        )
        findings.insert(0, Finding(LOG_ROOT_MISMATCH, max(latest[0] - 1, 0), detail))
    return MonitorReport(size, replay.checked, findings)


def _latest(store: LedgerStore) -> tuple[int, bytes] | None:
    """The latest signed checkpoint's size and log root (its signature checked)."""
    identity = log_identity(store)
    stored = store.latest_checkpoint()
    if identity is None or stored is None:
        return None
    opened = open_checkpoint(stored.note, identity.origin, identity.public_key)
    return opened.size, opened.root_hash
