"""Avro binary readers generated as Python source, once per schema: straight-line code.

The closures of :mod:`ledger.events.avro_read` cost a Python call (and a tuple) per value; an
event has some sixty.  :func:`generate` writes one function per schema (or per projection of
it) whose body reads every value inline: the short-varint and short-text fast paths, unions,
arrays and nested records, each in the order of the schema.  Only the schema (our own files)
goes into the source; the data is only ever indexed and sliced.

It reads exactly what the closures read and refuses (:class:`Unsupported`) exactly what they
refuse: a value it does not keep is still read and checked (text decoded, union, boolean and
enum bytes, lengths, times in range), so a projection decodes the same data as the whole
reader.  A recursive schema, or one nested deeper than Python compiles in one function,
raises :class:`Unsupported` (the closures read it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ledger.events.avro_compile import Unsupported

Reader = Callable[[bytes, int], tuple[Any, int]]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LONG = """\
b = data[pos]
if b < 0x80:
    {v} = (b >> 1) ^ -(b & 1)
    pos += 1
else:
    {v}, pos = read_long(data, pos)"""
_LENGTH = """\
b = data[pos]
if b < 0x80 and not b & 1:
    n = b >> 1
    pos += 1
else:
    n, pos = read_long(data, pos)
    if n < 0:
        raise Unsupported
