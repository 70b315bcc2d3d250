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
from typing import Any

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
    "approval_event": frozenset({"reason", "conditions[]"}),
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
        check = _ValueCompiler(reader.record).compile(json.loads(reader.text), "")
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


@dataclass
class _Compiler:
    record: str
    names: dict[str, Any] = field(default_factory=dict)
    walks: dict[str, Walk] = field(default_factory=dict)

    def compile(self, schema: Any, path: str, namespace: str = "") -> Walk:
        if isinstance(schema, list):
            return self._union([self.compile(s, path, namespace) for s in schema], path)
        if isinstance(schema, str):
            return self._named_or_primitive(schema, path, namespace)
        kind = schema["type"]
        if kind == "record":
            return self._record(schema, path, namespace)
        if kind == "array":
            return self._array(self.compile(schema["items"], path + "[]", namespace), path)
        if kind == "map":
            return self._map(self.compile(schema["values"], path + "{}", namespace), path)
        if kind == "enum":
            self._name(schema, namespace, _skip_long)
            return _skip_long
        if kind == "fixed":
            size = int(schema["size"])
            self._name(schema, namespace, lambda d, p: p + size)
            return lambda d, p: _advance(d, p, size)
        return self._named_or_primitive(kind, path, namespace)

    def _name(self, schema: Mapping[str, Any], namespace: str, walk: Walk) -> str:
        name = schema["name"]
        full = name if "." in name else f"{schema.get('namespace', namespace)}.{name}".lstrip(".")
        self.walks[full] = walk
        return full

    def _record(self, schema: Mapping[str, Any], path: str, namespace: str) -> Walk:
        fields: list[Walk] = []

        def walk(data: bytes, pos: int) -> int:
            for f in fields:
                pos = f(data, pos)
            return pos

        full = self._name(schema, namespace, walk)
        inner_ns = full.rpartition(".")[0]
        prefix = f"{path}." if path else ""
        fields.extend(
            self.compile(f["type"], prefix + f["name"], inner_ns) for f in schema["fields"]
        )
        return walk

    def _named_or_primitive(self, name: str, path: str, namespace: str) -> Walk:
        if name == "string":
            return self._string(path)
        if name == "bytes":
            return self._bytes(path)
        primitive = _PRIMITIVES.get(name)
        if primitive is not None:
            return primitive
        full = name if "." in name else f"{namespace}.{name}".lstrip(".")
        return lambda data, pos: self.walks[full](data, pos)

    def _string(self, path: str) -> Walk:
        free = path in FREE_TEXT.get(self.record, frozenset())
        limit = TEXT_LIMITS.get(self.record, {}).get(
            path, MAX_FREE_TEXT_BYTES if free else MAX_TEXT_BYTES
        )
        control = _CONTROL_IN_FREE_TEXT if free else _CONTROL
        where = f"{self.record} {path}"

        search = control.search

        def walk(data: bytes, pos: int) -> int:
            byte = data[pos]
            if byte < 0x80:  # a length below 64: one byte (the usual case, kept fast)
                size, pos = byte >> 1, pos + 1
            else:
                size, pos = _long(data, pos)
            end = pos + size
            if size > limit:
                raise LimitExceededError(
                    f"{where} is {size} bytes long; the limit is {limit}", reason="text_too_long"
                )
            if byte & 1 or end > len(data):
                raise IndexError("a negative length, or past the end of the datum")
            found = search(data, pos, end)
            if found is not None:
                raise InvalidTextError(
                    f"{where} holds the control character {_code_point(found.group())}"
                )
            return end

        return walk

    def _bytes(self, path: str) -> Walk:
        limit = BYTES_LIMITS.get(self.record, {}).get(path, MAX_BYTES_FIELD)
        where = f"{self.record} {path}"

        def walk(data: bytes, pos: int) -> int:
            size, pos = _long(data, pos)
            if limit is not None and size > limit:
                raise LimitExceededError(
                    f"{where} is {size} bytes long; the limit is {limit}", reason="text_too_long"
                )
            return _advance(data, pos, size)

        return walk

    def _array(self, item: Walk, path: str) -> Walk:
        limit = ITEM_LIMITS.get(self.record, {}).get(path, MAX_ITEMS)
        reason = "too_many_signatures" if path == "signatures" else "too_many_items"
        where = f"{self.record} {path}"

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
                    raise LimitExceededError(
                        f"{where} has at least {seen} items; the limit is {limit}", reason=reason
                    )
                for _ in range(count):
                    pos = item(data, pos)

        return walk

    def _map(self, value: Walk, path: str) -> Walk:
        key = self._string(path + "{key}")
        pair: Walk = lambda data, pos: value(data, key(data, pos))  # noqa: E731
        return self._array(pair, path)

    def _union(self, branches: list[Walk], path: str) -> Walk:
        count = len(branches)

        def walk(data: bytes, pos: int) -> int:
            index = data[pos] >> 1 if data[pos] < 0x80 else -1  # branch 0..63: one byte
            if not 0 <= index < count or data[pos] & 1:
                raise DecodeError(f"union branch {_long(data, pos)[0]} out of range at {path}")
            return branches[index](data, pos + 1)

        return walk


