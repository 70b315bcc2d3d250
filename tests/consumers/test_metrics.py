"""Consumer observability and parallel verification.

* The Prometheus endpoint is scraped over real HTTP while a consumer (with a verification pool)
  ingests from a real broker; counts must match what was sent, good and bad.
* The per-batch JSON log lines add up to the same counts.
* :class:`ParallelInspector` gives exactly the outcomes of sequential inspection, including a
  key registry event that enrols a key used by later records of the same batch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from consumers.inspect import ParallelInspector, RawRecord, inspect_all
from consumers.metrics import BatchOutcome, ConsumerMetrics, MetricsServer
from consumers.runner import ConsumerConfig, LedgerConsumer
from demo.story import production
from ledger.events.base import now_utc
from ledger.events.encoding import SingleObjectFraming
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.store import PendingEntry, Quarantined
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from ledger.trust.keys import raw_public
from ledger.trust.policy import FolderTrust, RegistryTrust
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import registry_from_ledger, set_roots
from producers.emitter import Emitter, Message, build_message
from tests.conftest import FreshTopic

ARTIST = keys.generate("artist")
INTRUDER = keys.generate("intruder")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _events(n: int) -> list[dict[str, Any]]:
    base = [e for _, e in production()]
    return [dict(base[i % len(base)], event_id=str(uuid.uuid4())) for i in range(n)]


def _forged(message: Message) -> Message:
    """Same envelope with one bit of the signature flipped: it no longer verifies."""
    env = dsse.Envelope.decode(message.value)
    first = env.signatures[0]
    sig = bytes([first.sig[0] ^ 1]) + first.sig[1:]
    changed = dsse.Envelope(env.payload_type, env.payload, (dsse.Signature(first.keyid, sig),))
    return dataclasses.replace(message, value=changed.encode())


def scrape(port: int) -> tuple[str, Samples]:
    """GET /metrics; the content type and every sample by (name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode("utf-8")
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = tuple(
            (k, v.strip('"'))
            for k, v in (p.split("=", 1) for p in labels.rstrip("}").split(",") if p)
        )
        samples[(name, pairs)] = float(value)
    return content_type, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(labels.items())), 0.0)


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


