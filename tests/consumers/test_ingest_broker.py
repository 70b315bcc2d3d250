"""End to end through a real Kafka-protocol broker: emit → consume → ledger, and bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from demo.story import production
from ledger.events import kafka as k
from ledger.log.verify import verify_ledger
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from producers.emitter import Emitter, Message, build_message
from tests.conftest import FreshTopic
from tests.support.kafka_tools import consume_once, header_map, read_topic

pytestmark = pytest.mark.broker

ARTIST = keys.generate("artist")


def _events(n: int) -> list[dict[str, Any]]:
    base = [e for _, e in production()]
    return [dict(base[i % len(base)]) for i in range(n)]


def test_round_trip_exact(fresh_topic: FreshTopic, tmp_path: Path, transport: str) -> None:
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as emitter:
        ids = emitter.emit_many(_events(60))
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(
            store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name, transport=transport
        )
        assert stats.appended == 60 and stats.quarantined == 0
        assert sorted(e.event_id for e in store.entries()) == sorted(ids)
        assert verify_ledger(store, {ARTIST.key_id: ARTIST.public}.get, workers=1).ok
        group = f"assetledger-ledger.{fresh_topic.name}"  # one group per events topic
        assert sum(store.offsets(group, fresh_topic.name).values()) == 60


def test_restart_resumes_without_loss_or_duplicates(
    fresh_topic: FreshTopic, tmp_path: Path, transport: str
) -> None:
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as emitter:
        first = emitter.emit_many(_events(30))
        with SqliteStore(tmp_path / "l.db") as store:
            consume_once(
                store,
                [ARTIST],
                fresh_topic.bootstrap,
                fresh_topic.name,
                max_batch=7,
                transport=transport,
            )
        second = emitter.emit_many(_events(25))
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(
            store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name, transport=transport
        )
        assert stats.appended == 25
        ids = [e.event_id for e in store.entries()]
        assert sorted(ids) == sorted(first + second)
        assert len(set(ids)) == len(ids)
        assert verify_ledger(store, {ARTIST.key_id: ARTIST.public}.get, workers=1).ok


def _bad_records(valid: Message) -> dict[str, Message]:
    """One record of each bad-input kind, each with a distinct key so we can find it."""
    env = dsse.Envelope.decode(valid.value)
    altered = dsse.Envelope(
        env.payload_type, env.payload.replace(b"Ana Ruiz", b"Ana Ruis"), env.signatures
    ).encode()
    unknown_schema = dsse.sign(env.payload_type, b"\xc3\x01" + b"\x22" * 8 + b"\x00", ARTIST)
    intruder = build_message(_events(1)[0], keys.generate("intruder"), source="/x")
    wrong_header = [
        (h, b"11111111-1111-1111-1111-111111111111" if h == k.H_ID else v) for h, v in valid.headers
    ]
    big = build_message(dict(_events(1)[0], description="x" * 5000), ARTIST, source="/x")
    return {
        "undecodable": dataclasses.replace(valid, value=b"\x00garbage\xff"),
        "truncated": dataclasses.replace(valid, value=valid.value[:-40]),
        "unknown_schema": dataclasses.replace(valid, value=unknown_schema.encode()),
        "bad_signature": dataclasses.replace(valid, value=altered),
        "unknown_key": intruder,
        "header_mismatch": dataclasses.replace(valid, headers=wrong_header),
        "oversized": big,
    }


EXPECTED_REASON = {
    "undecodable": "undecodable",
    "truncated": "undecodable",
    "unknown_schema": "unknown_schema",
    "bad_signature": "bad_signature",
    "unknown_key": "unknown_key",
    "header_mismatch": "header_mismatch",
    "oversized": "oversized",
    "duplicate": "duplicate_event_id",
}


def test_every_bad_input_kind_is_dead_lettered_and_valid_ones_land(
    fresh_topic: FreshTopic, tmp_path: Path, transport: str
) -> None:
    valid_events = _events(6)
    valid_events[0] = production()[0][1]  # the plate by Ana Ruiz, used for the altered copy
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as emitter:
        messages = [
            build_message(dict(e, producer_id="p", producer_seq=i), ARTIST, source="/t")
            for i, e in enumerate(valid_events)
        ]
        bad = _bad_records(messages[0])
        bad["duplicate"] = messages[1]
        order = [
            messages[0],
            bad["undecodable"],
            messages[1],
            bad["truncated"],
            bad["unknown_schema"],
            messages[2],
            bad["bad_signature"],
            bad["unknown_key"],
            messages[3],
            bad["header_mismatch"],
            bad["oversized"],
            messages[4],
            bad["duplicate"],
            messages[5],
        ]
        for m in order:
            emitter.send_raw(m)
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(
            store,
            [ARTIST],
            fresh_topic.bootstrap,
            fresh_topic.name,
            max_message_bytes=3000,
            transport=transport,
        )
        assert sorted(e.event_id for e in store.entries()) == sorted(m.event_id for m in messages)
        assert stats.quarantined == len(bad)
        quarantined = store.quarantine()
    dead = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=len(bad))
    assert len(dead) == len(bad)
    reasons = sorted(header_map(r)[k.DLT_REASON] for r in dead)
    assert reasons == sorted(EXPECTED_REASON.values())
    assert sorted(q.reason for q in quarantined) == reasons
    for record in dead:
        h = header_map(record)
        assert h[k.DLT_TOPIC] == fresh_topic.name
        assert int(h[k.DLT_OFFSET]) >= 0 and int(h[k.DLT_PARTITION]) >= 0
        assert h[k.DLT_EXC_MESSAGE]
        assert h[k.DLT_EXC_CLASS].startswith("ledger.errors.")
    garbage = next(
        r
        for r in dead
        if header_map(r)[k.DLT_REASON] == "undecodable" and r.value == b"\x00garbage\xff"
    )
    assert garbage.key == messages[0].key  # original key and value kept