# --- checking a decoded datum ----------------------------------------------------------------

Check = Callable[[Any], None]

_CONTROL_TEXT = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_FREE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class _ValueCompiler:
    """The rules of :class:`_Compiler`, over a decoded datum (fast: C string methods)."""

    record: str
    checks: dict[str, Check] = field(default_factory=dict)

    def compile(self, schema: Any, path: str, namespace: str = "") -> Check:
        if isinstance(schema, list):
            return self._union([self.compile(s, path, namespace) for s in schema], schema)
        if isinstance(schema, str):
            return self._named_or_primitive(schema, path, namespace)
        kind = schema["type"]
        if kind == "record":
            return self._record(schema, path, namespace)
        if kind == "array":
            return self._array(self.compile(schema["items"], path + "[]", namespace), path)
        if kind == "map":
            values = self.compile(schema["values"], path + "{}", namespace)
            keys = self._string(path + "{key}")

            def pair(kv: tuple[str, Any]) -> None:
                keys(kv[0])
                values(kv[1])

            items = self._array(pair, path)
            return lambda value: items(list(value.items()))
        if kind in ("enum", "fixed"):
            return _nothing
        return self._named_or_primitive(kind, path, namespace)

    def _record(self, schema: Mapping[str, Any], path: str, namespace: str) -> Check:
        fields: list[tuple[str, Check]] = []
        checked: list[tuple[str, Check]] = []

        def check(value: Any) -> None:
            for name, field_check in checked:
                field_check(value[name])

        name = schema["name"]
        full = name if "." in name else f"{schema.get('namespace', namespace)}.{name}".lstrip(".")
        self.checks[full] = check
        prefix = f"{path}." if path else ""
        inner = full.rpartition(".")[0]
        for f in schema["fields"]:
            fields.append((f["name"], self.compile(f["type"], prefix + f["name"], inner)))
        checked.extend((n, c) for n, c in fields if c is not _nothing)  # numbers: no check
        return check

    def _named_or_primitive(self, name: str, path: str, namespace: str) -> Check:
        if name == "string":
            return self._string(path)
        if name == "bytes":
            return self._bytes(path)
        if name in _PRIMITIVES:
            return _nothing
        full = name if "." in name else f"{namespace}.{name}".lstrip(".")
        return lambda value: self.checks[full](value)

    def _string(self, path: str) -> Check:
        free = path in FREE_TEXT.get(self.record, frozenset())
        limit = TEXT_LIMITS.get(self.record, {}).get(
            path, MAX_FREE_TEXT_BYTES if free else MAX_TEXT_BYTES
        )
        control = _CONTROL_IN_FREE if free else _CONTROL_TEXT
        where = f"{self.record} {path}"

        def check(value: str) -> None:
            if len(value) * 4 > limit:  # else it fits whatever its characters
                size = len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
                if size > limit:
                    raise LimitExceededError(
                        f"{where} is {size} bytes long; the limit is {limit}",
                        reason="text_too_long",
                    )
            if not value.isprintable():
                found = control.search(value)
                if found is not None:
                    raise InvalidTextError(
                        f"{where} holds the control character U+{ord(found.group()):04X}"
                    )

        return check

    def _bytes(self, path: str) -> Check:
        limit = BYTES_LIMITS.get(self.record, {}).get(path, MAX_BYTES_FIELD)
        where = f"{self.record} {path}"

        def check(value: bytes) -> None:
            if limit is not None and len(value) > limit:
                raise LimitExceededError(
                    f"{where} is {len(value)} bytes long; the limit is {limit}",
                    reason="text_too_long",
                )

        return check

    def _array(self, item: Check, path: str) -> Check:
        limit = ITEM_LIMITS.get(self.record, {}).get(path, MAX_ITEMS)
        reason = "too_many_signatures" if path == "signatures" else "too_many_items"
        where = f"{self.record} {path}"

        def check(value: list[Any]) -> None:
            if len(value) > limit:
                raise LimitExceededError(
                    f"{where} has at least {len(value)} items; the limit is {limit}",
                    reason=reason,
                )
            for v in value:
                item(v)

        return check

    def _union(self, branches: list[Check], schema: list[Any]) -> Check:
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
        walk = _Compiler(writer.record).compile(json.loads(writer.text), "")
        _WALKS[writer.fingerprint] = walk
    return walk
