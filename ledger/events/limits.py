"""What one Kafka record, its envelope and its event may contain (docs/protocol.md §12).

Every limit is checked *before* the expensive work: the key and headers before anything is
decoded, and each Avro datum (the envelope, then the payload inside it) by walking its bytes
with the writer schema before it is decoded.  The walk materialises nothing and stops at the
first limit broken, so a hostile record costs at most its own size in time and no more memory
than its bytes, however many array items or strings it announces.

The same walk refuses control characters in text: PostgreSQL cannot store U+0000 at all, and
ids, names and vocabulary terms holding control characters (NUL, TAB, newline, ESC …) make
records that read the same but differ, in audits, reports and terminals.  Every string field
is an *identifier* field (no control character at all) unless it is listed as free text, where
TAB, LF and CR are allowed.  Because control characters are single bytes in UTF-8 (C1 ones are
``C2 80`` to ``C2 9F``), the check runs on the encoded bytes.

The rules are the same for the emitter (which refuses to sign such an event) and the consumer
(which refuses the record with a specific reason), whatever the ledger's database.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ledger.errors import DecodeError, InvalidTextError, LimitExceededError, printable
from ledger.events.encoding import Framing, SchemaVersion

MAX_RECORD_BYTES = 1 << 20
"""Largest record value (the DSSE envelope) the consumer accepts by default."""
MAX_KEY_BYTES = 4096
MAX_HEADERS = 64
MAX_HEADER_NAME_BYTES = 256
MAX_HEADER_VALUE_BYTES = 8192  # W3C baggage may take 8192 bytes
MAX_HEADERS_BYTES = 32768  # names and values together

MAX_SIGNATURES = 16
MAX_ITEMS = 256
"""Items of an array unless :data:`ITEM_LIMITS` says otherwise."""
MAX_TEXT_BYTES = 1024
"""UTF-8 bytes of an identifier, name or vocabulary term unless :data:`TEXT_LIMITS` says."""
MAX_FREE_TEXT_BYTES = 16384
MAX_BYTES_FIELD = 1024
"""Bytes of a ``bytes`` field (signatures, public keys) unless :data:`BYTES_LIMITS` says."""

# Per record (schema file stem) and field path (``ingredients[].asset_id``).
ITEM_LIMITS: Mapping[str, Mapping[str, int]] = {
    "dsse_envelope": {"signatures": MAX_SIGNATURES},
    # 16384 ingredients of ~80 bytes already fill a 1 MiB record: real events never meet it.
    "provenance_event": {
        "ingredients": 16384,
        "rights.consent_refs": 1024,
        "likeness": 1024,
        "c2pa.status_codes": 64,
        "c2pa.ingredients": 16384,  # as many as the ingredients
        "c2pa.ingredients[].status_codes": 64,
    },
    "consent_event": {"assets": 4096},
    "licence_event": {"assets": 4096},
}
FREE_TEXT: Mapping[str, frozenset[str]] = {
    "provenance_event": frozenset(
        {
            "description",
            "rights.licence",
            "model.licence",
            "model.training_data",
            "rights.training_mining[].constraint_info",
        }
    ),
    "key_registry_event": frozenset({"revocation.comment"}),
    "consent_event": frozenset({"scope"}),
    "licence_event": frozenset({"ai_terms[].constraint_info"}),
    "disposition_event": frozenset({"reason"}),
}
MAX_URI_BYTES = 4096
TEXT_LIMITS: Mapping[str, Mapping[str, int]] = {
    "provenance_event": {"asset.location": MAX_URI_BYTES},
    "consent_event": {"document": MAX_URI_BYTES},
    "licence_event": {"url": MAX_URI_BYTES, "document": MAX_URI_BYTES},
}
BYTES_LIMITS: Mapping[str, Mapping[str, int | None]] = {
    "dsse_envelope": {"payload": None},  # bounded by the record size alone
}

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]")
_CONTROL_IN_FREE_TEXT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def control_character(data: bytes, start: int = 0, end: int | None = None) -> str | None:
    """The first control character in UTF-8 ``data[start:end]`` as ``U+XXXX``, or None."""
    match = _CONTROL.search(data, start, len(data) if end is None else end)
    return None if match is None else _code_point(match.group())


def _code_point(found: bytes) -> str:
    return f"U+{found.decode('utf-8', 'replace').encode('utf-16-be').hex().upper():0>4}"


def check_text(where: str, value: str, limit: int = MAX_TEXT_BYTES) -> None:
    """Refuse an identifier-like string with a control character or over ``limit`` bytes."""
    data = value.encode("utf-8", "surrogatepass")
    found = control_character(data)
    if found is not None:
        raise InvalidTextError(f"{where} holds the control character {found}")
    if len(data) > limit:
        raise LimitExceededError(
            f"{where} is {len(data)} bytes long; the limit is {limit}", reason="text_too_long"
        )


# --- the Kafka record around the envelope ---------------------------------------------------


def check_record(key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
    """Refuse a key or headers beyond the limits (before the value is decoded)."""
    if key is not None and len(key) > MAX_KEY_BYTES:
        raise LimitExceededError(
            f"the Kafka key is {len(key)} bytes; the limit is {MAX_KEY_BYTES}",
            reason="oversized_key",
        )
    if len(headers) > MAX_HEADERS:
        raise _headers(f"{len(headers)} headers; the limit is {MAX_HEADERS}")
    total = 0
    for name, value in headers:
        name_bytes = len(name.encode("utf-8", "surrogatepass"))
        if name_bytes > MAX_HEADER_NAME_BYTES:
            raise _headers(
                f"a header name of {name_bytes} bytes; the limit is {MAX_HEADER_NAME_BYTES}"
            )
        if len(value) > MAX_HEADER_VALUE_BYTES:
            raise _headers(
                f"header {printable(name, 64)!r} is {len(value)} bytes;"
                f" the limit is {MAX_HEADER_VALUE_BYTES}"
            )
        total += name_bytes + len(value)
    if total > MAX_HEADERS_BYTES:
        raise _headers(f"headers of {total} bytes in all; the limit is {MAX_HEADERS_BYTES}")


def _headers(message: str) -> LimitExceededError:
    return LimitExceededError(message, reason="oversized_headers")


# --- walking an Avro datum -----------------------------------------------------------------

Walk = Callable[[bytes, int], int]
"""Check the value starting at a position; return the position after it."""


def check_datum(writer: SchemaVersion, data: bytes, start: int = 0) -> None:
    """Walk one Avro binary datum (``data[start:]``) and raise at the first limit broken."""
    walk = _compiled(writer)
    try:
        walk(data, start)
    except (IndexError, struct.error):
        raise DecodeError(f"truncated {writer.label} datum") from None


def check_value(reader: SchemaVersion, value: Any) -> None:
    """The same rules as :func:`check_datum`, over a datum already decoded with ``reader``.

    Cheaper than walking the bytes (the string checks are C string methods); the consumer
    walks the bytes first only for large data, where decoding itself would cost too much.
    """
    check = _VALUE_CHECKS.get(reader.fingerprint)
    if check is None:
        check = _ValueRules(reader.record).compile(json.loads(reader.text), "")
        _VALUE_CHECKS[reader.fingerprint] = check
    check(value)


_VALUE_CHECKS: dict[bytes, Check] = {}

WALK_ABOVE_BYTES = 16384
"""Framed data larger than this is walked (:func:`check_datum`) before it is decoded."""


def decode(data: bytes, framing: Framing) -> tuple[SchemaVersion, dict[str, Any]]:
    """Decode framed ``data`` within the limits (raises the limit's or the text's error).

    Data over :data:`WALK_ABOVE_BYTES` is walked first, so a record announcing a million
    array items is refused before anything is decoded; smaller data cannot cost much to
    decode, and its decoded form is checked by the same rules.
    """
    if len(data) > WALK_ABOVE_BYTES:
        writer, start = framing.locate(data)
        check_datum(writer, data, start)
    schema, record = framing.decode(data)
    check_value(schema, record)
    return schema, record


Check = Callable[[Any], None]
"""Check one decoded value; raise at the first limit broken."""

_CONTROL_TEXT = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_FREE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

Rule = TypeVar("Rule")


@dataclass(frozen=True)
class _Text:
    """The rule of one string field: where it is, its byte limit, free text or identifier."""

    where: str
    limit: int
    free: bool

    def too_long(self, size: int) -> LimitExceededError:
        return _too_long(self.where, size, self.limit)

    def control(self, code_point: str) -> InvalidTextError:
        return InvalidTextError(f"{self.where} holds the control character {code_point}")


@dataclass(frozen=True)
class _Items:
    """The rule of one array or map: where it is, its item limit, the refusal's reason."""

    where: str
    limit: int
    reason: str

    def too_many(self, seen: int) -> LimitExceededError:
        return LimitExceededError(
            f"{self.where} has at least {seen} items; the limit is {self.limit}",
            reason=self.reason,
        )


