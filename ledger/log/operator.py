"""The log operator's duties: create a ledger, sign checkpoints, issue proofs.

A ledger has an *origin* (its C2SP log name, e.g. ``fallen-tower.example/ledger``) and an
Ed25519 log key.  The public half is stored in the ledger as a C2SP verifier key line
(meta ``log_vkey``); the private half stays in a key file with the operator.

The log never signs two inconsistent checkpoints: before signing a new tree head it proves,
from the stored tree, that the last signed checkpoint is a prefix of it, and verifies that proof
against both roots.  A checkpoint is only ever signed over what is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import ConfigurationError, RejectedInput, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.log import receipt as rc
from ledger.log.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from ledger.store import Entry, LedgerStore, StoredCheckpoint
from ledger.trust.keys import KeyPair, generate, write_key_pair

SIGN_A_CHECKPOINT = (
    "run assetledger consume --log-key LOG.key --until-caught-up: it signs a checkpoint of the"
    " entries no checkpoint covers yet (a running consumer with --log-key signs them as it goes)"
)
"""The hint wherever a signed checkpoint is missing: only the consumer holds the log key
(``assetledger checkpoint`` prints the latest checkpoint, it signs none)."""

EMPTY_LEDGER = (
    "the ledger holds no entries yet, so there is nothing to sign: a consumer with --log-key"
    " signs the first checkpoint once it appends an entry (assetledger consume --log-key LOG.key"
    " --until-caught-up)"
)


def sign_a_checkpoint(store: LedgerStore) -> str:
    """The hint for a missing signed checkpoint: what signs one, or, when the ledger holds no
    entries (a consumer then signs nothing), that there is nothing to sign yet."""
    return SIGN_A_CHECKPOINT if store.head().size else EMPTY_LEDGER


def index_not_committed(
    store: LedgerStore, size: int, indexed: int, then: str
) -> ConfigurationError:
    """The error for a latest checkpoint (of ``size`` entries) that does not commit to the
    stored index (covering ``indexed``): behind the head, a new checkpoint will (``then``: what
    to do after signing it); at the head a consumer signs nothing, so it says what is wrong."""
    if store.head().size <= size:
        return ConfigurationError(
            f"the latest checkpoint (size {size}) is at the ledger's head, but the stored index"
            f" covers {indexed} entries and the checkpoint does not commit to it: the index"
            " tables are not the ones the checkpoint was signed over (restored, truncated or"
            " altered, or the checkpoint predates the index), and signing again would not help"
            " (a consumer signs no checkpoint until new entries arrive)",
            hint="run assetledger verify to see what differs, and restore the index tables"
            " with the ledger they were signed with",
        )
    return ConfigurationError(
        f"the latest checkpoint (size {size}) does not commit to the index"
        f" (the index covers {indexed} entries)",
        hint=f"sign a new checkpoint (run the consumer with --log-key), then {then}",
    )


META_ORIGIN = "origin"
META_LOG_VKEY = "log_vkey"


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    public_key: Ed25519PublicKey

    @property
    def vkey(self) -> str:
        return cp.vkey(self.origin, self.public_key)


def init_ledger(store: LedgerStore, origin: str, log_key: KeyPair) -> LogIdentity:
    """Give a new ledger its origin and log key; refuse to re-key an existing one."""
    if not cp.is_valid_key_name(origin):
        raise ConfigurationError(
            f"origin {origin!r} is not a valid log name",
            hint="use a schemaless URL-like name without spaces or '+', e.g. studio.example/ledger",
        )
    existing = store.get_meta(META_LOG_VKEY)
    identity = LogIdentity(origin, log_key.public)
    if existing is not None and existing != identity.vkey:
        raise ConfigurationError(
            f"ledger {store.url} already has log key {existing}",
            hint="a ledger's identity never changes; create a new ledger for a new origin",
        )
    if existing is None:  # a new ledger: the newest index rule, fixed for its life
        from ledger.index.maintain import set_new_ledger_rule  # the index reads the log

        set_new_ledger_rule(store)
    store.set_meta(META_ORIGIN, origin)
    store.set_meta(META_LOG_VKEY, identity.vkey)
    return identity


def create_log_key(key_dir: Path, passphrase: bytes | None = None) -> tuple[KeyPair, Path]:
    """A new log key written as ``key_dir/log.key`` (0600) and ``log.pub``."""
    pair = generate("log")
    private_path, _ = write_key_pair(pair, key_dir, passphrase)
    return pair, private_path


def log_identity(store: LedgerStore) -> LogIdentity | None:
    """The ledger's origin and log public key, or None for a ledger never initialised."""
    vkey = store.get_meta(META_LOG_VKEY)
    if vkey is None:
        return None
    name, public_key = cp.parse_vkey(vkey)
    return LogIdentity(name, public_key)


def require_identity(store: LedgerStore) -> LogIdentity:
    identity = log_identity(store)
    if identity is None:
        raise ConfigurationError(
            f"ledger {store.url} has no log key, so it has no signed checkpoints",
            hint="create the ledger with: assetledger init --origin NAME",
        )
    return identity


