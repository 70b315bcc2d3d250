"""A hostile producer against the compiled Avro reader and writer (tests/support/avro_fuzz.py).

Reader: real events of every released schema (the demo story's, random values of every
version) and a schema using every type the compiler covers, each damaged many ways; the
compiled reader gives fastavro's value (strictly: same types) or declines with
:class:`Unsupported` and nothing else, and ``read_datum`` gives fastavro's value or a
:class:`DecodeError`.  Writer: random values within each schema, edge values included, give
fastavro's bytes from the compiled writer, and ``write_datum`` gives fastavro's bytes or
fastavro's refusal for values outside it.  ``ASSETLEDGER_FUZZ_SEED`` runs another seed.
"""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
import pytest

from ledger.errors import DecodeError
from ledger.events import avro_read, avro_write
from ledger.events.avro_compile import Unsupported
from ledger.events.encoding import SchemaVersion, _load, default_catalog, read_datum, write_datum
from ledger.log.entry_facts import PROVENANCE_READ
from tests.ledger.events.test_avro_write import _every_schema, _Random
from tests.support.avro_fuzz import SEED, mutants, rng_for, same, story_records

_EVERY_TYPE = {
    "type": "record",
    "name": "EveryType",
    "namespace": "io.assetledger.test",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["R", "G", "B"]}},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "tags", "type": {"type": "map", "values": ["null", "string"]}},
        {"name": "blobs", "type": {"type": "array", "items": "bytes"}},
        {"name": "more", "type": ["null", {"type": "array", "items": "EveryType"}]},
        {"name": "again", "type": ["null", "Colour"]},
    ],
}


def _every_type(recursive: bool = True) -> SchemaVersion:
    """Every type; ``recursive`` False: without the field that holds more of the record
    (the generated readers take only schemas that are not recursive, as every released one)."""
    folder = Path(tempfile.mkdtemp(prefix="avro-fuzz-"))
    schema: dict[str, Any] = dict(_EVERY_TYPE)
    if not recursive:
        fields: Any = _EVERY_TYPE["fields"]
        schema.update(name="EveryFlatType", fields=[f for f in fields if f["name"] != "more"])
    path = folder / f"{'every_type' if recursive else 'every_flat_type'}.v1.avsc"
    path.write_text(json.dumps(schema), encoding="utf-8")
    return _load(path)


def _schemas() -> list[SchemaVersion]:
    return [*_every_schema(), _every_type(), _every_type(recursive=False)]


def _fastavro_read(schema: SchemaVersion, data: bytes) -> Any:
    buf = io.BytesIO(data)
    value = fastavro.schemaless_reader(buf, schema.reading, None)
    if buf.tell() != len(data):
        raise ValueError("trailing bytes")
    return value


def _fastavro_write(schema: SchemaVersion, record: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, record)
    return buf.getvalue()


_REFUSED = object()


def check_read(schema: SchemaVersion, reader: avro_read.Reader, data: bytes) -> None:
    """The compiled reader and read_datum agree with fastavro on ``data`` (or fail here)."""
    try:
        expected: Any = _fastavro_read(schema, data)
        if type(expected) is not dict:
            expected = _REFUSED
    except Exception:
        expected = _REFUSED
    try:
        got: Any = avro_read.read(reader, data, 0)
    except Unsupported:
        pass  # read_datum asks fastavro
    else:  # any other exception fails the test: read_datum would let it through
        assert expected is not _REFUSED, f"seed {SEED}: read what fastavro refuses: {data.hex()}"
        assert same(got, expected), f"seed {SEED}: not fastavro's value: {data.hex()}"
    try:
        full: Any = read_datum(data, schema, schema)
    except DecodeError:
        assert expected is _REFUSED, f"seed {SEED}: refused what fastavro reads: {data.hex()}"
    else:
        assert expected is not _REFUSED and same(full, expected), f"seed {SEED}: {data.hex()}"


@pytest.mark.parametrize("schema", _schemas(), ids=lambda s: s.label)
def test_damaged_data_of_every_schema_reads_as_fastavro_reads_it(schema: SchemaVersion) -> None:
    """The story's events and random edge values, each damaged ~100 ways."""
    rng = rng_for(f"read:{schema.label}")
    reader = avro_read.compile_reader(schema.reading)
    named = schema.parsed.get("__named_schemas", {})
    told = story_records(schema)
    records = rng.sample(told, min(4, len(told)))
    records += [_Edge(rng.randrange(1 << 30), named).value(schema.parsed) for _ in range(5)]
    cases = 0
    for record in records:
        data = _fastavro_write(schema, record)
        check_read(schema, reader, data)
        for variant in mutants(rng, schema.reading, data):
            check_read(schema, reader, variant)
            cases += 1
    assert cases > 100 * len(records) // 2


