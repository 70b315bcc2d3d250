"""DSSE pre-authentication encoding, Avro envelope and Ed25519 signatures."""

from __future__ import annotations

import random

import pytest

from ledger.errors import DecodeError, SignatureError, UntrustedKeyError
from ledger.events.encoding import reader_framing
from ledger.trust import dsse, keys


def test_pae_matches_the_dsse_spec_example() -> None:
    # DSSE protocol.md example: PAE("http://example.com/HelloWorld", "hello world")
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t/é", b"\x00\x01") == b"DSSEv1 4 t/\xc3\xa9 2 \x00\x01"


def test_sign_encode_decode_verify() -> None:
    pair = keys.generate("artist")
    envelope = dsse.sign("application/x-test", b"payload", pair)
    data = envelope.encode()
    assert data[:2] == b"\xc3\x01"
    back = dsse.Envelope.decode(data)
    assert back == envelope
    assert dsse.verify_trusted(back, {pair.key_id: pair.public}) == pair.key_id


def test_altered_payload_fails() -> None:
    pair = keys.generate("artist")
    envelope = dsse.sign("application/x-test", b"payload", pair)
    altered = dsse.Envelope(envelope.payload_type, b"payl0ad", envelope.signatures)
    with pytest.raises(SignatureError, match="does not verify"):
        dsse.verify_trusted(altered, {pair.key_id: pair.public})


def test_changed_payload_type_fails() -> None:
    pair = keys.generate("artist")
    envelope = dsse.sign("application/x-test", b"payload", pair)
    retyped = dsse.Envelope("application/x-other", envelope.payload, envelope.signatures)
    with pytest.raises(SignatureError):
        dsse.verify_trusted(retyped, {pair.key_id: pair.public})


def test_unknown_key_and_resigned_by_other_key() -> None:
    artist, intruder = keys.generate("artist"), keys.generate("intruder")
    envelope = dsse.sign("application/x-test", b"payload", intruder)
    with pytest.raises(UntrustedKeyError, match="unknown key"):
        dsse.verify_trusted(envelope, {artist.key_id: artist.public})
    # An intruder claiming the artist's key id: the signature check catches it.
    claimed = dsse.Envelope(
        envelope.payload_type,
        envelope.payload,
        (dsse.Signature(artist.key_id, envelope.signatures[0].sig),),
    )
    with pytest.raises(SignatureError):
        dsse.verify_trusted(claimed, {artist.key_id: artist.public})


def test_empty_signatures_refused() -> None:
    with pytest.raises(SignatureError, match="no signature"):
        dsse.verify_trusted(dsse.Envelope("t", b"p", ()), {})


def test_decoding_a_non_envelope_record_is_refused() -> None:
    from datetime import UTC, datetime

    from demo.story import production
    from ledger.events.encoding import SingleObjectFraming

    event = dict(
        production()[0][1],
        event_id="6f1c1c8e-0a53-4d55-9a43-3f7c2c1f0b11",
        event_time=datetime.now(UTC),
        producer_id="p",
        producer_seq=1,
    )
    data = SingleObjectFraming().encode("provenance_event", event)
    with pytest.raises(DecodeError, match="expected a DSSE envelope"):
        dsse.Envelope.decode(data)


def test_a_remembered_verification_lets_no_other_signature_by() -> None:
    """Signatures that verified are remembered (key, signature, message digest): a changed
    payload, payload type, signature or key under the same key id is still checked, and fails."""
    from dataclasses import replace

    pair, other = keys.generate("artist"), keys.generate("other")
    envelope = dsse.sign("application/x-test", b"payload", pair)
    dsse.verify_signature(envelope, pair.key_id, pair.public)
    dsse.verify_signature(envelope, pair.key_id, pair.public)  # remembered: still fine
    forged_sig = dsse.Signature(pair.key_id, bytes(64))
    for bad, key in [
        (replace(envelope, payload=b"payloaD"), pair.public),
        (replace(envelope, payload_type="application/x-other"), pair.public),
        (replace(envelope, signatures=(forged_sig,)), pair.public),
        (envelope, other.public),
    ]:
        with pytest.raises(SignatureError):
            dsse.verify_signature(bad, pair.key_id, key)


