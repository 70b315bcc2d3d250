"""The dead-letter copy of a refused record, bounded so that it always fits the topic.

A refused record is copied to ``<topic>.dlt`` with the original key, value and headers, plus
the Kafka Connect error headers (docs/protocol.md §10.2).  A record can be refused *because*
it is too big (a value over the limit, a huge header), and the error text may quote it: a
copy of such a record would be refused by the producer or the broker, and a consumer that
waited for it would stop on that record forever.  So every header added here is bounded, and
when the whole copy would exceed ``budget`` bytes the copy keeps only a prefix of the key and
value and bounded original headers, and says so: ``assetledger.dlt.truncated: true`` with the
original value's (and key's) size and SHA-256.  The quarantine table keeps the whole record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.events import kafka as k
from ledger.store import Quarantined

DEFAULT_BUDGET = 1_000_000
"""Bytes of key, value and headers of one copy: below the producer's default 1 MiB request."""
MAX_ADDED_HEADER_BYTES = 1024
"""Every header the consumer adds, the error message included, is cut to this many bytes."""
KEPT_KEY_BYTES = 1024
KEPT_VALUE_BYTES = 65536
KEPT_HEADERS = 64
KEPT_HEADER_NAME_BYTES = 256
KEPT_HEADER_VALUE_BYTES = 1024

H_TRUNCATED = "assetledger.dlt.truncated"
H_VALUE_SIZE = "assetledger.original.value.size"
H_VALUE_SHA256 = "assetledger.original.value.sha256"
H_KEY_SIZE = "assetledger.original.key.size"
H_KEY_SHA256 = "assetledger.original.key.sha256"
H_HEADER_COUNT = "assetledger.original.headers.count"
H_HEADER_BYTES = "assetledger.original.headers.size"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers
    truncated: bool = False

    @property
    def size(self) -> int:
        return _size(self.key, self.value, self.headers)


def dead_letter(q: Quarantined, budget: int = DEFAULT_BUDGET) -> DeadLetter:
    """The copy of ``q`` to send: whole when it fits ``budget``, else bounded (see above)."""
    added = error_headers(q)
    value = b"" if q.key is None and q.value is None else q.value  # Kafka needs one of them
    whole = DeadLetter(q.key, value, [*q.headers, *added])
    if whole.size <= budget:
        return whole
    return bounded(q, added, budget)


def error_headers(q: Quarantined) -> Headers:
    """The Kafka Connect error headers and our reason code, each at most 1 KiB."""
    return [
        (name, cut(value.encode("utf-8", "backslashreplace"), MAX_ADDED_HEADER_BYTES))
        for name, value in (
            (k.DLT_TOPIC, q.origin.topic),
            (k.DLT_PARTITION, str(q.origin.partition)),
            (k.DLT_OFFSET, str(q.origin.offset)),
            (k.DLT_EXC_CLASS, f"ledger.errors.{q.error_class}"),
            (k.DLT_EXC_MESSAGE, q.detail),
            (k.DLT_REASON, q.reason),
        )
    ]


def bounded(q: Quarantined, added: Headers, budget: int) -> DeadLetter:
    key, value = q.key, q.value or b""
    facts: Headers = [
        (H_TRUNCATED, b"true"),
        (H_VALUE_SIZE, str(len(value)).encode()),
        (H_VALUE_SHA256, hashlib.sha256(value).hexdigest().encode()),
    ]
    if key is not None and len(key) > KEPT_KEY_BYTES:
        facts += [
            (H_KEY_SIZE, str(len(key)).encode()),
            (H_KEY_SHA256, hashlib.sha256(key).hexdigest().encode()),
        ]
        key = key[:KEPT_KEY_BYTES]
    kept = _kept_headers(q.headers)
    if len(kept) < len(q.headers) or kept != list(q.headers):
        facts += [
            (H_HEADER_COUNT, str(len(q.headers)).encode()),
            (H_HEADER_BYTES, str(_size(None, None, q.headers)).encode()),
        ]
    rest = _size(key, None, [*kept, *added, *facts])
    if rest > budget:  # a tiny budget: drop the original headers before the facts
        kept, rest = [], _size(key, None, [*added, *facts])
    room = max(0, min(KEPT_VALUE_BYTES, budget - rest))
    return DeadLetter(key, value[:room], [*kept, *added, *facts], truncated=True)


def _kept_headers(headers: Sequence[tuple[str, bytes]]) -> Headers:
    return [
        (
            cut(name.encode("utf-8", "surrogatepass"), KEPT_HEADER_NAME_BYTES).decode(
                "utf-8", "surrogatepass"
            ),
            value[:KEPT_HEADER_VALUE_BYTES],
        )
        for name, value in headers[:KEPT_HEADERS]
    ]


def cut(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of UTF-8 ``data``, never splitting a character."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and data[end] & 0xC0 == 0x80:  # a continuation byte: back off
        end -= 1
    return data[:end]


def _size(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> int:
    names = sum(len(n.encode("utf-8", "surrogatepass")) + len(v) for n, v in headers)
    return len(key or b"") + len(value or b"") + names
