"""A packet's evidence as a read-only ledger: the few entries a disclosure relies on.

:class:`PacketStore` answers the questions the audit asks a ledger (entries by sequence number
or event id, the query index, the key registry's trust root, the one signed checkpoint) from
the entries a packet holds, so that ``packet verify`` re-runs the very audit code on them.  Its
query index is recomputed from the signed events (each kind's own ``refs``), never read from
the packet.

Built over a real ledger (``source``), it fetches what the audit asks for from there and keeps
it: the entries the audit read are the packet's evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ledger.errors import StoreError
from ledger.events.kinds import kind_for_payload_type
from ledger.log.merkle import MerkleTree, leaf_hash
from ledger.store import (
    AppendResult,
    Batch,
    Entry,
    Head,
    LedgerStore,
    QuarantineRecord,
    StoredCheckpoint,
    StoredCosignature,
)
from ledger.store.base import Origin
from ledger.trust.dsse import Envelope

PACKET_ORIGIN = "packet"


@dataclass(frozen=True)
class PacketEntry:
    """One ledger entry as a packet holds it: the bytes, where it sits, its inclusion proof."""

    seq: int
    envelope: bytes
    signer_keyid: str
    ingested_at: datetime  # not signed: when the ledger appended it (for arrival rules)
    proof: tuple[bytes, ...] = ()


def entry_from_bytes(item: PacketEntry) -> Entry:
    """The :class:`Entry` of a packet entry, its id, kind and time read from the signed event."""
    from ledger.events.encoding import reader_framing
    from ledger.trust.replay import share_decoded

    framing = reader_framing()
    envelope = Envelope.decode(item.envelope, framing)
    kind = kind_for_payload_type(envelope.payload_type)
    schema, event = framing.decode(envelope.payload)
    entry = Entry(
        seq=item.seq,
        event_id=str(event["event_id"]),
        kind=kind.record,
        event_time=event["event_time"],
        envelope=item.envelope,
        leaf_hash=leaf_hash(item.envelope),
        chain_hash=bytes(32),  # the chain is not part of a packet; inclusion proofs are
        signer_keyid=item.signer_keyid,
        origin=Origin(PACKET_ORIGIN, 0, item.seq),
        ingested_at=item.ingested_at,
    )
    share_decoded(entry, envelope, schema.record, event)  # within decoding_once: decoded once
    return entry


class _ProofTree(MerkleTree):
    """Inclusion proofs from the packet, for the one checkpoint it holds."""

    def __init__(self, store: PacketStore, size: int) -> None:
        super().__init__(store, size)
        self.packet = store

    def root(self, size: int | None = None) -> bytes:
        return self.packet.checkpoint.root_hash

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if size != self.packet.checkpoint.size or index not in self.packet.proofs:
            raise StoreError(f"the packet holds no inclusion proof of entry {index} at {size}")
        return list(self.packet.proofs[index])

    def inclusion_proofs(self, indices: Iterable[int], size: int) -> dict[int, list[bytes]]:
        return {index: self.inclusion_proof(index, size) for index in sorted(set(indices))}


@dataclass
class PacketStore(LedgerStore):
    """See the module docstring.  ``meta``: the ledger properties the packet carries (root
    keys, threshold, grace, log origin and verifier key)."""

    checkpoint: StoredCheckpoint
    meta: dict[str, str]
    source: LedgerStore | None = None
    url: str = "packet"
    _entries: dict[int, Entry] = field(default_factory=dict)
    proofs: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    _by_id: dict[str, int] = field(default_factory=dict)
    _refs: dict[tuple[str, str], list[int]] | None = None
    queried: set[tuple[str, str]] = field(default_factory=set)  # index keys the audit asked

    # --- building ------------------------------------------------------------------------
    def add(self, entry: Entry, proof: Sequence[bytes] = ()) -> None:
        if entry.seq >= self.checkpoint.size:
            return  # the checkpoint does not cover it: not evidence at this checkpoint
        self._entries[entry.seq] = entry
        self._by_id[entry.event_id] = entry.seq
        if proof:
            self.proofs[entry.seq] = tuple(proof)
        self._refs = None

    def held(self) -> list[Entry]:
        return [self._entries[s] for s in sorted(self._entries)]

    def _fetch(self, seq: int) -> Entry | None:
        if seq in self._entries or self.source is None or seq >= self.checkpoint.size:
            return self._entries.get(seq)
        entry = self.source.entry(seq)
        if entry is not None:
            self.add(entry)
        return entry

    # --- reading -------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        return self.meta.get(name)

    def head(self) -> Head:
        return Head(self.checkpoint.size, bytes(32))

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        end = self.checkpoint.size if stop is None else min(stop, self.checkpoint.size)
        if self.source is not None:
            for entry in self.source.entries(start, end):
                self.add(entry)
                yield entry
            return
        for seq in sorted(s for s in self._entries if start <= s < end):
            yield self._entries[seq]

    def entry(self, seq: int) -> Entry | None:
        return self._fetch(seq)

    def entry_by_event_id(self, event_id: str) -> Entry | None:
        if event_id in self._by_id:
            return self._entries[self._by_id[event_id]]
        if self.source is None:
            return None
        entry = self.source.entry_by_event_id(event_id)
        if entry is not None:
            self.add(entry)
        return entry

    def seqs_by_ref(self, ref_kind: str, key: str) -> list[int]:
        self.queried.add((ref_kind, key))
        if self.source is not None:
            seqs = [s for s in self.source.seqs_by_ref(ref_kind, key) if s < self.checkpoint.size]
            for seq in seqs:
                self._fetch(seq)
            return seqs
        return list(self._index().get((ref_kind, key), []))

    def _index(self) -> dict[tuple[str, str], list[int]]:
        if self._refs is None:
            from ledger.trust.replay import decode_entry

            refs: dict[tuple[str, str], list[int]] = {}
            for entry in self.held():
                envelope, event = decode_entry(entry)
                kind = kind_for_payload_type(envelope.payload_type)
                for ref in dict.fromkeys(kind.refs(event)):
                    refs.setdefault(ref, []).append(entry.seq)
            self._refs = refs
        return self._refs

    def all_refs(self) -> Iterator[tuple[int, str, str]]:
        rows = [(s, k, v) for (k, v), seqs in self._index().items() for s in seqs]
        yield from sorted(rows)

    def tree(self, size: int | None = None) -> MerkleTree:
        if self.source is not None:
            return self.source.tree(size)
        return _ProofTree(self, self.checkpoint.size if size is None else size)

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {}

    def node_count(self) -> int:
        return 0

    def checkpoints(self) -> list[StoredCheckpoint]:
        return [self.checkpoint]

    def cosigned_sizes(self) -> dict[tuple[str, bytes], int]:
        return {}

    def offsets(self, group_id: str, topic: str) -> dict[int, int]:
        return {}

    def quarantine(self, limit: int | None = None) -> list[QuarantineRecord]:
        return []

    def close(self) -> None:
        return None

    # --- writing: a packet is read-only ----------------------------------------------------
    def append(self, batch: Batch) -> AppendResult:
        raise StoreError("a packet is read-only")

    def add_checkpoint(self, cp: StoredCheckpoint) -> None:
        raise StoreError("a packet is read-only")

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        raise StoreError("a packet is read-only")

    def set_meta(self, name: str, value: str) -> None:
        raise StoreError("a packet is read-only")