e = pos + n
if e > size:
    raise Unsupported"""


class _Source:
    def __init__(self, schema: Any, read_long: Callable[[bytes, int], tuple[int, int]]) -> None:
        self.named: dict[str, Any] = (
            dict(schema.get("__named_schemas", {})) if isinstance(schema, dict) else {}
        )
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "read_long": read_long,
            "Unsupported": Unsupported,
            "EPOCH": _EPOCH,
            "timedelta": timedelta,
        }
        self.count = 0
        self.open: list[str] = []  # named records being written (a recursion is refused)

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def emit(self, depth: int, text: str) -> None:
        self.lines += ["    " * depth + line for line in text.splitlines()]

    def const(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def value(self, t: Any, d: int, keep: Any) -> str:
        """Emit the reading of one value of type ``t`` at ``pos`` (indent ``d``); the name
        holding it (``keep``: True whole, False checked only, a mapping: those fields)."""
        if isinstance(t, str):
            if t in self.named:
                return self.named_record(t, d, keep)
            return self.primitive(t, d, keep)
        if isinstance(t, list):
            if len(t) != 2 or t[0] != "null" or t[1] == "null":
                raise Unsupported('only ["null", T] unions')
            v = self.var()
            self.emit(d, f"b = data[pos]\npos += 1\nif b == 0:\n    {v} = None\nelif b == 2:")
            inner = self.value(t[1], d + 1, keep)
            self.emit(d, f"    {v} = {inner}\nelse:\n    raise Unsupported")
            return v
        kind, logical = t.get("type"), t.get("logicalType")
        if kind == "long" and logical in ("timestamp-micros", "timestamp-millis"):
            n = self.primitive("long", d, True)
            scale = 1 if logical == "timestamp-micros" else 1000
            v = self.var()
            self.emit(d, f"{v} = EPOCH + timedelta(microseconds={n} * {scale})")
            return v
        if kind == "string" and logical == "uuid":
            return self.primitive("string", d, keep)
        if kind in ("null", "boolean", "int", "long", "string", "bytes") and logical is None:
            return self.primitive(kind, d, keep)
        if kind == "record":
            return self.record(t, d, keep)
        if kind in ("array", "map"):
            return self.blocks(t, d, keep)
        if kind == "enum" and logical is None:
            self.named.setdefault(t["name"], t)
            n = self.primitive("long", d, True)
            symbols = self.const(list(t["symbols"]))
            self.emit(d, f"if not 0 <= {n} < {len(t['symbols'])}:\n    raise Unsupported")
            return f"{symbols}[{n}]"
        if kind == "fixed" and logical is None:
            self.named.setdefault(t["name"], t)
            v = self.var()
            self.emit(d, f"e = pos + {int(t['size'])}\nif e > size:\n    raise Unsupported")
            self.emit(d, f"{v} = data[pos:e]\npos = e")
            return v
        raise Unsupported(f"schema type {kind!r} ({logical})")

    def primitive(self, kind: str, d: int, keep: Any) -> str:
        v = self.var()
        if kind == "null":
            return "None"
        if kind == "boolean":
            self.emit(d, f"b = data[pos]\nif b > 1:\n    raise Unsupported\npos += 1\n{v} = b == 1")
        elif kind in ("int", "long"):
            self.emit(d, _LONG.format(v=v))
            if kind == "int":
                self.emit(d, f"if not -(1 << 31) <= {v} < 1 << 31:\n    raise Unsupported")
        elif kind in ("string", "bytes"):
            self.emit(d, _LENGTH)
            text = kind == "string"
            if keep or text:  # text is decoded even when skipped: it must be UTF-8
                self.emit(d, f"{v} = data[pos:e]" + (".decode()" if text else ""))
            else:
                v = "None"
            self.emit(d, "pos = e")
        else:
            raise Unsupported(f"unknown type {kind!r}")
        return v

    def named_record(self, name: str, d: int, keep: Any) -> str:
        if name in self.open:
            raise Unsupported(f"recursive type {name!r}")
        return self.value(self.named[name], d, keep)

    def record(self, t: dict[str, Any], d: int, keep: Any) -> str:
        name = t.get("name")
        if name is not None:
            self.named.setdefault(name, t)
            self.open.append(name)
        fields = t["fields"]
        if isinstance(keep, Mapping):
            unknown = set(keep) - {f["name"] for f in fields}
            if unknown:
                raise Unsupported(f"no fields {sorted(unknown)} in {name}")
        kept = []
        for f in fields:
            want = keep.get(f["name"], False) if isinstance(keep, Mapping) else keep
            held = self.value(f["type"], d, want)
            if want:
                kept.append(f"{f['name']!r}: {held}")
        if name is not None:
            self.open.pop()
        v = self.var()
        self.emit(d, f"{v} = {{{', '.join(kept)}}}" if keep else f"{v} = None")
        return v

    def blocks(self, t: dict[str, Any], d: int, keep: Any) -> str:
        """An array's items or a map's entries, in blocks (with their byte size, or not)."""
        is_map = t["type"] == "map"
        v, count = self.var(), self.var()
        self.emit(d, f"{v} = {{}}" if is_map else f"{v} = []")
        self.emit(d, f"{count}, pos = read_long(data, pos)\nwhile {count}:")
        self.emit(
            d + 1, f"if {count} < 0:\n    {count} = -{count}\n    _, pos = read_long(data, pos)"
        )
        self.emit(d + 1, f"if {count} > size - pos:\n    raise Unsupported")
        self.emit(d + 1, f"for _ in range({count}):")
        if is_map:
            key = self.primitive("string", d + 2, True)
            item = self.value(t["values"], d + 2, keep)
            if keep:
                self.emit(d + 2, f"{v}[{key}] = {item}")
        else:
            item = self.value(t["items"], d + 2, keep)
            self.emit(d + 2, f"{v}.append({item})" if keep else "pass")
        self.emit(d + 1, f"{count}, pos = read_long(data, pos)")
        return v


def generate(
    schema: Any, keep: Any = True, *, read_long: Callable[[bytes, int], tuple[int, int]]
) -> Reader:
    """The reader of a schema parsed by ``fastavro.parse_schema`` (``keep``: the fields to
    give, see :data:`ledger.events.avro_read.Projection`; True: all); :class:`Unsupported`
    for a type it does not cover or a recursive one.  ``read_long``: the varint reader."""
    source = _Source(schema, read_long)
    value = source.value(schema, 2, keep)
    body = "\n".join(source.lines)
    text = (
        "def read(data, pos):\n"
        "    size = len(data)\n"
        "    try:\n"
        f"{body}\n"
        "    except (IndexError, UnicodeDecodeError, OverflowError):\n"
        "        raise Unsupported from None\n"
        f"    return {value}, pos\n"
    )
    namespace = dict(source.names)
    try:
        code = compile(text, "<avro reader>", "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:  # nested deeper than Python's
        raise Unsupported(f"schema too deeply nested for one function: {exc}") from None
    exec(code, namespace)  # our schema's code, not the data
    reader: Reader = namespace["read"]
    return reader
