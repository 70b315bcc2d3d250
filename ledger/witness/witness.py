"""A transparency-log witness: c2sp.org/tlog-witness ``add-checkpoint``, cosignature/v1 replies.

A witness holds an Ed25519 key, a list of trusted log keys, and for each log only the latest
checkpoint it cosigned (origin, size, root): no leaves.  For each ``add-checkpoint`` request
it checks, in the order of the specification:

1. the request syntax (``old N``, at most 63 base64 proof hashes, an empty line, a signed
   note: its signature lines well formed) — else **400**;
2. the origin (the note's first line) is a log it serves — else **404**;
3. a signature by a trusted key of that log, and no failing one — else **403**.  The note's
   text is read as a checkpoint only once a trusted key signed it (c2sp.org/signed-note), so a
   size or root line altered after signing is a signature failure, 403;
4. the signed text is a well-formed checkpoint (size in canonical decimal below 2^64, a root
   of 32 bytes in base64, no empty extension line) — else **400**;
5. ``old`` ≤ size — else **400**;
6. ``old`` equals the size it last cosigned (0 if never) — else **409** with that size, as
   ``text/x.tlog.size``;
7. a size-0 checkpoint carries the empty-tree root, and the consistency proof leads from its
   stored root to the new root (empty for ``old 0``); when the sizes are equal the roots are
   equal (same size, other root: **422**, as the specification says) — else **422**.

Then it stores the new state, fsynced (SQLite WAL, ``synchronous=FULL``), and only then answers
**200** with its cosignature line.  Steps 6 and 7 and the write run in one ``BEGIN IMMEDIATE``
transaction under a lock, so two racing requests can never roll the state back.  A validly
signed checkpoint that contradicts the stored state (same size, other root; or a proof that
fails) is kept in the ``evidence`` table, verbatim, whatever the answer: once per checkpoint
and reason, so replays (even with other proof lines) add nothing.  Only the first kind proves a
fork; a failing proof may just be a bad proof sent by anyone.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import ConfigurationError, KeyFileError, StoreError, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.log.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from ledger.trust import keys as keyfiles
from ledger.witness.cosignature import WitnessKey, cosign, parse_witness_vkey

KEY_NAME = "witness"  # witness.key (private, 0600) and witness.pub
VKEY_FILE = "witness.vkey"
STATE_FILE = "witness.db"
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
FORK = "fork: same size, other root"
"""Evidence that proves a fork: the log key signed two roots for one size."""
UNPROVEN = "unproven: the consistency proof sent does not verify"
"""Kept in case it matters, but proves nothing alone: anyone can send a bad proof."""
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_state (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    note TEXT NOT NULL,          -- the checkpoint: verified log signatures + our cosignature
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    evidence_id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    reason TEXT NOT NULL,
    witness_size INTEGER NOT NULL,
    witness_root BLOB,
    checkpoint_size INTEGER NOT NULL,
    checkpoint_root BLOB NOT NULL,
    request TEXT NOT NULL,       -- the whole add-checkpoint body, signed checkpoint included
    digest TEXT NOT NULL UNIQUE, -- SHA-256 of reason and checkpoint text: kept once each
    received_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    content_type: str = TEXT_CONTENT_TYPE


@dataclass(frozen=True)
class LogState:
    origin: str
    size: int
    root_hash: bytes
    note: str
    updated_at: int


@dataclass(frozen=True)
class Evidence:
    """A validly signed checkpoint the witness refused because it contradicts its state."""

    evidence_id: int
    origin: str
    reason: str
    witness_size: int
    witness_root: bytes | None
    checkpoint_size: int
    checkpoint_root: bytes
    request: str
    received_at: int

    @property
    def proves_fork(self) -> bool:
        return self.reason == FORK

    @property
    def signed_checkpoint(self) -> str:
        """The signed checkpoint note of the request (after the proof and the empty line)."""
        return self.request.partition("\n\n")[2]


@dataclass(frozen=True)
class AddRequest:
    old_size: int
    proof: tuple[bytes, ...]
    note: str


class Refusal(VerificationFailure):
    """An add-checkpoint request refused with an HTTP status and a reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> Response:
        body = (self.reason + "\n").encode("utf-8")
        if self.status == 409:  # the body is the witness's size, nothing else
            return Response(409, body, SIZE_CONTENT_TYPE)
        return Response(self.status, body)


