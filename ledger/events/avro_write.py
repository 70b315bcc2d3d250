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

Writer = Callable[[bytearray, Any], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_SMALL = [bytes([n]) for n in range(128)]  # the varints of 0..127


class Unsupported(Exception):
    """This datum (or schema) is not one the compiled writer writes: use fastavro."""


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


def compile_writer(schema: Any) -> Writer:
    """The writer of a schema parsed by ``fastavro.parse_schema``; raises :class:`Unsupported`
    for a schema with types it does not cover (floats, unions other than ``["null", T]``)."""
    named: dict[str, Any] = (
        dict(schema.get("__named_schemas", {})) if isinstance(schema, dict) else {}
    )
    return _Compiler(named).compile(schema)


class _Compiler:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.done: dict[str, Writer] = {}

    def compile(self, schema: Any) -> Writer:
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
        if kind == "string" and logical in (None, "uuid"):
            return _string  # uuid: a str is written as it is (fastavro converts UUID objects)
        if kind in _PRIMITIVES and logical is None:
            return _PRIMITIVES[kind]
        if kind == "record":
            return self._record(schema)
        if kind == "array":
            return _array(self.compile(schema["items"]))
        if kind == "map":
            return _map(self.compile(schema["values"]))
        if kind == "enum":
            return self._named(schema, _enum(schema["symbols"]))
        if kind == "fixed" and logical is None:
            return self._named(schema, _fixed(schema["size"]))
        raise Unsupported(f"schema type {kind!r} ({logical})")

    def _named(self, schema: dict[str, Any], writer: Writer) -> Writer:
        if "name" in schema:
            self.done[schema["name"]] = writer
        return writer

    def _reference(self, name: str) -> Writer:
        if name in self.done:
            return self.done[name]
        if name not in self.named:
            raise Unsupported(f"unknown type {name!r}")
        # A recursive type refers to itself before its writer exists: look it up when writing.
        slot: list[Writer] = []
        self.done[name] = lambda out, v: slot[0](out, v)
        writer = self.compile(self.named[name])
        slot.append(writer)
        self.done[name] = writer
        return writer

    def _record(self, schema: dict[str, Any]) -> Writer:
        if "name" in schema:  # (a recursive reference inside finds it while compiling)
            slot: list[Writer] = []
            self.done.setdefault(schema["name"], lambda out, v: slot[0](out, v))
        fields: list[tuple[str, Writer, bool, Any]] = []
        for f in schema["fields"]:
            ftype = f["type"]
            if "default" in f:
                missing_ok, default = True, f["default"]
            else:  # fastavro: a missing field is written as null when its type names "null"
                missing_ok, default = "null" in ftype, None
            fields.append((f["name"], self.compile(ftype), missing_ok, default))
        absent = object()

        def write(out: bytearray, v: Any) -> None:
            if type(v) is not dict:
                raise Unsupported
            get = v.get
            for name, field_writer, missing_ok, default in fields:
                value = get(name, absent)
                if value is absent:
                    if not missing_ok:
                        raise Unsupported  # fastavro names the field
                    value = default
                field_writer(out, value)

        if "name" in schema:
            slot.append(write)
            self.done[schema["name"]] = write
        return write

    def _union(self, branches: list[Any]) -> Writer:
        if len(branches) != 2 or branches[0] != "null" or branches[1] == "null":
            raise Unsupported('only ["null", T] unions')
        other = self.compile(branches[1])
        if other is _string:
            return _optional_string
        branch = branches[1]
        resolved = self.named.get(branch, branch) if isinstance(branch, str) else branch
        is_record = isinstance(resolved, dict) and resolved.get("type") == "record"

        def write(out: bytearray, v: Any) -> None:
            if v is None:
                out += b"\x00"
                return
            if is_record and "-type" in v:  # fastavro's union hint: leave it to fastavro
                raise Unsupported
            out += b"\x02"
            other(out, v)

        return write


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


def write(writer: Writer, record: Mapping[str, Any]) -> bytes:
    """The binary datum of ``record``; raises :class:`Unsupported` for fastavro to write it."""
    out = bytearray()
    writer(out, record)
    return bytes(out)
