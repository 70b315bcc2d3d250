"""A hostile producer against the hand-read envelope (``Envelope.decode``'s fast path).

Real envelopes (every demo story event, signed; none, one and several signatures, empty and
long payloads) damaged many ways (tests/support/avro_fuzz.py) give what the path it replaced
gives: the single-object framing with fastavro reading the datum (``Envelope.decode`` before
1af3fc7).  The same envelope, field types included, or a refusal that is a
:class:`RejectedInput` (which the consumer dead-letters with its reason), never another error.
``ASSETLEDGER_FUZZ_SEED`` runs another seed.
"""

from __future__ import annotations

import io
from typing import Any

import fastavro

from ledger.errors import RejectedInput
from ledger.events.encoding import SOE_MAGIC, SingleObjectFraming, default_catalog
from ledger.events.kinds import KINDS
from ledger.trust import dsse, keys
from tests.support.avro_fuzz import SEED, mutants, rng_for, same, story_records

SIGNER = keys.generate("fuzz")


def _envelopes() -> list[bytes]:
    framing = SingleObjectFraming()
    catalog = default_catalog()
    out = []
    for kind in KINDS:
        for record in story_records(catalog.current(kind.record))[:3]:
            payload = framing.encode(kind.record, record)
            out.append(dsse.sign(kind.payload_type, payload, SIGNER).encode())
    sig = dsse.Signature
    odd = [
        dsse.Envelope("", b"", ()),
        dsse.Envelope("t/é漢😀", b"\x00" * 64, (sig("", b""),)),
        dsse.Envelope("x" * 64, b"p" * 300, (sig("a", b"s" * 64), sig("é", b""), sig("b", b"1"))),
    ]
    return out + [e.encode() for e in odd]


def _reference(data: bytes) -> dsse.Envelope | None:
    """What decoding did before the hand-read path: the framing, fastavro reading the datum
    (None: refused)."""
    try:
        if len(data) < 10 or data[:2] != SOE_MAGIC:
            return None
        schema = default_catalog().by_fingerprint(data[2:10])
        if schema.record != dsse.ENVELOPE_RECORD:
            return None
        buf = io.BytesIO(data[10:])
        record = fastavro.schemaless_reader(buf, schema.reading, None)
        if buf.tell() != len(data) - 10:
            return None
        return dsse.Envelope.from_record(record)
    except Exception:
        return None


def _fields(envelope: dsse.Envelope) -> Any:
    sigs = [(s.keyid, s.sig) for s in envelope.signatures]
    return [envelope.payload_type, envelope.payload, sigs, type(envelope.signatures).__name__]


def check_decode(data: bytes) -> None:
    expected = _reference(data)
    fast = dsse._read_soe_envelope(data)  # the hand-read path alone: None is "not mine"
    if fast is not None:
        assert expected is not None, f"seed {SEED}: read what fastavro refuses: {data.hex()}"
        assert same(_fields(fast), _fields(expected)), f"seed {SEED}: {data.hex()}"
    try:
        got = dsse.Envelope.decode(data)
    except RejectedInput:
        assert expected is None, f"seed {SEED}: refused what fastavro reads: {data.hex()}"
    else:  # any other exception fails the test: the consumer expects RejectedInput
        assert expected is not None, f"seed {SEED}: read what fastavro refuses: {data.hex()}"
        assert same(_fields(got), _fields(expected)), f"seed {SEED}: {data.hex()}"


def test_damaged_envelopes_decode_as_the_framing_decodes_them() -> None:
    rng = rng_for("envelope")
    schema = default_catalog().current(dsse.ENVELOPE_RECORD)
    cases = 0
    for data in _envelopes():
        check_decode(data)
        header, datum = data[:10], data[10:]
        for variant in mutants(rng, schema.reading, datum, aimed=20):
            check_decode(header + variant)
            cases += 1
        for at in range(10):  # the header: magic and fingerprint
            changed = header[:at] + bytes([header[at] ^ (1 << rng.randrange(8))]) + header[at + 1 :]
            for variant in (changed + datum, header[:at], b"\x00" + data[1:]):
                check_decode(variant)
                cases += 1
    assert cases > 1000
