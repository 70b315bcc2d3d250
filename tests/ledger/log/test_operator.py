"""The log operator: init, signed checkpoints, receipts and consistency proofs on a real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.errors import ConfigurationError, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.receipt import verify_receipt
from ledger.log.verify import CHECKPOINT_MISMATCH, verify_ledger
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from tests.ledger.ledger_factory import append_all, signed_entries

SIGNER = keys.generate("artist")
ORIGIN = "fallen-tower.example/ledger"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[SqliteStore, keys.KeyPair]]:
    store = SqliteStore(tmp_path / "ledger.db")
    log_key, _ = operator.create_log_key(tmp_path / "keys")
    operator.init_ledger(store, ORIGIN, log_key)
    yield store, log_key
    store.close()


def _grow(store: SqliteStore, checkpointer: operator.Checkpointer, n: int, start: int) -> None:
    append_all(store, signed_entries(SIGNER, n, first_offset=start))
    assert checkpointer.checkpoint() is not None


def test_checkpoints_are_signed_consistent_and_only_when_grown(
    ledger: tuple[SqliteStore, keys.KeyPair],
) -> None:
    store, log_key = ledger
    checkpointer = operator.Checkpointer(store, log_key)
    _grow(store, checkpointer, 5, 0)
    assert checkpointer.checkpoint() is None  # nothing new: nothing signed
    _grow(store, checkpointer, 7, 5)
    notes = [c.note for c in store.checkpoints()]
    assert [c.size for c in store.checkpoints()] == [5, 12]
    identity = operator.require_identity(store)
    opened = [cp.open_checkpoint(n, ORIGIN, identity.public_key) for n in notes]
    assert opened[1].root_hash == store.tree().root()
    result = operator.prove_consistency(store, notes[0], notes[1])
    old, new = operator.check_consistency_offline(notes[0], notes[1], result.proof, identity.vkey)
    assert (old.size, new.size) == (5, 12)
    assert (
        verify_ledger(store, {SIGNER.key_id: SIGNER.public}.get, workers=1).checkpoints_checked == 2
    )


def test_receipt_verifies_offline_with_only_the_vkey(
    ledger: tuple[SqliteStore, keys.KeyPair],
) -> None:
    store, log_key = ledger
    checkpointer = operator.Checkpointer(store, log_key)
    _grow(store, checkpointer, 9, 0)
    entry = store.entry(4)
    assert entry is not None
    receipt = operator.prove(store, entry.event_id)
    name, public_key = cp.parse_vkey(operator.require_identity(store).vkey)
    verdict = verify_receipt(receipt, name, public_key, {SIGNER.key_id: SIGNER.public})
    assert (verdict.index, verdict.tree_size, verdict.producer_signature_ok) == (4, 9, True)
    forged = receipt.replace("index 4", "index 5")
    with pytest.raises(VerificationFailure):
        verify_receipt(forged, name, public_key)


def test_prove_needs_a_covering_checkpoint(ledger: tuple[SqliteStore, keys.KeyPair]) -> None:
    store, _ = ledger
    append_all(store, signed_entries(SIGNER, 2))
    entry = store.entry(1)
    assert entry is not None
    with pytest.raises(ConfigurationError, match="not yet covered"):
        operator.prove(store, entry.event_id)
    with pytest.raises(ConfigurationError, match="not in the ledger"):
        operator.prove(store, "00000000-0000-0000-0000-000000000000")


def test_wrong_log_key_is_refused(ledger: tuple[SqliteStore, keys.KeyPair]) -> None:
    store, _ = ledger
    with pytest.raises(ConfigurationError, match="does not match"):
        operator.Checkpointer(store, keys.generate("other"))
    with pytest.raises(ConfigurationError, match="already has log key"):
        operator.init_ledger(store, ORIGIN, keys.generate("other"))


def test_uninitialised_ledger_has_no_identity(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "plain.db")
    assert operator.log_identity(store) is None
    with pytest.raises(ConfigurationError, match="no log key"):
        operator.require_identity(store)


def test_inconsistent_checkpoints_are_found(ledger: tuple[SqliteStore, keys.KeyPair]) -> None:
    """A log that signed a different history is caught by verify and by consistency."""
    store, log_key = ledger
    checkpointer = operator.Checkpointer(store, log_key)
    _grow(store, checkpointer, 4, 0)
    old_note = store.checkpoints()[0].note
    # Sign a fork: a checkpoint of size 4 with another root, as a misbehaving log would.
    fork = cp.signed_checkpoint(cp.Checkpoint(ORIGIN, 4, bytes(32)), ORIGIN, log_key.private)
    store.db.execute(
        "UPDATE checkpoints SET note = ?, root_hash = ? WHERE size = 4", (fork, bytes(32))
    )
    report = verify_ledger(store, {SIGNER.key_id: SIGNER.public}.get, workers=1)
    assert report.first is not None and report.first.kind == CHECKPOINT_MISMATCH
    with pytest.raises(VerificationFailure):
        operator.prove_consistency(store, fork, old_note)


def test_prove_leaf_hash_only_proves_the_entry_without_its_bytes(
    ledger: tuple[SqliteStore, keys.KeyPair],
) -> None:
    store, log_key = ledger
    _grow(store, operator.Checkpointer(store, log_key), 6, 0)
    entry = store.entry(3)
    assert entry is not None
    text = operator.prove(store, entry.event_id, leaf_only=True)
    name, public_key = cp.parse_vkey(operator.require_identity(store).vkey)
    verdict = verify_receipt(text, name, public_key)
    assert verdict.leaf_only and verdict.index == 3
    assert (
        verdict.leaf_hash
        == verify_receipt(operator.prove(store, entry.event_id), name, public_key).leaf_hash
    )
    assert cp.b64encode(entry.envelope) not in text