def _generic(data: bytes) -> dsse.Envelope | str:
    """What the framing (fastavro) reads, or the name of its refusal."""
    framing = reader_framing()
    try:
        schema, record = framing.decode(data)
    except Exception as exc:  # the refusal, whatever it is
        return type(exc).__name__
    return dsse.Envelope.from_record(record) if schema.record == "dsse_envelope" else "other"


def _read(data: bytes) -> dsse.Envelope | str:
    try:
        return dsse.Envelope.decode(data)
    except Exception as exc:
        return type(exc).__name__


def test_envelopes_read_by_hand_are_what_the_framing_reads_or_refuses() -> None:
    """Envelope.decode reads single-object envelopes itself; every cut, extension and changed
    byte of real envelopes gives what the Avro framing gives (the same envelope or a refusal)."""
    pair = keys.generate("signer")
    rng = random.Random(7)
    envelopes = [
        dsse.sign("application/vnd.test", rng.randbytes(n), pair).encode()
        for n in (0, 1, 63, 64, 900)
    ]
    two = dsse.Envelope("t", b"p", (dsse.Signature("a", b"s" * 64), dsse.Signature("é", b"")))
    envelopes.append(two.encode())
    for data in envelopes:
        variants = [data, data + b"\x00", data + b"x" * 3]
        variants += [data[:cut] for cut in range(len(data))]
        for _ in range(300):
            at = rng.randrange(len(data))
            variants.append(data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :])
        for v in variants:
            generic = _generic(v)
            if isinstance(generic, dsse.Envelope):
                assert _read(v) == generic
            else:
                assert not isinstance(_read(v), dsse.Envelope), v


def test_a_claim_taken_as_verified_counts_only_within_its_block() -> None:
    """packet verify checks the signatures in another process while the audit runs: within
    taken_as_verified the audit takes them as verified, outside nothing is remembered unless
    remember() is told they held."""
    pair = keys.generate("artist")
    envelope = dsse.sign("application/x-test", b"payload", pair)
    broken = dsse.Envelope(
        envelope.payload_type,
        envelope.payload,
        (dsse.Signature(pair.key_id, bytes(64)),),
    )
    claim = dsse.claim(broken, pair.key_id, pair.public)
    assert not claim.holds() and dsse.claim(envelope, pair.key_id, pair.public).holds()
    with dsse.taken_as_verified([claim]):
        dsse.verify_signature(broken, pair.key_id, pair.public)  # taken as verified
    with pytest.raises(SignatureError, match="does not verify"):
        dsse.verify_signature(broken, pair.key_id, pair.public)
    with pytest.raises(SignatureError, match="no signature by key"):
        dsse.claim(broken, "another key", pair.public)


def test_a_framing_given_decides_what_it_reads() -> None:
    """The hand-read path reads single-object envelopes; given a framing that reads them
    otherwise or not at all (the Confluent wire format alone, another catalog), decode is that
    framing's, as before the hand-read path (it read the single-object envelope regardless)."""
    from ledger.events.encoding import (
        ConfluentFraming,
        LearnedSchemaIds,
        SchemaCatalog,
        SingleObjectFraming,
        default_catalog,
    )
    from ledger.events.kinds import KINDS

    data = dsse.sign("application/x-test", b"payload", keys.generate("artist")).encode()
    with pytest.raises(DecodeError, match="not Confluent wire format"):
        dsse.Envelope.decode(data, ConfluentFraming(LearnedSchemaIds()))
    others = SchemaCatalog([default_catalog().current(k.record) for k in KINDS])  # no envelope
    with pytest.raises(DecodeError, match="unknown Avro schema fingerprint"):
        dsse.Envelope.decode(data, SingleObjectFraming(others))
    assert dsse.Envelope.decode(data, SingleObjectFraming()) == dsse.Envelope.decode(data)
