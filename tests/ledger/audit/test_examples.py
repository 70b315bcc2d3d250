"""examples/ matches the demo production and every example is a valid, signable event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo import story
from ledger.events.consent import CONSENT
from ledger.events.inputs import read_event_files
from ledger.trust import keys
from producers.emitter import build_message

EXAMPLES = Path(__file__).parents[3] / "examples"


def test_event_examples_are_the_demo_production() -> None:
    files = sorted((EXAMPLES / "events").glob("*.json"))
    assert [json.loads(f.read_text()) for f in files] == [e for _, e in story.production()]
    assert read_event_files([EXAMPLES / "events" / "all.jsonl"]) == [
        e for _, e in story.production()
    ]


def test_consent_examples_are_the_demo_consents() -> None:
    assert read_event_files([EXAMPLES / "consents" / "all.jsonl"]) == [
        e for _, e in story.consents()
    ]


@pytest.mark.parametrize("path", sorted((EXAMPLES / "events").glob("*.json")), ids=lambda p: p.name)
def test_event_examples_sign_as_emit_would(path: Path) -> None:
    [event] = read_event_files([path])
    event.update(producer_id="/examples", producer_seq=1)  # what Emitter fills in
    build_message(event, keys.generate("t"), source="/examples")


def test_consent_examples_sign_as_consent_events() -> None:
    for event in read_event_files([EXAMPLES / "consents" / "all.jsonl"]):
        build_message(event, keys.generate("t"), kind=CONSENT, source="/examples")