@dataclass(frozen=True)
class _Bytes:
    where: str
    limit: int | None  # None: bounded by the record size alone

    def too_long(self, size: int) -> LimitExceededError:
        assert self.limit is not None
        return _too_long(self.where, size, self.limit)


def _too_long(where: str, size: int, limit: int) -> LimitExceededError:
    return LimitExceededError(
        f"{where} is {size} bytes long; the limit is {limit}", reason="text_too_long"
    )


def _full_name(schema: Mapping[str, Any], namespace: str) -> str:
    name = str(schema["name"])
    return name if "." in name else f"{schema.get('namespace', namespace)}.{name}".lstrip(".")


@dataclass
class _Rules(Generic[Rule]):
    """The one walk over a schema: which limit and text rule holds at each field path.

    It resolves named types (records, enums and fixed types, referenced by name anywhere
    after their definition, records also inside themselves) and looks up the limits of
    every string, bytes, array and map field.  What a rule does with them is the subclass's:
    :class:`_DatumRules` walks Avro bytes, :class:`_ValueRules` checks a decoded value.  So
    the bytes and the decoded value are judged by the same rules, field by field.
    """

    record: str
    named: dict[str, Rule] = field(default_factory=dict)

    def compile(self, schema: Any, path: str, namespace: str = "") -> Rule:
        if isinstance(schema, list):
            return self.union([self.compile(s, path, namespace) for s in schema], schema, path)
        if isinstance(schema, str):
            return self._by_name(schema, path, namespace)
        kind = schema["type"]
        if kind == "record":
            return self._record(schema, path, namespace)
        if kind == "array":
            items = self.compile(schema["items"], path + "[]", namespace)
            return self.array(items, self._items(path))
        if kind == "map":
            values = self.compile(schema["values"], path + "{}", namespace)
            return self.map(self.string(self._text(path + "{key}")), values, self._items(path))
        if kind in ("enum", "fixed"):
            rule = self.enum() if kind == "enum" else self.fixed(int(schema["size"]))
            self.named[_full_name(schema, namespace)] = rule
            return rule
        return self._by_name(kind, path, namespace)

    def _record(self, schema: Mapping[str, Any], path: str, namespace: str) -> Rule:
        full = _full_name(schema, namespace)
        inner, prefix = full.rpartition(".")[0], f"{path}." if path else ""
        fields = [
            (str(f["name"]), self.compile(f["type"], prefix + f["name"], inner))
            for f in schema["fields"]
        ]
        rule = self.record_of(fields)  # a reference inside itself is looked up when used
        self.named[full] = rule
        return rule

    def _by_name(self, name: str, path: str, namespace: str) -> Rule:
        if name == "string":
            return self.string(self._text(path))
        if name == "bytes":
            limit = BYTES_LIMITS.get(self.record, {}).get(path, MAX_BYTES_FIELD)
            return self.bytes_(_Bytes(f"{self.record} {path}", limit))
        if name in _PRIMITIVES:
            return self.primitive(name)
        full = name if "." in name else f"{namespace}.{name}".lstrip(".")
        return self.reference(full)

    def _text(self, path: str) -> _Text:
        free = path in FREE_TEXT.get(self.record, frozenset())
        default = MAX_FREE_TEXT_BYTES if free else MAX_TEXT_BYTES
        limit = TEXT_LIMITS.get(self.record, {}).get(path, default)
        return _Text(f"{self.record} {path}", limit, free)

    def _items(self, path: str) -> _Items:
        limit = ITEM_LIMITS.get(self.record, {}).get(path, MAX_ITEMS)
        reason = "too_many_signatures" if path == "signatures" else "too_many_items"
        return _Items(f"{self.record} {path}", limit, reason)

    # What a rule does: one method per kind of schema node.
    def record_of(self, fields: list[tuple[str, Rule]]) -> Rule:
        raise NotImplementedError

    def string(self, rule: _Text) -> Rule:
        raise NotImplementedError

    def bytes_(self, rule: _Bytes) -> Rule:
        raise NotImplementedError

    def array(self, item: Rule, rule: _Items) -> Rule:
        raise NotImplementedError

    def map(self, key: Rule, value: Rule, rule: _Items) -> Rule:
        raise NotImplementedError

    def union(self, branches: list[Rule], schema: list[Any], path: str) -> Rule:
        raise NotImplementedError

    def enum(self) -> Rule:
        raise NotImplementedError

    def fixed(self, size: int) -> Rule:
        raise NotImplementedError

    def primitive(self, name: str) -> Rule:
        raise NotImplementedError

    def reference(self, full: str) -> Rule:
        raise NotImplementedError