class Checkpointer:
    """Signs a checkpoint over the committed tree whenever it has grown."""

    def __init__(self, store: LedgerStore, log_key: KeyPair) -> None:
        identity = require_identity(store)
        if cp.vkey(identity.origin, log_key.public) != identity.vkey:
            raise ConfigurationError(
                "the log key given does not match this ledger's log key",
                hint=f"the ledger's verifier key is {identity.vkey}",
            )
        self.store = store
        self.origin = identity.origin
        self.identity = identity
        self.log_key = log_key

    def checkpoint(self) -> StoredCheckpoint | None:
        """Sign and store a checkpoint of the current head; None when nothing is new.

        The authenticated index is first extended to the head (:func:`index_extension`), and
        its root is committed in the checkpoint's extension line.
        """
        size, extension = index_extension(self.store)
        last = self.store.latest_checkpoint()
        if last is not None and last.size >= size:
            return None
        tree = self.store.tree(size)
        root = tree.root() if size else EMPTY_ROOT
        if last is not None:
            proof = tree.consistency_proof(last.size, size)
            verify_consistency(last.size, size, last.root_hash, root, proof)
        body = cp.Checkpoint(self.origin, size, root, (extension,))
        note = cp.signed_checkpoint(body, self.origin, self.log_key.private)
        stored = StoredCheckpoint(size, root, note, datetime.now(UTC))
        self.store.add_checkpoint(stored)
        return stored


def index_extension(store: LedgerStore) -> tuple[int, str]:
    """Extend the authenticated index to the head; its size and checkpoint extension line.

    The size is the index's, which another consumer may have carried past this one's head.
    """
    from ledger.index.maintain import extension_line, index_rule, update_index  # reads the log

    head = update_index(store)
    return head.size, extension_line(head.root, index_rule(store))


def entry_for_event(store: LedgerStore, event_id: str) -> Entry:
    """The entry holding event ``event_id``, confirmed from its signed envelope.

    The event-id column is an index derived from the envelope; an entry whose envelope holds
    another event (the index was altered) is never handed out under the asked id.
    """
    entry = store.entry_by_event_id(event_id)
    if entry is None:
        raise ConfigurationError(
            f"event {event_id} is not in the ledger {store.url}",
            hint="assetledger log lists the event ids the ledger holds",
        )
    try:
        held = rc.identify(entry.envelope).event_id
    except RejectedInput as exc:
        raise VerificationFailure(
            f"entry {entry.seq}, indexed as event {event_id}, does not decode ({exc.message}),"
            " so it cannot be confirmed to be that event",
            hint="the ledger is damaged: run assetledger verify",
        ) from None
    if held != event_id:
        raise VerificationFailure(
            f"entry {entry.seq} is indexed as event {event_id}, but its signed envelope holds"
            f" event {held}: the ledger's event-id index was altered",
            hint="run assetledger verify; do not rely on this ledger until it is repaired",
        )
    return entry


def prove(store: LedgerStore, event_id: str, *, leaf_only: bool = False) -> str:
    """An offline receipt (C2SP tlog-proof@v1 + the entry) for one event, self-checked.

    The entry must carry ``event_id`` in its signed envelope, and the proof is checked from the
    entry's own bytes to the signed checkpoint's root before the receipt is handed out.
    ``leaf_only``: the receipt carries the entry's leaf hash instead of its bytes (it proves the
    entry is in the log without showing what it says; docs/proofs.md §7).
    """
    entry = entry_for_event(store, event_id)
    identity = require_identity(store)
    latest = store.witnessed_checkpoint(entry.seq)  # the best cosigned one covering it
    if latest is None:
        raise ConfigurationError(
            f"event {event_id} (entry {entry.seq}) is not yet covered by a signed checkpoint",
            hint="the consumer signs a checkpoint after each batch; run it, then try again",
        )
    signed = cp.open_checkpoint(latest.note, identity.origin, identity.public_key)
    proof = store.tree(signed.size).inclusion_proof(entry.seq, signed.size)
    leaf = leaf_hash(entry.envelope)
    verify_inclusion(leaf, entry.seq, signed.size, proof, signed.root_hash)
    if leaf_only:
        return rc.make_leaf_receipt(leaf, entry.seq, proof, latest.note)
    return rc.make_receipt(entry.envelope, entry.seq, proof, latest.note)


@dataclass(frozen=True)
class ConsistencyResult:
    old: cp.Checkpoint
    new: cp.Checkpoint
    proof: list[bytes]


def prove_consistency(
    store: LedgerStore, old_note: str, new_note: str | None = None
) -> ConsistencyResult:
    """Prove and check that ``old_note``'s tree is a prefix of ``new_note``'s (default: latest)."""
    identity = require_identity(store)
    old = cp.open_checkpoint(old_note, identity.origin, identity.public_key)
    if new_note is None:
        latest = store.latest_checkpoint()
        if latest is None:
            raise ConfigurationError(
                "the ledger has no signed checkpoint yet", hint=sign_a_checkpoint(store)
            )
        new_note = latest.note
    new = cp.open_checkpoint(new_note, identity.origin, identity.public_key)
    if old.size > new.size:
        raise VerificationFailure(f"old checkpoint has {old.size} entries, new only {new.size}")
    proof = store.tree(new.size).consistency_proof(old.size, new.size)
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    return ConsistencyResult(old, new, proof)


def check_consistency_offline(
    old_note: str, new_note: str, proof: list[bytes], vkey: str
) -> tuple[cp.Checkpoint, cp.Checkpoint]:
    """Verify a consistency proof between two signed checkpoints with only the log's vkey."""
    name, public_key = cp.parse_vkey(vkey)
    old = cp.open_checkpoint(old_note, name, public_key)
    new = cp.open_checkpoint(new_note, name, public_key)
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    return old, new
