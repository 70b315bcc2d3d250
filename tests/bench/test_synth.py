"""The benchmark corpus's fast builder makes the emitter's records, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import synth

WHEN = datetime(2026, 12, 7, 12, 0, 1, 123456, tzinfo=UTC)


def test_build_fast_matches_the_emitter_path_for_every_template_and_far_blocks() -> None:
    n = len(synth.templates())
    picks = [*range(2 * n), 526 * n + 3, 10_000_000 - 1]
    for i in picks:
        event_id = f"00000000-0000-4000-8000-{i:012d}"
        slow = synth.build(i, event_id, WHEN, 1_000 + i)
        fast = synth.build_fast(i, event_id, WHEN, 1_000 + i)
        assert fast == slow, f"event {i}"


def test_build_fast_gives_fresh_ids_and_distinct_signatures() -> None:
    a, b = synth.build_fast(5), synth.build_fast(5)
    assert a.message.event_id != b.message.event_id
    assert a.message.value != b.message.value
    assert a.message.key == b.message.key  # same asset: same subject
