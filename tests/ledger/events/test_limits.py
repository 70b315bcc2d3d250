"""The limits of docs/protocol.md §12, checked on the Avro bytes before decoding."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from demo.story import production
from ledger.errors import DecodeError, InvalidTextError, LimitExceededError
from ledger.events import limits
from ledger.events.encoding import SingleObjectFraming, default_catalog
from ledger.events.kinds import prepare
from ledger.events.provenance import PROVENANCE
from ledger.trust import dsse, keys

FRAMING = SingleObjectFraming()
SIGNER = keys.generate("limits")
DOC = Path(__file__).parents[3] / "docs" / "protocol.md"


def _payload(**changes: Any) -> bytes:
    event = {**production()[2][1], "producer_id": "ws", "producer_seq": 1, **changes}
    return FRAMING.encode(PROVENANCE.record, prepare(PROVENANCE, event))


def _walk(data: bytes) -> None:
    writer, start = FRAMING.locate(data)
    limits.check_datum(writer, data, start)


def _decoded(data: bytes) -> None:
    schema, value = FRAMING.decode(data)
    limits.check_value(schema, value)


def _check(data: bytes) -> None:
    """Both ways of checking (the bytes, the decoded datum) accept ``data``."""
    _walk(data)
    _decoded(data)
    limits.decode(data, FRAMING)


def _refusal(data: bytes) -> LimitExceededError | InvalidTextError:
    """Both ways of checking refuse ``data`` with the same reason and message."""
    refusals = []
    for way in (_walk, _decoded, lambda d: limits.decode(d, FRAMING)):
        with pytest.raises((LimitExceededError, InvalidTextError)) as caught:
            way(data)
        assert isinstance(caught.value, LimitExceededError | InvalidTextError)
        refusals.append(caught.value)
    assert len({(r.reason, r.message) for r in refusals}) == 1, refusals
    return refusals[0]


INGREDIENT = {"asset_id": "a", "version": "v1", "content_sha256": "0" * 64,
              "relationship": "inputTo"}  # fmt: skip


def test_a_valid_event_and_envelope_pass() -> None:
    payload = _payload()
    _check(payload)
    _check(dsse.sign(PROVENANCE.payload_type, payload, SIGNER).encode())


def test_arrays_up_to_their_limit_pass_and_one_more_is_refused() -> None:
    _check(_payload(ingredients=[INGREDIENT] * 16384))
    refused = _refusal(_payload(ingredients=[INGREDIENT] * 16385))
    assert refused.reason == "too_many_items"
    expected = "provenance_event ingredients has at least 16385 items; the limit is 16384"
    assert expected in str(refused)
    assert _refusal(_payload(directed_by=["person:a"] * 257)).reason == "too_many_items"


def test_huge_counts_are_refused_at_once_without_walking_the_items() -> None:
    """The bytes are cut right after the array's count: a walk over the items would find them
    missing (undecodable); the count alone must refuse the record."""
    huge = _payload(ingredients=[dict.fromkeys(INGREDIENT, "")] * 200_000)
    count = b"\x80\xb5\x18"  # the Avro long 200,000 (zigzag varint), then the empty items
    at = huge.index(count + b"\x00" * 16)
    with pytest.raises(LimitExceededError) as caught:
        _walk(huge[: at + len(count)])
    assert caught.value.reason == "too_many_items"
    assert _refusal(huge).reason == "too_many_items"


def test_blocks_with_byte_sizes_are_counted_too() -> None:
    """Avro lets a writer split an array into blocks with negative counts (then a byte size)."""
    envelope = dsse.sign(PROVENANCE.payload_type, _payload(), SIGNER)
    head = envelope.encode()
    writer, start = FRAMING.locate(head)
    # Re-encode the signatures array as 17 blocks of one item each, with byte sizes.
    sig = envelope.signatures[0]
    item = _string(sig.keyid.encode()) + _string(sig.sig)
    prefix = head[: len(head) - len(_array_of(item, 1))]
    blocks = b"".join(_long(-1) + _long(len(item)) + item for _ in range(17)) + b"\x00"
    refused = _refusal(prefix + blocks)
    assert refused.reason == "too_many_signatures"
    _check(prefix + b"".join(_long(-1) + _long(len(item)) + item for _ in range(16)) + b"\x00")
    assert writer.record == "dsse_envelope" and start == 10


def _long(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes([*out, n])


def _string(data: bytes) -> bytes:
    return _long(len(data)) + data


def _array_of(item: bytes, count: int) -> bytes:
    return _long(count) + item * count + b"\x00"


@pytest.mark.parametrize(
    ("field", "value", "code_point"),
    [
        ("producer_id", "ws\x00", "U+0000"),
        ("action", "studio.roto\t", "U+0009"),
        ("digital_source_type", "\x1b[31m", "U+001B"),
        ("producer_id", "ws\x7f", "U+007F"),
        ("producer_id", "ws\u0085", "U+0085"),
    ],
)
def test_control_characters_are_refused_in_ids_names_and_terms(
    field: str, value: str, code_point: str
) -> None:
    refused = _refusal(_payload(**{field: value}))
    assert refused.reason == "invalid_text"
    assert f"provenance_event {field} holds the control character {code_point}" in str(refused)


def test_free_text_may_hold_tab_and_newlines_but_no_other_control() -> None:
    _check(_payload(description="line one\r\nline\ttwo — é"))
    assert _refusal(_payload(description="NUL\x00")).reason == "invalid_text"
    assert _refusal(_payload(description="bell\x07")).reason == "invalid_text"


def test_string_lengths() -> None:
    _check(_payload(producer_id="p" * 1024, description="d" * 16384))
    assert _refusal(_payload(producer_id="p" * 1025)).reason == "text_too_long"
    assert _refusal(_payload(description="d" * 16385)).reason == "text_too_long"
    multibyte = "é" * 513  # 1026 bytes of UTF-8: the limit counts bytes
    assert _refusal(_payload(producer_id=multibyte)).reason == "text_too_long"


def test_a_truncated_datum_is_undecodable_not_a_crash() -> None:
    payload = _payload()
    with pytest.raises(DecodeError):
        _check(payload[:-20])


def test_every_released_schema_compiles() -> None:
    catalog = default_catalog()
    for record in ("dsse_envelope", "provenance_event", "consent_event", "key_registry_event"):
        for version in catalog.versions(record):
            limits._compiled(version)  # raises on a schema construct the walker misses


def test_record_key_and_headers() -> None:
    limits.check_record(b"k" * 4096, [("h", b"v" * 8192)] * 3)
    with pytest.raises(LimitExceededError, match="the Kafka key is 4097 bytes") as key:
        limits.check_record(b"k" * 4097, [])
    assert key.value.reason == "oversized_key"
    for headers in (
        [("h", b"")] * 65,
        [("h" * 257, b"")],
        [("h", b"v" * 8193)],
        [("h", b"v" * 8000)] * 5,
    ):
        with pytest.raises(LimitExceededError) as caught:
            limits.check_record(b"k", headers)
        assert caught.value.reason == "oversized_headers"


def test_the_doc_states_the_limits_of_the_code() -> None:
    table = re.search(r"<!-- limits -->(.*?)<!-- /limits -->", DOC.read_text(), re.S)
    assert table is not None
    for number in (
        limits.MAX_RECORD_BYTES,
        limits.MAX_KEY_BYTES,
        limits.MAX_HEADERS,
        limits.MAX_HEADER_NAME_BYTES,
        limits.MAX_HEADER_VALUE_BYTES,
        limits.MAX_HEADERS_BYTES,
        limits.MAX_SIGNATURES,
        limits.MAX_ITEMS,
        limits.MAX_TEXT_BYTES,
        limits.MAX_FREE_TEXT_BYTES,
        limits.MAX_BYTES_FIELD,
        *(n for per in limits.ITEM_LIMITS.values() for n in per.values()),
        *(n for per in limits.TEXT_LIMITS.values() for n in per.values()),
    ):
        assert f"`{number}`" in table.group(1), number
    for fields in limits.FREE_TEXT.values():
        for name in fields:
            assert f"`{name}`" in table.group(1), name
