"""AboutBatch: many proofs at one checkpoint verify exactly as verify_about verifies each, and
the work it shares (the note, each entry's inclusion, keys and id) never lets a bad proof by."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.index import ProofFailure, prove_about, verify_about
from ledger.index.batch import AboutBatch
from ledger.index.maintain import entry_keys
from ledger.index.proof import parse_about
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.merkle import leaf_hash
from ledger.store import LedgerStore, open_store
from tests.ledger.index.index_factory import fill, init


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    s = open_store(str(tmp_path / "ledger.db"))
    fill(s, init(s))
    return s


def _keys(store: LedgerStore) -> list[str]:
    return sorted({k for e in store.entries() for k in entry_keys(e.envelope)})[:60]


def test_a_batch_gives_what_verify_about_gives_for_each_proof(store: LedgerStore) -> None:
    vkey = operator.require_identity(store).vkey
    batch = AboutBatch(vkey)
    for key in [*_keys(store), "party:nobody"]:
        text = prove_about(store, key)
        assert batch.verify(text) == verify_about(text, vkey)


def _swap_entry(text: str, other: bytes) -> str:
    """The first entry's bytes replaced by ``other`` (its index and path kept)."""
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    index, count, _ = lines[at].split(" ")[1:]
    lines[at] = f"entry {index} {count} {cp.b64encode(other)}"
    return "\n".join(lines)


def test_shared_work_lets_no_bad_proof_by(store: LedgerStore) -> None:
    vkey = operator.require_identity(store).vkey
    key = _keys(store)[0]
    text = prove_about(store, key)
    proof = parse_about(text)
    first = proof.entries[0]
    batch = AboutBatch(vkey)
    checkpoint, _ = batch.open_note(proof.checkpoint)
    batch.verify(text)  # the note, the entry's inclusion, its keys: all remembered now
    batch.known_included(
        checkpoint.size, checkpoint.root_hash, first.index, leaf_hash(first.entry), first.proof
    )
    # another entry's bytes at the remembered index: its path is checked, and fails
    other = next(e.envelope for e in store.entries() if e.seq != first.index)
    with pytest.raises(ProofFailure) as swapped:
        batch.verify(_swap_entry(text, other))
    assert swapped.value.reason == "inclusion"
    with pytest.raises(ProofFailure) as alone:
        verify_about(_swap_entry(text, other), vkey)
    assert alone.value.reason == swapped.value.reason
    # a note edited after signing fails though the genuine one was opened before
    forged = text.replace("index/v2 ", "index/v2 A", 1)
    with pytest.raises(ProofFailure) as edited:
        batch.verify(forged)
    assert edited.value.reason in ("checkpoint", "malformed")


def test_a_seeded_leaf_is_only_trusted_at_its_own_tree(store: LedgerStore) -> None:
    """known_included for another tree (size, root) does not excuse a proof's bad path."""
    vkey = operator.require_identity(store).vkey
    key = _keys(store)[0]
    text = prove_about(store, key)
    proof = parse_about(text)
    first = proof.entries[0]
    batch = AboutBatch(vkey)
    checkpoint, _ = batch.open_note(proof.checkpoint)
    leaf = leaf_hash(first.entry)
    batch.known_included(checkpoint.size + 1, checkpoint.root_hash, first.index, leaf, first.proof)
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    assert int(lines[at].split(" ")[2]) > 0, "the fixture's entry must have a path to break"
    lines[at + 1] = cp.b64encode(bytes(32))  # the path's first hash zeroed
    with pytest.raises(ProofFailure) as broken:
        batch.verify("\n".join(lines))
    assert broken.value.reason == "inclusion"