# --- the writer ------------------------------------------------------------------------


class _Edge(_Random):
    """Random values within a schema, drawn mostly from its edges."""

    def value(self, schema: Any) -> Any:
        if isinstance(schema, dict) and schema.get("logicalType") in (
            "timestamp-micros",
            "timestamp-millis",
        ):
            return self.rng.choice(_TIMES)
        if isinstance(schema, dict) and schema.get("type") == "fixed":
            return self.rng.randbytes(schema["size"])
        if (
            isinstance(schema, dict)
            and schema.get("type") in ("array", "map")
            and self.rng.random() < 0.3
        ):
            return [] if schema["type"] == "array" else {}
        return super().value(schema)

    def primitive(self, name: str) -> Any:
        r = self.rng
        if name == "string" and r.random() < 0.6:
            return r.choice(_TEXTS)
        if name == "long" and r.random() < 0.6:
            return r.choice(_EDGE_LONGS)
        if name == "int" and r.random() < 0.6:
            return r.choice([0, 1, -1, 63, 64, -64, -65, 2**31 - 1, -(2**31)])
        if name == "bytes" and r.random() < 0.3:
            return b""
        return super().primitive(name)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMES = [
    _EPOCH,
    _EPOCH - timedelta(microseconds=1),
    _EPOCH - timedelta(microseconds=999),
    _EPOCH - timedelta(microseconds=1001),
    _EPOCH + timedelta(microseconds=1),
    _EPOCH + timedelta(microseconds=999),
    datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(9999, 12, 31, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 12, 7, 22, 0, 0, 999999, tzinfo=timezone(timedelta(hours=-12))),
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
    datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC),
    datetime(5000, 6, 1, 0, 0, 0, 999001, tzinfo=UTC),
]
_TEXTS = [
    "",
    "a",
    "é",
    "漢字",
    "😀",
    "e\u0301",  # a combining mark
    "\u200b\ufeff",
    "x" * 63,
    "x" * 64,
    "é" * 32,  # 64 bytes, 32 characters
    "\U0010ffff",
    "\x7f",
]
_EDGE_LONGS = [0, 1, -1, 63, -64, 64, -65, 2**31, -(2**31) - 1, 2**62, -(2**63), 2**63 - 1]


@pytest.mark.parametrize("schema", _schemas(), ids=lambda s: s.label)
def test_edge_values_of_every_schema_are_written_as_fastavro_writes_them(
    schema: SchemaVersion,
) -> None:
    rng = rng_for(f"write:{schema.label}")
    writer = avro_write.compile_writer(schema.parsed)
    named = schema.parsed.get("__named_schemas", {})
    for _ in range(40):
        record = _Edge(rng.randrange(1 << 30), named).value(schema.parsed)
        expected = _fastavro_write(schema, record)
        assert avro_write.write(writer, record) == expected, (SEED, record)
        assert write_datum(schema, record) == expected, (SEED, record)
    for record in story_records(schema):
        expected = _fastavro_write(schema, record)
        assert avro_write.write(writer, record) == expected, record


def _confused(rng: Any, value: Any) -> Any:
    """A value of another type where ``value`` is (what a careless caller passes)."""
    if isinstance(value, bool):
        return rng.choice([int(value), 2, None, "true"])
    if isinstance(value, int):
        return rng.choice([True, float(value), str(value), 1 << 64, -(1 << 63) - 1, None])
    if isinstance(value, str):
        return rng.choice(
            [value.encode(), None, 7, uuid.UUID(int=rng.getrandbits(128)), "\ud800", "not-uuid"]
        )
    if isinstance(value, bytes):
        return rng.choice([bytearray(value), value.decode("latin-1"), None, memoryview(value)])
    if isinstance(value, datetime):
        return rng.choice([value.replace(tzinfo=None), value.date(), value.timestamp(), 7, None])
    if isinstance(value, list):
        return rng.choice([tuple(value), None, {}, "[]"])
    if isinstance(value, dict):
        return rng.choice(
            [OrderedDict(value), None, [], {**value, "-type": "Nope"}, {**value, "x": 1}]
        )
    return rng.choice([0, "", b""])


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*at, i))
    return out


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


