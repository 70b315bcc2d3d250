"""The ledger storage interface and the SQL logic shared by the SQLite and PostgreSQL backends.

One append is one database transaction holding: the new entries (with sequence numbers, leaf
and chain hashes), their query index rows, the newly complete Merkle nodes, the quarantine
records of the batch, and the consumed Kafka offsets.  Either all of it lands or none does, so
a consumer killed at any point resumes exactly where the ledger says it stopped.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ledger.errors import printable
from ledger.events.licence import LICENCE
from ledger.log.merkle import MerkleTree, Node, leaf_hash
from ledger.store.index_tables import IndexTables

GENESIS_CHAIN = bytes(32)

TopicPartition = tuple[str, int]


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """Chain link: SHA-256(previous chain hash ‖ this leaf hash)."""
    return hashlib.sha256(previous + leaf).digest()


@dataclass(frozen=True)
class Origin:
    """Where a record came from on Kafka."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class PendingEntry:
    """A verified event waiting to be appended (no sequence number yet)."""

    event_id: str
    kind: str
    event_time: datetime
    envelope: bytes  # the exact Kafka value: the leaf input
    signer_keyid: str
    origin: Origin
    refs: tuple[tuple[str, str], ...] = ()  # query index rows: (ref kind, key)
    # The Kafka record's key and headers, for its dead-letter copy should it prove a duplicate
    # (not stored with the entry: the signed envelope is the whole entry).
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    # The event's authenticated index keys (``ledger.index.keys.event_keys``), derived where
    # the event was decoded for its checks, so the index update need not decode it again.
    # None: the update derives them from the envelope.  Not stored: the envelope is the entry.
    index_keys: tuple[str, ...] | None = None

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.envelope)


@dataclass(frozen=True)
class Entry:
    seq: int
    event_id: str
    kind: str
    event_time: datetime
    envelope: bytes
    leaf_hash: bytes
    chain_hash: bytes
    signer_keyid: str
    origin: Origin
    ingested_at: datetime


@dataclass(frozen=True)
class Quarantined:
    """An input refused for a stated reason, kept with its original bytes."""

    origin: Origin
    reason: str
    detail: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    event_id: str | None = None
    error_class: str = "RejectedInput"


@dataclass(frozen=True)
class QuarantineRecord(Quarantined):
    quarantine_id: int = 0
    quarantined_at: datetime | None = None


@dataclass(frozen=True)
class Head:
    size: int
    chain_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: str  # the signed note, followed by the witnesses' cosignature lines stored for it
    created_at: datetime
    cosigners: tuple[str, ...] = ()  # names of the witnesses whose lines end the note


@dataclass(frozen=True)
class StoredCosignature:
    """A witness cosignature line (c2sp.org/tlog-cosignature), verified before it was stored."""

    size: int  # of the checkpoint it cosigns
    witness: str  # the witness name
    key_id: bytes  # 4 bytes, type 0x04
    timestamp: int  # POSIX seconds, from the cosignature
    line: str  # the signature line, newline included


@dataclass
class AppendResult:
    appended: list[Entry] = field(default_factory=list)
    duplicates: list[Quarantined] = field(default_factory=list)  # event id already present
    stale: int = 0  # records below the stored offset (already ingested by another consumer)
    head: Head = field(default_factory=lambda: Head(0, GENESIS_CHAIN))


@dataclass(frozen=True)
class Batch:
    entries: Sequence[PendingEntry]
    rejects: Sequence[Quarantined]
    offsets: Mapping[TopicPartition, int]  # next offset to read, per partition
    group_id: str
    # When the records were judged: the entries' ingested_at.  The trust policy judged
    # arrival against this very time, so verify's replay of it agrees.  None: the append time.
    received_at: datetime | None = None

    def partitions(self) -> set[TopicPartition]:
        """Every partition a record of this batch came from."""
        origins = [p.origin for p in self.entries] + [r.origin for r in self.rejects]
        return {(o.topic, o.partition) for o in origins}

    def event_ids(self) -> list[str]:
        return [p.event_id for p in self.entries]


@dataclass(frozen=True)
class AppendPlan:
    """Every row one append writes, computed while the ledger head is locked."""

    entries: list[Entry]
    refs: list[tuple[str, str, int]]  # (ref kind, key, seq), without repeats
    nodes: list[Node]
    quarantine: list[Quarantined]
    result: AppendResult
    now: datetime  # ingestion time of the entries and quarantine rows
    # seq -> the index keys the entry carried, None if it carried none (every appended entry)
    index_keys: dict[int, tuple[str, ...] | None] = field(default_factory=dict)


