"""What the compiled Avro writer and reader share: a parsed schema turned into one function per
type, once (:mod:`ledger.events.avro_write`, :mod:`ledger.events.avro_read`).

:class:`SchemaCompiler` walks the schema (named types, references, ``["null", T]`` unions,
timestamps) and asks its subclass to build each function; a schema with a type neither covers
raises :class:`Unsupported`, and the caller uses fastavro for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[[Any, Any], Any])


class Unsupported(Exception):
    """This datum (or schema) is not one the compiled functions take: use fastavro."""


class SchemaCompiler(Generic[F]):
    """Compile a schema parsed by ``fastavro.parse_schema`` into functions built by the hooks."""

    primitives: dict[str, F]

    def __init__(self, schema: Any) -> None:
        self.named: dict[str, Any] = (
            dict(schema.get("__named_schemas", {})) if isinstance(schema, dict) else {}
        )
        self.done: dict[str, F] = {}

    def compile(self, schema: Any) -> F:
        if isinstance(schema, str):
            if schema in self.primitives:
                return self.primitives[schema]
            return self._reference(schema)
        if isinstance(schema, list):
            if len(schema) != 2 or schema[0] != "null" or schema[1] == "null":
                raise Unsupported('only ["null", T] unions')
            return self.union(schema[1], self.compile(schema[1]))
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if kind == "long" and logical in ("timestamp-micros", "timestamp-millis"):
            return self.timestamp(1 if logical == "timestamp-micros" else 1000)
        if kind == "string" and logical == "uuid":
            return self.primitives["string"]  # the text as it is (fastavro: UUID objects too)
        if kind in self.primitives and logical is None:
            return self.primitives[kind]
        if kind == "record":
            return self._record(schema)
        if kind == "array":
            return self.array(self.compile(schema["items"]))
        if kind == "map":
            return self.map(self.compile(schema["values"]))
        if kind == "enum" and logical is None:
            return self._named(schema, self.enum(schema["symbols"]))
        if kind == "fixed" and logical is None:
            return self._named(schema, self.fixed(schema["size"]))
        raise Unsupported(f"schema type {kind!r} ({logical})")

    def _named(self, schema: dict[str, Any], function: F) -> F:
        if "name" in schema:
            self.done[schema["name"]] = function
        return function

    def _reference(self, name: str) -> F:
        if name in self.done:
            return self.done[name]
        if name not in self.named:
            raise Unsupported(f"unknown type {name!r}")
        return self.compile(self.named[name])  # a named type registers itself

    def _record(self, schema: dict[str, Any]) -> F:
        slot: list[F] = []
        if "name" in schema:  # a recursive reference inside calls it through the slot
            self.done.setdefault(schema["name"], self.deferred(slot))
        function = self.record([(f, self.compile(f["type"])) for f in schema["fields"]])
        slot.append(function)
        return self._named(schema, function)

    # --- the hooks -----------------------------------------------------------------------

    def deferred(self, slot: list[F]) -> F:
        """A function that calls ``slot[0]`` (filled once a recursive type is compiled)."""
        raise NotImplementedError

    def timestamp(self, scale: int) -> F:
        raise NotImplementedError

    def record(self, fields: list[tuple[dict[str, Any], F]]) -> F:
        raise NotImplementedError

    def union(self, branch: Any, other: F) -> F:
        """``["null", branch]``, ``other`` being the branch's function."""
        raise NotImplementedError

    def array(self, item: F) -> F:
        raise NotImplementedError

    def map(self, value: F) -> F:
        raise NotImplementedError

    def enum(self, symbols: list[str]) -> F:
        raise NotImplementedError

    def fixed(self, size: int) -> F:
        raise NotImplementedError
