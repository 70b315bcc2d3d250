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

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

Reader = Callable[[bytes, int], tuple[Any, int]]
"""Read one value at a position of the data; return it and the position after it."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Unsupported(Exception):
    """This datum (or schema) is not one the compiled reader reads: use fastavro."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
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
                return (n >> 1) ^ -(n & 1), pos + 1
            shift += 7
            if shift > 63:
                raise Unsupported
    except IndexError:
        raise Unsupported from None


def _bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _long(data, pos)
    end = pos + n
    if n < 0 or end > len(data):
        raise Unsupported
    return data[pos:end], end


def _string(data: bytes, pos: int) -> tuple[str, int]:
    if pos < len(data) and data[pos] < 0x80 and not data[pos] & 1:  # a short length
        n, pos = data[pos] >> 1, pos + 1
    else:
        n, pos = _long(data, pos)
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
        return _string(data, pos + 1)
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
    n, pos = _long(data, pos)
    if not -(1 << 31) <= n < 1 << 31:
        raise Unsupported
    return n, pos


def _timestamp(scale: int) -> Reader:
    def read(data: bytes, pos: int) -> tuple[datetime, int]:
        n, pos = _long(data, pos)
        try:
            return _EPOCH + timedelta(microseconds=n * scale), pos
        except OverflowError:
            raise Unsupported from None

    return read


_PRIMITIVES: dict[str, Reader] = {
    "null": _null,
    "boolean": _boolean,
    "int": _int,
    "long": _long,
    "string": _string,
    "bytes": _bytes,
}


def compile_reader(schema: Any) -> Reader:
    """The reader of a schema parsed by ``fastavro.parse_schema``; raises :class:`Unsupported`
    for a schema with types it does not cover (floats, unions other than ``["null", T]``,
    logical types other than timestamps)."""
    named: dict[str, Any] = {}
    if isinstance(schema, dict):
        named = dict(schema.get("__named_schemas", {}))
    return _Compiler(named).compile(schema)


class _Compiler:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.done: dict[str, Reader] = {}

    def compile(self, schema: Any) -> Reader:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema]
            return self._reference(schema)
        if isinstance(schema, list):
            return self._union(schema)
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if kind == "long" and logical in ("timestamp-micros", "timestamp-millis"):
            return _timestamp(1 if logical == "timestamp-micros" else 1000)
        if kind in _PRIMITIVES and logical is None:
            return _PRIMITIVES[kind]
        if kind == "record":
            return self._record(schema)
        if kind == "array":
            return _array(self.compile(schema["items"]))
        if kind == "map":
            return _map(self.compile(schema["values"]))
        if kind == "enum" and logical is None:
            return self._named(schema, _enum(schema["symbols"]))
        if kind == "fixed" and logical is None:
            return self._named(schema, _fixed(schema["size"]))
        raise Unsupported(f"schema type {kind!r} ({logical})")

    def _named(self, schema: dict[str, Any], reader: Reader) -> Reader:
        if "name" in schema:
            self.done[schema["name"]] = reader
        return reader

    def _reference(self, name: str) -> Reader:
        if name in self.done:
            return self.done[name]
        if name not in self.named:
            raise Unsupported(f"unknown type {name!r}")
        return self.compile(self.named[name])

    def _record(self, schema: dict[str, Any]) -> Reader:
        slot: list[Reader] = []
        if "name" in schema:  # a recursive reference inside finds it while compiling
            self.done[schema["name"]] = lambda data, pos: slot[0](data, pos)
        fields = [(f["name"], self.compile(f["type"])) for f in schema["fields"]]

        def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
            out = {}
            for name, field_reader in fields:
                out[name], pos = field_reader(data, pos)
            return out, pos

        slot.append(read)
        if "name" in schema:
            self.done[schema["name"]] = read
        return read

    def _union(self, branches: list[Any]) -> Reader:
        if len(branches) != 2 or branches[0] != "null" or branches[1] == "null":
            raise Unsupported('only ["null", T] unions')
        other = self.compile(branches[1])
        if other is _string:
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


def _array(item: Reader) -> Reader:
    def read(data: bytes, pos: int) -> tuple[list[Any], int]:
        out = []
        count, pos = _long(data, pos)
        while count:
            if count < 0:
                count = -count
                _, pos = _long(data, pos)  # the block's size in bytes
            if count > len(data) - pos:  # more items than bytes left: fastavro's to refuse
                raise Unsupported
            for _ in range(count):
                value, pos = item(data, pos)
                out.append(value)
            count, pos = _long(data, pos)
        return out, pos

    return read


def _map(value: Reader) -> Reader:
    def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        out = {}
        count, pos = _long(data, pos)
        while count:
            if count < 0:
                count = -count
                _, pos = _long(data, pos)
            if count > len(data) - pos:
                raise Unsupported
            for _ in range(count):
                key, pos = _string(data, pos)
                out[key], pos = value(data, pos)
            count, pos = _long(data, pos)
        return out, pos

    return read


def _enum(symbols: list[str]) -> Reader:
    def read(data: bytes, pos: int) -> tuple[str, int]:
        index, pos = _long(data, pos)
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


def read(reader: Reader, data: bytes, start: int) -> dict[str, Any]:
    """The record of ``data`` from ``start`` to its end; raises :class:`Unsupported` (for
    fastavro to read or refuse it) for anything else, trailing bytes included."""
    value, end = reader(data, start)
    if end != len(data) or type(value) is not dict:
        raise Unsupported
    return value
