"""Proofs about a key: at a signed checkpoint, the log holds exactly these entries for it.

The text (see docs/proofs.md §10 for the bytes)::

    asset-ledger/index-proof@v1
    key <base64 UTF-8 key>
    path <D>
    <base64 sibling hash>            (D lines, depth 0 first)
    end present | end empty | end other <base64 key hash> <base64 value>
    entries <M>
    entry <index> <P> <base64 entry bytes>
    <base64 inclusion proof hash>    (P lines, leaf's sibling first)
    …                                (M entries, by increasing index)
                                     (an empty line)
    <signed checkpoint note, with its cosignature lines>

:func:`verify_about` checks, offline, with the log's verifier key alone (and witness keys):
the checkpoint's signature and its ``index/v1`` extension line (the map root), the witness
quorum, that the listed indices hashed as the key's value and the path lead to that root,
that each entry is in the log at its index under the checkpoint's root, and that each entry's
own signed event files it under the key.  Every failure is a :class:`ProofFailure` with a
``reason`` code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import ledger.index.smt as smt
from ledger.errors import ConfigurationError, RejectedInput, VerificationFailure
from ledger.index.keys import KEY_KINDS, RULE_V1
from ledger.index.maintain import entry_keys, index_rule, root_in, rule_in, store_reader
from ledger.log import checkpoint as cp
from ledger.log.merkle import leaf_hash, verify_inclusion
from ledger.log.operator import index_not_committed, require_identity, sign_a_checkpoint
from ledger.log.receipt import CRLF_HINT, ReceiptFailure, check_producer, crlf_problem, identify
from ledger.store import LedgerStore
from ledger.witness.cosignature import parse_witness_vkey, require_quorum

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEADER = "asset-ledger/index-proof@v1"
FILE_SUFFIX = ".index-proof"

# reasons (ProofFailure.reason)
MALFORMED = "malformed"
CHECKPOINT = "checkpoint"
NO_INDEX_ROOT = "no_index_root"
WITNESSES = "witnesses"
MAP_MISMATCH = "map_mismatch"
INCLUSION = "inclusion"
NOT_ABOUT_KEY = "entry_not_about_key"


class ProofFailure(VerificationFailure):
    """A proof about a key that does not verify; ``reason`` names which check failed."""

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{reason}: {message}", hint=hint)
        self.reason = reason


@dataclass(frozen=True)
class ProvenEntry:
    index: int
    entry: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class AboutProof:
    key: str
    siblings: tuple[bytes, ...]
    end: tuple[bytes, bytes] | None  # (key hash, value) of another leaf; None: empty / present
    present: bool
    entries: tuple[ProvenEntry, ...]
    checkpoint: str


@dataclass(frozen=True)
class AboutVerdict:
    """What a verified proof about a key establishes."""

    key: str
    log_origin: str
    size: int  # the checkpoint's tree size
    root_hash: bytes  # the log's root
    index_root: bytes  # the map's root
    indices: tuple[int, ...]  # every entry the log holds for the key, in order
    event_ids: tuple[str | None, ...]  # each entry's event id (None: not an asset-ledger event)
    entries: tuple[bytes, ...]  # each entry's bytes (a DSSE envelope)
    cosigners: tuple[str, ...] = ()  # the witnesses whose cosignatures were checked

    @property
    def present(self) -> bool:
        return bool(self.indices)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": True,
            "key": self.key,
            "log": self.log_origin,
            "tree_size": self.size,
            "root_hash": self.root_hash.hex(),
            "index_root": self.index_root.hex(),
            "present": self.present,
            "indices": list(self.indices),
            "event_ids": list(self.event_ids),
            "witnesses": list(self.cosigners),
        }


# ---------------------------------------------------------------------------------------------
# Proving


def prove_about(store: LedgerStore, key: str) -> str:
    """A self-contained proof of every entry the log holds for ``key`` (or that it holds none).

    Made at the latest signed checkpoint, which must commit to the stored map (the consumer's
    checkpointer keeps them together); checked with :func:`verify_about` before it is returned.
    """
    if not key:
        raise ConfigurationError("an index key is needed, e.g. party:performer-dana-whitfield")
    try:
        _check_key_kind(key, index_rule(store))
    except ProofFailure as exc:
        raise ConfigurationError(
            exc.message.removeprefix(f"{MALFORMED}: "), hint=exc.hint
        ) from None
    identity = require_identity(store)
    latest = store.latest_checkpoint()
    if latest is None:
        raise ConfigurationError(
            "the ledger has no signed checkpoint yet",
            hint=sign_a_checkpoint(store),
        )
    opened = cp.open_checkpoint(latest.note, identity.origin, identity.public_key)
    tables = store.index_tables()
    size, _ = tables.head()
    if root_in(opened.extensions) is None or size != opened.size:
        raise index_not_committed(store, opened.size, size, "prove again")
    text = _assemble(store, key, latest.note, opened.size)
    verify_about(text, identity.vkey)  # never hand out a proof that does not verify
    return text


def _assemble(store: LedgerStore, key: str, note: str, size: int) -> str:
    k = smt.key_hash(key)
    found = smt.path(store_reader(store), k)
    lines = [HEADER, f"key {cp.b64encode(key.encode('utf-8'))}", f"path {len(found.siblings)}"]
    lines += [cp.b64encode(h) for h in found.siblings]
    indices: list[int] = []
    if found.leaf is None:
        lines.append("end empty")
    elif found.leaf[0] == k:
        lines.append("end present")
        indices = store.index_tables().rows(k)
    else:
        other = store.index_tables().keys([found.leaf[0]]).get(found.leaf[0])
        if other is None:
            raise VerificationFailure(
                "the index's tree names a key the index's key table does not hold",
                hint="run assetledger verify",
            )
        lines.append(f"end other {cp.b64encode(found.leaf[0])} {cp.b64encode(other[2])}")
    lines.append(f"entries {len(indices)}")
    tree = store.tree(size)
    for index in indices:
        entry = store.entry(index)
        if entry is None:
            raise VerificationFailure(f"index lists entry {index}, which is not in the ledger")
        proof = tree.inclusion_proof(index, size)
        lines.append(f"entry {index} {len(proof)} {cp.b64encode(entry.envelope)}")
        lines += [cp.b64encode(h) for h in proof]
    return "\n".join(lines) + "\n\n" + note


# ---------------------------------------------------------------------------------------------
# Parsing


def is_about_proof(text: str) -> bool:
    return text.startswith(HEADER + "\n")


def parse_about(text: str) -> AboutProof:
    """Parse a proof strictly; :class:`ProofFailure` (``malformed``) if it is not one."""
    problem = crlf_problem(text)
    if problem is not None:
        raise ProofFailure(MALFORMED, problem, hint=CRLF_HINT)
    head, separator, note = text.partition("\n\n")
    if not separator or not note:
        raise ProofFailure(MALFORMED, "no empty line followed by a signed checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ProofFailure(MALFORMED, f"the proof does not start with {HEADER!r}")
    reader = _Lines(lines[1:])
    key = _key(reader.take("key"))
    depth = _number(reader.take("path"), "path length")
    if depth > smt.KEY_BITS:
        raise ProofFailure(MALFORMED, f"a path of {depth} hashes is longer than 256 bits allow")
    siblings = tuple(decode_hash(reader.line(), f"path hash #{n}") for n in range(depth))
    end = reader.take("end").split(" ")
    other = None
    if end == ["other", *end[1:]] and len(end) == 3:
        other = (decode_hash(end[1], "other key hash"), decode_hash(end[2], "other value"))
    elif end not in (["present"], ["empty"]):
        raise ProofFailure(MALFORMED, "the 'end' line is not present, empty or other K V")
    count = _number(reader.take("entries"), "entry count")
    entries = tuple(_entry(reader) for _ in range(count))
    if reader.rest():
        raise ProofFailure(MALFORMED, "lines after the last entry")
    return AboutProof(key, siblings, other, end == ["present"], entries, note)


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.at = 0

    def line(self) -> str:
        if self.at >= len(self.lines):
            raise ProofFailure(MALFORMED, "the proof ends early")
        self.at += 1
        return self.lines[self.at - 1]

    def take(self, word: str) -> str:
        line = self.line()
        if not line.startswith(word + " "):
            raise ProofFailure(MALFORMED, f"expected a {word!r} line, found {line[:40]!r}")
        return line[len(word) + 1 :]

    def rest(self) -> bool:
        return self.at < len(self.lines)


def _key(text: str) -> str:
    try:
        return cp.b64decode_strict(text, "key").decode("utf-8")
    except (VerificationFailure, UnicodeDecodeError) as exc:
        raise ProofFailure(MALFORMED, f"the key is not base64 UTF-8: {exc}") from None


def _number(text: str, what: str) -> int:
    try:
        return cp.parse_decimal(text, what)
    except VerificationFailure as exc:
        raise ProofFailure(MALFORMED, exc.message) from None


def index_line(checkpoint: cp.Checkpoint, index_root: bytes | None) -> tuple[bytes, str]:
    """(index root, index rule) of a checkpoint whose one index line is valid, else
    ``no_index_root``; ``index_root`` is :func:`root_in` of its extension lines."""
    rule = rule_in(checkpoint.extensions)
    if not index_root or rule is None:
        raise ProofFailure(
            NO_INDEX_ROOT,
            f"the checkpoint of size {checkpoint.size} carries no valid index line"
            " (index/v1 or index/v2)",
        )
    return index_root, rule


def decode_hash(text: str, what: str) -> bytes:
    """A proof's base64 hash of exactly 32 bytes, or ``malformed`` naming ``what``."""
    try:
        value = cp.b64decode_strict(text, what)
    except VerificationFailure as exc:
        raise ProofFailure(MALFORMED, exc.message) from None
    if len(value) != smt.HASH_SIZE:
        raise ProofFailure(MALFORMED, f"{what} is {len(value)} bytes, not {smt.HASH_SIZE}")
    return value


