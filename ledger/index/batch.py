"""Many proofs about keys at one signed checkpoint, verified as :func:`verify_about` verifies
each, with the work they share done once (a delivery packet carries thousands of them).

Every check of :func:`ledger.index.proof.verify_about` is made for every proof; what is shared
are results that depend only on their inputs' bytes:

- the checkpoint note's signature: opened once per distinct note text;
- an entry's inclusion: a leaf (its hash) and the path shown to put it at index *i* of the tree
  of size *n* and root *r* are remembered, so the same entry with the same path in another proof
  at the same (i, n, r) is not hashed up again (the path of a leaf in a tree is unique, so an
  honest proof repeats it); a path not verified before is verified, so a proof that fails
  alone fails here too, and a reader re-checking the proofs one by one finds what we found;
  :meth:`AboutBatch.known_included` seeds it with entries and paths the caller has checked
  against the same signed tree (``packet verify`` checks every evidence entry's receipt first);
- an entry's index keys and event id: decoded once per entry's bytes (or given by the caller,
  who has decoded the entry already: ``entry_keys``).

:class:`ListedProof` is the form a packet keeps (docs/packet.md): the map path and the indices
of the key's entries, without the entries' bytes and inclusion paths, which the packet holds
once, in its evidence.  :meth:`AboutBatch.verify_listed` checks one as :func:`verify_about`
checks the standalone proof the packet's evidence reassembles from it.

Without witness keys, as the packet's completeness proofs are checked (their checkpoint is the
packet's, whose cosignatures ``packet verify`` checks once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import RejectedInput, VerificationFailure
from ledger.index.maintain import entry_keys, root_in
from ledger.index.proof import (
    CHECKPOINT,
    INCLUSION,
    NOT_ABOUT_KEY,
    AboutProof,
    AboutVerdict,
    ProofFailure,
    ProvenEntry,
    _check_key_kind,
    _check_map,
    index_line,
    parse_about,
)
from ledger.log import checkpoint as cp
from ledger.log.merkle import leaf_hash, verify_inclusion
from ledger.log.receipt import identify

_Opened = tuple[cp.Checkpoint, bytes | None]
EntryKeys = Callable[[bytes, str], Sequence[str]]  # (entry bytes, index rule) -> its keys


@dataclass(frozen=True)
class ListedProof:
    """A proof about ``key`` at a checkpoint the caller holds, its entries named by index only:
    ``siblings`` (the map path, depth 0 first), ``end`` ((key hash, value) of another leaf, or
    None: ``present`` or empty) and ``indices`` (strictly increasing)."""

    key: str
    siblings: tuple[bytes, ...]
    end: tuple[bytes, bytes] | None
    present: bool
    indices: tuple[int, ...]


class AboutBatch:
    """Verify proofs about keys for one log key, sharing work (see the module docstring).

    ``entry_keys``: the index keys of an entry's bytes under an index rule (the one the
    checkpoint's index line names), when the caller has decoded the entries (a packet decodes
    each once); default :func:`ledger.index.maintain.entry_keys`."""

    def __init__(self, log_vkey: str, entry_keys: EntryKeys | None = None) -> None:
        self.origin, self.public_key = cp.parse_vkey(log_vkey)
        self._keys_of: EntryKeys = entry_keys or _decode_keys
        self._notes: dict[str, _Opened] = {}
        # (size, root, index) -> (leaf, path) verified there
        self._leaves: dict[tuple[int, bytes, int], tuple[bytes, tuple[bytes, ...]]] = {}
        self._keys: dict[tuple[bytes, str], frozenset[str]] = {}
        self._ids: dict[bytes, str | None] = {}

    def known_included(
        self, size: int, root: bytes, index: int, leaf: bytes, proof: Sequence[bytes]
    ) -> None:
        """Record that ``leaf`` is verified to be at ``index`` in the tree (``size``, ``root``)
        by the inclusion path ``proof``."""
        self._leaves[(size, root, index)] = (leaf, tuple(proof))

    def verify(self, text: str) -> AboutVerdict:
        """As :func:`verify_about` (``text``, the log key) without witnesses."""
        return self.verify_parsed(parse_about(text))

    def verify_parsed(self, proof: AboutProof) -> AboutVerdict:
        _check_key_kind(proof.key)
        checkpoint, index_root, rule = self._indexed(proof.checkpoint)
        _check_key_kind(proof.key, rule)
        indices = _check_map(proof, index_root, checkpoint.size)
        event_ids = tuple(self._check_entry(proof.key, e, checkpoint, rule) for e in proof.entries)
        return AboutVerdict(
            key=proof.key,
            log_origin=checkpoint.origin,
            size=checkpoint.size,
            root_hash=checkpoint.root_hash,
            index_root=index_root,
            indices=indices,
            event_ids=event_ids,
            entries=tuple(e.entry for e in proof.entries),
        )

    def open_note(self, note: str) -> _Opened:
        """(checkpoint, its index root or None) of a signed note; ProofFailure if unsigned."""
        opened = self._notes.get(note)
        if opened is None:
            try:
                checkpoint = cp.open_checkpoint(note, self.origin, self.public_key)
            except VerificationFailure as exc:
                raise ProofFailure(CHECKPOINT, exc.message, hint=exc.hint) from None
            opened = self._notes[note] = (checkpoint, root_in(checkpoint.extensions))
        return opened

    def _indexed(self, note: str) -> tuple[cp.Checkpoint, bytes, str]:
        """(checkpoint, index root, index rule) of a signed note with one valid index line."""
        checkpoint, index_root = self.open_note(note)
        return (checkpoint, *index_line(checkpoint, index_root))

    def _check_entry(
        self, key: str, e: ProvenEntry, checkpoint: cp.Checkpoint, rule: str
    ) -> str | None:
        leaf = leaf_hash(e.entry)
        where = (checkpoint.size, checkpoint.root_hash, e.index)
        if self._leaves.get(where) != (leaf, e.proof):
            try:
                verify_inclusion(leaf, e.index, checkpoint.size, e.proof, checkpoint.root_hash)
            except VerificationFailure as exc:
                raise ProofFailure(
                    INCLUSION,
                    f"entry {e.index} is not in the signed tree at that index: {exc.message}",
                ) from None
            self._leaves[where] = (leaf, e.proof)
        if key not in self._entry_keys(e.entry, rule):
            raise ProofFailure(
                NOT_ABOUT_KEY,
                f"entry {e.index}'s signed event is not filed under key {key!r}: the index root"
                " commits to an entry that does not belong (report the log operator)",
            )
        if e.entry not in self._ids:
            try:
                self._ids[e.entry] = identify(e.entry).event_id
            except RejectedInput:
                self._ids[e.entry] = None
        return self._ids[e.entry]

    def verify_listed(
        self, proof: ListedProof, note: str, held: Mapping[int, tuple[bytes, bytes]]
    ) -> list[int]:
        """Check ``proof`` at the signed ``note``: the key's kind, that the indices hashed as the
        key's value and the path lead to the note's index root, and that each entry ``held``
        (index -> entry bytes, leaf hash) is included at its index and filed under the key.
        Returns the indices the proof names that are not held (the caller's evidence leaves them
        out).  Every entry in ``held`` must have been seeded with :meth:`known_included`: an
        entry's inclusion is checked once, from its receipt, not once per proof naming it."""
        _check_key_kind(proof.key)
        checkpoint, index_root, rule = self._indexed(note)
        _check_key_kind(proof.key, rule)
        listed = AboutProof(
            proof.key,
            proof.siblings,
            proof.end,
            proof.present,
            tuple(ProvenEntry(i, b"", ()) for i in proof.indices),
            note,
        )
        _check_map(listed, index_root, checkpoint.size)
        missing = []
        for index in proof.indices:
            found = held.get(index)
            if found is None:
                missing.append(index)
                continue
            entry, leaf = found
            known = self._leaves.get((checkpoint.size, checkpoint.root_hash, index))
            if known is None or known[0] != leaf:
                raise ProofFailure(
                    INCLUSION,
                    f"entry {index} is not shown to be in the signed tree at that index",
                )
            if proof.key not in self._entry_keys(entry, rule):
                raise ProofFailure(
                    NOT_ABOUT_KEY,
                    f"entry {index}'s signed event is not filed under key {proof.key!r}: the index"
                    " root commits to an entry that does not belong (report the log operator)",
                )
        return missing

    def _entry_keys(self, entry: bytes, rule: str) -> frozenset[str]:
        found = self._keys.get((entry, rule))
        if found is None:
            found = self._keys[(entry, rule)] = frozenset(self._keys_of(entry, rule))
        return found


def _decode_keys(entry: bytes, rule: str) -> Sequence[str]:
    return entry_keys(entry, rule=rule)