@pytest.mark.parametrize("schema", _schemas(), ids=lambda s: s.label)
def test_values_outside_every_schema_get_fastavro_bytes_or_refusal(schema: SchemaVersion) -> None:
    rng = rng_for(f"confused:{schema.label}")
    named = schema.parsed.get("__named_schemas", {})
    for _ in range(60):
        record = _Edge(rng.randrange(1 << 30), named).value(schema.parsed)
        path = rng.choice(_paths(record))
        bad = _replaced(record, path, _confused(rng, _get(record, path)))
        try:
            expected: Any = _fastavro_write(schema, bad)
        except Exception:
            expected = _REFUSED
        try:
            got: Any = write_datum(schema, bad)
        except Exception:
            got = _REFUSED
        assert got == expected, (SEED, path, _get(bad, path))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


# --- projections -----------------------------------------------------------------------------


def _some_fields(rng: Any, schema: Any, named: dict[str, Any], depth: int = 0) -> Any:
    """A random projection of a record schema: some fields whole, some records projected."""
    while True:  # through ["null", T] unions and arrays, to a record (or not)
        if isinstance(schema, str):
            schema = named.get(schema, schema)
        if isinstance(schema, list):
            schema = schema[1]
        elif isinstance(schema, dict) and schema.get("type") == "array":
            schema = schema["items"]
        elif isinstance(schema, str) and schema in named:
            continue
        else:
            break
    if not (isinstance(schema, dict) and schema.get("type") == "record") or depth > 2:
        return True
    keep: dict[str, Any] = {}
    for f in schema["fields"]:
        if rng.random() < 0.5:
            keep[f["name"]] = (
                True if rng.random() < 0.5 else _some_fields(rng, f["type"], named, depth + 1)
            )
    return keep or True


def _projected(value: Any, keep: Any) -> Any:
    if keep is True or value is None:
        return value
    if isinstance(value, list):
        return [_projected(v, keep) for v in value]
    return {name: _projected(v, keep[name]) for name, v in value.items() if name in keep}


def check_projection(
    reader: avro_read.Reader, projection: avro_read.Reader, keep: Any, data: bytes
) -> None:
    """The projection reads the kept part of what the full reader reads, and refuses exactly
    what it refuses (so an event decodes, projected or whole, or does not)."""
    try:
        full: Any = avro_read.read(reader, data, 0)
    except Unsupported:
        full = _REFUSED
    try:
        part: Any = avro_read.read(projection, data, 0)
    except Unsupported:
        part = _REFUSED
    if full is _REFUSED or part is _REFUSED:
        assert full is part, f"seed {SEED}: one refused, the other read: {data.hex()}"
    else:
        assert same(part, _projected(full, keep)), f"seed {SEED}: {data.hex()}"


@pytest.mark.parametrize("schema", _schemas(), ids=lambda s: s.label)
def test_projections_of_damaged_data_read_and_refuse_what_the_full_reader_does(
    schema: SchemaVersion,
) -> None:
    if schema.record == "every_type":  # recursive: read whole, by the closures
        with pytest.raises(Unsupported, match="recursive"):
            avro_read.compile_projection(schema.reading, {"flag": True})
        return
    rng, named = rng_for(f"project:{schema.label}"), schema.parsed.get("__named_schemas", {})
    keeps = [
        k for k in (_some_fields(rng, schema.reading, named) for _ in range(3)) if k is not True
    ]
    if schema.record == "provenance_event" and default_catalog().current(schema.record) is schema:
        keeps.append(PROVENANCE_READ)  # what verify reads
    reader = avro_read.compile_reader(schema.reading)
    told = story_records(schema)
    records = rng.sample(told, min(3, len(told)))
    records += [_Edge(rng.randrange(1 << 30), named).value(schema.parsed) for _ in range(3)]
    for keep in keeps:
        projection = avro_read.compile_projection(schema.reading, keep)
        for record in records:
            data = _fastavro_write(schema, record)
            check_projection(reader, projection, keep, data)
            for variant in mutants(rng, schema.reading, data):
                check_projection(reader, projection, keep, variant)
