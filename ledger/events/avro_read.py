"""Avro binary readers compiled once per schema: the values fastavro reads, without its walk.

Every ledger entry read by ``verify``, the guard and the consumer's workers decodes its event;
fastavro's ``schemaless_reader`` walks the schema at each datum.  :func:`compile_reader` turns a
parsed schema into nested closures that read the same values in one pass, for data written
with that same schema (no schema evolution).

It covers what the released schemas use (records, arrays, maps, ``["null", T]`` unions,
string, bytes, boolean, int, long, ``timestamp-micros``/``-millis`` longs, enums and fixed) and
reads only canonical data: anything else (a union index or boolean byte out of range, text
that is not UTF-8, data that ends early) raises :class:`Unsupported`, and the caller reads that
datum with fastavro, which reads or refuses it as before (tests/ledger/events/test_avro_read.py
compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ledger.events import avro_gen
from ledger.events.avro_compile import SchemaCompiler, Unsupported

Reader = Callable[[bytes, int], tuple[Any, int]]
"""Read one value at a position of the data; return it and the position after it."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    try:
        b = data[pos]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), pos + 1
        n, shift = b & 0x7F, 7
        while True:
            pos += 1
            b = data[pos]
            n |= (b & 0x7F) << shift
            if b < 0x80:
                if shift == 63 and b > 1:  # bits beyond the 64th: fastavro drops them
                    raise Unsupported
                return (n >> 1) ^ -(n & 1), pos + 1
            shift += 7
            if shift > 63:
                raise Unsupported
    except IndexError:
        raise Unsupported from None


def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = read_long(data, pos)
    end = pos + n
    if n < 0 or end > len(data):
        raise Unsupported
    return data[pos:end], end


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    if pos < len(data) and data[pos] < 0x80 and not data[pos] & 1:  # a short length
        n, pos = data[pos] >> 1, pos + 1
    else:
        n, pos = read_long(data, pos)
    end = pos + n
    if n < 0 or end > len(data):
        raise Unsupported
    try:
        return data[pos:end].decode(), end
    except UnicodeDecodeError:
        raise Unsupported from None


def _optional_string(data: bytes, pos: int) -> tuple[str | None, int]:
    """``["null", "string"]``, the most common field, in one call when its length is short."""
    try:
        index = data[pos]
        if index == 0:
            return None, pos + 1
        n = data[pos + 1]
    except IndexError:
        raise Unsupported from None
    if index != 2:
        raise Unsupported
    if n >= 0x80 or n & 1:  # a longer or a negative length
        return read_string(data, pos + 1)
    start = pos + 2
    end = start + (n >> 1)
    if end > len(data):
        raise Unsupported
    try:
        return data[start:end].decode(), end
    except UnicodeDecodeError:
        raise Unsupported from None


def _boolean(data: bytes, pos: int) -> tuple[bool, int]:
    if pos >= len(data) or data[pos] > 1:
        raise Unsupported
    return data[pos] == 1, pos + 1


