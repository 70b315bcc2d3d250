"""No record can stop ingestion, and every backend gives a record the same verdict (issue 10).

Each hostile record goes through a real Kafka-protocol broker, followed by a good event that
must be ingested behind it, into a SQLite and a PostgreSQL ledger.  Before these fixes each of
them stopped the consumer on every run: a dead-letter copy over the producer's 1 MiB request
limit (``MessageSizeTooLargeError``), or text PostgreSQL refuses (``0x00``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from consumers.runner import ConsumerConfig, LedgerConsumer
from demo.story import production
from ledger.events import kafka as k
from ledger.events.base import format_time
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import prepare
from ledger.events.provenance import PROVENANCE
from ledger.store import LedgerStore, open_store
from ledger.trust import dsse, keys
from ledger.trust.policy import FolderTrust
from producers.emitter import Message, build_message
from tests.conftest import FreshTopic
from tests.support.kafka_tools import FAST_GROUP, header_map, read_topic

pytestmark = pytest.mark.broker

ARTIST = keys.generate("artist")
MIB = 1 << 20


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    dsn: str = request.getfixturevalue("pg_schema_dsn")
    return dsn


@pytest.fixture
def store(ledger_url: str) -> Iterator[LedgerStore]:
    with open_store(ledger_url) as opened:
        yield opened


def _event(n: int = 0, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(production()[0][1])
    event["asset"]["version"] = f"v{n:03d}"
    event.update(changes)
    return event


def good(n: int) -> Message:
    return build_message(_event(n), ARTIST, source="/test")


def forged(event: dict[str, Any], *, headers: dict[str, bytes] | None = None) -> Message:
    """A record signed by a trusted key whose event skips the emitter's checks (a hostile
    producer's own code), with headers that agree with it unless ``headers`` overrides them."""
    record = prepare(PROVENANCE, event)
    record.setdefault("producer_id", "/hostile")
    record.setdefault("producer_seq", 1)
    payload = SingleObjectFraming().encode(PROVENANCE.record, record)
    envelope = dsse.sign(PROVENANCE.payload_type, payload, ARTIST)
    subject = str(record["asset"]["asset_id"])
    hdrs = {
        k.H_SPECVERSION: b"1.0",
        k.H_ID: str(record["event_id"]).encode(),
        k.H_SOURCE: b"/hostile",
        k.H_TYPE: PROVENANCE.ce_type.encode(),
        k.H_TIME: format_time(record["event_time"]).encode(),
        k.H_CONTENT_TYPE: dsse.ENVELOPE_CONTENT_TYPE.encode(),
        **(headers or {}),
    }
    return Message(str(record["event_id"]), subject.encode(), envelope.encode(), list(hdrs.items()))


def send(topic: FreshTopic, messages: list[Message]) -> None:
    """Send raw records, as large as the broker takes (a hostile producer raises its limits)."""
    producer = KafkaProducer(
        bootstrap_servers=topic.bootstrap, acks="all", max_request_size=8 * MIB, linger_ms=0
    )
    try:
        for m in messages:  # one partition, in order: the good event is read behind the bad one
            producer.send(topic.name, key=m.key, value=m.value, headers=m.headers, partition=0)
            producer.flush()
    finally:
        producer.close()


def consume(store: LedgerStore, topic: FreshTopic, **config: Any) -> LedgerConsumer:
    settings = ConsumerConfig(topic.bootstrap, topic=topic.name, **{**FAST_GROUP, **config})
    consumer = LedgerConsumer(store, FolderTrust({ARTIST.key_id: ARTIST.public}), settings)
    consumer.run(until_caught_up=True)
    return consumer


def many_signatures(valid: Message, count: int) -> Message:
    env = dsse.Envelope.decode(valid.value)
    sigs = tuple(dsse.Signature("", b"") for _ in range(count))
    return dataclasses.replace(
        valid, value=dsse.Envelope(env.payload_type, env.payload, sigs).encode()
    )


EMPTY_INGREDIENT = {"asset_id": "", "version": "", "content_sha256": "", "relationship": ""}