# ---------------------------------------------------------------------------------------------
# Keys on disk


@dataclass(frozen=True)
class WitnessIdentity:
    name: str
    pair: keyfiles.KeyPair

    @property
    def key(self) -> WitnessKey:
        return WitnessKey(self.name, self.pair.public)


def init_witness(name: str, key_dir: Path, passphrase: bytes | None = None) -> WitnessIdentity:
    """A new witness key in ``key_dir``: witness.key (0600), witness.pub and witness.vkey."""
    if not cp.is_valid_key_name(name):
        raise ConfigurationError(
            f"witness name {name!r} must be non-empty, without spaces or '+'",
            hint="use a schema-less URL, e.g. witness.guild.example/w1",
        )
    vkey_path = key_dir / VKEY_FILE
    if vkey_path.exists():
        raise ConfigurationError(
            f"{vkey_path} already exists", hint="a witness keeps its key; use another --key-dir"
        )
    pair = keyfiles.generate(KEY_NAME)
    keyfiles.write_key_pair(pair, key_dir, passphrase)
    identity = WitnessIdentity(name, pair)
    vkey_path.write_text(identity.key.vkey + "\n", encoding="utf-8")
    return identity


def load_witness(key_dir: Path, passphrase: bytes | None = None) -> WitnessIdentity:
    """The witness name (from witness.vkey) and key (witness.key); they must belong together."""
    vkey_path = key_dir / VKEY_FILE
    try:
        text = vkey_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{vkey_path} does not exist",
            hint="create the witness key with: assetledger witness init --name NAME --key-dir DIR",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {vkey_path}: {exc}") from None
    public = parse_witness_vkey(text)
    pair = keyfiles.load_private(key_dir / f"{KEY_NAME}{keyfiles.PRIVATE_SUFFIX}", passphrase)
    if keyfiles.raw_public(pair.public) != public.raw:
        raise KeyFileError(f"{vkey_path} does not belong to the private key in {key_dir}")
    return WitnessIdentity(public.name, pair)


# ---------------------------------------------------------------------------------------------
# Requests


