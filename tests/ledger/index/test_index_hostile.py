"""Forged proofs about a key, each trying to pass one part of the proof unchecked (as in
immudb's GHSA-672p-m5jq-mrh8): every one is refused with a named reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.errors import ConfigurationError
from ledger.index import ProofFailure, production_key, prove_about, smt, verify_about
from ledger.index.maintain import extension_line
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.store import LedgerStore, open_store
from ledger.trust.keys import KeyPair, generate
from ledger.witness.cosignature import WitnessKey, cosign
from tests.ledger.index.index_factory import DANA, fill, init

EPISODE = production_key("Fallen Tower", "101")


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[tuple[LedgerStore, KeyPair]]:
    store = open_store(str(tmp_path / "ledger.db"))
    log_key = init(store)
    fill(store, log_key)
    yield store, log_key
    store.close()


def _vkey(store: LedgerStore) -> str:
    return operator.require_identity(store).vkey


def _head(text: str) -> list[str]:
    return text.split("\n\n", 1)[0].split("\n")


def _with_head(text: str, lines: list[str]) -> str:
    return "\n".join(lines) + "\n\n" + text.split("\n\n", 1)[1]


def _refused(text: str, vkey: str, reason: str) -> None:
    with pytest.raises(ProofFailure) as caught:
        verify_about(text, vkey)
    assert caught.value.reason == reason, caught.value


def _at(lines: list[str], word: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(word + " "))


def test_a_valid_path_for_another_key_is_refused(signed: tuple[LedgerStore, KeyPair]) -> None:
    store, _ = signed
    text = prove_about(store, DANA)
    lines = _head(text)
    lines[1] = "key " + cp.b64encode(b"party:performer:someone-else")
    _refused(_with_head(text, lines), _vkey(store), "map_mismatch")


def _edit_path(edit: Callable[[list[str]], list[str]]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        lines = _head(text)
        at = _at(lines, "path")
        depth = int(lines[at].split(" ")[1])
        siblings = edit(lines[at + 1 : at + 1 + depth])
        return _with_head(
            text, [*lines[:at], f"path {len(siblings)}", *siblings, *lines[at + 1 + depth :]]
        )

    return apply


EMPTY = cp.b64encode(smt.EMPTY)
PATH_EDITS = {
    "an empty sibling added below (the leaf one level too deep)": lambda s: [*s, EMPTY],
    "an empty sibling added above": lambda s: [EMPTY, *s],
    "the last sibling dropped (the leaf one level too high)": lambda s: s[:-1],
    "the first sibling dropped": lambda s: s[1:],
    "two siblings swapped": lambda s: [s[1], s[0], *s[2:]],
}


@pytest.mark.parametrize("what", sorted(PATH_EDITS))
@pytest.mark.parametrize("key", [DANA, "party:nobody"])
def test_a_sibling_list_with_a_hash_added_dropped_or_moved_is_refused(
    signed: tuple[LedgerStore, KeyPair], what: str, key: str
) -> None:
    store, _ = signed
    text = prove_about(store, key)
    assert len(_head(text)) > 4
    _refused(_edit_path(PATH_EDITS[what])(text), _vkey(store), "map_mismatch")


def test_a_present_key_cannot_be_proven_absent(signed: tuple[LedgerStore, KeyPair]) -> None:
    store, _ = signed
    text = prove_about(store, DANA)
    lines = _head(text)
    end, entries = lines.index("end present"), _at(lines, "entries")
    k = smt.key_hash(DANA)
    for forged_end in ("end empty", f"end other {cp.b64encode(k)} {EMPTY}"):
        forged = [*lines[:end], forged_end, "entries 0"]
        _refused(_with_head(text, forged), _vkey(store), "map_mismatch")
    assert entries == end + 1


def test_another_keys_leaf_cannot_stand_for_an_absence_off_its_path(
    signed: tuple[LedgerStore, KeyPair],
) -> None:
    """An absence proof ending at another key's leaf is moved to a key not on that path."""
    store, _ = signed
    for n in range(200):
        absent = f"party:nobody-{n}"
        text = prove_about(store, absent)
        if any(line.startswith("end other ") for line in _head(text)):
            break
    else:
        pytest.fail("the fixture's map gave no absence proof ending at another leaf in 200 tries")
    lines = _head(text)
    k = smt.key_hash(absent)
    depth = int(lines[_at(lines, "path")].split(" ")[1])
    stranger = next(
        f"party:stranger-{m}"
        for m in range(10_000)
        if not smt.shares_prefix(smt.key_hash(f"party:stranger-{m}"), k, depth)
    )
    lines[1] = "key " + cp.b64encode(stranger.encode())
    _refused(_with_head(text, lines), _vkey(store), "map_mismatch")