class _DatumRules(_Rules[Walk]):
    """The rules over Avro binary data: each walk returns the position after its value."""

    def record_of(self, fields: list[tuple[str, Walk]]) -> Walk:
        walks = [walk for _, walk in fields]

        def walk(data: bytes, pos: int) -> int:
            for f in walks:
                pos = f(data, pos)
            return pos

        return walk

    def string(self, rule: _Text) -> Walk:
        limit = rule.limit
        search = (_CONTROL_IN_FREE_TEXT if rule.free else _CONTROL).search

        def walk(data: bytes, pos: int) -> int:
            byte = data[pos]
            if byte < 0x80:  # a length below 64: one byte (the usual case, kept fast)
                size, pos = byte >> 1, pos + 1
            else:
                size, pos = _long(data, pos)
            end = pos + size
            if size > limit:
                raise rule.too_long(size)
            if byte & 1 or end > len(data):
                raise IndexError("a negative length, or past the end of the datum")
            found = search(data, pos, end)
            if found is not None:
                raise rule.control(_code_point(found.group()))
            return end

        return walk

    def bytes_(self, rule: _Bytes) -> Walk:
        limit = rule.limit

        def walk(data: bytes, pos: int) -> int:
            size, pos = _long(data, pos)
            if limit is not None and size > limit:
                raise rule.too_long(size)
            return _advance(data, pos, size)

        return walk

    def array(self, item: Walk, rule: _Items) -> Walk:
        limit = rule.limit

        def walk(data: bytes, pos: int) -> int:
            seen = 0
            while True:
                count, pos = _long(data, pos)
                if count == 0:
                    return pos
                if count < 0:  # a block with its byte size: skip the size, walk the items
                    count = -count
                    _, pos = _long(data, pos)
                seen += count
                if seen > limit:
                    raise rule.too_many(seen)
                for _ in range(count):
                    pos = item(data, pos)

        return walk

    def map(self, key: Walk, value: Walk, rule: _Items) -> Walk:
        pair: Walk = lambda data, pos: value(data, key(data, pos))  # noqa: E731
        return self.array(pair, rule)

    def union(self, branches: list[Walk], schema: list[Any], path: str) -> Walk:
        count = len(branches)

        def walk(data: bytes, pos: int) -> int:
            index = data[pos] >> 1 if data[pos] < 0x80 else -1  # branch 0..63: one byte
            if not 0 <= index < count or data[pos] & 1:
                raise DecodeError(f"union branch {_long(data, pos)[0]} out of range at {path}")
            return branches[index](data, pos + 1)

        return walk

    def enum(self) -> Walk:
        return _skip_long

    def fixed(self, size: int) -> Walk:
        return lambda data, pos: _advance(data, pos, size)

    def primitive(self, name: str) -> Walk:
        return _PRIMITIVES[name]

    def reference(self, full: str) -> Walk:
        named = self.named
        return lambda data, pos: named[full](data, pos)