def parse_request(body: bytes) -> AddRequest:
    """Parse an add-checkpoint body; :class:`Refusal` (400) if it is malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "request body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise Refusal(400, "request has no empty line before the checkpoint")
    lines = head.split("\n")
    old_text = lines[0].removeprefix("old ")
    if old_text == lines[0]:
        raise Refusal(400, "request does not start with an 'old <size>' line")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Refusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    try:
        old = cp.parse_decimal(old_text, "old size")
        proof = tuple(_proof_hash(line) for line in lines[1:])
        cp.split_note(note)
    except VerificationFailure as exc:
        raise Refusal(400, exc.message) from None
    return AddRequest(old, proof, note)


def _proof_hash(line: str) -> bytes:
    value = cp.b64decode_strict(line, "consistency proof line")
    if len(value) != HASH_SIZE:
        raise VerificationFailure(f"consistency proof line is {len(value)} bytes, not {HASH_SIZE}")
    return value


def _verify_log_signature(note: str, keys: Sequence[tuple[str, Ed25519PublicKey]]) -> list[str]:
    """The note's verified signature lines by the log's trusted keys; :class:`Refusal` 403."""
    text, signatures = cp.split_note(note)
    block = note[note.rfind("\n\n") + 2 : -1].split("\n")
    verified: list[str] = []
    for name, public_key in keys:
        key_id = cp.note_key_id(name, public_key)
        for (signer, blob), line in zip(signatures, block, strict=True):
            if signer != name or blob[:4] != key_id:
                continue
            try:
                public_key.verify(blob[4:], text)
            except InvalidSignature:
                raise Refusal(403, f"invalid signature by log key {name}+{key_id.hex()}") from None
            verified.append(line + "\n")
    if not verified:
        raise Refusal(403, "checkpoint has no signature by a trusted key of its log")
    return list(dict.fromkeys(verified))


def _is_bad_empty_tree(text: bytes) -> bool:
    """A well-formed checkpoint of size 0 whose root is not the empty-tree root (422).

    Only a well-formed one: a size-0 checkpoint with a root line that is not 32 bytes of
    base64, or any other malformed line, is malformed (400) like a checkpoint of any size.
    """
    empty = cp.b64encode(EMPTY_ROOT).encode()
    lines = text.split(b"\n")
    if len(lines) < 4 or lines[1] != b"0" or lines[2] == empty:
        return False
    try:
        root = cp.b64decode_strict(lines[2].decode("utf-8"), "checkpoint root hash")
        cp.parse_body(b"\n".join([*lines[:2], empty, *lines[3:]]))
    except (UnicodeDecodeError, VerificationFailure):
        return False
    return len(root) == HASH_SIZE


def _parse_checkpoint(text: bytes) -> cp.Checkpoint:
    try:
        return cp.parse_body(text)
    except VerificationFailure as exc:
        raise Refusal(400, f"malformed checkpoint: {exc.message}") from None


# ---------------------------------------------------------------------------------------------
# The witness


class Witness:
    """The add-checkpoint logic over a durable state file (see the module docstring)."""

    def __init__(
        self,
        identity: WitnessIdentity,
        logs: Sequence[tuple[str, Ed25519PublicKey]],
        state_path: Path,
    ) -> None:
        if not logs:
            raise ConfigurationError(
                "a witness needs at least one log key", hint="pass --log VKEY (repeatable)"
            )
        self.identity = identity
        self.logs: dict[str, list[tuple[str, Ed25519PublicKey]]] = {}
        for name, public_key in logs:
            self.logs.setdefault(name, []).append((name, public_key))
        self.state_path = state_path
        self._lock = threading.Lock()
        self.db = open_state(state_path)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def add_checkpoint(self, body: bytes) -> Response:
        """Answer one add-checkpoint request body (never raises for bad input)."""
        try:
            return self._add(body)
        except Refusal as refusal:
            return refusal.response()

    def _add(self, body: bytes) -> Response:
        request = parse_request(body)
        text, _ = cp.split_note(request.note)
        origin = text.split(b"\n", 1)[0].decode("utf-8")
        keys = self.logs.get(origin)
        if keys is None:
            raise Refusal(404, f"unknown log {origin[:200]!r}")
        log_lines = _verify_log_signature(request.note, keys)
        if _is_bad_empty_tree(text):
            return self._refuse_bad_empty_tree(origin, request.old_size).response()
        checkpoint = _parse_checkpoint(text)
        if request.old_size > checkpoint.size:
            raise Refusal(
                400, f"old size {request.old_size} is larger than the tree ({checkpoint.size})"
            )
        with self._transaction():
            decision = self._judge(request, checkpoint, body)
            if isinstance(decision, Refusal):
                return decision.response()
            line = cosign(text, self.identity.name, self.identity.pair.private)
            stored = text.decode("utf-8") + "\n" + "".join(log_lines) + line
            self._save_state(checkpoint, stored)
        return Response(200, line.encode("utf-8"))

    def _refuse_bad_empty_tree(self, origin: str, old_size: int) -> Refusal:
        """400, 409 or 422, in the order the specification lists its checks."""
        if old_size > 0:
            return Refusal(400, f"old size {old_size} is larger than the tree (0)")
        with self._lock:
            known = self._state(origin)
        if known is not None and known.size != 0:
            return Refusal(409, str(known.size))
        return Refusal(422, "a checkpoint of size 0 must carry the empty-tree root")

    def _judge(self, request: AddRequest, new: cp.Checkpoint, body: bytes) -> Refusal | None:
        """Inside the transaction: the refusal for this request, or None to cosign it."""
        known = self._state(new.origin)
        known_size = 0 if known is None else known.size
        if known is not None and known.size == new.size and known.root_hash != new.root_hash:
            self._keep_evidence(FORK, known, new, body)
            if request.old_size == known_size:
                return Refusal(422, f"root differs from the root cosigned at size {new.size}")
        if request.old_size != known_size:
            return Refusal(409, str(known_size))
        if known is None or request.old_size == 0:
            if request.proof:
                return Refusal(422, "old size 0 needs an empty consistency proof")
            return None
        try:
            verify_consistency(
                known.size, new.size, known.root_hash, new.root_hash, list(request.proof)
            )
        except VerificationFailure as exc:
            self._keep_evidence(UNPROVEN, known, new, body)
            return Refusal(422, f"consistency proof does not verify: {exc.message}")
        return None

    # --- monitoring -------------------------------------------------------------------------
    def latest_note(self, origin_hash: str) -> str | None:
        """The cosigned checkpoint of the log whose SHA-256(origin) hex is ``origin_hash``."""
        for state in self.states():
            if hashlib.sha256(state.origin.encode("utf-8")).hexdigest() == origin_hash:
                return state.note
        return None

    def states(self) -> list[LogState]:
        with self._lock:
            rows = self.db.execute(
                "SELECT origin, size, root_hash, note, updated_at FROM log_state ORDER BY origin"
            ).fetchall()
        return [_log_state(row, self.state_path) for row in rows]

    def evidence(self) -> list[Evidence]:
        with self._lock:
            return read_evidence(self.db)

    # --- storage ----------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"witness state {self.state_path}: {exc}") from exc
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")  # fsynced (synchronous=FULL) before the answer

    def _state(self, origin: str) -> LogState | None:
        row = self.db.execute(
            "SELECT origin, size, root_hash, note, updated_at FROM log_state WHERE origin = ?",
            (origin,),
        ).fetchone()
        return None if row is None else _log_state(row, self.state_path)

    def _save_state(self, checkpoint: cp.Checkpoint, note: str) -> None:
        self.db.execute(
            "INSERT INTO log_state (origin, size, root_hash, note, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size,"
            " root_hash = excluded.root_hash, note = excluded.note,"
            " updated_at = excluded.updated_at",
            (checkpoint.origin, checkpoint.size, checkpoint.root_hash, note, int(time.time())),
        )

    def _keep_evidence(self, reason: str, known: LogState, new: cp.Checkpoint, body: bytes) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO evidence (origin, reason, witness_size, witness_root,"
            " checkpoint_size, checkpoint_root, request, digest, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.origin,
                reason,
                known.size,
                known.root_hash,
                new.size,
                new.root_hash,
                body.decode("utf-8"),
                hashlib.sha256(reason.encode() + b"\n" + new.body()).hexdigest(),
                int(time.time()),
            ),
        )


def _log_state(row: Sequence[object], path: Path) -> LogState:
    """A state row, checked: a damaged one (edited, or a bad sector) stops the witness from
    cosigning anything for that log (:class:`StoreError`, answered 500), never misleads it."""
    origin, size, root, note, updated = row
    if not (
        isinstance(origin, str)
        and isinstance(size, int)
        and 0 <= size < 2**64
        and isinstance(root, bytes)
        and len(root) == HASH_SIZE
        and isinstance(note, str)
        and isinstance(updated, int)
    ):
        raise StoreError(
            f"witness state {path}: the row of log {str(origin)[:200]!r} is damaged"
            f" (size {size!r:.40}, root of {len(root) if isinstance(root, bytes) else '?'} bytes)",
            hint="restore witness.db from a backup; a witness must never cosign from a guessed"
            " state",
        )
    return LogState(origin, size, root, note, updated)


def open_state(path: Path) -> sqlite3.Connection:
    """The witness state database: WAL journal, every commit fsynced."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=30000")
        db.executescript(SCHEMA)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open witness state {path}: {exc}") from exc
    return db


def read_evidence(db: sqlite3.Connection) -> list[Evidence]:
    rows = db.execute(
        "SELECT evidence_id, origin, reason, witness_size, witness_root, checkpoint_size,"
        " checkpoint_root, request, received_at FROM evidence ORDER BY evidence_id"
    ).fetchall()
    return [
        Evidence(
            int(i),
            str(o),
            str(r),
            int(ws),
            None if wr is None else bytes(wr),
            int(cs),
            bytes(cr),
            str(q),
            int(at),
        )
        for i, o, r, ws, wr, cs, cr, q, at in rows
    ]


def read_states(path: Path) -> tuple[list[LogState], list[Evidence]]:
    """The state and evidence of a witness state file, read without serving."""
    if not path.exists():
        raise ConfigurationError(
            f"witness state {path} does not exist", hint="has this witness ever served?"
        )
    db = open_state(path)
    try:
        rows = db.execute(
            "SELECT origin, size, root_hash, note, updated_at FROM log_state ORDER BY origin"
        ).fetchall()
        states = [_log_state(row, path) for row in rows]
        return states, read_evidence(db)
    finally:
        db.close()
