"""The Emitter's pipelined sends and its signing pool, through a real Kafka-protocol broker.

``emit_many`` sends each event as soon as it is signed and waits for the acknowledgements at the
end, with at most ``MAX_IN_FLIGHT`` unacknowledged; with ``signing_workers`` the events are
signed in processes.  Either way every event arrives once, in its order, signed by the emitter's
key, with increasing producer sequence numbers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.story import production
from ledger.errors import InvalidEventError
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import kind_for_payload_type
from ledger.trust import keys
from ledger.trust.dsse import Envelope, verify_signature
from producers import emitter as emitter_module
from producers.emitter import Emitter
from tests.conftest import FreshTopic
from tests.support.kafka_tools import read_topic

pytestmark = pytest.mark.broker

ARTIST = keys.generate("artist")


def _events(n: int) -> Iterator[dict[str, Any]]:
    """``n`` provenance events on one asset (one Kafka key, so one partition: one order)."""
    first = next(e for _, e in production() if "asset" in e)
    for _ in range(n):
        yield dict(first)


def _received(topic: FreshTopic, n: int) -> list[dict[str, Any]]:
    framing = SingleObjectFraming()
    events = []
    for record in read_topic(topic.bootstrap, topic.name, n):
        envelope = Envelope.decode(record.value, framing)
        verify_signature(envelope, ARTIST.key_id, ARTIST.public)
        kind = kind_for_payload_type(envelope.payload_type)
        schema, event = framing.decode(envelope.payload)
        assert schema.record == kind.record
        events.append(event)
    return events


@pytest.mark.parametrize("signing_workers", [0, 2, "auto"])
def test_pipelined_sends_arrive_once_in_order(
    fresh_topic: FreshTopic, signing_workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emitter_module, "MAX_IN_FLIGHT", 7)  # the window slides many times
    monkeypatch.setattr(emitter_module, "SIGNING_CHUNK", 9)  # chunks end mid-batch
    monkeypatch.setattr(emitter_module, "AUTO_POOL_FROM", 20)  # "auto": 50 events start it
    with Emitter(
        fresh_topic.bootstrap,
        ARTIST,
        topic=fresh_topic.name,
        source="/test/emitter",
        signing_workers=signing_workers,
    ) as em:
        ids = em.emit_many(_events(50))  # a generator: read once, as it is sent
    assert len(ids) == len(set(ids)) == 50
    got = _received(fresh_topic, 50)
    assert [e["event_id"] for e in got] == ids
    seqs = [e["producer_seq"] for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50


def test_a_refused_event_raises_from_the_signing_pool(fresh_topic: FreshTopic) -> None:
    events = list(_events(3))
    events[1]["digital_source_type"] = "not-a-source-type"
    with (
        Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name, signing_workers=1) as em,
        pytest.raises(InvalidEventError),
    ):
        em.emit_many(events)


@pytest.mark.parametrize("signing_workers", [0, 2])
def test_events_built_before_a_refused_one_are_sent_as_before_the_bursts(
    fresh_topic: FreshTopic, monkeypatch: pytest.MonkeyPatch, signing_workers: int
) -> None:
    """emit_many sends in bursts of built records; a refusal in the middle of a burst still
    sends the events before it (as sending one at a time did), then raises; in the signing
    pool too, where the refused event is in the middle of a chunk."""
    monkeypatch.setattr(emitter_module, "SEND_BURST", 4)
    events = [{**e, "event_id": str(uuid.uuid4())} for e in _events(10)]
    events[6]["digital_source_type"] = "not-a-source-type"
    with (
        Emitter(
            fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name, signing_workers=signing_workers
        ) as em,
        pytest.raises(InvalidEventError),
    ):
        em.emit_many(events)
    got = _received(fresh_topic, 6)
    assert [e["event_id"] for e in got] == [e["event_id"] for e in events[:6]]


def test_auto_signs_single_emits_and_small_batches_in_this_process(
    fresh_topic: FreshTopic,
) -> None:
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as em:  # "auto"
        em.emit(next(_events(1)))
        em.emit_many(_events(5))
        assert em.signing_pids() == []
    assert len(_received(fresh_topic, 6)) == 6


def test_auto_starts_no_workers_where_python_cannot_be_spawned(
    fresh_topic: FreshTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a DCC the executable is the application (nuke, maya.bin): no processes."""
    monkeypatch.setattr(emitter_module.multiprocessing.spawn, "get_executable", lambda: "/x/Nuke15")
    monkeypatch.setattr(emitter_module, "AUTO_POOL_FROM", 2)
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name) as em:
        em.emit_many(_events(5))
        assert em.signing_pids() == []


UNGUARDED_TOOL = """
import sys
from pathlib import Path
with Path(sys.argv[1]).open("a") as runs:  # each run of this top-level code adds a line
    runs.write("ran\\n")
from ledger.trust import keys
from producers.emitter import SigningPool
pool = SigningPool(keys.generate("tool"), 2)
pool.close()
"""


def test_signing_workers_do_not_rerun_a_tool_scripts_unguarded_code(tmp_path: Path) -> None:
    """A spawned process imports the parent's main script first: a tool script without an
    ``if __name__ == "__main__"`` guard ran again in every worker (and emitted again)."""
    script, runs = tmp_path / "tool.py", tmp_path / "runs.txt"
    script.write_text(textwrap.dedent(UNGUARDED_TOOL))
    subprocess.run(
        [sys.executable, str(script), str(runs)],
        cwd=Path(__file__).parents[2],
        env={"PYTHONPATH": str(Path(__file__).parents[2])},
        check=True,
        capture_output=True,
    )
    assert runs.read_text().splitlines() == ["ran"]
