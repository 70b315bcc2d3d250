"""Avro binary writers compiled once per schema: the bytes fastavro writes, without its walk.

fastavro's ``schemaless_writer`` walks the schema at every datum, and at every ``["null", T]``
union it first *validates* the datum against ``T`` (a whole nested record) to choose the
branch, then writes it: about a third of what building a signed event cost (py-spy, issue 21).
:func:`compile_writer` turns a parsed schema into nested closures that write the same bytes in
one pass.

It covers what the released schemas use (records, arrays, maps, ``["null", T]`` unions, string,
bytes, boolean, int, long, ``timestamp-micros``/``-millis`` longs, ``uuid`` strings, enums and
fixed) and accepts only plain values (``str``, ``int``, ``bool``, ``bytes``, aware
``datetime``, ``dict``, ``list``).  Anything else raises :class:`Unsupported`, and the caller
writes that datum with fastavro, so every datum still gets fastavro's bytes or fastavro's
error (tests/ledger/events/test_avro_write.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from ledger.events.avro_compile import SchemaCompiler, Unsupported

Writer = Callable[[bytearray, Any], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_SMALL = [bytes([n]) for n in range(128)]  # the varints of 0..127


def _varint(out: bytearray, n: int) -> None:
    """Append a zig-zag varint (Avro int and long); ``n`` within a long."""
    n = (n << 1) ^ (n >> 63)
    if n < 128:
        out += _SMALL[n]
        return
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _long(out: bytearray, v: Any) -> None:
    if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
        raise Unsupported
    _varint(out, v)


def _int(out: bytearray, v: Any) -> None:
    if type(v) is not int or not _INT_MIN <= v <= _INT_MAX:
        raise Unsupported
    _varint(out, v)


def _string(out: bytearray, v: Any) -> None:
    if type(v) is not str:
        raise Unsupported
    b = v.encode()
    n = len(b)
    if n < 64:  # its length is one byte
        out.append(n << 1)
    else:
        _varint(out, n)
    out += b


def _optional_string(out: bytearray, v: Any) -> None:
    """``["null", "string"]``, the most common field: one call instead of three."""
    if v is None:
        out.append(0)
        return
    if type(v) is not str:
        raise Unsupported
    b = v.encode()
    n = len(b)
    if n < 64:
        out.append(2)
        out.append(n << 1)
    else:
        out.append(2)
        _varint(out, n)
    out += b


def _bytes(out: bytearray, v: Any) -> None:
    if type(v) is not bytes:
        raise Unsupported
    _varint(out, len(v))
    out += v


def _boolean(out: bytearray, v: Any) -> None:
    if type(v) is not bool:
        raise Unsupported
    out.append(1 if v else 0)


def _null(out: bytearray, v: Any) -> None:
    if v is not None:
        raise Unsupported


def _timestamp(scale: int) -> Writer:
    def write(out: bytearray, v: Any) -> None:
        if type(v) is int:
            _long(out, v)
            return
        if type(v) is not datetime or v.tzinfo is None:
            raise Unsupported  # naive times: fastavro's local-time rules
        delta = v - _EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        _long(out, micros if scale == 1 else micros // scale)

    return write


_PRIMITIVES: dict[str, Writer] = {
    "null": _null,
    "boolean": _boolean,
    "int": _int,
    "long": _long,
    "string": _string,
    "bytes": _bytes,
}


def _array(item: Writer) -> Writer:
    def write(out: bytearray, v: Any) -> None:
        if type(v) is not list:
            raise Unsupported
        if v:
            _varint(out, len(v))
            for x in v:
                item(out, x)
        out += b"\x00"

    return write


def _map(value: Writer) -> Writer:
    def write(out: bytearray, v: Any) -> None:
        if type(v) is not dict:
            raise Unsupported
        if v:
            _varint(out, len(v))
            for k, x in v.items():
                _string(out, k)
                value(out, x)
        out += b"\x00"

    return write


def _enum(symbols: list[str]) -> Writer:
    index = {s: i for i, s in enumerate(symbols)}

    def write(out: bytearray, v: Any) -> None:
        if type(v) is not str or v not in index:
            raise Unsupported
        _varint(out, index[v])

    return write


def _fixed(size: int) -> Writer:
    def write(out: bytearray, v: Any) -> None:
        if type(v) is not bytes or len(v) != size:
            raise Unsupported
        out += v

    return write


def compile_writer(schema: Any) -> Writer:
    """The writer of a schema parsed by ``fastavro.parse_schema``; raises :class:`Unsupported`
    for a schema with types it does not cover (floats, unions other than ``["null", T]``)."""
    return _Compiler(schema).compile(schema)


class _Compiler(SchemaCompiler[Writer]):
    primitives = _PRIMITIVES

    def deferred(self, slot: list[Writer]) -> Writer:
        return lambda out, v: slot[0](out, v)

    timestamp = staticmethod(_timestamp)
    array = staticmethod(_array)
    map = staticmethod(_map)
    enum = staticmethod(_enum)
    fixed = staticmethod(_fixed)

    def record(self, schema_fields: list[tuple[dict[str, Any], Writer]]) -> Writer:
        fields: list[tuple[str, Writer, bool, Any]] = []
        for f, field_writer in schema_fields:
            if "default" in f:
                missing_ok, default = True, f["default"]
            else:  # fastavro: a missing field is written as null when its type names "null"
                missing_ok, default = "null" in f["type"], None
            fields.append((f["name"], field_writer, missing_ok, default))
        absent = object()

        def write(out: bytearray, v: Any) -> None:
            if type(v) is not dict or "-type" in v:  # fastavro's union hint: fastavro's to
                raise Unsupported  # judge (it refuses a wrong one anywhere under a union)
            get = v.get
            for name, field_writer, missing_ok, default in fields:
                value = get(name, absent)
                if value is absent:
                    if not missing_ok:
                        raise Unsupported  # fastavro names the field
                    value = default
                field_writer(out, value)

        return write

    def union(self, branch: Any, other: Writer) -> Writer:
        if other is _string:
            return _optional_string

        def write(out: bytearray, v: Any) -> None:
            if v is None:
                out += b"\x00"
                return
            out += b"\x02"
            other(out, v)

        return write


def write(writer: Writer, record: Mapping[str, Any]) -> bytes:
    """The binary datum of ``record``; raises :class:`Unsupported` for fastavro to write it."""
    out = bytearray()
    writer(out, record)
    return bytes(out)