@pytest.mark.broker
def test_metrics_endpoint_counts_a_live_ingest(
    fresh_topic: FreshTopic, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = [build_message(e, ARTIST, source="/t") for e in _events(40)]
    bad = [_forged(good[0]), _forged(good[1])]
    stranger = build_message(_events(1)[0], INTRUDER, source="/t")
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as emitter:
        for m in [*good, *bad, stranger]:
            emitter.send_raw(m)
    config = ConsumerConfig(
        fresh_topic.bootstrap,
        topic=fresh_topic.name,
        group_id=f"metrics-{uuid.uuid4().hex[:8]}",
        max_batch=15,
        workers=2,
        lag_interval=0.2,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    caplog.set_level(logging.INFO, logger="assetledger.consumer")
    with SqliteStore(tmp_path / "ledger.db") as store:
        consumer = LedgerConsumer(store, FolderTrust({ARTIST.key_id: ARTIST.public}), config)
        with MetricsServer(consumer.metrics, 0, host="127.0.0.1") as server:
            thread = threading.Thread(target=consumer.run, daemon=True)
            thread.start()
            try:
                wait_until(
                    lambda: ingested(server.port) >= 40 and quarantined(server.port) >= 3, 90
                )
                with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as emitter:
                    emitter.send_raw(good[5])  # a replay: a duplicate event id
                wait_until(lambda: quarantined(server.port) >= 4, 60)
                wait_until(lambda: lag_lines(server.port) == fresh_topic.partitions, 30)
                content_type, samples = scrape(server.port)
            finally:
                consumer.stop()
                thread.join(timeout=30)
        size = store.head().size

    assert content_type.startswith("text/plain; version=0.0.4")
    assert size == 40
    assert value(samples, "assetledger_events_ingested_total") == 40
    assert value(samples, "assetledger_events_quarantined_total", reason="bad_signature") == 2
    assert value(samples, "assetledger_events_quarantined_total", reason="unknown_key") == 1
    assert value(samples, "assetledger_events_quarantined_total", reason="duplicate_event_id") == 1
    assert value(samples, "assetledger_duplicates_skipped_total") == 1
    assert value(samples, "assetledger_records_consumed_total") == 44
    assert value(samples, "assetledger_ledger_size") == 40
    assert value(samples, "assetledger_verify_workers") == 2
    batches = value(samples, "assetledger_batches_total")
    assert batches >= 4  # 44 records, at most 15 a batch
    assert value(samples, "assetledger_batch_duration_seconds_count") == batches
    assert value(samples, "assetledger_batch_duration_seconds_bucket", le="+Inf") == batches
    assert value(samples, "assetledger_batch_duration_seconds_sum") > 0
    lags = [v for (name, _), v in samples.items() if name == "assetledger_consumer_lag"]
    assert len(lags) == fresh_topic.partitions and all(v >= 0 for v in lags)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert len(lines) == batches
    assert sum(line["appended"] for line in lines) == 40
    assert sum(line["records"] for line in lines) == 44
    assert lines[-1]["ledger_size"] == 40


def ingested(port: int) -> float:
    return value(scrape(port)[1], "assetledger_events_ingested_total")


def quarantined(port: int) -> float:
    samples = scrape(port)[1]
    return sum(v for (n, _), v in samples.items() if n == "assetledger_events_quarantined_total")


def lag_lines(port: int) -> int:
    return sum(1 for n, _ in scrape(port)[1] if n == "assetledger_consumer_lag")


def test_render_is_valid_exposition_text() -> None:
    metrics = ConsumerMetrics(workers=3)
    metrics.observe_batch(BatchOutcome(10, 8, {"bad_signature": 2}, 0, 0, 0.03, 8))
    metrics.observe_batch(BatchOutcome(5, 4, {'odd "reason"\\': 1}, 1, 0, 7.0, 12))
    metrics.set_lag({("t", 0): 5, ("t", 1): -2})
    metrics.set_witnesses({"guild.example/w1": 9})
    text = metrics.render()
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    for line in text.splitlines():
        if not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name in declared or name.rsplit("_", 1)[0] in declared, line
    assert 'assetledger_batch_duration_seconds_bucket{le="0.05"} 1' in text
    assert 'assetledger_batch_duration_seconds_bucket{le="+Inf"} 2' in text
    assert 'assetledger_consumer_lag{topic="t",partition="1"} 0' in text
    assert 'reason="odd \\"reason\\"\\\\"' in text
    assert "assetledger_events_ingested_total 12" in text
    assert 'assetledger_witness_cosigned_size{witness="guild.example/w1"} 9' in text


# --- parallel inspection gives the outcomes of sequential inspection -------------------------


def raws(messages: Sequence[Message]) -> list[RawRecord]:
    return [RawRecord("t", 0, i, m.key, m.value, tuple(m.headers)) for i, m in enumerate(messages)]


def summary(outcomes: Sequence[PendingEntry | Quarantined]) -> list[tuple[str, str, str | None]]:
    return [
        (o.event_id, "appended", o.signer_keyid)
        if isinstance(o, PendingEntry)
        else (o.event_id or "", o.reason, o.detail)
        for o in outcomes
    ]


def test_parallel_inspection_matches_sequential() -> None:
    good = [build_message(e, ARTIST, source="/t") for e in _events(300)]
    batch = [*good[:100], _forged(good[100]), *good[101:200]]
    batch += [build_message(_events(1)[0], INTRUDER, source="/t")]
    batch += [dataclasses.replace(good[200], value=b"\x00junk"), *good[201:]]
    trust = FolderTrust({ARTIST.key_id: ARTIST.public})
    framing = SingleObjectFraming()
    expected = summary(inspect_all(raws(batch), trust, framing, 1 << 20))
    with ParallelInspector(trust, framing, workers=2, chunk_size=32) as inspector:
        assert summary(inspector(raws(batch))) == expected
    reasons = [r for _, r, _ in expected if r != "appended"]
    assert reasons == ["bad_signature", "unknown_key", "undecodable"]


def test_parallel_inspection_sees_keys_enrolled_earlier_in_the_batch(tmp_path: Path) -> None:
    root, newcomer = keys.generate("root"), keys.generate("newcomer")
    enrol = enroll_event(
        "person:mira-keller",
        "human",
        "Mira Keller",
        newcomer.public,
        valid_from=now_utc().replace(microsecond=0),
    )
    enrolment = build_message(enrol, root, kind=KEY_REGISTRY, source="/t")
    work = [build_message(production()[2][1], newcomer, source="/t") for _ in range(40)]
    early = build_message(production()[2][1], newcomer, source="/t")
    batch = [early, enrolment, *work]

    def outcomes(workers: int) -> list[tuple[str, str, str | None]]:
        with SqliteStore(tmp_path / f"l{workers}.db") as store:
            set_roots(store, [RootKey("root", root.public)])
            trust = RegistryTrust(registry_from_ledger(store))
            with ParallelInspector(trust, SingleObjectFraming(), workers=workers) as inspector:
                return summary(inspector(raws(batch)))

    sequential, parallel = outcomes(0), outcomes(2)
    assert parallel == sequential
    assert [r for _, r, _ in sequential] == ["not_enrolled", *["appended"] * 41]


def test_workers_learn_keys_enrolled_in_an_earlier_batch(tmp_path: Path) -> None:
    root, newcomer = keys.generate("root"), keys.generate("newcomer")
    enrol = enroll_event(
        "person:mira-keller", "human", "Mira Keller", newcomer.public,
        valid_from=now_utc().replace(microsecond=0),
    )  # fmt: skip
    first = [build_message(enrol, root, kind=KEY_REGISTRY, source="/t")]
    good = [build_message(production()[2][1], newcomer, source="/t") for _ in range(20)]
    second = [*good[:10], _forged(good[10]), *good[11:]]

    def outcomes(workers: int) -> tuple[list[tuple[str, str, str | None]], bool]:
        with SqliteStore(tmp_path / f"l{workers}.db") as store:
            set_roots(store, [RootKey("root", root.public)])
            trust = RegistryTrust(registry_from_ledger(store))
            with ParallelInspector(trust, SingleObjectFraming(), workers=workers) as inspector:
                done = summary(inspector(raws(first))) + summary(inspector(raws(second)))
                return done, inspector.worker_knew(newcomer.key_id, raw_public(newcomer.public))

    (sequential, _), (parallel, sent) = outcomes(0), outcomes(2)
    assert parallel == sequential
    assert [r for _, r, _ in sequential] == [*["appended"] * 11, "bad_signature", *["appended"] * 9]
    assert sent, "the second batch's chunks carried the newly enrolled key to the workers"


def test_a_batch_in_flight_leaves_out_partitions_moved_away() -> None:
    messages = [build_message(e, ARTIST, source="/t") for e in _events(6)]
    records = [RawRecord("t", i % 2, i, m.key, m.value, tuple(m.headers))
               for i, m in enumerate(messages)]  # fmt: skip
    trust = FolderTrust({ARTIST.key_id: ARTIST.public})
    with ParallelInspector(trust, SingleObjectFraming(), workers=2, chunk_size=2) as inspector:
        in_flight = inspector.begin(records)
        in_flight.dropped.add(("t", 1))
        kept, outcomes = in_flight.settle()
    assert [r.offset for r in kept] == [0, 2, 4]
    assert [o.origin.offset for o in outcomes] == [0, 2, 4]
    assert all(isinstance(o, PendingEntry) for o in outcomes)