def _entry(reader: _Lines) -> ProvenEntry:
    parts = reader.take("entry").split(" ")
    if len(parts) != 3:
        raise ProofFailure(MALFORMED, "an 'entry' line is not: entry INDEX COUNT BASE64")
    index = _number(parts[0], "entry index")
    count = _number(parts[1], "inclusion proof length")
    if count > 64:
        raise ProofFailure(MALFORMED, f"an inclusion proof of {count} hashes is too long")
    try:
        entry = cp.b64decode_strict(parts[2], f"entry {index}")
    except VerificationFailure as exc:
        raise ProofFailure(MALFORMED, exc.message) from None
    proof = tuple(
        decode_hash(reader.line(), f"entry {index} proof hash #{n}") for n in range(count)
    )
    return ProvenEntry(index, entry, proof)


# ---------------------------------------------------------------------------------------------
# Verifying


def verify_about(
    text: str, log_vkey: str, witness_vkeys: Sequence[str] = (), quorum: int = 0
) -> AboutVerdict:
    """Verify a proof about a key offline; :class:`ProofFailure` names the first failed check.

    ``witness_vkeys`` (cosignature/v1 verifier keys) with ``quorum`` (default: all of them)
    require that many valid witness cosignatures on the checkpoint.
    """
    proof = parse_about(text)
    _check_key_kind(proof.key)
    name, public_key = cp.parse_vkey(log_vkey)
    try:
        checkpoint = cp.open_checkpoint(proof.checkpoint, name, public_key)
    except VerificationFailure as exc:
        raise ProofFailure(CHECKPOINT, exc.message, hint=exc.hint) from None
    cosigners = _witnesses(proof.checkpoint, witness_vkeys, quorum)
    index_root, rule = index_line(checkpoint, root_in(checkpoint.extensions))
    _check_key_kind(proof.key, rule)
    indices = _check_map(proof, index_root, checkpoint.size)
    event_ids = tuple(_check_entry(proof.key, e, checkpoint, rule) for e in proof.entries)
    return AboutVerdict(
        key=proof.key,
        log_origin=checkpoint.origin,
        size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        index_root=index_root,
        indices=indices,
        event_ids=event_ids,
        entries=tuple(e.entry for e in proof.entries),
        cosigners=cosigners,
    )


