"""The build's one disclosure: computed over the studio's ledger, shown to be the evidence's.

A packet's ``disclosure.json`` is the disclosure computed from the packet's evidence alone (what
``packet verify`` recomputes).  The build learns what the evidence is by computing the
disclosure over the studio's ledger through a gathering :class:`~ledger.packet.store.PacketStore`
(every entry the audit reads is kept); completeness proofs then add the entries their keys list.
Rather than computing the disclosure a second time over that evidence, :class:`NotingStore`
notes every answer the ledger gave the first computation (each call to a reading method of the
store, and of the Merkle tree it hands out, with its arguments), and :func:`same_answers` asks
the evidence store the very same questions.  The audit reads a ledger only through those
methods, and the process-wide caches it uses (decoded events by index, kind and bytes; verified
signatures by bytes) give the same for the same bytes, so when every answer is the same the
computation over the evidence is the same computation: same disclosure, byte for byte.  When
any answer differs (derived rows of the studio's ledger that disagree with its signed events, an
entry a proof adds that a query would now list, a method that raised), the build computes the
disclosure over the evidence as before.

Entries are compared by the fields the audit reads (index, event id, kind, time, bytes, leaf
hash, signer, arrival time); ``chain_hash`` and ``origin``, which a packet does not carry, are
read by no audit code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ledger.errors import AssetLedgerError
from ledger.log.merkle import MerkleTree
from ledger.packet.store import PacketStore
from ledger.store import Entry, Head, StoredCheckpoint

Call = tuple[Any, ...]
T = TypeVar("T")


def plain(value: Any) -> Any:
    """An answer in a form to compare: entries by the fields the audit reads."""
    if isinstance(value, Entry):
        return (
            value.seq,
            value.event_id,
            value.kind,
            value.event_time,
            value.envelope,
            value.leaf_hash,
            value.signer_keyid,
            value.ingested_at,
        )
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, plain(v)) for k, v in value.items()))
    return value


@dataclass
class NotingStore(PacketStore):
    """A gathering :class:`PacketStore` (``source`` set) that, while :attr:`noting`, keeps each
    answer it gives by call (see the module docstring)."""

    noting: bool = False
    answers: dict[Call, Any] = field(default_factory=dict)
    replayable: bool = True  # False: a call raised, or one call had two answers

    def note(self, call: Call, ask: Callable[[], T]) -> T:
        if not self.noting:
            return ask()
        try:
            answer = ask()
        except BaseException:
            self.replayable = False
            raise
        seen = plain(answer)
        if self.answers.setdefault(call, seen) != seen:
            self.replayable = False
        return answer

    def get_meta(self, name: str) -> str | None:
        return self.note(("get_meta", name), lambda: super(NotingStore, self).get_meta(name))

    def head(self) -> Head:
        return self.note(("head",), lambda: super(NotingStore, self).head())

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        read = self.note(
            ("entries", start, stop), lambda: list(super(NotingStore, self).entries(start, stop))
        )
        return iter(read)

    def entry(self, seq: int) -> Entry | None:
        return self.note(("entry", seq), lambda: super(NotingStore, self).entry(seq))

    def entry_by_event_id(self, event_id: str) -> Entry | None:
        return self.note(
            ("entry_by_event_id", event_id),
            lambda: super(NotingStore, self).entry_by_event_id(event_id),
        )

    def seqs_by_ref(self, ref_kind: str, key: str) -> list[int]:
        return self.note(
            ("seqs_by_ref", ref_kind, key),
            lambda: super(NotingStore, self).seqs_by_ref(ref_kind, key),
        )

    def all_refs(self) -> Iterator[tuple[int, str, str]]:
        return iter(self.note(("all_refs",), lambda: list(super(NotingStore, self).all_refs())))

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self.note(("checkpoints",), lambda: super(NotingStore, self).checkpoints())

    def tree(self, size: int | None = None) -> MerkleTree:
        inner = super().tree(size)  # the object is not an answer: its roots and proofs are
        return _NotedTree(inner, self, size) if self.noting else inner


class _NotedTree(MerkleTree):
    """The ledger's tree, its answers noted by the :class:`NotingStore` that handed it out."""

    def __init__(self, inner: MerkleTree, notes: NotingStore, size: int | None) -> None:
        super().__init__(inner.store, inner.size)
        self.inner, self.notes, self.at = inner, notes, size

    def root(self, size: int | None = None) -> bytes:
        return self.notes.note(("tree.root", self.at, size), lambda: self.inner.root(size))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.notes.note(
            ("tree.inclusion_proof", self.at, index, size),
            lambda: self.inner.inclusion_proof(index, size),
        )

    def inclusion_proofs(self, indices: Iterable[int], size: int) -> dict[int, list[bytes]]:
        wanted = tuple(indices)
        return self.notes.note(
            ("tree.inclusion_proofs", self.at, wanted, size),
            lambda: self.inner.inclusion_proofs(wanted, size),
        )

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self.notes.note(
            ("tree.consistency_proof", self.at, old_size, new_size),
            lambda: self.inner.consistency_proof(old_size, new_size),
        )


def _ask(store: PacketStore, call: Call) -> Any:
    name, *args = call
    if name.startswith("tree."):
        return getattr(store.tree(args[0]), name[len("tree.") :])(*args[1:])
    answer = getattr(store, name)(*args)
    return list(answer) if name in ("entries", "all_refs") else answer


def same_answers(noted: NotingStore, evidence: PacketStore) -> bool:
    """Whether ``evidence`` (a packet's evidence store at the same checkpoint) answers every
    call the disclosure made of ``noted`` as the ledger did (see the module docstring)."""
    if not noted.replayable:
        return False
    for call, answer in noted.answers.items():
        try:
            again = plain(_ask(evidence, call))
        except (AssetLedgerError, LookupError, ValueError):
            return False
        if again != answer:
            return False
    return True
