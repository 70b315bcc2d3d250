"""The dead-letter copy of a refused record always fits (the broker tests send them for real)."""

from __future__ import annotations

import hashlib

from consumers.deadletter import (
    H_HEADER_COUNT,
    H_KEY_SHA256,
    H_KEY_SIZE,
    H_TRUNCATED,
    H_VALUE_SHA256,
    H_VALUE_SIZE,
    cut,
    dead_letter,
)
from ledger.events import kafka as k
from ledger.store import Origin, Quarantined

ORIGIN = Origin("provenance.events", 2, 77)


def refused(
    value: bytes | None = b"v",
    key: bytes | None = b"k",
    headers: tuple[tuple[str, bytes], ...] = (),
    detail: str = "why",
) -> Quarantined:
    return Quarantined(ORIGIN, "undecodable", detail, key, value, headers, None, "DecodeError")


def test_a_small_record_is_copied_whole_with_the_connect_headers() -> None:
    q = refused(headers=(("ce_id", b"x"),))
    copy = dead_letter(q)
    assert not copy.truncated
    assert (copy.key, copy.value) == (b"k", b"v")
    assert copy.headers[0] == ("ce_id", b"x")
    h = dict(copy.headers)
    assert h[k.DLT_OFFSET] == b"77" and h[k.DLT_REASON] == b"undecodable"
    assert H_TRUNCATED not in h


def test_the_error_message_is_bounded_even_on_a_whole_copy() -> None:
    copy = dead_letter(refused(detail="é" * 5000))
    message = dict(copy.headers)[k.DLT_EXC_MESSAGE]
    assert len(message) <= 1024
    message.decode("utf-8")  # never cut inside a character


def test_a_record_over_the_budget_is_copied_bounded_with_size_and_digest() -> None:
    value = bytes(range(256)) * 5000  # 1.28 MB
    key = b"K" * 5000
    headers = tuple((f"h{i}", b"x" * 3000) for i in range(100))
    copy = dead_letter(refused(value, key, headers))
    assert copy.truncated and copy.size <= 1_000_000
    h = dict(copy.headers)
    assert h[H_TRUNCATED] == b"true"
    assert h[H_VALUE_SIZE] == str(len(value)).encode()
    assert h[H_VALUE_SHA256] == hashlib.sha256(value).hexdigest().encode()
    assert h[H_KEY_SIZE] == b"5000" and h[H_KEY_SHA256] == hashlib.sha256(key).hexdigest().encode()
    assert h[H_HEADER_COUNT] == b"100"
    assert value.startswith(copy.value or b"") and len(copy.value or b"") == 65536
    assert copy.key == key[:1024]
    assert all(len(v) <= 1024 for _, v in copy.headers)


def test_a_tiny_budget_still_gives_a_copy_within_it() -> None:
    headers = tuple((f"h{i}", b"x" * 1000) for i in range(64))
    copy = dead_letter(refused(b"v" * 10_000, headers=headers), budget=4096)
    assert copy.truncated and copy.size <= 4096
    assert dict(copy.headers)[k.DLT_REASON] == b"undecodable"


def test_cut_never_splits_a_character() -> None:
    assert cut("aé".encode(), 2) == b"a"
    assert cut(b"abc", 5) == b"abc"
    assert cut("€€".encode(), 4) == "€".encode()


def test_a_record_known_only_by_its_position_gets_an_empty_value() -> None:
    """Kafka refuses a record with neither key nor value; an unreadable one has neither."""
    copy = dead_letter(refused(value=None, key=None))
    assert copy.value == b"" and copy.key is None