def require_event(verdict: AboutVerdict, event_id: str) -> None:
    """``--event-id`` on a proof about a key: the event must be one of its entries."""
    if event_id not in verdict.event_ids:
        listed = ", ".join(str(e) for e in verdict.event_ids) or "none"
        raise ReceiptFailure(
            "event_id",
            f"event id: the proof about key {verdict.key!r} lists no event {event_id}"
            f" (its events: {listed})",
            hint="ask for a proof about a key the event is filed under, or a receipt of it",
        )


def check_producers(
    verdict: AboutVerdict, trusted_signers: Mapping[str, Ed25519PublicKey]
) -> tuple[str, ...]:
    """Every entry's producer (DSSE) signature by a trusted key; their key ids, in order."""
    signers = []
    for index, entry in zip(verdict.indices, verdict.entries, strict=True):
        try:
            signers.append(check_producer(entry, trusted_signers))
        except VerificationFailure as exc:
            raise ReceiptFailure("producer_signature", f"entry {index}: {exc.message}") from None
    return tuple(signers)


V2_KINDS = frozenset({"licence-record"})
"""Key kinds filed only under index rule ``v2``."""


def _check_key_kind(key: str, rule: str | None = None) -> None:
    """A key of no kind the index files entries under is absent from every log: its proof of
    absence would say nothing, yet read as 'the log holds nothing about it'.  ``rule``: the
    index rule of the map (a ``licence-record`` key is never filed under ``v1``)."""
    kind, colon, name = key.partition(":")
    if not colon or not name or kind not in KEY_KINDS:
        raise ProofFailure(
            MALFORMED,
            f"key {key[:80]!r} is not KIND:NAME with a kind the index files entries under"
            f" ({', '.join(KEY_KINDS)}): no entry is ever filed under it",
            hint="e.g. party:performer:dana-whitfield, asset:ID, production:SHOW/EPISODE",
        )
    if rule == RULE_V1 and kind in V2_KINDS:
        raise ProofFailure(
            MALFORMED,
            f"key {key[:80]!r}: index rule v1 files no entry under kind {kind!r}, so its"
            " absence says nothing",
            hint=f"on a v1 ledger ask about licence:{name} (the record and its uses)",
        )


