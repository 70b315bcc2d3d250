"""A hostile producer's Avro: real data of every released schema, mutated where it hurts.

:func:`tokens` walks canonical binary data with its schema and names every token (varints with
their meaning, text and byte bodies); :func:`mutants` turns one datum into damaged variants,
blind ones (bit flips, cuts, extensions, inserted and deleted bytes, nothing at all) and ones
aimed at a token (overlong and over-64-bit varints, negative and huge lengths and counts, union
indexes -1/1/2/3, booleans 2 and 255, enum indexes out of range, text that is not UTF-8,
arrays and maps as blocks with a byte size, right or wrong, or split in two blocks).
:func:`same` compares decoded values strictly: equal and of the same types all the way down
(bool is not int, bytes is not str, a datetime's zone counts).

The seed is fixed; ``ASSETLEDGER_FUZZ_SEED`` runs another one (a failure names its seed).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from demo import story
from ledger.events.encoding import SchemaVersion, default_catalog
from ledger.events.kinds import KINDS, prepare
from producers.emitter import fill_producer

SEED = int(os.environ.get("ASSETLEDGER_FUZZ_SEED", "20261207"))


_TOLD = {
    "provenance_event": lambda: story.production() + story.remediation(),
    "consent_event": story.consents,
    "licence_event": story.licences,
    "key_registry_event": story.registry_examples,
    "disposition_event": story.disposition_examples,
    "approval_event": story.approval_examples,
}


def story_records(schema: SchemaVersion) -> list[dict[str, Any]]:
    """The demo story's events of this schema's record, ready to write (current versions)."""
    told = _TOLD.get(schema.record)
    if told is None or default_catalog().current(schema.record) is not schema:
        return []
    kind = next(k for k in KINDS if k.record == schema.record)
    return [prepare(kind, fill_producer(event, kind, "/fuzz")) for _, event in told()]


def rng_for(name: str) -> random.Random:
    """The random source of one test: the seed, and the test's name (stable across runs)."""
    return random.Random(f"{SEED}:{name}")


@dataclass(frozen=True)
class Token:
    kind: str  # long, int, length, count, union, boolean, enum, text, body
    start: int
    end: int
    value: int = 0
    block_end: int = 0  # a count: where its block's items end
    items: tuple[int, ...] = ()  # a count: where each of its block's items ends
    limit: int = 0  # an enum: how many symbols


def encode_long(n: int) -> bytes:
    """The canonical zig-zag varint of a long."""
    z = ((n << 1) ^ (n >> 63)) & ((1 << 64) - 1)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def overlong(n: int, size: int, garbage: int = 0) -> bytes:
    """``n``'s varint stretched to ``size`` bytes (continuation bits on zero groups); at ten
    bytes or more ``garbage`` sets bits beyond the 64th (which a 64-bit reader drops)."""
    z = ((n << 1) ^ (n >> 63)) & ((1 << 64) - 1)
    groups = []
    for _ in range(size):
        groups.append(z & 0x7F)
        z >>= 7
    if size >= 10:
        groups[9] |= (garbage << 1) & 0x7E
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), pos


def tokens(schema: Any, data: bytes) -> list[Token]:
    """Every token of canonical ``data`` written with ``schema`` (parsed by fastavro)."""
    out: list[Token] = []
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    end = _walk(schema, named, data, 0, out)
    assert end == len(data), (end, len(data))
    return out


def _varint(kind: str, data: bytes, pos: int, out: list[Token], **more: int) -> tuple[int, int]:
    value, end = _read_long(data, pos)
    out.append(Token(kind, pos, end, value, **more))
    return value, end


def _walk(schema: Any, named: dict[str, Any], data: bytes, pos: int, out: list[Token]) -> int:
    if isinstance(schema, str):
        if schema in named:
            return _walk(named[schema], named, data, pos, out)
        schema = {"type": schema}
    if isinstance(schema, list):
        index, pos = _varint("union", data, pos, out)
        return _walk(schema[index], named, data, pos, out)
    kind = schema["type"]
    if kind == "null":
        return pos
    if kind == "boolean":
        out.append(Token("boolean", pos, pos + 1, data[pos]))
        return pos + 1
    if kind in ("int", "long"):
        return _varint(kind, data, pos, out)[1]
    if kind in ("string", "bytes"):
        n, pos = _varint("length", data, pos, out)
        out.append(Token("text" if kind == "string" else "body", pos, pos + n))
        return pos + n
    if kind == "enum":
        return _varint("enum", data, pos, out, limit=len(schema["symbols"]))[1]
    if kind == "fixed":
        out.append(Token("body", pos, pos + schema["size"]))
        return pos + schema["size"]
    if kind == "record":
        for f in schema["fields"]:
            pos = _walk(f["type"], named, data, pos, out)
        return pos
    if kind in ("array", "map"):
        while True:
            at = len(out)
            count, pos = _varint("count", data, pos, out)
            if count == 0:
                return pos
            ends = []
            for _ in range(count):
                if kind == "map":
                    pos = _walk("string", named, data, pos, out)
                pos = _walk(schema["items" if kind == "array" else "values"], named, data, pos, out)
                ends.append(pos)
            out[at] = Token("count", out[at].start, out[at].end, count, pos, tuple(ends))
    raise AssertionError(f"no walk for {kind!r}")


_BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80"]
_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x06, 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF]
_LONGS = [0, 1, -1, 2, 3, (1 << 31) - 1, -(1 << 31), 1 << 31, (1 << 63) - 1, -(1 << 63), 1 << 62]


def _splice(data: bytes, t: Token, new: bytes) -> bytes:
    return data[: t.start] + new + data[t.end :]


def _aimed(rng: random.Random, data: bytes, t: Token) -> Iterator[bytes]:
    """Variants of ``data`` changed at token ``t``."""
    if t.kind in ("long", "int", "length", "count", "union", "enum"):
        for size in (t.end - t.start + 1, t.end - t.start + 3, 10, 11):
            if size > t.end - t.start:
                yield _splice(data, t, overlong(t.value, size))
        yield _splice(data, t, overlong(t.value, 10, rng.randrange(1, 64)))
        yield _splice(data, t, encode_long(rng.choice(_LONGS)))
        yield _splice(data, t, encode_long(-t.value - 1))
        yield _splice(data, t, encode_long(t.value + rng.choice([-2, -1, 1, 2])))
    if t.kind == "union":
        for index in (-1, 1 - t.value, 2, 3):
            yield _splice(data, t, encode_long(index))
        yield _splice(data, t, bytes([rng.choice(_BYTES)]))
    if t.kind == "boolean":
        for b in (2, 3, 0x80, 0xFF):
            yield _splice(data, t, bytes([b]))
    if t.kind == "enum":
        for index in (-1, t.limit, t.limit + 1, 1 << 40):
            yield _splice(data, t, encode_long(index))
    if t.kind == "length":
        size = t.value
        for n in (-1, -size, -size - 1, size + 1, size - 1, 1 << 62, (1 << 63) - 1, -(1 << 63)):
            yield _splice(data, t, encode_long(n))
    if t.kind == "count" and t.value > 0:
        size = t.block_end - t.end
        for wrong in (size, 0, size + 1, size - 1, -1, 1 << 62):
            yield _splice(data, t, encode_long(-t.value) + encode_long(wrong))
        yield _splice(data, t, encode_long(-t.value))  # no byte size at all
        for n in (1 << 62, 1 << 31, -(1 << 63), t.value + 1, t.value - 1, -1):
            yield _splice(data, t, encode_long(n))
    if t.kind == "count" and t.value > 1:  # the items in two blocks, each counted either way
        k = rng.randrange(1, t.value)
        first, second = data[t.end : t.items[k - 1]], data[t.items[k - 1] : t.block_end]
        for a, b in ((k, t.value - k), (-k, t.value - k), (k, k - t.value), (-k, k - t.value)):
            head = encode_long(a) + (encode_long(len(first)) if a < 0 else b"")
            middle = encode_long(b) + (encode_long(len(second)) if b < 0 else b"")
            yield data[: t.start] + head + first + middle + second + data[t.block_end :]
    if t.kind == "count" and t.value == 0:  # the end of an array or map: more blocks
        yield _splice(data, t, encode_long(rng.choice([1, 2, -1, 1 << 40])) + b"\x00")
    if t.kind == "text" and t.end > t.start:
        at = rng.randrange(t.start, t.end)
        bad = rng.choice(_BAD_UTF8)
        yield data[:at] + bad + data[at + len(bad) :] if at + len(bad) <= t.end else data
    if t.kind in ("text", "body") and t.end > t.start:
        yield data[: t.start] + bytes(t.end - t.start) + data[t.end :]


def _blind(rng: random.Random, data: bytes) -> Iterator[bytes]:
    """Variants of ``data`` changed anywhere, knowing nothing of its schema."""
    n = len(data)
    yield b""
    yield data + b"\x00"
    yield data + rng.randbytes(rng.randrange(1, 9))
    yield data + data
    if n == 0:
        return
    for _ in range(4):
        at = rng.randrange(n)
        yield data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    for _ in range(2):
        at = rng.randrange(n)
        yield data[:at] + bytes([rng.choice(_BYTES)]) + data[at + 1 :]
    yield data[: rng.randrange(n)]
    at = rng.randrange(n + 1)
    yield data[:at] + rng.randbytes(rng.randrange(1, 5)) + data[at:]
    at = rng.randrange(n)
    yield data[:at] + data[at + rng.randrange(1, 9) :]


def mutants(rng: random.Random, schema: Any, data: bytes, aimed: int = 12) -> Iterator[bytes]:
    """Damaged variants of canonical ``data``: blind ones, and ones aimed at ``aimed`` random
    tokens (every variant of each)."""
    yield from _blind(rng, data)
    found = tokens(schema, data)
    for t in rng.sample(found, min(aimed, len(found))):
        yield from _aimed(rng, data, t)
    stacked = data  # several damages at once
    for _ in range(3):
        stacked = rng.choice(list(_blind(rng, stacked)) or [stacked])
    yield stacked


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (dict order included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime):
        return a == b and a.tzinfo == b.tzinfo and a.utcoffset() == b.utcoffset()
    return bool(a == b)