class _ValueRules(_Rules[Check]):
    """The rules over a decoded datum (fast: C string methods; numbers are not checked)."""

    def record_of(self, fields: list[tuple[str, Check]]) -> Check:
        checked = [(name, check) for name, check in fields if check is not _nothing]

        def check(value: Any) -> None:
            for name, field_check in checked:
                field_check(value[name])

        return check

    def string(self, rule: _Text) -> Check:
        limit = rule.limit
        search = (_CONTROL_IN_FREE if rule.free else _CONTROL_TEXT).search

        def check(value: str) -> None:
            if len(value) * 4 > limit:  # else it fits whatever its characters
                size = len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
                if size > limit:
                    raise rule.too_long(size)
            if not value.isprintable():
                found = search(value)
                if found is not None:
                    raise rule.control(f"U+{ord(found.group()):04X}")

        return check

    def bytes_(self, rule: _Bytes) -> Check:
        limit = rule.limit

        def check(value: bytes) -> None:
            if limit is not None and len(value) > limit:
                raise rule.too_long(len(value))

        return check

    def array(self, item: Check, rule: _Items) -> Check:
        limit = rule.limit

        def check(value: list[Any]) -> None:
            if len(value) > limit:
                raise rule.too_many(len(value))
            for v in value:
                item(v)

        return check

    def map(self, key: Check, value: Check, rule: _Items) -> Check:
        def pair(kv: tuple[str, Any]) -> None:
            key(kv[0])
            value(kv[1])

        items = self.array(pair, rule)
        return lambda mapping: items(list(mapping.items()))

    def union(self, branches: list[Check], schema: list[Any], path: str) -> Check:
        kinds = [_python_type(s) for s in schema]
        if len(schema) == 2 and kinds[0] is type(None):  # ["null", T]: the usual optional
            other = branches[1]
            if other is _nothing:
                return _nothing

            def optional(value: Any) -> None:
                if value is not None:
                    other(value)

            return optional

        def check(value: Any) -> None:
            for kind, branch in zip(kinds, branches, strict=True):
                if kind is None or isinstance(value, kind):
                    branch(value)
                    return

        return check

    def enum(self) -> Check:
        return _nothing

    def fixed(self, size: int) -> Check:
        return _nothing

    def primitive(self, name: str) -> Check:
        return _nothing

    def reference(self, full: str) -> Check:
        named = self.named
        return lambda value: named[full](value)