def _witnesses(note: str, vkeys: Sequence[str], quorum: int) -> tuple[str, ...]:
    if not vkeys:
        if quorum:
            raise ConfigurationError("a witness quorum needs witness keys")
        return ()
    witnesses = [parse_witness_vkey(v) for v in vkeys]
    wanted = quorum or len({w.raw for w in witnesses})
    try:
        valid = require_quorum(note, witnesses, wanted)
    except VerificationFailure as exc:
        raise ProofFailure(WITNESSES, exc.message, hint=exc.hint) from None
    return tuple(c.witness.name for c in valid)


def _check_map(proof: AboutProof, root: bytes, size: int) -> tuple[int, ...]:
    k = smt.key_hash(proof.key)
    indices = tuple(e.index for e in proof.entries)
    if any(b <= a for a, b in pairwise(indices)):
        raise ProofFailure(MAP_MISMATCH, "the entries are not listed by strictly increasing index")
    if any(i >= size for i in indices):
        raise ProofFailure(MAP_MISMATCH, f"an entry lies beyond the checkpoint's {size} entries")
    depth = len(proof.siblings)
    if proof.present:
        if not indices:
            raise ProofFailure(MAP_MISMATCH, "the key is marked present but lists no entry")
        terminal = smt.leaf_hash(k, smt.value_of(indices))
    else:
        if indices:
            raise ProofFailure(MAP_MISMATCH, "the key is marked absent but lists entries")
        terminal = smt.EMPTY
        if proof.end is not None:
            other, value = proof.end
            if other == k or not smt.shares_prefix(other, k, depth):
                raise ProofFailure(MAP_MISMATCH, "the other leaf does not lie on the key's path")
            terminal = smt.leaf_hash(other, value)
    if smt.root_from(k, proof.siblings, terminal) != root:
        what = f"these {len(indices)} entries" if indices else "absence"
        raise ProofFailure(
            MAP_MISMATCH,
            f"{what} for key {proof.key!r} do not give the index root the checkpoint of size"
            f" {size} commits to: an entry was left out or added, or the proof belongs to"
            " another checkpoint",
        )
    return indices


def _check_entry(
    key: str, e: ProvenEntry, checkpoint: cp.Checkpoint, rule: str = RULE_V1
) -> str | None:
    try:
        verify_inclusion(
            leaf_hash(e.entry), e.index, checkpoint.size, e.proof, checkpoint.root_hash
        )
    except VerificationFailure as exc:
        raise ProofFailure(
            INCLUSION, f"entry {e.index} is not in the signed tree at that index: {exc.message}"
        ) from None
    if key not in entry_keys(e.entry, rule=rule):  # under the rule the checkpoint names
        raise ProofFailure(
            NOT_ABOUT_KEY,
            f"entry {e.index}'s signed event is not filed under key {key!r}: the index root"
            " commits to an entry that does not belong (report the log operator)",
        )
    try:
        return identify(e.entry).event_id
    except RejectedInput:
        return None
