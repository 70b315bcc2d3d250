"""Witness cosignatures (c2sp.org/tlog-cosignature, cosignature/v1), checked against the spec."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import ConfigurationError, KeyFileError, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.log.receipt import parse_receipt
from ledger.witness.cosignature import (
    WitnessKey,
    add_cosignatures,
    cosign,
    parse_witness_vkey,
    require_quorum,
    verify_cosignatures,
)

LOG_KEY = Ed25519PrivateKey.generate()
ORIGIN = "example.com/log"
BODY = cp.Checkpoint(ORIGIN, 7, hashlib.sha256(b"root").digest()).body()
NOTE = cp.sign_note(BODY, ORIGIN, LOG_KEY)
NOW = 1_800_000_000


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _witness(name: str) -> tuple[Ed25519PrivateKey, WitnessKey]:
    private = Ed25519PrivateKey.generate()
    return private, WitnessKey(name, private.public_key())


# ---------------------------------------------------------------------------------------------
# An independent reading of the specification, written from c2sp.org/tlog-cosignature only
# (no code of the module under test).


def spec_verify(line: str, note_text: bytes, name: str, public_raw: bytes) -> int:
    """Verify one cosignature/v1 line as the specification describes it; return its time."""
    assert line.startswith("\u2014 ") and line.endswith("\n")
    signer, encoded = line[2:-1].split(" ")
    assert signer == name
    blob = base64.b64decode(encoded, validate=True)
    assert len(blob) == 4 + 8 + 64
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_raw).digest()[:4]
    assert blob[:4] == key_id
    timestamp = int.from_bytes(blob[4:12], "big")
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + note_text
    Ed25519PublicKey.from_public_bytes(public_raw).verify(blob[12:], message)  # raises if bad
    return timestamp


def spec_sign(note_text: bytes, name: str, private: Ed25519PrivateKey, timestamp: int) -> str:
    public_raw = _raw(private.public_key())
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public_raw).digest()[:4]
    message = b"cosignature/v1\ntime %d\n" % timestamp + note_text
    blob = key_id + timestamp.to_bytes(8, "big") + private.sign(message)
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"


def test_cosignature_line_matches_the_specification() -> None:
    private, key = _witness("witness.example/w1")
    line = cosign(BODY, key.name, private, timestamp=NOW)
    assert spec_verify(line, BODY, key.name, _raw(private.public_key())) == NOW
    assert line == spec_sign(BODY, key.name, private, NOW)  # Ed25519 is deterministic


def test_a_line_made_from_the_specification_verifies() -> None:
    private, key = _witness("witness.example/w2")
    note = NOTE + spec_sign(BODY, key.name, private, NOW)
    [valid] = verify_cosignatures(note, [key], now=NOW)
    assert (valid.witness, valid.timestamp) == (key, NOW)


def test_key_id_uses_type_0x04_not_the_log_type() -> None:
    private, key = _witness("witness.example/w1")
    raw = _raw(private.public_key())
    assert key.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + raw).digest()[:4]
    assert key.key_id != cp.note_key_id(key.name, key.public_key)  # the 0x01 id differs
    assert key.vkey == f"witness.example/w1+{key.key_id.hex()}+" + base64.b64encode(
        b"\x04" + raw
    ).decode("ascii")
    assert parse_witness_vkey(key.vkey) == key


def test_vkey_types_are_not_interchangeable() -> None:
    _, key = _witness("witness.example/w1")
    with pytest.raises(KeyFileError, match=r"type 0x01 \(a log key\): its type byte is 0x04"):
        cp.parse_vkey(key.vkey)  # a witness key is no log key
    log_vkey = cp.vkey(ORIGIN, LOG_KEY.public_key())
    wanted = r"type 0x04 \(a cosignature/v1 witness key\): its type byte is 0x01"
    with pytest.raises(KeyFileError, match=wanted):
        parse_witness_vkey(log_vkey)


def test_the_log_signature_is_ignored_and_other_witnesses_too() -> None:
    private, key = _witness("witness.example/w1")
    _, stranger = _witness("witness.example/w1")  # same name, other key: ignored
    note = NOTE + cosign(BODY, key.name, private, timestamp=NOW)
    assert [c.witness for c in verify_cosignatures(note, [key, stranger], now=NOW)] == [key]
    assert cp.verify_note(note, ORIGIN, LOG_KEY.public_key()) == BODY  # log check unaffected


def test_a_line_copied_onto_another_checkpoint_is_refused() -> None:
    private, key = _witness("witness.example/w1")
    line = cosign(BODY, key.name, private, timestamp=NOW)
    other = cp.Checkpoint(ORIGIN, 8, hashlib.sha256(b"other").digest()).body()
    forged = cp.sign_note(other, ORIGIN, LOG_KEY) + line
    with pytest.raises(VerificationFailure, match="invalid cosignature"):
        verify_cosignatures(forged, [key], now=NOW)


def test_a_changed_timestamp_is_refused() -> None:
    private, key = _witness("witness.example/w1")
    blob = bytearray(base64.b64decode(cosign(BODY, key.name, private, NOW).split()[2]))
    blob[4:12] = (NOW - 3600).to_bytes(8, "big")  # claim it is older
    line = f"\u2014 {key.name} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(VerificationFailure, match="invalid cosignature"):
        verify_cosignatures(NOTE + line, [key], now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "message"), [(0, "invalid timestamp"), (NOW + 3600, "in the future")]
)
def test_zero_or_future_timestamps_are_refused(timestamp: int, message: str) -> None:
    private, key = _witness("witness.example/w1")
    line = spec_sign(BODY, key.name, private, timestamp)
    with pytest.raises(VerificationFailure, match=message):
        verify_cosignatures(NOTE + line, [key], now=NOW)


def test_truncated_cosignature_is_refused() -> None:
    private, key = _witness("witness.example/w1")
    blob = base64.b64decode(cosign(BODY, key.name, private, NOW).split()[2])
    line = f"\u2014 {key.name} {base64.b64encode(blob[:40]).decode()}\n"
    with pytest.raises(VerificationFailure, match="not 72"):
        verify_cosignatures(NOTE + line, [key], now=NOW)


def test_quorum_counts_distinct_public_keys_not_names() -> None:
    """One Ed25519 key under two names is one witness (the message does not name it)."""
    private, key = _witness("witness.example/w1")
    alias = WitnessKey("witness.example/alias", private.public_key())
    note = NOTE + cosign(BODY, key.name, private, NOW) + cosign(BODY, alias.name, private, NOW)
    assert len(verify_cosignatures(note, [key, alias], now=NOW)) == 1
    with pytest.raises(ConfigurationError, match="distinct witness key"):
        require_quorum(note, [key, alias], 2, now=NOW)
    _, other = _witness("witness.example/w2")
    with pytest.raises(VerificationFailure, match="1 valid witness cosignature"):
        require_quorum(note, [key, alias, other], 2, now=NOW)


def test_quorum_of_two_of_three() -> None:
    witnesses = [_witness(f"witness.example/w{i}") for i in range(3)]
    lines = [cosign(BODY, k.name, p, NOW) for p, k in witnesses[:2]]
    note = add_cosignatures(NOTE, [*lines, lines[0]])  # a repeated line is added once
    assert note.count("\u2014 ") == 3
    keys = [k for _, k in witnesses]
    assert len(require_quorum(note, keys, 2, now=NOW)) == 2
    with pytest.raises(VerificationFailure, match="2 valid witness cosignature"):
        require_quorum(note, keys, 3, now=NOW)
    with pytest.raises(ConfigurationError, match="at least 1"):
        require_quorum(note, keys, 0, now=NOW)


def test_cosign_refuses_a_zero_timestamp() -> None:
    private, key = _witness("witness.example/w1")
    with pytest.raises(ConfigurationError, match="out of range"):
        cosign(BODY, key.name, private, timestamp=0)


# ---------------------------------------------------------------------------------------------
# The example in docs/proofs.md §8


def test_documented_cosigned_checkpoint_verifies() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "proofs.md").read_text("utf-8")
    block = doc.split("<!-- example-cosigned:begin -->\n```\n")[1].split("```\n")[0]
    receipt = doc.split("<!-- example-receipt:begin -->\n```\n")[1].split("```\n")[0]
    assert block.startswith(parse_receipt(receipt).checkpoint)  # the receipt's checkpoint
    keys = [parse_witness_vkey(v) for v in re.findall(r"`(witness\.example/w\d\+\S+)`", doc)]
    assert len(keys) == 2
    for i, key in enumerate(keys, start=1):
        seed = hashlib.sha256(b"asset-ledger example witness key %d" % i).digest()
        assert key.raw == _raw(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    valid = require_quorum(block, keys, 2, now=1764374400)
    assert {c.timestamp for c in valid} == {1764374400}
    text, _ = cp.split_note(block)
    for cosignature in valid:
        spec_verify(cosignature.line, text, cosignature.witness.name, cosignature.witness.raw)


def test_extension_lines_are_part_of_the_signed_message() -> None:
    private, key = _witness("witness.example/w1")
    body = cp.Checkpoint(ORIGIN, 7, hashlib.sha256(b"root").digest(), ("ext line",)).body()
    line = cosign(body, key.name, private, timestamp=NOW)
    assert spec_verify(line, body, key.name, key.raw) == NOW
    with pytest.raises(VerificationFailure, match="invalid cosignature"):
        verify_cosignatures(NOTE + line, [key], now=NOW)  # same three lines, no extension