def _null(data: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _int(data: bytes, pos: int) -> tuple[int, int]:
    n, pos = read_long(data, pos)
    if not -(1 << 31) <= n < 1 << 31:
        raise Unsupported
    return n, pos


def _timestamp(scale: int) -> Reader:
    def read(data: bytes, pos: int) -> tuple[datetime, int]:
        n, pos = read_long(data, pos)
        try:
            return _EPOCH + timedelta(microseconds=n * scale), pos
        except OverflowError:
            raise Unsupported from None

    return read


_PRIMITIVES: dict[str, Reader] = {
    "null": _null,
    "boolean": _boolean,
    "int": _int,
    "long": read_long,
    "string": read_string,
    "bytes": read_bytes,
}


def _array(item: Reader) -> Reader:
    def read(data: bytes, pos: int) -> tuple[list[Any], int]:
        out = []
        count, pos = read_long(data, pos)
        while count:
            if count < 0:
                count = -count
                _, pos = read_long(data, pos)  # the block's size in bytes
            if count > len(data) - pos:  # more items than bytes left: fastavro's to refuse
                raise Unsupported
            for _ in range(count):
                value, pos = item(data, pos)
                out.append(value)
            count, pos = read_long(data, pos)
        return out, pos

    return read


def _map(value: Reader) -> Reader:
    def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        out = {}
        count, pos = read_long(data, pos)
        while count:
            if count < 0:
                count = -count
                _, pos = read_long(data, pos)
            if count > len(data) - pos:
                raise Unsupported
            for _ in range(count):
                key, pos = read_string(data, pos)
                out[key], pos = value(data, pos)
            count, pos = read_long(data, pos)
        return out, pos

    return read


def _enum(symbols: list[str]) -> Reader:
    def read(data: bytes, pos: int) -> tuple[str, int]:
        index, pos = read_long(data, pos)
        if not 0 <= index < len(symbols):
            raise Unsupported
        return symbols[index], pos

    return read


def _fixed(size: int) -> Reader:
    def read(data: bytes, pos: int) -> tuple[bytes, int]:
        end = pos + size
        if end > len(data):
            raise Unsupported
        return data[pos:end], end

    return read


def compile_reader(schema: Any) -> Reader:
    """The reader of a schema parsed by ``fastavro.parse_schema``; raises :class:`Unsupported`
    for a schema with types it does not cover (floats, unions other than ``["null", T]``).

    Generated as straight-line source (:mod:`ledger.events.avro_gen`); a recursive schema
    gets the closures below, which read the same values."""
    try:
        return avro_gen.generate(schema, read_long=read_long)
    except Unsupported:
        return _Compiler(schema).compile(schema)


class _Compiler(SchemaCompiler[Reader]):
    primitives = _PRIMITIVES

    def deferred(self, slot: list[Reader]) -> Reader:
        return lambda data, pos: slot[0](data, pos)

    timestamp = staticmethod(_timestamp)
    array = staticmethod(_array)
    map = staticmethod(_map)
    enum = staticmethod(_enum)
    fixed = staticmethod(_fixed)

    def record(self, schema_fields: list[tuple[dict[str, Any], Reader]]) -> Reader:
        fields = [(f["name"], field_reader) for f, field_reader in schema_fields]

        def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
            out = {}
            for name, field_reader in fields:
                out[name], pos = field_reader(data, pos)
            return out, pos

        return read

    def union(self, branch: Any, other: Reader) -> Reader:
        if other is read_string:
            return _optional_string

        def read(data: bytes, pos: int) -> tuple[Any, int]:
            if pos >= len(data):
                raise Unsupported
            index = data[pos]
            if index == 0:
                return None, pos + 1
            if index != 2:
                raise Unsupported
            return other(data, pos + 1)

        return read


def read(reader: Reader, data: bytes, start: int) -> dict[str, Any]:
    """The record of ``data`` from ``start`` to its end; raises :class:`Unsupported` (for
    fastavro to read or refuse it) for anything else, trailing bytes included."""
    value, end = reader(data, start)
    if end != len(data) or type(value) is not dict:
        raise Unsupported
    return value


# --- projections: read some fields, skip (but check) the rest ---------------------------------

Projection = Mapping[str, "bool | Projection"]
"""The fields of a record to read: ``True`` for a whole field, a projection for the fields of
a record field (also of an optional record, or of an array's records); fields not named are
skipped."""


def compile_projection(schema: Any, keep: Projection) -> Reader:
    """A reader of a record schema (parsed by ``fastavro.parse_schema``) that gives only the
    fields ``keep`` names: the same values the full reader gives them, the same refusals
    (:class:`Unsupported`) for the same data, since every field skipped is checked as it would
    be read (text decoded, union and boolean bytes, enum indexes, lengths, times)."""
    return avro_gen.generate(schema, keep, read_long=read_long)
