"""Receipts: offline proof that one ledger entry is in the log (c2sp.org/tlog-proof@v1).

A receipt is a C2SP tlog-proof whose ``extra`` line carries the ledger entry itself: the
exact leaf input, a DSSE envelope in Avro single-object encoding, base64-encoded::

    c2sp.org/tlog-proof@v1
    extra <base64 entry bytes>
    index <leaf index>
    <base64 proof hash>          (zero or more lines, leaf's sibling first)
                                 (an empty line)
    <signed checkpoint note, verbatim>

The spec leaves ``extra`` to the application and says it is not authenticated; here it is
authenticated by the proof: its leaf hash must lead to the signed root.  See docs/proofs.md.

A *leaf-hash receipt* proves the same inclusion without the entry's bytes: its ``extra`` is
:data:`LEAF_TAG` followed by the 32-byte leaf hash ``SHA-256(0x00 || entry)``.  An entry is a
DSSE envelope in Avro single-object encoding (it starts ``C3 01``), so the tag can never be
the start of an entry.  It proves that the signed tree holds that leaf at that index, and
names no event: whoever holds the entry (or a full receipt) can compare its leaf hash.

A receipt names what it proves: :func:`verify_receipt` reads the event id (and, for a
provenance event, the asset version) from the proven entry itself, never from the file name or
from whoever handed the receipt over, and can require a given event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import (
    ConfigurationError,
    InvalidEventError,
    RejectedInput,
    VerificationFailure,
)
from ledger.events import kinds
from ledger.events.encoding import reader_framing
from ledger.events.provenance import PROVENANCE, asset_key
from ledger.log.checkpoint import (
    Checkpoint,
    b64decode_strict,
    b64encode,
    open_checkpoint,
    parse_decimal,
)
from ledger.log.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from ledger.trust.dsse import Envelope, verify_trusted

HEADER = "c2sp.org/tlog-proof@v1"
EXTRA_PREFIX = "extra "
INDEX_PREFIX = "index "
FILE_SUFFIX = ".tlog-proof"
LEAF_TAG = b"asset-ledger leaf hash v1\n"
"""``extra`` of a leaf-hash receipt: this tag, then the 32-byte leaf hash."""


class ReceiptFailure(VerificationFailure):
    """A receipt that does not verify; ``reason`` names which check failed: ``malformed``,
    ``checkpoint``, ``inclusion``, ``leaf_only``, ``event_id``, ``producer_signature`` (and,
    in the CLI, ``witnesses``)."""

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


@dataclass(frozen=True)
class Receipt:
    """A parsed receipt; nothing in it is verified yet."""

    entry: bytes  # the entry's bytes; empty in a leaf-hash receipt
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed checkpoint note, verbatim
    leaf: bytes | None = None  # a leaf-hash receipt's leaf hash (no entry bytes)

    @property
    def leaf_hash(self) -> bytes:
        return self.leaf if self.leaf is not None else leaf_hash(self.entry)


@dataclass(frozen=True)
class EntryIdentity:
    """What a ledger entry is, read from its signed envelope."""

    event_id: str
    kind: str  # the event kind's record name, e.g. provenance_event
    asset_version: str | None  # "asset_id@version" of a provenance event

    def describe(self) -> str:
        what = f", asset {self.asset_version}" if self.asset_version else ""
        return f"event {self.event_id} ({self.kind}{what})"


def identify(entry: bytes) -> EntryIdentity:
    """The event id, kind and asset version inside an entry; RejectedInput if it has none."""
    framing = reader_framing()
    envelope = Envelope.decode(entry, framing)
    kind = kinds.kind_for_payload_type(envelope.payload_type)
    schema, event = framing.decode(envelope.payload)
    if schema.record != kind.record:
        raise InvalidEventError(
            f"payloadType announces {kind.record}, the payload is a {schema.record}",
            reason="payload_type_mismatch",
        )
    asset = event.get("asset") if kind.record == PROVENANCE.record else None
    version = asset_key(asset["asset_id"], asset["version"]) if asset else None
    return EntryIdentity(str(event["event_id"]), kind.record, version)


@dataclass(frozen=True)
class ReceiptVerdict:
    """What :func:`verify_receipt` checked, one field per check."""

    log_origin: str
    index: int
    tree_size: int
    root_hash: bytes
    leaf_hash: bytes
    checkpoint_signature_ok: bool
    inclusion_ok: bool
    producer_signature_ok: bool | None  # None: not checked (no trusted signers given)
    signer_keyid: str | None  # the trusted DSSE key that signed the entry, if checked
    # The proven entry's own event id, kind and asset version; None when the entry is not an
    # asset-ledger event (e.g. a plain DSSE test entry), with the reason in ``identity_problem``
    identity: EntryIdentity | None = None
    identity_problem: str | None = None
    leaf_only: bool = False  # a leaf-hash receipt: the entry itself is not in it

    @property
    def producer_signature_checked(self) -> bool:
        return self.producer_signature_ok is not None


def make_receipt(entry: bytes, index: int, proof: Sequence[bytes], signed_checkpoint: str) -> str:
    """Assemble a receipt; it is only as good as the proof and checkpoint given."""
    if not entry:
        raise ConfigurationError("a receipt needs the entry bytes")
    if index < 0:
        raise ConfigurationError(f"leaf index must be >= 0, got {index}")
    for position, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ConfigurationError(
                f"proof hash #{position} is {len(value)} bytes, not {HASH_SIZE}"
            )
    if not signed_checkpoint.endswith("\n") or "\n\n" not in signed_checkpoint:
        raise ConfigurationError("signed checkpoint is not a signed note (body, blank line, sigs)")
    lines = [HEADER, EXTRA_PREFIX + b64encode(entry), f"{INDEX_PREFIX}{index}"]
    lines += [b64encode(value) for value in proof]
    return "\n".join(lines) + "\n\n" + signed_checkpoint


def make_leaf_receipt(
    leaf: bytes, index: int, proof: Sequence[bytes], signed_checkpoint: str
) -> str:
    """A receipt proving the leaf ``leaf`` (``SHA-256(0x00 || entry)``) without the entry."""
    if len(leaf) != HASH_SIZE:
        raise ConfigurationError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf)}")
    return make_receipt(LEAF_TAG + leaf, index, proof, signed_checkpoint)


def crlf_problem(text: str) -> str | None:
    """Why a receipt or proof text with carriage returns is refused (None: it has none).

    A signed note's bytes are signed as they are: a file whose LF line endings were turned
    into CRLF (a mail client, git autocrlf, a Windows editor) is not the file the log signed.
    """
    if "\r" not in text:
        return None
    return (
        "the file has carriage returns (CRLF line endings): receipts, proofs and signed notes"
        " use LF line endings only, so this is not the text the log signed"
    )


CRLF_HINT = "restore the original file (e.g. dos2unix FILE, or git config core.autocrlf false)"


def parse_receipt(text: str, *, decoded: dict[str, bytes] | None = None) -> Receipt:
    """Parse a receipt strictly; raise :class:`ReceiptFailure` (``malformed``) if it is.

    ``decoded``: the proof lines already decoded (and found well-formed) by the caller, which
    this call adds to: many receipts at one checkpoint share most of their proof's nodes (a
    delivery packet's thousands), and each distinct line is then decoded and checked once."""
    problem = crlf_problem(text)
    if problem is not None:
        raise ReceiptFailure("malformed", problem, hint=CRLF_HINT)
    try:
        return _parse(text, {} if decoded is None else decoded)
    except ReceiptFailure:
        raise
    except VerificationFailure as exc:
        raise ReceiptFailure("malformed", exc.message, hint=exc.hint) from exc