def _entry_blocks(lines: list[str]) -> tuple[int, list[list[str]]]:
    at = _at(lines, "entries")
    blocks: list[list[str]] = []
    i = at + 1
    while i < len(lines):
        count = int(lines[i].split(" ")[2])
        blocks.append(lines[i : i + 1 + count])
        i += 1 + count
    return at, blocks


@pytest.mark.parametrize("edit", ["reordered", "duplicated", "beyond the checkpoint"])
def test_a_value_list_reordered_duplicated_or_beyond_the_tree_is_refused(
    signed: tuple[LedgerStore, KeyPair], edit: str
) -> None:
    store, _ = signed
    text = prove_about(store, EPISODE)
    lines = _head(text)
    at, blocks = _entry_blocks(lines)
    assert len(blocks) > 2
    if edit == "reordered":
        blocks = [blocks[1], blocks[0], *blocks[2:]]
    elif edit == "duplicated":
        blocks = [blocks[0], *blocks]
    else:
        size = store.head().size
        parts = blocks[-1][0].split(" ")
        blocks[-1] = [f"entry {size} {parts[2]} {parts[3]}", *blocks[-1][1:]]
    forged = [*lines[:at], f"entries {len(blocks)}", *[line for b in blocks for line in b]]
    _refused(_with_head(text, forged), _vkey(store), "map_mismatch")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.replace("\nkey ", "\nkey \x00", 1),
        lambda t: t.replace("\nkey ", "\nkey AAAA\nkey ", 1),  # a repeated header
        lambda t: t.replace("\npath ", "\npath 0", 1),  # a leading zero
        lambda t: t.replace("\nentries ", "\nentries +", 1),
        lambda t: t.replace("=\n", "\n", 1),  # base64 without its padding
        lambda t: t.replace("\nend present", "\nend present ", 1),
        lambda t: t.replace("\nend present", "\nend  present", 1),
    ],
)
def test_malformed_proof_files_are_refused(
    signed: tuple[LedgerStore, KeyPair], mangle: Callable[[str], str]
) -> None:
    store, _ = signed
    text = prove_about(store, DANA)
    assert mangle(text) != text
    _refused(mangle(text), _vkey(store), "malformed")


def test_non_canonical_base64_of_a_sibling_is_refused(signed: tuple[LedgerStore, KeyPair]) -> None:
    """A 32-byte hash in base64 leaves 2 bits over: set, they decode to the same bytes."""
    store, _ = signed
    text = prove_about(store, DANA)
    lines = _head(text)
    at = _at(lines, "path")
    good = lines[at + 1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(good[42]) | 1]
    assert last != good[42]
    lines[at + 1] = good[:42] + last + "="
    _refused(_with_head(text, lines), _vkey(store), "malformed")


def _resigned(store: LedgerStore, log_key: KeyPair, extensions: tuple[str, ...]) -> str:
    """The latest checkpoint signed again by the log with other extension lines (an insider)."""
    identity = operator.require_identity(store)
    latest = store.latest_checkpoint()
    assert latest is not None
    opened = cp.open_checkpoint(latest.note, identity.origin, identity.public_key)
    body = cp.Checkpoint(opened.origin, opened.size, opened.root_hash, extensions)
    return cp.signed_checkpoint(body, identity.origin, log_key.private)


def test_a_checkpoint_committing_to_two_index_roots_is_refused(
    signed: tuple[LedgerStore, KeyPair],
) -> None:
    """Two index lines (of one version or of v1 and v2): which map does the log vouch for?
    One verifier reads the first, another the last; a checkpoint that commits to two maps
    commits to none."""
    store, log_key = signed
    text = prove_about(store, DANA)
    real = text.split("\n\n", 1)[1].split("\n")[3]
    assert real.startswith("index/v2 ")  # a ledger made by init_ledger today: rule v2
    v1 = real.replace("index/v2 ", "index/v1 ", 1)  # the same root, named v1
    other = extension_line(bytes(range(32)), "v2")
    head = text.split("\n\n", 1)[0]
    for lines in ((real, other), (other, real), (real, real), (real, v1), (v1, real)):
        note = _resigned(store, log_key, lines)
        _refused(head + "\n\n" + note, _vkey(store), "no_index_root")


def test_an_index_line_with_trailing_text_is_refused(signed: tuple[LedgerStore, KeyPair]) -> None:
    store, log_key = signed
    text = prove_about(store, DANA)
    real = text.split("\n\n", 1)[1].split("\n")[3]
    head = text.split("\n\n", 1)[0]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    odd = real[:-2] + alphabet[alphabet.index(real[-2]) ^ 1] + "="  # same bytes, bits set
    forms = (real + " x", real + "=", real.replace(" ", "  ", 1), real.replace("=", ""), odd)
    for line in forms:
        note = _resigned(store, log_key, (line,))
        _refused(head + "\n\n" + note, _vkey(store), "no_index_root")
    # another extension line beside it is fine (the spec allows them)
    note = _resigned(store, log_key, ("example.com/other-extension 1", real))
    assert verify_about(head + "\n\n" + note, _vkey(store)).key == DANA