_BRANCH_TYPES: dict[str, type] = {
    "null": type(None),
    "string": str,
    "bytes": bytes,
    "array": list,
    "map": dict,
    "record": dict,
    "boolean": bool,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
}


def _python_type(schema: Any) -> type | None:
    """The Python type fastavro decodes a union branch to (None: anything, checked as is)."""
    name = schema if isinstance(schema, str) else schema.get("type")
    return _BRANCH_TYPES.get(name)


def _nothing(value: Any) -> None:
    return None


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint (Avro int/long) at ``pos``; the value and the position after it."""
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError("an Avro varint longer than 10 bytes")


def _skip_long(data: bytes, pos: int) -> int:
    return _long(data, pos)[1]


def _advance(data: bytes, pos: int, size: int) -> int:
    end = pos + size
    if size < 0 or end > len(data):
        raise IndexError("past the end of the datum")
    return end


_PRIMITIVES: dict[str, Walk] = {
    "null": lambda data, pos: pos,
    "boolean": lambda data, pos: _advance(data, pos, 1),
    "int": _skip_long,
    "long": _skip_long,
    "float": lambda data, pos: _advance(data, pos, 4),
    "double": lambda data, pos: _advance(data, pos, 8),
}


_WALKS: dict[bytes, Walk] = {}


def _compiled(writer: SchemaVersion) -> Walk:
    walk = _WALKS.get(writer.fingerprint)
    if walk is None:
        walk = _DatumRules(writer.record).compile(json.loads(writer.text), "")
        _WALKS[writer.fingerprint] = walk
    return walk
