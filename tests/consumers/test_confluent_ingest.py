"""The Confluent wire format end to end: emit → real broker → consume → ledger / dead letters.

The broker is real (``fresh_topic``).  No Schema Registry runs here: the registry is
:class:`tests.ledger.events.test_schema_registry.FakeSchemaRegistry`, a real HTTP server on
127.0.0.1 standing in for Confluent Schema Registry's REST API (the two endpoints the client uses).
"""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.story import production
from ledger.events import kafka as k
from ledger.events.encoding import MultiFraming, default_catalog
from ledger.events.schema_registry import SchemaRegistryClient
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from producers.emitter import Emitter, Message, build_message
from tests.conftest import FreshTopic
from tests.ledger.events.test_schema_registry import FakeSchemaRegistry
from tests.support.kafka_tools import consume_once, header_map, read_topic

pytestmark = pytest.mark.broker

ARTIST = keys.generate("artist")
ENVELOPE = default_catalog().current("dsse_envelope")


@pytest.fixture
def registry() -> Iterator[FakeSchemaRegistry]:
    with FakeSchemaRegistry(first_id=7) as fake:
        yield fake


def _events(n: int) -> list[dict[str, Any]]:
    base = [e for _, e in production()]
    return [dict(base[i % len(base)]) for i in range(n)]


def _with_schema_id(data: bytes, schema_id: int) -> bytes:
    assert data[:1] == b"\x00"
    return b"\x00" + struct.pack(">I", schema_id) + data[5:]


def _unknown_payload_id(message: Message, framing: MultiFraming, schema_id: int) -> Message:
    """A correctly signed envelope whose payload names a schema id the registry never gave."""
    envelope = dsse.Envelope.decode(message.value, framing)
    payload = _with_schema_id(envelope.payload, schema_id)
    signed = dsse.sign(envelope.payload_type, payload, ARTIST)
    return dataclasses.replace(message, value=signed.encode(framing))


def test_confluent_records_are_ingested_and_unknown_schema_ids_dead_lettered(
    fresh_topic: FreshTopic, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    with Emitter(
        fresh_topic.bootstrap,
        ARTIST,
        topic=fresh_topic.name,
        schema_registry_url=registry.url,
    ) as confluent_emitter:
        confluent_ids = confluent_emitter.emit_many(_events(5))
        framing = confluent_emitter.framing
        assert isinstance(framing, MultiFraming) and framing.writes == "confluent"
        template = build_message(_events(1)[0], ARTIST, source="/t", framing=framing)
        foreign_id = registry.add(
            json.dumps({"type": "record", "name": "Other", "namespace": "x", "fields": []})
        )
        bad = {
            "unknown envelope id": dataclasses.replace(
                template, value=_with_schema_id(template.value, 424242)
            ),
            "foreign envelope id": dataclasses.replace(
                template, value=_with_schema_id(template.value, foreign_id)
            ),
            "unknown payload id": _unknown_payload_id(template, framing, 515151),
        }
        for message in bad.values():
            confluent_emitter.send_raw(message)
        confluent_emitter.send_raw(dataclasses.replace(template))  # valid: lands
        duplicate = build_message(
            _events(2)[1], ARTIST, source="/t", framing=framing
        )  # sent twice: the second copy is a duplicate
        confluent_emitter.send_raw(duplicate)
        confluent_emitter.send_raw(duplicate)
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as plain_emitter:
        plain_ids = plain_emitter.emit_many(_events(3))

    # Every Confluent value on the topic: magic 00 and the registry's envelope id.
    on_topic = read_topic(fresh_topic.bootstrap, fresh_topic.name, expected=15)
    envelope_id = registry.subjects[ENVELOPE.full_name][0]
    framed = {r.value[:1] for r in on_topic}
    assert framed == {b"\x00", b"\xc3"}
    assert sum(r.value[:5] == b"\x00" + struct.pack(">I", envelope_id) for r in on_topic) == 9

    consumer_framing = MultiFraming(registry=SchemaRegistryClient(registry.url))
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(
            store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name, framing=consumer_framing
        )
        landed = {e.event_id: e for e in store.entries()}
        expected = [*confluent_ids, template.event_id, duplicate.event_id, *plain_ids]
        assert sorted(landed) == sorted(expected)
        assert stats.appended == 10
        assert stats.by_reason == {"unknown_schema": 3, "duplicate_event_id": 1}
        # The ledger keeps the Confluent value byte for byte; its signature still verifies.
        stored = landed[template.event_id]
        assert stored.envelope == template.value
        envelope = dsse.Envelope.decode(stored.envelope, consumer_framing)
        dsse.verify_signature(envelope, ARTIST.key_id, ARTIST.public)
        quarantined = store.quarantine()
    assert sorted(q.reason for q in quarantined) == ["duplicate_event_id", *["unknown_schema"] * 3]

    dead = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=4)
    assert len(dead) == 4
    by_value = {r.value: r for r in dead}
    for case, message in bad.items():
        record = by_value[message.value]
        h = header_map(record)
        assert h[k.DLT_REASON] == "unknown_schema", case
        assert h[k.DLT_EXC_CLASS] == "ledger.errors.UnknownSchemaError", case
        assert record.key == message.key, case
    assert "424242" in header_map(by_value[bad["unknown envelope id"].value])[k.DLT_EXC_MESSAGE]
    assert (
        "not a released"
        in header_map(by_value[bad["foreign envelope id"].value])[k.DLT_EXC_MESSAGE]
    )
    # The duplicate's dead-letter copy carries the original key and headers, then ours.
    dup = by_value[duplicate.value]
    assert header_map(dup)[k.DLT_REASON] == "duplicate_event_id"
    assert dup.key == duplicate.key
    assert [(n, v) for n, v in dup.headers[: len(duplicate.headers)]] == duplicate.headers
    assert header_map(dup)[k.DLT_TOPIC] == fresh_topic.name


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert result.returncode == 0, result.stderr
    return result