INDEX_KEYS_KEPT = 50_000
"""At most this many appended entries' index keys are kept for the next index update (about
40 MB; a consumer's index update follows each batch, so it holds one batch's)."""


class LedgerStore(ABC):
    """What the consumer, verifier, prover and auditors need from a ledger database."""

    url: str
    _index_keys: dict[int, tuple[str, ...]] | None = None

    # --- writing ------------------------------------------------------------------------
    @abstractmethod
    def append(self, batch: Batch) -> AppendResult:
        """Append a batch atomically (see the module docstring)."""

    @abstractmethod
    def add_checkpoint(self, cp: StoredCheckpoint) -> None:
        """Store a signed checkpoint (idempotent for the same size)."""

    @abstractmethod
    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        """Store a witness's cosignature of a stored checkpoint (idempotent per witness key)."""

    @abstractmethod
    def set_meta(self, name: str, value: str) -> None:
        """Set a ledger property (origin, log verifier key, root keys …)."""

    @abstractmethod
    def get_meta(self, name: str) -> str | None: ...

    # --- reading ------------------------------------------------------------------------
    @abstractmethod
    def head(self) -> Head: ...

    @abstractmethod
    def offsets(self, group_id: str, topic: str) -> dict[int, int]:
        """Next offset to consume, per partition, as committed with the ledger rows."""

    @abstractmethod
    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        """Entries with ``start <= seq < stop`` in sequence order, streamed."""

    @abstractmethod
    def entry_by_event_id(self, event_id: str) -> Entry | None: ...

    @abstractmethod
    def seqs_by_ref(self, ref_kind: str, key: str) -> list[int]:
        """Sequence numbers of entries indexed under ``(ref_kind, key)``."""

    @abstractmethod
    def all_refs(self) -> Iterator[tuple[int, str, str]]:
        """Every query index row as ``(seq, ref kind, key)``, in that order, streamed.

        (Kind and key in code point order, as Python sorts them: verify compares the rows as
        one list when they come in its order, as sets otherwise.)

        For ``verify``, which recomputes the index from the envelopes and compares.
        """

    @abstractmethod
    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Complete Merkle subtree hashes by (level, index)."""

    @abstractmethod
    def node_count(self) -> int:
        """How many Merkle nodes are stored (a tree of n leaves has 2n - popcount(n))."""

    @abstractmethod
    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every signed checkpoint by size, each note ending with its cosignature lines."""

    @abstractmethod
    def cosigned_sizes(self) -> dict[tuple[str, bytes], int]:
        """The largest checkpoint size each witness ``(name, key id)`` has cosigned."""

    @abstractmethod
    def quarantine(self, limit: int | None = None) -> list[QuarantineRecord]: ...

    @abstractmethod
    def close(self) -> None: ...

    def index_tables(self) -> IndexTables:
        """The authenticated index's tables (``ledger.index``), created on first use."""
        raise NotImplementedError(f"{type(self).__name__} has no index tables")

    def keep_index_keys(self, keys: Mapping[int, tuple[str, ...] | None]) -> None:
        """Keep entries' index keys (by ledger index) for the next index update; called by
        :meth:`append` once its transaction committed, with the keys its batch carried.

        Held in memory only: the index is still extended in its own transaction from what is
        stored, and an update that finds an entry's keys missing here (appended by another
        process, or before a restart) derives them from the envelope.  An entry given None
        carried no keys: whatever was kept for its index before is forgotten.  Bounded: past
        :data:`INDEX_KEYS_KEPT` the oldest are dropped (a store appended to without
        checkpoints)."""
        if not keys:
            return
        kept = self._index_keys
        if kept is None:
            kept = self._index_keys = {}
        for seq, carried in keys.items():
            if carried is None:
                kept.pop(seq, None)
            else:
                kept[seq] = carried
        if len(kept) > INDEX_KEYS_KEPT:
            for seq in sorted(kept)[: len(kept) - INDEX_KEYS_KEPT]:
                del kept[seq]

    def take_index_keys(self, start: int, stop: int) -> dict[int, tuple[str, ...]]:
        """The kept index keys of entries ``start … stop - 1`` (those known), forgetting every
        kept entry below ``stop``."""
        kept = self._index_keys
        if not kept:
            return {}
        taken = {seq: keys for seq in range(start, stop) if (keys := kept.get(seq)) is not None}
        if len(taken) == len(kept):
            kept.clear()
        else:
            for seq in [s for s in kept if s < stop]:
                del kept[seq]
        return taken

    # --- conveniences built on the above --------------------------------------------------
    def tree(self, size: int | None = None) -> MerkleTree:
        return MerkleTree(self, self.head().size if size is None else size)

    def entry(self, seq: int) -> Entry | None:
        return next(self.entries(seq, seq + 1), None)

    def entries_at(self, seqs: Sequence[int]) -> list[Entry]:
        """The entries at the indices ``seqs`` that exist, in index order (few queries)."""
        found = (self.entry(s) for s in sorted(set(seqs)))
        return [e for e in found if e is not None]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def witnessed_checkpoint(self, seq: int) -> StoredCheckpoint | None:
        """The checkpoint a receipt for entry ``seq`` should use: among those covering it, the
        newest of the ones cosigned by the most witnesses (None if none covers it yet).

        Witnesses cosign a moment after the log signs, so the very latest checkpoint often has
        no cosignature yet while the one before has all of them.
        """
        covering = [c for c in self.checkpoints() if c.size > seq]
        return max(covering, key=lambda c: (len(c.cosigners), c.size), default=None)

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach_cosignatures(
    checkpoints: Sequence[StoredCheckpoint], rows: Iterable[Sequence[Any]]
) -> list[StoredCheckpoint]:
    """Append each checkpoint's cosignature lines (rows of size, witness, line) to its note."""
    lines: dict[int, list[tuple[str, str]]] = {}
    for size, witness, line in rows:
        lines.setdefault(int(size), []).append((str(witness), str(line)))
    return [
        replace(
            c,
            note=c.note + "".join(line for _, line in lines[c.size]),
            cosigners=tuple(witness for witness, _ in lines[c.size]),
        )
        if c.size in lines
        else c
        for c in checkpoints
    ]