@functools.cache
def poison_pills() -> dict[str, tuple[Message, str]]:
    """The triggers seen in issue 10 §1, each with the reason it must now get."""
    valid = good(900)
    big_header = [(n, b"x" * 600_000 if n == k.H_ID else v) for n, v in valid.headers]
    return {
        "value just over 1 MiB": (
            dataclasses.replace(valid, value=valid.value + bytes(MIB + 1 - len(valid.value))),
            "oversized",
        ),
        "300,000 empty signatures": (many_signatures(valid, 300_000), "too_many_signatures"),
        "600 KB CloudEvents header": (
            dataclasses.replace(valid, headers=big_header),
            "oversized_headers",
        ),
        "200,000 empty ingredients": (
            forged(_event(901, ingredients=[EMPTY_INGREDIENT] * 200_000)),
            "too_many_items",
        ),
    }


PILLS = ("value just over 1 MiB", "300,000 empty signatures", "600 KB CloudEvents header",
         "200,000 empty ingredients")  # fmt: skip


@pytest.mark.parametrize("case", PILLS)
def test_a_poison_pill_is_refused_and_the_next_event_is_ingested(
    case: str, fresh_topic: FreshTopic, store: LedgerStore
) -> None:
    pill, reason = poison_pills()[case]
    after = good(1)
    send(fresh_topic, [pill, after])

    consumer = consume(store, fresh_topic)

    assert [e.event_id for e in store.entries()] == [after.event_id]
    [q] = store.quarantine()
    assert q.reason == reason
    assert q.value == pill.value and q.key == pill.key  # the quarantine keeps it whole
    assert q.headers == tuple(pill.headers)
    assert len(q.detail) <= 2048
    [dead] = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=1)
    assert header_map(dead)[k.DLT_REASON] == reason
    _assert_dead_letter_copy(dead, pill)
    assert consumer.metrics.dead_letter_failed == 0
    truncated = case == "value just over 1 MiB"  # the others fit whole, with a short message
    assert consumer.metrics.dead_letter_truncated == int(truncated)
    assert ("assetledger.dlt.truncated" in header_map(dead)) == truncated


def _offset(record: Any) -> int:
    return int(header_map(record)[k.DLT_OFFSET])


def _assert_dead_letter_copy(record: Any, original: Message) -> None:
    """A dead-letter copy that fits: whole, or bounded and naming the original's size and
    SHA-256; the headers the consumer adds are bounded either way."""
    h = header_map(record)
    size = len(record.value or b"") + len(record.key or b"")
    size += sum(len(n.encode()) + len(v or b"") for n, v in record.headers)
    assert size <= 1_000_000
    added = record.headers[len(original.headers) :]
    assert all(len(v or b"") <= 1024 for _, v in added), "every added header is bounded"
    if "assetledger.dlt.truncated" not in h:
        assert record.value == original.value and record.key == original.key
        assert record.headers[: len(original.headers)] == original.headers
        return
    assert h["assetledger.dlt.truncated"] == "true"
    assert h["assetledger.original.value.size"] == str(len(original.value))
    assert h["assetledger.original.value.sha256"] == hashlib.sha256(original.value).hexdigest()
    assert original.value.startswith(record.value)  # a prefix of the original value
    assert all(len(v or b"") <= 1024 for _, v in record.headers)


