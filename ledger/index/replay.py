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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import ledger.index.smt as smt
from ledger.errors import VerificationFailure
from ledger.events.base import EventKind, Record
from ledger.index.keys import event_keys
from ledger.index.maintain import MemoryMap, entry_keys, index_rule, root_in, rule_in
from ledger.log.checkpoint import open_checkpoint
from ledger.log.merkle import compute_root, leaf_hash
from ledger.log.operator import log_identity
from ledger.store import LedgerStore
from ledger.store.index_tables import KeyRow

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


class ReplayMap(MemoryMap):
    """:class:`MemoryMap` with the replay's fold in one loop: each distinct key of a commit is
    hashed once (``fold`` hashes it twice) and each entry's index encoded once.

    The same rows, values and tree as ``commit`` of :class:`MemoryMap` (tests compare them).
    """

    def commit(self) -> bytes:
        if not self.pending:
            return self.root
        sha = hashlib.sha256
        hashes: dict[str, bytes] = {}
        known = self.keys
        changed: dict[bytes, tuple[str, int, bytes]] = {}
        for seq, keys in self.pending:
            index = seq.to_bytes(8, "big")
            for key in keys:
                k = hashes.get(key)
                if k is None:
                    k = hashes[key] = sha(key.encode("utf-8")).digest()
                text, count, value = changed.get(k) or known.get(k) or (key, 0, smt.EMPTY)
                changed[k] = (text, count + 1, sha(b"\x02" + value + index).digest())
        leaves = {k: sha(b"\x00" + k + value).digest() for k, (_, _, value) in changed.items()}
        update = smt.apply(self, leaves)
        self.nodes.update(update.writes)
        known.update(changed)
        self.pending = []
        self.root = update.root
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
        self.snapshot: dict[bytes, KeyRow] | None = None
        self.nodes_snapshot: dict[bytes, smt.Node] = {}
        self.checked = 0
        # Entries beyond the last size anything is compared at are not replayed.
        self.horizon = max([*self.roots, self.stored_size])
        if self.stored_size == 0:
            self.snapshot = {}
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
            last = size == self.horizon  # the map stops here: no copy needed
            self.snapshot = self.map.keys if last else dict(self.map.keys)
            self.nodes_snapshot = self.map.nodes if last else dict(self.map.nodes)
            if root != self.stored_root:
                self.findings.append(
                    Finding(
                        INDEX_ROW_MISMATCH,
                        max(size - 1, 0),
                        f"the stored index root (size {size}) is {self.stored_root.hex()[:16]}…,"
                        f" the log's entries give {root.hex()[:16]}…",
                    )
                )

    def finish(self) -> list[Finding]:
        self.map.commit()
        for size in sorted(s for s in self.roots if s > self.map.size):
            self.findings.append(
                Finding(INDEX_ROOT_MISMATCH, None, f"checkpoint of size {size} is beyond the log")
            )
        if self.snapshot is None or self.map.size < self.stored_size:
            detail = f"the stored index covers {self.stored_size} entries, the log has fewer"
            self.findings.append(Finding(INDEX_ROW_MISMATCH, None, detail))
        else:
            self._compare_rows(self.snapshot)
        return self.findings

    def _compare_rows(self, keys: dict[bytes, KeyRow]) -> None:
        """Stored rows against the replayed keys, streamed: each stored key's rows are hashed
        as its value; only the keys that differ are looked at entry by entry."""
        tables = self.store.index_tables()
        differ: list[bytes] = []
        seen: set[bytes] = set()
        for k, seqs in _grouped(tables.all_rows()):
            seen.add(k)
            want = keys.get(k)
            if want is None or (want[1], want[2]) != (len(seqs), _value_of(seqs)):
                differ.append(k)
        differ += [k for k in keys if k not in seen]
        found = [
            _row_finding(keys.get(k), k, tables.rows(k), want)
            for k, want in self._true_rows(differ[:MAX_ROW_FINDINGS]).items()
        ]
        for k, text, count, value in tables.all_keys():
            if keys.get(k) != (text, count, value):
                name = (keys.get(k) or (text,))[0]
                found.append(
                    Finding(
                        INDEX_ROW_MISMATCH,
                        None,
                        f"the stored key row of {name!r} (count, value) is not the log's",
                    )
                )
        found += self._compare_nodes()
        self.findings += found[:MAX_ROW_FINDINGS]

    def _true_rows(self, wanted: list[bytes]) -> dict[bytes, list[int]]:
        """The indices the log files under each key hash of ``wanted`` (one more pass, only
        when rows differ)."""
        if not wanted:
            return {}
        out: dict[bytes, list[int]] = {k: [] for k in wanted}
        for e in self.store.entries(0, self.stored_size):
            for key in entry_keys(e.envelope):
                k = smt.key_hash(key)
                if k in out:
                    out[k].append(e.seq)
        return out

    def _compare_nodes(self) -> list[Finding]:
        """The stored tree nodes (proofs are built from them) against the replayed ones."""
        wanted = self.nodes_snapshot
        differ = missing = 0
        seen = 0
        for n, h, leaf in self.store.index_tables().all_nodes():
            want = wanted.get(n)
            if want != (h, leaf):
                differ += 1
            else:
                seen += 1
        missing = len(wanted) - seen
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


def _row_finding(row: KeyRow | None, k: bytes, have: list[int], want: list[int]) -> Finding:
    name = repr(row[0]) if row else f"with hash {k.hex()[:16]}…"
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