def plan_append(
    head: Head,
    entries: Sequence[PendingEntry],
    tree: MerkleTree,
    now: datetime,
) -> tuple[list[Entry], list[tuple[tuple[int, int], bytes]], Head]:
    """Number, chain and tree-hash a run of new entries on top of ``head``."""
    appended: list[Entry] = []
    previous = head.chain_hash
    for i, p in enumerate(entries):
        leaf = p.leaf_hash
        previous = chain_hash(previous, leaf)
        appended.append(
            Entry(
                seq=head.size + i,
                event_id=p.event_id,
                kind=p.kind,
                event_time=p.event_time,
                envelope=p.envelope,
                leaf_hash=leaf,
                chain_hash=previous,
                signer_keyid=p.signer_keyid,
                origin=p.origin,
                ingested_at=now,
            )
        )
    nodes = tree.append([e.leaf_hash for e in appended])
    return appended, nodes, Head(head.size + len(appended), previous)


def split_batch(
    batch: Batch, stored_offsets: Mapping[TopicPartition, int], known_ids: set[str]
) -> tuple[list[PendingEntry], list[Quarantined], int]:
    """Drop records already ingested (below stored offsets); move repeated event ids aside."""
    fresh: list[PendingEntry] = []
    duplicates: list[Quarantined] = []
    stale = 0
    seen = set(known_ids)
    for p in batch.entries:
        o = p.origin
        if o.offset < stored_offsets.get((o.topic, o.partition), 0):
            stale += 1
        elif p.event_id in seen:
            duplicates.append(
                Quarantined(
                    origin=o,
                    reason="duplicate_event_id",
                    detail=f"event id {p.event_id} is already in the ledger; skipped",
                    key=p.key,
                    value=p.envelope,
                    headers=p.headers,
                    event_id=p.event_id,
                    error_class="DuplicateEventError",
                )
            )
        else:
            seen.add(p.event_id)
            fresh.append(p)
    return fresh, duplicates, stale


def fresh_rejects(
    rejects: Sequence[Quarantined], stored_offsets: Mapping[TopicPartition, int]
) -> list[Quarantined]:
    return [
        r
        for r in rejects
        if r.origin.offset >= stored_offsets.get((r.origin.topic, r.origin.partition), 0)
    ]