def test_cli_emit_and_consume_with_a_schema_registry_from_the_environment(
    fresh_topic: FreshTopic, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    _cli("keys", "generate", "tool", "--out", str(tmp_path / "trusted"))
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e, default=str) for e in _events(4)) + "\n")
    env = {
        "ASSETLEDGER_BOOTSTRAP_SERVERS": fresh_topic.bootstrap,
        "ASSETLEDGER_TOPIC": fresh_topic.name,
        "ASSETLEDGER_SCHEMA_REGISTRY_URL": registry.url,
        "ASSETLEDGER_GROUP": "confluent-readers",
    }
    key = str(tmp_path / "trusted" / "tool.key")
    ids = _cli("emit", "--key", key, "--event", str(events_file), **env).stdout.split()
    assert len(ids) == 4
    assert registry.subjects.keys() == {ENVELOPE.full_name, "io.assetledger.ProvenanceEvent"}
    ledger = tmp_path / "ledger.db"
    common = ["--trusted-keys", str(tmp_path / "trusted"), "--until-caught-up"]
    out = _cli(
        "consume", *common, "--ledger", str(ledger), "--format", "json", "--workers", "0", **env
    )
    assert json.loads(out.stdout)["ledger_size"] == 4
    with SqliteStore(ledger) as store:
        assert sorted(e.event_id for e in store.entries()) == sorted(ids)
        assert all(e.envelope[:1] == b"\x00" for e in store.entries())
        # The group came from ASSETLEDGER_GROUP.
        assert sum(store.offsets("confluent-readers", fresh_topic.name).values()) == 4
        assert store.offsets(f"assetledger-ledger.{fresh_topic.name}", fresh_topic.name) == {}

    # The ledger recorded the registry ids it resolved: its readers need no registry.
    plain = {n: v for n, v in env.items() if n != "ASSETLEDGER_SCHEMA_REGISTRY_URL"}
    verified = _cli("verify", "--ledger", str(ledger), "--trusted-keys", str(tmp_path / "trusted"),
                    **plain)  # fmt: skip
    assert "ledger intact: 4 entries" in verified.stdout
    listed = json.loads(_cli("log", "--ledger", str(ledger), "--format", "json", **plain).stdout)
    assert {r["action"] for r in listed} <= {e["action"] for e in _events(4)}

    # Without the registry, a ledger that never recorded these ids refuses the same records
    # (unknown_schema), never guessing at them; and
    # --max-message-bytes refuses what is larger.
    no_registry = {n: v for n, v in env.items() if n != "ASSETLEDGER_SCHEMA_REGISTRY_URL"}
    other = tmp_path / "other.db"
    args = ["--ledger", str(other), "--format", "json", "--group", "g2", "--workers", "0"]
    stats = json.loads(_cli("consume", *common, *args, **no_registry).stdout)
    assert stats["ledger_size"] == 0 and stats["by_reason"] == {"unknown_schema": 4}
    small = tmp_path / "small.db"
    args = ["--ledger", str(small), "--format", "json", "--group", "g3", "--workers", "0"]
    stats = json.loads(_cli("consume", *common, *args, "--max-message-bytes", "100", **env).stdout)
    assert stats["ledger_size"] == 0 and stats["by_reason"] == {"oversized": 4}