def _parse(text: str, decoded: dict[str, bytes]) -> Receipt:
    head, separator, checkpoint = text.partition("\n\n")
    if not separator or not checkpoint:
        raise ReceiptFailure(
            "malformed", "receipt has no empty line followed by a signed checkpoint"
        )
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ReceiptFailure("malformed", f"receipt does not start with {HEADER!r}")
    if len(lines) < 2 or not lines[1].startswith(EXTRA_PREFIX):
        raise ReceiptFailure(
            "malformed",
            "receipt has no 'extra' line: an asset-ledger receipt carries the entry there",
        )
    entry = b64decode_strict(lines[1][len(EXTRA_PREFIX) :], "receipt entry (extra line)")
    if not entry:
        raise ReceiptFailure("malformed", "receipt entry (extra line) is empty")
    if len(lines) < 3 or not lines[2].startswith(INDEX_PREFIX):
        raise ReceiptFailure("malformed", "receipt has no 'index N' line after the extra line")
    index = parse_decimal(lines[2][len(INDEX_PREFIX) :], "receipt index")
    proof = tuple(_proof_hash(line, n, decoded) for n, line in enumerate(lines[3:]))
    if entry.startswith(LEAF_TAG):
        leaf = entry[len(LEAF_TAG) :]
        if len(leaf) != HASH_SIZE:
            raise ReceiptFailure(
                "malformed",
                f"leaf-hash receipt: the leaf hash is {len(leaf)} bytes, not {HASH_SIZE}",
            )
        return Receipt(b"", index, proof, checkpoint, leaf)
    return Receipt(entry, index, proof, checkpoint)


def _proof_hash(line: str, position: int, decoded: dict[str, bytes]) -> bytes:
    value = decoded.get(line)
    if value is not None:
        return value  # this very line decoded and checked already
    value = b64decode_strict(line, f"receipt proof hash #{position}")
    if len(value) != HASH_SIZE:
        raise ReceiptFailure(
            "malformed", f"receipt proof hash #{position} is {len(value)} bytes, not {HASH_SIZE}"
        )
    decoded[line] = value
    return value


