"""Checkpoints and signed notes, with known answers from golang.org/x/mod/sumdb/note."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import ConfigurationError, KeyFileError, VerificationFailure
from ledger.log.checkpoint import (
    Checkpoint,
    note_key_id,
    open_checkpoint,
    parse_body,
    parse_vkey,
    sign_note,
    signed_checkpoint,
    split_note,
    verify_note,
    vkey,
)
from ledger.log.merkle import EMPTY_ROOT
from ledger.trust.keys import raw_public

# Known answers from golang.org/x/mod/sumdb/note (note.go doc comment and note_test.go).
PETER_SKEY_DATA = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || Ed25519 seed
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

ORIGIN = "example.com/asset-ledger"
ROOT = hashlib.sha256(b"some root").digest()


def peter_private() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY_DATA)
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


@pytest.fixture(scope="module")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# ---------------------------------------------------------------------------------------------
# Known answers


def test_known_vkey_and_key_id() -> None:
    public = peter_private().public_key()
    assert note_key_id("PeterNeumann", public).hex() == "c74f20a3"
    assert vkey("PeterNeumann", public) == PETER_VKEY
    name, parsed = parse_vkey(PETER_VKEY)
    assert name == "PeterNeumann"
    assert raw_public(parsed) == raw_public(public)


def test_known_signature() -> None:
    note = sign_note(TEXT.encode(), "PeterNeumann", peter_private())
    assert note == TEXT + "\n" + PETER_SIG


def test_known_doubly_signed_note_verifies_with_either_key_alone() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    peter_name, peter = parse_vkey(PETER_VKEY)
    enoch_name, enoch = parse_vkey(ENOCH_VKEY)
    assert verify_note(note, peter_name, peter) == TEXT.encode()
    assert verify_note(note, enoch_name, enoch) == TEXT.encode()


def test_known_bad_notes_are_malformed() -> None:
    name, public = parse_vkey(PETER_VKEY)
    bad_notes = [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZS"
        "NXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ]
    for note in bad_notes:
        with pytest.raises(VerificationFailure, match="malformed note"):
            verify_note(note, name, public)


def test_known_corrupt_signature_is_invalid() -> None:
    name, public = parse_vkey(PETER_VKEY)
    note = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(
        VerificationFailure, match=r"invalid signature by key PeterNeumann\+c74f20a3"
    ):
        verify_note(note, name, public)


def test_vkey_manglings_are_rejected() -> None:
    """Every proper substring and every single-character change (as note_test.go does)."""
    for start in range(len(PETER_VKEY)):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(KeyFileError):
                    parse_vkey(PETER_VKEY[start:end])
    for position in range(len(PETER_VKEY)):
        changed = PETER_VKEY[:position] + chr(ord(PETER_VKEY[position]) + 1)
        with pytest.raises(KeyFileError):
            parse_vkey(changed + PETER_VKEY[position + 1 :])


def test_vkey_of_unknown_algorithm_is_rejected() -> None:
    # A key of type 0x65 with a matching key id (from note_test.go).
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        parse_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_key_id_is_the_c2sp_formula(log_key: Ed25519PrivateKey) -> None:
    public = log_key.public_key()
    material = ORIGIN.encode() + b"\n\x01" + raw_public(public)
    assert note_key_id(ORIGIN, public) == hashlib.sha256(material).digest()[:4]
    assert vkey(ORIGIN, public).split("+")[1] == hashlib.sha256(material).digest()[:4].hex()


# ---------------------------------------------------------------------------------------------
# Checkpoint bodies


def test_body_format_and_round_trip() -> None:
    checkpoint = Checkpoint(ORIGIN, 20852163, ROOT, ("ext one", "ext two"))
    expected = f"{ORIGIN}\n20852163\n{base64.b64encode(ROOT).decode()}\next one\next two\n"
    assert checkpoint.body() == expected.encode()
    assert parse_body(checkpoint.body()) == checkpoint
    empty = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert parse_body(empty.body()) == empty


def test_spec_example_body_parses() -> None:
    body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = parse_body(body)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.body() == body


ROOT_B64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n5\n{ROOT_B64}", "does not end with a newline"),
        (f"{ORIGIN}\n5\n", "needs at least 3"),
        (f"\n5\n{ROOT_B64}\n", "origin line is empty"),
        (f"{ORIGIN}\n05\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\n-5\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\n+5\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\n 5\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\nfive\n{ROOT_B64}\n", "leading zeroes"),
        (f"{ORIGIN}\n5\n{ROOT_B64[:-1]}\n", "not valid base64"),
        (f"{ORIGIN}\n5\n{ROOT.hex()}\n", "root hash"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"{ORIGIN}\n5\n{ROOT_B64}\n\n", "empty extension line"),
        (f"{ORIGIN}\n5\n{ROOT_B64}\r\n", "control characters"),
        (f"{ORIGIN}\n0\n{ROOT_B64}\n", "empty-tree root"),
    ],
)
def test_malformed_bodies_are_rejected(body: str, message: str) -> None:
    with pytest.raises(VerificationFailure, match=message):
        parse_body(body.encode())


def test_non_canonical_base64_root_is_rejected() -> None:
    # The last base64 digit carries 2 unused bits; setting one gives the same bytes.
    last = ROOT_B64[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sloppy = ROOT_B64[:-2] + alphabet[alphabet.index(last) | 1] + "="
    assert base64.b64decode(sloppy) == ROOT
    assert sloppy != ROOT_B64
    with pytest.raises(VerificationFailure, match="not canonical"):
        parse_body(f"{ORIGIN}\n5\n{sloppy}\n".encode())


def test_invalid_utf8_body_is_rejected() -> None:
    with pytest.raises(VerificationFailure, match="UTF-8"):
        parse_body(b"\xff\n5\n" + ROOT_B64.encode() + b"\n")


def test_invalid_checkpoints_cannot_be_built() -> None:
    with pytest.raises(ConfigurationError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(ConfigurationError):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(ConfigurationError):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(ConfigurationError):
        Checkpoint(ORIGIN, 1, ROOT[:20])
    with pytest.raises(ConfigurationError):
        Checkpoint(ORIGIN, 1, ROOT, ("",))


# ---------------------------------------------------------------------------------------------
# Signed checkpoints


def test_signed_checkpoint_round_trip(log_key: Ed25519PrivateKey) -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT)
    note = signed_checkpoint(checkpoint, ORIGIN, log_key)
    body, signatures = split_note(note)
    assert body == checkpoint.body()
    assert note.startswith(checkpoint.body().decode() + "\n— " + ORIGIN + " ")
    assert note.endswith("\n")
    assert len(signatures) == 1
    name, signature = signatures[0]
    assert name == ORIGIN
    assert signature[:4] == note_key_id(ORIGIN, log_key.public_key())
    assert len(signature) == 68
    assert open_checkpoint(note, ORIGIN, log_key.public_key()) == checkpoint


def test_tampered_body_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note = signed_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, log_key)
    tampered = note.replace("\n42\n", "\n43\n", 1)
    assert tampered != note
    with pytest.raises(VerificationFailure, match="invalid signature"):
        open_checkpoint(tampered, ORIGIN, log_key.public_key())


def test_wrong_key_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note = signed_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, log_key)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(VerificationFailure, match="no signature by key"):
        open_checkpoint(note, ORIGIN, other)


def test_same_name_and_key_id_with_another_key_fails_signature(log_key: Ed25519PrivateKey) -> None:
    """A forged line carrying the right name and key id must be verified, and fail."""
    note = signed_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, log_key)
    body, _ = split_note(note)
    forged_sig = Ed25519PrivateKey.generate().sign(body)
    key_id = note_key_id(ORIGIN, log_key.public_key())
    forged_line = f"— {ORIGIN} " + base64.b64encode(key_id + forged_sig).decode() + "\n"
    forged = body.decode() + "\n" + forged_line
    with pytest.raises(VerificationFailure, match="invalid signature"):
        open_checkpoint(forged, ORIGIN, log_key.public_key())
    # ...and it poisons an otherwise valid note too: a known key's bad signature rejects it.
    with pytest.raises(VerificationFailure, match="invalid signature"):
        open_checkpoint(note + forged_line, ORIGIN, log_key.public_key())


def test_wrong_name_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note = signed_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, log_key)
    with pytest.raises(VerificationFailure, match="no signature by key"):
        open_checkpoint(note, "example.com/other-log", log_key.public_key())


def test_origin_must_match(log_key: Ed25519PrivateKey) -> None:
    note = signed_checkpoint(Checkpoint("example.com/other-log", 42, ROOT), ORIGIN, log_key)
    with pytest.raises(VerificationFailure, match=r"is for log 'example\.com/other-log'"):
        open_checkpoint(note, ORIGIN, log_key.public_key())
    cp = open_checkpoint(note, ORIGIN, log_key.public_key(), origin="example.com/other-log")
    assert cp.size == 42


def test_missing_blank_line_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note = signed_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, log_key)
    with pytest.raises(VerificationFailure, match="no blank line"):
        verify_note(note.replace("\n\n", "\n", 1), ORIGIN, log_key.public_key())


def test_other_key_signatures_are_ignored(log_key: Ed25519PrivateKey) -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT)
    body = checkpoint.body()
    witness = Ed25519PrivateKey.generate()
    witness_line = sign_note(body, "witness.example", witness).split("\n\n")[1]
    garbage_line = "— witness2.example " + base64.b64encode(b"\x00" * 4 + b"x" * 64).decode() + "\n"
    # An unknown key sharing the log's *name* but not its key id is also ignored.
    impostor = Ed25519PrivateKey.generate()
    impostor_line = sign_note(body, ORIGIN, impostor).split("\n\n")[1]
    note = signed_checkpoint(checkpoint, ORIGIN, log_key)
    for extra in (witness_line, garbage_line, impostor_line):
        assert open_checkpoint(note + extra, ORIGIN, log_key.public_key()) == checkpoint
    assert verify_note(note + witness_line, "witness.example", witness.public_key()) == body
    only_others = body.decode() + "\n" + witness_line + garbage_line + impostor_line
    with pytest.raises(VerificationFailure, match="no signature by key"):
        open_checkpoint(only_others, ORIGIN, log_key.public_key())


def test_bad_signing_input_is_a_configuration_error(log_key: Ed25519PrivateKey) -> None:
    for name in ("", "has space", "a+b", "tab\tname"):
        with pytest.raises(ConfigurationError):
            sign_note(b"text\n", name, log_key)
    with pytest.raises(ConfigurationError, match="end with a newline"):
        sign_note(b"text", ORIGIN, log_key)
    with pytest.raises(ConfigurationError, match="control characters"):
        sign_note(b"te\x00xt\n", ORIGIN, log_key)
    with pytest.raises(ConfigurationError):
        vkey("a b", log_key.public_key())


@pytest.mark.parametrize("size", ["9" * 5000, str(2**64)])
def test_absurd_sizes_are_refused_not_crashed_on(size: str) -> None:
    # int() refuses more than 4,300 digits with a ValueError; that must never escape.
    with pytest.raises(VerificationFailure, match="below 2"):
        parse_body(f"{ORIGIN}\n{size}\n{ROOT_B64}\n".encode())
