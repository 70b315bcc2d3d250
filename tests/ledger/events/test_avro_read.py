"""The compiled Avro reader reads fastavro's values; what it does not take, fastavro reads."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pytest

from ledger.events import avro_read, avro_write
from ledger.events.avro_compile import Unsupported
from ledger.events.encoding import SchemaVersion, read_datum
from tests.ledger.events.test_avro_write import _every_schema, _Random


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