def verify_receipt(
    text: str,
    log_name: str,
    log_public_key: Ed25519PublicKey,
    trusted_signers: Mapping[str, Ed25519PublicKey] | None = None,
    *,
    event_id: str | None = None,
) -> ReceiptVerdict:
    """Verify a receipt offline; raise :class:`VerificationFailure` on the first failure.

    Checks, in order: the receipt syntax; the log's signature on the checkpoint (and that its
    origin is ``log_name``); the inclusion of the entry's leaf hash at ``index`` under the
    checkpoint root; when ``event_id`` is given, that the proven entry is that event; and, when
    ``trusted_signers`` (DSSE key id -> public key) is given, the producer's DSSE signature
    inside the entry.  The verdict names the proven entry's event id and asset version.
    """
    receipt = parse_receipt(text)
    checkpoint = _open(receipt.checkpoint, log_name, log_public_key)
    leaf = receipt.leaf_hash
    _check_inclusion(receipt, checkpoint, leaf)
    identity: EntryIdentity | None = None
    problem: str | None = "a leaf-hash receipt: it holds the entry's leaf hash only"
    if receipt.leaf is not None:
        _check_leaf_only(leaf, event_id, trusted_signers)
    else:
        identity, problem = _identity(receipt.entry)
    if event_id is not None:
        _check_event_id(identity, problem, event_id)
    signer = None
    if trusted_signers is not None:
        signer = check_producer(receipt.entry, trusted_signers)
    return ReceiptVerdict(
        log_origin=checkpoint.origin,
        index=receipt.index,
        tree_size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        leaf_hash=leaf,
        checkpoint_signature_ok=True,
        inclusion_ok=True,
        producer_signature_ok=None if signer is None else True,
        signer_keyid=signer,
        identity=identity,
        identity_problem=problem,
        leaf_only=receipt.leaf is not None,
    )


def _check_leaf_only(
    leaf: bytes, event_id: str | None, trusted_signers: Mapping[str, Ed25519PublicKey] | None
) -> None:
    """A leaf-hash receipt cannot say which event it proves, nor who signed it."""
    wanted = [
        what
        for what, asked in (
            (f"that it proves event {event_id}", event_id is not None),
            ("the producer's signature", trusted_signers is not None),
        )
        if asked
    ]
    if wanted:
        raise ReceiptFailure(
            "leaf_only",
            f"this receipt proves leaf hash {leaf.hex()} but holds no entry, so "
            + " or ".join(wanted)
            + " cannot be checked",
            hint="compare the leaf hash with SHA-256(0x00 || entry) of the entry you hold, or"
            " ask for a receipt with the entry",
        )


def _identity(entry: bytes) -> tuple[EntryIdentity | None, str | None]:
    try:
        return identify(entry), None
    except RejectedInput as exc:
        return None, exc.message


def _check_event_id(identity: EntryIdentity | None, problem: str | None, wanted: str) -> None:
    if identity is None:
        raise ReceiptFailure(
            "event_id",
            f"event id: the proven entry is not an asset-ledger event ({problem}),"
            f" so it cannot be event {wanted}",
        )
    if identity.event_id != wanted:
        raise ReceiptFailure(
            "event_id",
            f"event id: this receipt proves {identity.describe()}, not event {wanted}",
            hint="ask the ledger operator for a receipt of the event you need",
        )


def _open(note: str, log_name: str, log_public_key: Ed25519PublicKey) -> Checkpoint:
    try:
        return open_checkpoint(note, log_name, log_public_key)
    except VerificationFailure as exc:
        raise ReceiptFailure("checkpoint", f"checkpoint: {exc.message}", hint=exc.hint) from exc


def _check_inclusion(receipt: Receipt, checkpoint: Checkpoint, leaf: bytes) -> None:
    try:
        verify_inclusion(leaf, receipt.index, checkpoint.size, receipt.proof, checkpoint.root_hash)
    except VerificationFailure as exc:
        raise ReceiptFailure(
            "inclusion",
            f"inclusion: entry is not proven at index {receipt.index} of the signed tree of "
            f"size {checkpoint.size}: {exc.message}",
        ) from exc


def check_producer(entry: bytes, trusted_signers: Mapping[str, Ed25519PublicKey]) -> str:
    """The trusted key id whose DSSE signature on ``entry`` verifies; VerificationFailure."""
    try:
        envelope = Envelope.decode(entry)
    except RejectedInput as exc:
        raise ReceiptFailure(
            "producer_signature", f"producer signature: entry is not a DSSE envelope: {exc}"
        ) from exc
    try:
        return verify_trusted(envelope, trusted_signers)
    except RejectedInput as exc:
        raise ReceiptFailure("producer_signature", f"producer signature: {exc.message}") from exc