def plan_batch(
    batch: Batch,
    head: Head,
    stored_offsets: Mapping[TopicPartition, int],
    known_ids: set[str],
    tree: MerkleTree,
    now: datetime,
) -> AppendPlan:
    """What appending ``batch`` on top of the locked ``head`` writes (both backends use this).

    ``stored_offsets`` and ``known_ids`` must be read after the head was locked, so that a
    batch racing another consumer's sees everything that consumer committed.
    """
    fresh, duplicates, stale = split_batch(batch, stored_offsets, known_ids)
    appended, nodes, new_head = plan_append(head, fresh, tree, now)
    refs = [
        (kind, key, e.seq) for e, p in zip(appended, fresh, strict=True) for kind, key in p.refs
    ]
    return AppendPlan(
        entries=appended,
        refs=list(dict.fromkeys(refs)),
        nodes=nodes,
        quarantine=[*fresh_rejects(batch.rejects, stored_offsets), *duplicates],
        result=AppendResult(appended, duplicates, stale, new_head),
        now=now,
        index_keys={e.seq: _carried_keys(p) for e, p in zip(appended, fresh, strict=True)},
    )


def _carried_keys(p: PendingEntry) -> tuple[str, ...] | None:
    """The index keys an entry carried, to be taken as they are by the index update; None for
    a licence record, the one kind whose keys depend on the ledger's index rule
    (``licence-record:`` under ``v2``): the update derives its keys from the envelope under the
    ledger's rule, so a caller that derived them under another cannot make the map disagree
    with its replay.  Licence records are few; the others' keys are the same under every rule."""
    return None if p.kind == LICENCE.record else p.index_keys


HEADERS_FORMAT_META = "store.quarantine_headers"
HEADERS_FORMAT = "kafka-record-headers"
"""How quarantine headers are stored (ledger meta): bytes in Kafka's record-header encoding."""


def headers_to_bytes(headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Kafka headers as bytes, in Kafka's own record-header encoding (quarantine rows).

    A zig-zag varint count, then per header a varint length and the UTF-8 name, a varint
    length and the value.  Bytes, because a header name may hold any character, NUL included,
    and a database may refuse such text (PostgreSQL refuses U+0000 in text and JSONB).
    """
    out = bytearray(_varint(len(headers)))
    for name, value in headers:
        raw = name.encode("utf-8", "surrogatepass")
        out += _varint(len(raw)) + raw + _varint(len(value)) + value
    return bytes(out)


def headers_from_bytes(data: bytes) -> tuple[tuple[str, bytes], ...]:
    count, pos = _read_varint(data, 0)
    headers = []
    for _ in range(count):
        size, pos = _read_varint(data, pos)
        name = data[pos : pos + size].decode("utf-8", "surrogatepass")
        size, pos = _read_varint(data, pos + size)
        headers.append((name, bytes(data[pos : pos + size])))
        pos += size
    return tuple(headers)


def headers_from_pairs(pairs: Sequence[Sequence[str]]) -> tuple[tuple[str, bytes], ...]:
    """Headers as the quarantine stored them before they were bytes: ``[name, hex]`` pairs."""
    return tuple((str(name), bytes.fromhex(value)) for name, value in pairs)


def stored_headers(value: Any) -> tuple[tuple[str, bytes], ...]:
    """A quarantine row's headers: bytes, or JSON ``[name, hex]`` pairs in older ledgers."""
    if isinstance(value, bytes | bytearray | memoryview):
        return headers_from_bytes(bytes(value))
    if isinstance(value, str):
        value = json.loads(value)
    return headers_from_pairs(value)


def _varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)  # zig-zag
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def quarantine_text(value: str, limit: int = 4096) -> str:
    """Text for a quarantine column: control characters escaped, at most ``limit`` characters."""
    return printable(value, limit)


def row_to_entry(row: Sequence[Any]) -> Entry:
    """Map a row of the ``entries`` SELECT used by both backends."""
    (seq, event_id, kind, event_time, envelope, leaf, chain, keyid, topic, part, off, ing) = row
    return Entry(
        seq=int(seq),
        event_id=str(event_id),
        kind=str(kind),
        event_time=event_time,
        envelope=bytes(envelope),
        leaf_hash=bytes(leaf),
        chain_hash=bytes(chain),
        signer_keyid=str(keyid),
        origin=Origin(str(topic), int(part), int(off)),
        ingested_at=ing,
    )


ENTRY_COLUMNS = (
    "seq, event_id, kind, event_time, envelope, leaf_hash, chain_hash, signer_keyid, "
    "topic, kafka_partition, kafka_offset, ingested_at"
)