def test_a_dead_letter_copy_that_cannot_be_written_is_quarantined_anyway(
    fresh_topic: FreshTopic, store: LedgerStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead-letter topic refusing the copy (here: a request limit below any copy) stops
    nothing: the record is in the quarantine, the failure in the metrics and the log."""
    bad = dataclasses.replace(good(1), value=b"\x00garbage")
    after = good(2)
    send(fresh_topic, [bad, after])

    with caplog.at_level(logging.WARNING, logger="assetledger.consumer"):
        consumer = consume(store, fresh_topic, dlt_settings={"max_request_size": 200})

    assert [e.event_id for e in store.entries()] == [after.event_id]
    assert [q.reason for q in store.quarantine()] == ["undecodable"]
    assert consumer.metrics.dead_letter_failed == 1
    assert "assetledger_dead_letter_failed_total 1" in consumer.metrics.render()
    assert any("not written to the dead-letter topic" in r.getMessage() for r in caplog.records)


# --- §2: text every backend can store ---------------------------------------------------------

NUL_ID = "7d4c1e9a-2b3f-4c5d-8e6f-0a1b2c3d4e5\x00"


def text_cases() -> dict[str, tuple[Message, str]]:
    nul_asset = _event(910)
    nul_asset["asset"]["asset_id"] = "fallen-tower/ep101/sq040/sh010/pl\x00ate"
    tab_actor = _event(911)
    tab_actor["actor"]["actor_id"] = "person:ana\truiz"
    garbage = dataclasses.replace(
        good(912), value=b"\x01not an envelope", headers=[("trace\x00id", b"\x00\xff")]
    )
    return {
        "NUL in asset_id": (forged(nul_asset), "invalid_text"),
        "NUL in event_id": (forged(_event(913, event_id=NUL_ID)), "invalid_text"),
        "TAB in actor_id": (forged(tab_actor), "invalid_text"),
        "NUL in a header name of a refused record": (garbage, "undecodable"),
    }


TEXT_CASES = ("NUL in asset_id", "NUL in event_id", "TAB in actor_id",
              "NUL in a header name of a refused record")  # fmt: skip


@pytest.mark.parametrize("case", TEXT_CASES)
def test_control_characters_get_the_same_verdict_on_every_backend(
    case: str, fresh_topic: FreshTopic, store: LedgerStore
) -> None:
    bad, reason = text_cases()[case]
    after = good(2)
    send(fresh_topic, [bad, after])

    consume(store, fresh_topic)

    assert [e.event_id for e in store.entries()] == [after.event_id]
    [q] = store.quarantine()
    assert q.reason == reason
    assert q.headers == tuple(bad.headers)  # names with NUL kept exactly, as bytes
    assert q.value == bad.value
    assert "\x00" not in q.detail
    [dead] = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=1)
    assert header_map(dead)[k.DLT_REASON] == reason


def test_emit_refuses_control_characters_and_limits_before_sending() -> None:
    from ledger.errors import InvalidEventError, LimitExceededError

    event = _event(1)
    event["asset"]["asset_id"] = "sh010/pl\x00ate"
    with pytest.raises(InvalidEventError) as caught:
        build_message(event, ARTIST, source="/test")
    assert caught.value.reason == "invalid_text"
    assert "asset.asset_id" in caught.value.message
    with pytest.raises(LimitExceededError) as limited:
        build_message(_event(2, ingredients=[EMPTY_INGREDIENT] * 17_000), ARTIST, source="/test")
    assert limited.value.reason == "too_many_items"
    assert "ingredients" in limited.value.message
    with pytest.raises(InvalidEventError) as bad_source:
        build_message(_event(3), ARTIST, source="/studio/ws\n12")
    assert bad_source.value.reason == "invalid_text"
    assert uuid.UUID(good(4).event_id)  # a good event still builds


class _NotUtf8(str):
    """A header name the Python client writes as bytes that are not UTF-8 (any client in
    another language can write such a name; the broker does not check it)."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe-not-utf8"


def test_a_record_the_kafka_client_cannot_read_is_refused_and_skipped(
    fresh_topic: FreshTopic, store: LedgerStore, transport: str
) -> None:
    """kafka-python raises CorruptRecordError at every poll on a header name that is not
    UTF-8: the consumer stopped on it forever."""
    before, bad, after = good(0), good(1), good(2)
    unreadable = dataclasses.replace(bad, headers=[(_NotUtf8("x"), b"v")])
    send(fresh_topic, [before, unreadable, after])

    consume(store, fresh_topic, transport=transport)

    assert [e.event_id for e in store.entries()] == [before.event_id, after.event_id]
    [q] = store.quarantine()
    assert q.reason == "undecodable" and q.origin.offset == 1 and q.value is None
    assert "cannot read" in q.detail
    [dead] = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=1)
    assert header_map(dead)[k.DLT_OFFSET] == "1"
