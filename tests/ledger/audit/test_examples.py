"""examples/ matches the demo production and every example is a valid, signable event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo import story
from ledger.errors import InvalidEventError
from ledger.events import kinds
from ledger.events.consent import CONSENT
from ledger.events.inputs import read_event_files
from ledger.events.provenance import PROVENANCE
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


KIND_FOLDERS = {
    "events": "provenance",
    "remediation": "provenance",
    "consents": "consent",
    "licences": "licence",
    "registry": "key_registry",
    "dispositions": "disposition",
    "approvals": "approval",
}


def test_there_is_an_example_of_every_kind() -> None:
    assert set(KIND_FOLDERS.values()) == set(kinds.kind_names())


@pytest.mark.parametrize("folder", sorted(KIND_FOLDERS))
def test_examples_state_their_kind_and_sign_as_it(folder: str) -> None:
    items = read_event_files([EXAMPLES / folder / "all.jsonl"])
    assert items
    for event in items:
        kind = kinds.stated_kind(event, default=PROVENANCE)
        assert kinds.short_name(kind) == KIND_FOLDERS[folder]
        if kind is PROVENANCE:
            event.update(producer_id="/examples", producer_seq=1)
        message = build_message(event, keys.generate("t"), kind=kind, source="/examples")
        assert dict(message.headers)["ce_type"] == kind.ce_type.encode()


def test_the_other_kinds_examples_are_the_demos() -> None:
    for folder, items in (
        ("licences", story.licences()),
        ("remediation", story.remediation()),
        ("registry", story.registry_examples()),
        ("dispositions", story.disposition_examples()),
        ("approvals", story.approval_examples()),
    ):
        assert read_event_files([EXAMPLES / folder / "all.jsonl"]) == [e for _, e in items]


def test_a_kind_the_file_states_must_agree_with_kind_option() -> None:
    [consent] = read_event_files([EXAMPLES / "consents" / "01-dana-whitfield.json"])
    with pytest.raises(InvalidEventError, match="--kind says provenance_event"):
        kinds.stated_kind(consent, forced=kinds.kind_named("provenance"))


def test_a_consent_emitted_as_provenance_is_refused_with_a_hint() -> None:
    [consent] = read_event_files([EXAMPLES / "consents" / "01-dana-whitfield.json"])
    del consent["event_kind"]
    with pytest.raises(InvalidEventError) as caught:
        build_message(consent, keys.generate("t"), source="/examples")
    assert 'add "event_kind": "consent"' in str(caught.value)
