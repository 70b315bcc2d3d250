"""The index tree's fold in C (``ledger.index._native``) against the pure-Python code: the same
roots, nodes, values and proof bytes.  Under CI=true the extension must have been built (CI runs
where gcc and OpenSSL's headers are); elsewhere these tests are skipped when it was not."""

from __future__ import annotations

import importlib
import os
import random
from pathlib import Path

import pytest

from ledger.index import prove_about, smt, verify_about
from ledger.index.maintain import MemoryMap
from ledger.index.replay import monitor
from ledger.log import operator
from ledger.store import open_store
from tests.ledger.index.index_factory import DANA, fill, init

try:
    native = importlib.import_module("ledger.index._native")
except ImportError:
    if os.environ.get("CI") == "true":
        raise  # CI builds it: a missing extension is a broken build there
    pytest.skip("the C extension ledger.index._native was not built", allow_module_level=True)


def _with_native(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(smt, "_native", native if on else None)


def _map_in_batches(
    rng: random.Random, keys: list[str]
) -> list[tuple[bytes, dict[bytes, smt.Node]]]:
    """(root, nodes) after each batch of a MemoryMap fed ``keys`` in random batches."""
    m = MemoryMap()
    out = []
    for seq, key in enumerate(keys):
        m.add(seq, [key])
        if rng.random() < 0.1:
            out.append((m.commit(), dict(m.nodes)))
    out.append((m.commit(), dict(m.nodes)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_maps_fold_to_the_same_roots_and_nodes(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random key sets (few keys: leaves pushed down often; many: deep shared paths), folded in
    random batches: every root and every stored node the same in C and in Python."""
    rng = random.Random(seed)
    keys = [f"k:{rng.randrange(20 if seed % 2 else 3000)}" for _ in range(400 * (seed + 1))]
    _with_native(monkeypatch, True)
    with_c = _map_in_batches(random.Random(seed), keys)
    _with_native(monkeypatch, False)
    in_python = _map_in_batches(random.Random(seed), keys)
    assert with_c == in_python


def test_the_value_chain_and_the_hash_up_are_the_same() -> None:
    rng = random.Random(3)
    for _ in range(200):
        k, value = rng.randbytes(32), rng.randbytes(32)
        packed = b"".join(rng.randrange(2**64).to_bytes(8, "big") for _ in range(rng.randrange(5)))
        expected = value
        for at in range(0, len(packed), 8):
            expected = smt.chain_value(expected, int.from_bytes(packed[at : at + 8], "big"))
        assert native.chain(k, value, packed) == (expected, smt.leaf_hash(k, expected))
        siblings = [rng.randbytes(32) for _ in range(rng.randrange(30))]
        terminal = rng.randbytes(32)
        python = terminal
        for depth in range(len(siblings), 0, -1):
            s = siblings[depth - 1]
            python = smt.node_hash(s, python) if smt.bit(k, depth - 1) else smt.node_hash(python, s)
        assert native.root_from(k, b"".join(siblings), terminal) == python


def test_inputs_of_the_wrong_size_are_refused_and_folded_in_python() -> None:
    k = bytes(32)
    for bad in [
        lambda: native.chain(k, b"short", b""),
        lambda: native.chain(k, k, b"\x00" * 7),
        lambda: native.root_from(k, b"\x00" * 31, k),
        lambda: native.root_from(k, b"\x00" * 32 * 257, k),
        lambda: native.fold({}, [k, k], [k, k], {}),  # not strictly increasing
        lambda: native.fold({}, [b"\x01"], [k], {}),
    ]:
        with pytest.raises(ValueError):
            bad()
    keys, values = [bytes(31) + b"\x01"], [bytes(32)]
    odd = {smt.ROOT_ID: (b"not 32 bytes", None)}  # a damaged stored node
    with pytest.raises(ValueError):
        native.fold(odd, keys, values, {})
    update = smt.fold_tree(odd, keys, values)  # the Python fold takes it as it always did
    python = smt.Update(smt.EMPTY)
    python.root = smt._Fold(odd, keys, values, python.writes).apply(0, 0, 1)
    assert (update.root, update.writes) == (python.root, python.writes)


def test_siblings_of_other_lengths_hash_up_as_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Siblings of 16 and 48 bytes join to two hashes' length: hashed as they are, not as the
    two 32-byte hashes the C code would read from the joined bytes."""
    rng = random.Random(5)
    k, terminal = rng.randbytes(32), rng.randbytes(32)
    a, b = rng.randbytes(32), rng.randbytes(32)
    for siblings in [(a[:16], a[16:] + b), (a + b[:16], b[16:]), (a, b + b"\x00")]:
        _with_native(monkeypatch, True)
        with_c = smt.root_from(k, siblings, terminal)
        _with_native(monkeypatch, False)
        assert with_c == smt.root_from(k, siblings, terminal)
        assert with_c != smt.root_from(k, (a, b), terminal)


def test_a_stored_leaf_off_its_position_is_folded_in_python() -> None:
    """A damaged page: the leaf stored at depth 5 on the path of the changed key 11101…
    holds key hash 11001…, off that path.  Python orders the two by their bytes (a split
    at depth 5), the C code split them by bits (at depth 6): different roots.  The C code
    refuses such a leaf, and the fold is Python's."""
    k, other = b"\xeb" + bytes(31), b"\xc9" + bytes(31)
    known: dict[bytes, smt.Node] = {
        smt.node_id(k, d): (bytes([d + 1]) * 32, None) for d in range(5)
    }
    known[smt.node_id(k, 5)] = (b"\x33" * 32, other)
    keys, values = [k], [b"\x44" * 32]
    with pytest.raises(ValueError):
        native.fold(known, keys, values, {})
    python = smt.Update(smt.EMPTY)
    python.root = smt._Fold(known, keys, values, python.writes).apply(0, 0, 1)
    update = smt.fold_tree(known, keys, values)
    assert (update.root, update.writes) == (python.root, python.writes)


@pytest.mark.parametrize("on", [True, False])
def test_a_real_ledger_gives_the_same_roots_and_proof_bytes(
    on: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo ledger indexed with the C fold (or without): the replay with the other one
    recomputes every signed root, and a proof about a key has the same bytes from both and
    verifies in both."""
    _with_native(monkeypatch, on)
    with open_store(str(tmp_path / "ledger.db")) as store:
        fill(store, init(store), batches=3)
        proof = prove_about(store, DANA)
        vkey = operator.require_identity(store).vkey
        _with_native(monkeypatch, not on)
        report = monitor(store)
        assert report.ok and report.roots_checked == 3
        assert prove_about(store, DANA) == proof
    for native_on in (on, not on):
        _with_native(monkeypatch, native_on)
        assert verify_about(proof, vkey).key == DANA