def _cosigned(text: str, *lines: str) -> str:
    return text + "".join(lines)


def test_cosignatures_count_once_per_key_and_only_over_this_checkpoint(
    signed: tuple[LedgerStore, KeyPair],
) -> None:
    store, _ = signed
    text = prove_about(store, DANA)
    body = cp.split_note(text.split("\n\n", 1)[1])[0]
    w1, w2 = generate("w1"), generate("w2")
    one = WitnessKey("witness.example/w1", w1.private.public_key())
    alias = WitnessKey("witness.example/w1-again", w1.private.public_key())
    two = WitnessKey("witness.example/w2", w2.private.public_key())
    line1 = cosign(body, one.name, w1.private, 1764374400)
    vkeys = [one.vkey, two.vkey]
    # the same line twice is one cosignature: a quorum of 2 is not met
    with pytest.raises(ProofFailure) as twice:
        verify_about(_cosigned(text, line1, line1), _vkey(store), vkeys, 2)
    assert twice.value.reason == "witnesses"
    # one key under two names is one witness: a quorum of 2 over it is refused as a setting
    with pytest.raises(ConfigurationError):
        verify_about(
            _cosigned(text, line1, cosign(body, alias.name, w1.private, 1764374400)),
            _vkey(store),
            [one.vkey, alias.vkey],
            2,
        )
    # w2's cosignature over another checkpoint (the older one), copied onto this one
    older = cp.split_note(store.checkpoints()[0].note)[0]
    copied = cosign(older, two.name, w2.private, 1764374400)
    with pytest.raises(ProofFailure) as moved:
        verify_about(_cosigned(text, line1, copied), _vkey(store), vkeys, 1)
    assert moved.value.reason == "witnesses"
    # and both, honestly made, pass the quorum of 2
    line2 = cosign(body, two.name, w2.private, 1764374400)
    verdict = verify_about(_cosigned(text, line1, line2, line1), _vkey(store), vkeys, 2)
    assert sorted(verdict.cosigners) == [one.name, two.name]


def test_a_batch_refuses_a_proof_with_a_broken_path_as_verify_about_does(
    signed: tuple[LedgerStore, KeyPair],
) -> None:
    """Shared work may skip a path already verified, never a path not verified: a proof that
    fails alone must fail in the batch (a reader re-checks the packet's proofs one by one)."""
    from ledger.index.batch import AboutBatch
    from ledger.index.proof import parse_about
    from ledger.log.merkle import leaf_hash

    store, _ = signed
    text = prove_about(store, EPISODE)
    first = parse_about(text).entries[0]
    assert first.proof
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    lines[at + 1] = cp.b64encode(bytes(32))  # the first entry's path: its first hash zeroed
    broken = "\n".join(lines)
    _refused(broken, _vkey(store), "inclusion")
    batch = AboutBatch(_vkey(store))
    checkpoint, _ = batch.open_note(parse_about(text).checkpoint)
    batch.verify(text)  # the genuine proof first: its entries' inclusion is remembered
    with pytest.raises(ProofFailure) as in_batch:
        batch.verify(broken)
    assert in_batch.value.reason == "inclusion"
    seeded = AboutBatch(_vkey(store))  # as packet verify seeds it, from the evidence receipts
    seeded.known_included(
        checkpoint.size, checkpoint.root_hash, first.index, leaf_hash(first.entry), first.proof
    )
    with pytest.raises(ProofFailure) as after_seed:
        seeded.verify(broken)
    assert after_seed.value.reason == "inclusion"
    assert seeded.verify(text).key == EPISODE


@pytest.mark.parametrize(
    "key", ["episode:Fallen Tower/101", "prodution:Fallen Tower", "asset:", "x"]
)
def test_an_absence_proof_for_a_key_no_entry_is_ever_filed_under_is_refused(
    signed: tuple[LedgerStore, KeyPair], key: str
) -> None:
    """'The log holds nothing for episode:…' is true of every log and says nothing: handed to
    an auditor as 'the episode has no AI events', it would mislead."""
    from ledger.index.batch import AboutBatch
    from ledger.index.proof import _assemble

    store, _ = signed
    with pytest.raises(ConfigurationError, match="no entry is ever filed"):
        prove_about(store, key)
    latest = store.latest_checkpoint()
    assert latest is not None
    text = _assemble(store, key, latest.note, latest.size)
    _refused(text, _vkey(store), "malformed")
    with pytest.raises(ProofFailure) as in_batch:
        AboutBatch(_vkey(store)).verify(text)
    assert in_batch.value.reason == "malformed"
