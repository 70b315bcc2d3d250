"""The compiled Avro writer writes fastavro's bytes; what it does not take, fastavro writes."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest

from bench.synth import SOURCE, event
from ledger.events import avro_write
from ledger.events.avro_compile import Unsupported
from ledger.events.encoding import SchemaVersion, default_catalog, write_datum
from ledger.events.kinds import KINDS, prepare
from ledger.events.provenance import PROVENANCE
from producers.emitter import fill_producer


def _fastavro(schema: SchemaVersion, record: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, record)
    return buf.getvalue()


def _every_schema() -> list[SchemaVersion]:
    catalog = default_catalog()
    records = {k.record for k in KINDS} | {"dsse_envelope"}
    return [v for r in sorted(records) for v in catalog.versions(r)]


class _Random:
    """Random values of a parsed schema: long and non-ASCII text, big and negative numbers,
    fields left out (their default or null), nulls in unions."""

    def __init__(self, seed: int, named: dict[str, Any]) -> None:
        self.rng = random.Random(seed)
        self.named = named
        self.depth = 0

    def value(self, schema: Any) -> Any:
        r = self.rng
        if isinstance(schema, str):
            if schema in self.named:
                return self.value(self.named[schema])
            return self.primitive(schema)
        if isinstance(schema, list):
            return None if r.random() < 0.4 or self.depth > 4 else self.value(schema[1])
        kind, logical = schema["type"], schema.get("logicalType")
        if logical in ("timestamp-micros", "timestamp-millis"):
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            return epoch + timedelta(microseconds=r.randrange(-(10**15), 10**17))
        if logical == "uuid":
            return str(uuid.UUID(int=r.getrandbits(128)))
        if kind == "record":
            self.depth += 1
            out = {}
            for f in schema["fields"]:
                if ("default" in f or "null" in f["type"]) and r.random() < 0.3:
                    continue  # left out: written as its default or null
                out[f["name"]] = self.value(f["type"])
            self.depth -= 1
            return out
        if kind == "array":
            n = 0 if self.depth > 3 else r.choice([0, 1, 2, 3, 70 if r.random() < 0.05 else 1])
            return [self.value(schema["items"]) for _ in range(n)]
        if kind == "map":
            return {f"k{i}": self.value(schema["values"]) for i in range(r.choice([0, 1, 3]))}
        if kind == "enum":
            return r.choice(schema["symbols"])
        return self.primitive(kind)

    def primitive(self, name: str) -> Any:
        r = self.rng
        if name == "string":
            n = r.choice([0, 1, 31, 32, 63, 64, 65, 200, 9000 if r.random() < 0.05 else 5])
            return "".join(r.choice("aZ09 -/é漢😀") for _ in range(n))
        if name == "bytes":
            return r.randbytes(r.choice([0, 1, 63, 64, 300]))
        if name == "long":
            return r.choice([0, 1, -1, 63, 64, -64, -65, 2**31, -(2**63), 2**63 - 1])
        if name == "int":
            return r.choice([0, -1, 2**31 - 1, -(2**31)])
        if name == "boolean":
            return r.random() < 0.5
        assert name == "null", name
        return None


@pytest.mark.parametrize("schema", _every_schema(), ids=lambda s: s.label)
def test_random_values_of_every_schema_are_written_as_fastavro_writes_them(
    schema: SchemaVersion,
) -> None:
    writer = avro_write.compile_writer(schema.parsed)
    named = schema.parsed.get("__named_schemas", {})
    for seed in range(30):
        record = _Random(seed, named).value(schema.parsed)
        assert avro_write.write(writer, record) == _fastavro(schema, record), seed


def test_the_synthetic_production_is_written_as_fastavro_writes_it() -> None:
    schema = default_catalog().current(PROVENANCE.record)
    writer = avro_write.compile_writer(schema.parsed)
    for i in range(60):  # every demo event three times over
        record = prepare(PROVENANCE, fill_producer(event(i)[1], PROVENANCE, SOURCE))
        assert avro_write.write(writer, record) == _fastavro(schema, record)


def _provenance() -> dict[str, Any]:
    return prepare(PROVENANCE, fill_producer(event(0)[1], PROVENANCE, SOURCE))


@pytest.mark.parametrize(
    "change",
    [
        {"producer_id": 7},  # a number where the schema has text
        {"producer_id": b"bytes"},
        {"asset": {"asset_id": 7}},
        {"event_time": datetime(2026, 1, 1)},  # naive: fastavro's local-time rule
        {"producer_seq": 2**64},  # beyond a long
        {"producer_seq": True},
        {"producer_seq": 1.0},
        {"ingredients": ({"asset_id": "x"},)},  # a tuple for an array
        {"producer_id": None},  # a required field given null
    ],
    ids=repr,
)
def test_what_the_compiled_writer_does_not_take_fastavro_writes_or_refuses(
    change: dict[str, Any],
) -> None:
    schema = default_catalog().current(PROVENANCE.record)
    record = {**_provenance(), **change}
    with pytest.raises(Unsupported):
        avro_write.write(avro_write.compile_writer(schema.parsed), record)
    try:
        expected: bytes | type[Exception] = _fastavro(schema, record)
    except Exception as exc:  # fastavro's own refusal, whatever its type
        expected = type(exc)
    if isinstance(expected, bytes):
        assert write_datum(schema, record) == expected
    else:
        with pytest.raises(expected):
            write_datum(schema, record)


def test_a_missing_required_field_is_left_to_fastavro_to_name() -> None:
    schema = default_catalog().current(PROVENANCE.record)
    record = _provenance()
    del record["producer_id"]
    with pytest.raises(ValueError, match="producer_id"):
        write_datum(schema, record)


def test_a_union_hint_below_a_union_is_left_to_fastavro() -> None:
    """fastavro refuses a record whose ``-type`` names another record anywhere under a
    ``["null", T]`` union (its validation of T walks the whole value); the compiled writer
    checked the hint only on the union's own record, and wrote bytes for this one that
    fastavro refuses (found by tests/ledger/events/test_avro_fuzz.py)."""
    schema = default_catalog().current(PROVENANCE.record)
    given = {"asset_id": "a", "version": "v1", "given_at": datetime(2026, 1, 1, tzinfo=UTC)}
    writing = {"credit": "written_by", "ai_material": [{**given, "-type": "Nope"}]}
    record = {**_provenance(), "writing": writing}
    with pytest.raises(ValueError):
        _fastavro(schema, record)
    with pytest.raises(ValueError):
        write_datum(schema, record)
    right = {**record, "writing": {**writing, "ai_material": [given]}}
    assert write_datum(schema, right) == _fastavro(schema, right)
