"""The compiled Avro reader reads fastavro's values; what it does not take, fastavro reads."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pytest

from ledger.events import avro_read, avro_write
from ledger.events.avro_compile import Unsupported
from ledger.events.encoding import SchemaVersion, default_catalog, read_datum, write_datum
from ledger.events.provenance import PROVENANCE
from tests.ledger.events.test_avro_write import _every_schema, _provenance, _Random
from tests.support.avro_fuzz import overlong, tokens


def _fastavro(schema: SchemaVersion, data: bytes) -> Any:
    buf = io.BytesIO(data)
    value = fastavro.schemaless_reader(buf, schema.reading, None)
    return value if buf.tell() == len(data) else "trailing bytes"


@pytest.mark.parametrize("schema", _every_schema(), ids=lambda s: s.label)
def test_random_values_of_every_schema_are_read_as_fastavro_reads_them(
    schema: SchemaVersion,
) -> None:
    reader = avro_read.compile_reader(schema.reading)
    writer = avro_write.compile_writer(schema.parsed)
    named = schema.parsed.get("__named_schemas", {})
    for seed in range(30):
        data = avro_write.write(writer, _Random(seed, named).value(schema.parsed))
        assert avro_read.read(reader, data, 0) == _fastavro(schema, data), seed


@pytest.mark.parametrize("schema", _every_schema()[:4], ids=lambda s: s.label)
def test_damaged_data_is_read_as_fastavro_reads_it_or_left_to_fastavro(
    schema: SchemaVersion,
) -> None:
    """Every cut, and random changed bytes: the compiled reader gives fastavro's value or
    declines (then read_datum gives fastavro's value or its refusal)."""
    reader = avro_read.compile_reader(schema.reading)
    writer = avro_write.compile_writer(schema.parsed)
    named = schema.parsed.get("__named_schemas", {})
    rng = random.Random(3)
    for seed in range(8):
        data = avro_write.write(writer, _Random(seed, named).value(schema.parsed))
        variants = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 60))]
        variants.append(data + b"\x00")
        for _ in range(100):
            at = rng.randrange(len(data))
            variants.append(data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :])
        for v in variants:
            try:
                expected: Any = _fastavro(schema, v)
            except Exception:
                expected = "refused"
            try:
                got: Any = avro_read.read(reader, v, 0)
            except Unsupported:
                continue  # read_datum asks fastavro
            assert got == expected, v
    with pytest.raises(Exception, match="trailing"):
        read_datum(data + b"\x00", schema, schema)


@pytest.mark.parametrize("garbage", [1, 5, 0x3F], ids=lambda g: f"garbage {g}")
def test_a_long_with_bits_beyond_the_64th_is_read_as_fastavro_reads_it(garbage: int) -> None:
    """A ten-byte varint whose last byte sets bits beyond the 64th: fastavro keeps 64 bits;
    the compiled reader read a long of 2**63 or more (a producer_seq no 64-bit column holds)
    where fastavro reads another number (found by tests/ledger/events/test_avro_fuzz.py)."""
    schema = default_catalog().current(PROVENANCE.record)
    data = write_datum(schema, _provenance())
    seq = [t for t in tokens(schema.reading, data) if t.kind == "long"][-1]  # producer_seq
    damaged = data[: seq.start] + overlong(seq.value, 10, garbage) + data[seq.end :]
    with pytest.raises(Unsupported):
        avro_read.read(avro_read.compile_reader(schema.reading), damaged, 0)
    expected = _fastavro(schema, damaged)
    assert -(1 << 63) <= expected["producer_seq"] < 1 << 63
    assert read_datum(damaged, schema, schema) == expected


@pytest.mark.parametrize("schema", _every_schema(), ids=lambda s: s.label)
def test_every_released_schema_gets_a_generated_reader(schema: SchemaVersion) -> None:
    """The straight-line reader (what the tests above compare with fastavro), not the closures."""
    reader = avro_read.compile_reader(schema.reading)
    assert reader.__code__.co_filename == "<avro reader>"


def test_a_schema_nested_deeper_than_one_function_takes_is_read_by_the_closures() -> None:
    schema: Any = {"type": "record", "name": "Leaf", "fields": [{"name": "x", "type": "string"}]}
    for depth in range(40):  # arrays of arrays: more nested loops than Python compiles
        schema = {
            "type": "record",
            "name": f"Level{depth}",
            "fields": [{"name": "items", "type": {"type": "array", "items": schema}}],
        }
    parsed = fastavro.parse_schema(schema)
    reader = avro_read.compile_reader(parsed)
    assert reader.__code__.co_filename != "<avro reader>"
    value: Any = {"x": "leaf"}
    for _ in range(40):
        value = {"items": [value]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    assert avro_read.read(reader, buf.getvalue(), 0) == value
