"""Receipts (c2sp.org/tlog-proof@v1 carrying the entry): a real tree, real keys, real DSSE
envelopes, and every way a receipt can be wrong."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ConfigurationError, VerificationFailure
from ledger.log.checkpoint import Checkpoint, parse_vkey, signed_checkpoint
from ledger.log.merkle import MemoryNodeStore, MerkleTree, leaf_hash
from ledger.log.receipt import (
    HEADER,
    LEAF_TAG,
    Receipt,
    make_leaf_receipt,
    make_receipt,
    parse_receipt,
    verify_receipt,
)
from ledger.trust import dsse, keys

LOG_NAME = "example.com/asset-ledger"
PAYLOAD_TYPE = "application/vnd.assetledger.event+avro"
SIZE = 13


@dataclass
class Log:
    """A small in-memory log: entries, a tree, the log key and one producer key."""

    entries: list[bytes]
    tree: MerkleTree
    log_key: keys.KeyPair
    producer: keys.KeyPair

    @property
    def log_public(self) -> Ed25519PublicKey:
        return self.log_key.public

    @property
    def trusted(self) -> dict[str, Ed25519PublicKey]:
        return {self.producer.key_id: self.producer.public}

    def checkpoint(self, size: int | None = None, origin: str = LOG_NAME) -> str:
        size = self.tree.size if size is None else size
        body = Checkpoint(origin, size, self.tree.root(size))
        return signed_checkpoint(body, LOG_NAME, self.log_key.private)

    def receipt(self, index: int, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        proof = self.tree.inclusion_proof(index, size)
        return make_receipt(self.entries[index], index, proof, self.checkpoint(size))


def make_log(extra_entries: list[bytes] | None = None) -> Log:
    producer = keys.generate("camera-dept")
    entries = [
        dsse.sign(PAYLOAD_TYPE, b"event number %d" % i, producer).encode() for i in range(SIZE)
    ]
    entries += extra_entries or []
    store = MemoryNodeStore()
    tree = MerkleTree(store)
    store.put_nodes(tree.append([leaf_hash(e) for e in entries]))
    return Log(entries, tree, keys.generate("log"), producer)


@pytest.fixture(scope="module")
def log() -> Log:
    return make_log()


# ---------------------------------------------------------------------------------------------
# Round trips


def test_every_entry_has_a_verifying_receipt(log: Log) -> None:
    for index in range(SIZE):
        verdict = verify_receipt(log.receipt(index), LOG_NAME, log.log_public, log.trusted)
        assert verdict.index == index
        assert verdict.tree_size == SIZE
        assert verdict.root_hash == log.tree.root()
        assert verdict.leaf_hash == leaf_hash(log.entries[index])
        assert verdict.log_origin == LOG_NAME
        assert verdict.checkpoint_signature_ok
        assert verdict.inclusion_ok
        assert verdict.producer_signature_ok is True
        assert verdict.producer_signature_checked
        assert verdict.signer_keyid == log.producer.key_id


def test_receipt_against_a_historical_checkpoint(log: Log) -> None:
    for size in (1, 5, 8, 9):
        for index in range(size):
            verdict = verify_receipt(log.receipt(index, size), LOG_NAME, log.log_public)
            assert verdict.tree_size == size
            assert verdict.root_hash == log.tree.root(size)


def test_producer_signature_not_checked_without_trusted_signers(log: Log) -> None:
    verdict = verify_receipt(log.receipt(3), LOG_NAME, log.log_public)
    assert verdict.producer_signature_ok is None
    assert not verdict.producer_signature_checked
    assert verdict.signer_keyid is None
    assert verdict.inclusion_ok


def test_receipt_text_layout(log: Log) -> None:
    text = log.receipt(6)
    proof = log.tree.inclusion_proof(6, SIZE)
    checkpoint = log.checkpoint()
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" == HEADER
    assert lines[1] == "extra " + base64.b64encode(log.entries[6]).decode()
    assert lines[2] == "index 6"
    assert lines[3 : 3 + len(proof)] == [base64.b64encode(h).decode() for h in proof]
    assert lines[3 + len(proof)] == ""
    assert text.endswith("\n\n" + checkpoint)
    assert parse_receipt(text) == Receipt(log.entries[6], 6, tuple(proof), checkpoint)


def test_single_entry_log_has_an_empty_proof() -> None:
    one = make_log()
    store = MemoryNodeStore()
    one.tree = MerkleTree(store)
    store.put_nodes(one.tree.append([leaf_hash(one.entries[0])]))
    text = one.receipt(0)
    assert "index 0\n\n" in text
    verdict = verify_receipt(text, LOG_NAME, one.log_public, one.trusted)
    assert verdict.tree_size == 1


# ---------------------------------------------------------------------------------------------
# Failures


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.split("\n")
    lines[number] = new
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.replace(HEADER, "c2sp.org/tlog-proof@v2", 1), "does not start with"),
        (lambda t: replace_line(t, 1, "index 4"), "no 'extra' line"),
        (lambda t: replace_line(t, 1, "extra !!!"), "not valid base64"),
        (lambda t: replace_line(t, 1, "extra "), "extra line\\) is empty"),
        (lambda t: replace_line(t, 2, "idx 4"), "no 'index N' line"),
        (lambda t: replace_line(t, 2, "index 04"), "leading zeroes"),
        (lambda t: replace_line(t, 2, "index -4"), "leading zeroes"),
        (lambda t: replace_line(t, 3, "not base64!"), "proof hash #0 is not valid base64"),
        (lambda t: replace_line(t, 3, base64.b64encode(b"x" * 31).decode()), "31 bytes"),
        (lambda t: t.split("\n\n")[0] + "\n", "no empty line followed by a signed checkpoint"),
        (lambda t: t.replace("\n", "\r\n"), "receipt"),
    ],
)
def test_malformed_receipts(log: Log, mangle: object, message: str) -> None:
    assert callable(mangle)
    text = mangle(log.receipt(4))
    with pytest.raises(VerificationFailure, match=message):
        verify_receipt(text, LOG_NAME, log.log_public, log.trusted)


def test_checkpoint_signed_by_another_key(log: Log) -> None:
    with pytest.raises(VerificationFailure, match=r"^checkpoint: note has no signature by key"):
        verify_receipt(log.receipt(4), LOG_NAME, keys.generate("x").public)


def test_checkpoint_for_another_log_name(log: Log) -> None:
    with pytest.raises(VerificationFailure, match=r"^checkpoint: note has no signature"):
        verify_receipt(log.receipt(4), "example.com/other", log.log_public)


def test_checkpoint_with_another_origin(log: Log) -> None:
    proof = log.tree.inclusion_proof(4, SIZE)
    cp = log.checkpoint(origin="example.com/other")
    text = make_receipt(log.entries[4], 4, proof, cp)
    with pytest.raises(VerificationFailure, match=r"^checkpoint: checkpoint is for log"):
        verify_receipt(text, LOG_NAME, log.log_public)


def test_tampered_checkpoint_size_or_root(log: Log) -> None:
    text = log.receipt(4)
    with pytest.raises(VerificationFailure, match=r"^checkpoint: invalid signature"):
        verify_receipt(text.replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n"), LOG_NAME, log.log_public)
    root_b64 = base64.b64encode(log.tree.root()).decode()
    other_b64 = base64.b64encode(log.tree.root(SIZE - 1)).decode()
    with pytest.raises(VerificationFailure, match=r"^checkpoint: invalid signature"):
        verify_receipt(text.replace(root_b64, other_b64), LOG_NAME, log.log_public)


def test_entry_swapped_for_another(log: Log) -> None:
    text = log.receipt(4)
    swapped = text.replace(
        base64.b64encode(log.entries[4]).decode(), base64.b64encode(log.entries[5]).decode()
    )
    with pytest.raises(VerificationFailure, match=r"^inclusion: entry is not proven at index 4"):
        verify_receipt(swapped, LOG_NAME, log.log_public, log.trusted)


def test_entry_with_one_flipped_bit(log: Log) -> None:
    receipt = parse_receipt(log.receipt(4))
    for position in range(0, len(receipt.entry), 7):
        entry = bytearray(receipt.entry)
        entry[position] ^= 0x01
        text = make_receipt(bytes(entry), 4, receipt.proof, receipt.checkpoint)
        with pytest.raises(VerificationFailure, match=r"^inclusion:"):
            verify_receipt(text, LOG_NAME, log.log_public, log.trusted)


def test_wrong_index(log: Log) -> None:
    receipt = parse_receipt(log.receipt(4))
    for index in [*range(SIZE + 3)]:
        if index != 4:
            text = make_receipt(receipt.entry, index, receipt.proof, receipt.checkpoint)
            with pytest.raises(VerificationFailure, match=r"^inclusion:"):
                verify_receipt(text, LOG_NAME, log.log_public)


def test_tampered_missing_and_extra_proof_hashes(log: Log) -> None:
    receipt = parse_receipt(log.receipt(4))
    proof = list(receipt.proof)
    variants = [proof[:-1], proof[1:], [*proof, proof[0]], [proof[-1], *proof]]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = bytes([flipped[position][0] ^ 0x80]) + flipped[position][1:]
        variants.append(flipped)
    for variant in variants:
        text = make_receipt(receipt.entry, 4, variant, receipt.checkpoint)
        with pytest.raises(VerificationFailure, match=r"^inclusion:"):
            verify_receipt(text, LOG_NAME, log.log_public)


def test_untrusted_producer(log: Log) -> None:
    stranger = keys.generate("stranger")
    with pytest.raises(VerificationFailure, match=r"^producer signature: signed only by unknown"):
        verify_receipt(log.receipt(4), LOG_NAME, log.log_public, {stranger.key_id: stranger.public})


def test_logged_entry_with_a_bad_producer_signature() -> None:
    """The log holds an envelope whose signature was made over another payload."""
    producer = keys.generate("camera-dept")
    good = dsse.sign(PAYLOAD_TYPE, b"original", producer)
    forged = dsse.Envelope(PAYLOAD_TYPE, b"altered", good.signatures).encode()
    bad_log = make_log([forged])
    bad_log.producer = producer
    text = bad_log.receipt(SIZE)
    verdict = verify_receipt(text, LOG_NAME, bad_log.log_public)  # inclusion alone is fine
    assert verdict.producer_signature_ok is None
    with pytest.raises(VerificationFailure, match=r"^producer signature: signature by key"):
        verify_receipt(text, LOG_NAME, bad_log.log_public, bad_log.trusted)


def test_logged_entry_that_is_not_an_envelope() -> None:
    bad_log = make_log([b"plain bytes, not Avro"])
    text = bad_log.receipt(SIZE)
    assert verify_receipt(text, LOG_NAME, bad_log.log_public).inclusion_ok
    with pytest.raises(VerificationFailure, match=r"^producer signature: entry is not a DSSE"):
        verify_receipt(text, LOG_NAME, bad_log.log_public, bad_log.trusted)


def test_make_receipt_rejects_bad_input(log: Log) -> None:
    proof = log.tree.inclusion_proof(4, SIZE)
    checkpoint = log.checkpoint()
    with pytest.raises(ConfigurationError):
        make_receipt(b"", 4, proof, checkpoint)
    with pytest.raises(ConfigurationError):
        make_receipt(log.entries[4], -1, proof, checkpoint)
    with pytest.raises(ConfigurationError, match="proof hash #1"):
        make_receipt(log.entries[4], 4, [proof[0], b"short"], checkpoint)
    with pytest.raises(ConfigurationError, match="not a signed note"):
        make_receipt(log.entries[4], 4, proof, "example.com/asset-ledger\n13\n")


# ---------------------------------------------------------------------------------------------
# The example in docs/proofs.md


def test_documented_example_receipt_verifies() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "proofs.md").read_text("utf-8")
    block = doc.split("<!-- example-receipt:begin -->\n```\n")[1].split("```\n")[0]
    vkey_line = re.search(r"`(example\.com/asset-ledger\+[0-9a-f]{8}\+\S+)`", doc)
    assert vkey_line is not None
    name, log_public = parse_vkey(vkey_line.group(1))
    seed = hashlib.sha256(b"asset-ledger example producer key").digest()
    producer = keys.KeyPair("example-producer", Ed25519PrivateKey.from_private_bytes(seed))
    assert producer.key_id in doc
    verdict = verify_receipt(block, name, log_public, {producer.key_id: producer.public})
    assert (verdict.index, verdict.tree_size) == (2, 5)
    assert verdict.leaf_hash.hex() in doc
    assert verdict.root_hash.hex() in doc
    assert verdict.signer_keyid == producer.key_id
    envelope = dsse.Envelope.decode(parse_receipt(block).entry)
    assert (envelope.payload_type, envelope.payload) == ("text/plain", b"example event 2")


# ---------------------------------------------------------------------------------------------
# What a receipt proves: the event id and asset version of the proven entry


def event_log() -> tuple[Log, list[str]]:
    """A log of real signed provenance events (the demo's), with their event ids."""
    from demo.story import production
    from producers.emitter import build_message

    producer = keys.generate("artist")
    messages = [
        build_message(dict(event, producer_id="t", producer_seq=i), producer, source="/t")
        for i, (_, event) in enumerate(production()[:3])
    ]
    log = make_log([m.value for m in messages])
    log.producer = producer
    return log, [m.event_id for m in messages]


def test_the_verdict_names_the_proven_event_and_asset_version() -> None:
    log, ids = event_log()
    verdict = verify_receipt(log.receipt(SIZE + 2), LOG_NAME, log.log_public, log.trusted)
    assert verdict.identity is not None
    assert verdict.identity.event_id == ids[2]
    assert verdict.identity.asset_version == "fallen-tower/ep101/sq040/sh010/roto@v001"
    assert verdict.identity.kind == "provenance_event"


def test_a_receipt_for_another_event_is_refused_when_an_id_is_required() -> None:
    log, ids = event_log()
    receipt = log.receipt(SIZE + 1)  # what an altered event-id index would hand out for ids[2]
    assert verify_receipt(receipt, LOG_NAME, log.log_public, event_id=ids[1]).identity
    with pytest.raises(
        VerificationFailure, match=rf"^event id: this receipt proves event {ids[1]}"
    ):
        verify_receipt(receipt, LOG_NAME, log.log_public, event_id=ids[2])


def test_an_entry_that_is_no_event_cannot_match_a_required_id(log: Log) -> None:
    verdict = verify_receipt(log.receipt(4), LOG_NAME, log.log_public)
    assert verdict.identity is None and verdict.identity_problem
    with pytest.raises(VerificationFailure, match="not an asset-ledger event"):
        verify_receipt(log.receipt(4), LOG_NAME, log.log_public, event_id="any")


def test_cli_prints_the_proven_event_and_checks_event_id(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import cli
    from ledger.log.checkpoint import vkey

    log, ids = event_log()
    path = tmp_path / "entry.tlog-proof"
    path.write_text(log.receipt(SIZE + 2), encoding="utf-8")
    key = vkey(LOG_NAME, log.log_public)
    ok = CliRunner().invoke(cli, ["verify-receipt", str(path), "--log-key", key])
    assert ok.exit_code == 0, ok.output
    assert f"proves: event {ids[2]} (provenance_event, asset fallen-tower/" in ok.stdout
    required = ["verify-receipt", str(path), "--log-key", key, "--event-id", ids[2]]
    assert CliRunner().invoke(cli, required).exit_code == 0
    wrong = CliRunner().invoke(cli, [*required[:-1], ids[0], "--format", "json"])
    assert wrong.exit_code == 1 and "this receipt proves event" in wrong.output


# ---------------------------------------------------------------------------------------------
# Leaf-hash receipts: inclusion proven without the entry's bytes (issue 19 §6)


def leaf_receipt(log: Log, index: int) -> str:
    proof = log.tree.inclusion_proof(index, log.tree.size)
    return make_leaf_receipt(leaf_hash(log.entries[index]), index, proof, log.checkpoint())


def test_a_leaf_hash_receipt_verifies_and_holds_no_entry(log: Log) -> None:
    text = leaf_receipt(log, 5)
    extra = base64.b64decode(text.splitlines()[1].removeprefix("extra "))
    assert extra == LEAF_TAG + leaf_hash(log.entries[5])
    assert log.entries[5] not in extra and b"event number" not in extra
    verdict = verify_receipt(text, LOG_NAME, log.log_public)
    assert verdict.leaf_only and verdict.identity is None
    assert verdict.leaf_hash == leaf_hash(log.entries[5])
    assert (verdict.index, verdict.tree_size, verdict.producer_signature_ok) == (5, SIZE, None)


def test_a_leaf_hash_receipt_for_another_leaf_or_index_fails(log: Log) -> None:
    text = leaf_receipt(log, 5)
    other = base64.b64encode(LEAF_TAG + leaf_hash(log.entries[6])).decode()
    with pytest.raises(VerificationFailure, match="inclusion"):
        verify_receipt(replace_line(text, 1, "extra " + other), LOG_NAME, log.log_public)
    with pytest.raises(VerificationFailure, match="inclusion"):
        verify_receipt(replace_line(text, 2, "index 6"), LOG_NAME, log.log_public)
    short = base64.b64encode(LEAF_TAG + b"\x00" * 31).decode()
    with pytest.raises(VerificationFailure, match="31 bytes"):
        verify_receipt(replace_line(text, 1, "extra " + short), LOG_NAME, log.log_public)


def test_a_leaf_hash_receipt_cannot_claim_an_event_or_a_signer(log: Log) -> None:
    text = leaf_receipt(log, 5)
    with pytest.raises(VerificationFailure, match="holds no entry, so that it proves event"):
        verify_receipt(text, LOG_NAME, log.log_public, event_id="some-event")
    with pytest.raises(VerificationFailure, match="the producer's signature cannot be checked"):
        verify_receipt(text, LOG_NAME, log.log_public, log.trusted)


def test_a_full_receipt_and_a_leaf_receipt_prove_the_same_leaf(log: Log) -> None:
    full = verify_receipt(log.receipt(7), LOG_NAME, log.log_public)
    leaf = verify_receipt(leaf_receipt(log, 7), LOG_NAME, log.log_public)
    assert full.leaf_hash == leaf.leaf_hash and not full.leaf_only


def test_documented_leaf_hash_receipt_verifies_and_is_the_example_without_its_entry() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "proofs.md").read_text("utf-8")
    full = doc.split("<!-- example-receipt:begin -->\n```\n")[1].split("```\n")[0]
    leaf = doc.split("<!-- example-leaf-receipt:begin -->\n```\n")[1].split("```\n")[0]
    vkey_line = re.search(r"`(example\.com/asset-ledger\+[0-9a-f]{8}\+\S+)`", doc)
    assert vkey_line is not None
    name, log_public = parse_vkey(vkey_line.group(1))
    verdict = verify_receipt(leaf, name, log_public)
    assert verdict.leaf_only and (verdict.index, verdict.tree_size) == (2, 5)
    assert verdict.leaf_hash == verify_receipt(full, name, log_public).leaf_hash
    assert verdict.leaf_hash.hex() in doc
    assert len(LEAF_TAG) == 26 and f'"{LEAF_TAG.decode()[:-1]}\\n" (26 ASCII bytes)' in doc


def test_receipts_sharing_decoded_proof_lines_are_each_still_checked(log: Log) -> None:
    """parse_receipt(decoded=...): the proof lines many receipts share are decoded once; a
    line not decoded before (mangled, not canonical, another size) is still refused, and a
    refused line is not remembered."""
    texts = [log.receipt(index) for index in range(SIZE)]
    decoded: dict[str, bytes] = {}
    assert [parse_receipt(t, decoded=decoded) for t in texts] == [parse_receipt(t) for t in texts]
    lines = sum((len(t.split("\n\n")[0].split("\n")) - 3 for t in texts), 0)
    assert 0 < len(decoded) < lines  # shared lines were decoded once
    shared = log.receipt(4).split("\n")[3]
    assert shared in decoded
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    uncanonical = shared[:-2] + last[last.index(shared[-2]) ^ 1] + "="  # the padding bits set
    for line, message in [
        ("not base64!", "proof hash #0 is not valid base64"),
        (uncanonical, "proof hash #0 is not canonical base64"),
        (base64.b64encode(b"x" * 31).decode(), "31 bytes"),
    ]:
        with pytest.raises(VerificationFailure, match=message):
            parse_receipt(replace_line(log.receipt(4), 3, line), decoded=decoded)
        assert line not in decoded
