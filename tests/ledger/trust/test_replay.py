"""ledger.trust.replay: decoding entries (once, within :func:`decoding_once`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ledger.errors import RejectedInput
from ledger.events.encoding import reader_framing
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.store import Entry
from ledger.store.base import Origin
from ledger.trust import keys
from ledger.trust.dsse import Envelope
from ledger.trust.records import enroll_event
from ledger.trust.replay import decode_entry, decoding_once, share_decoded
from producers.emitter import build_message

ROOT = keys.generate("root")


def _entry(seq: int = 3) -> Entry:
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    event = enroll_event("person:ana", "human", "ana", keys.generate("ana").public, event_time=when)
    message = build_message(event, ROOT, kind=KEY_REGISTRY, source="/test")
    return Entry(
        seq=seq,
        event_id=message.event_id,
        kind=KEY_REGISTRY.record,
        event_time=when,
        envelope=message.value,
        leaf_hash=bytes(32),
        chain_hash=bytes(32),
        signer_keyid=ROOT.key_id,
        origin=Origin("t", 0, seq),
        ingested_at=when,
    )


def test_an_entry_is_decoded_once_within_the_block_and_afresh_outside() -> None:
    entry = _entry()
    assert decode_entry(entry)[1] is not decode_entry(entry)[1]  # nothing kept outside
    with decoding_once():
        first = decode_entry(entry)
        assert decode_entry(entry)[0] is first[0] and decode_entry(entry)[1] is first[1]
        with decoding_once():  # nested: the same cache
            assert decode_entry(entry)[1] is first[1]
        # another position or other bytes are another entry, decoded for themselves
        moved = decode_entry(dataclasses.replace(entry, seq=4))
        assert moved[1] is not first[1] and moved[1] == first[1]
    assert decode_entry(entry)[1] is not first[1]


def test_a_record_decoded_by_the_caller_is_shared_only_once_checked() -> None:
    """share_decoded: within decoding_once, an event a caller decoded from the entry's bytes is
    what decode_entry hands every layer, once it passes the same checks; otherwise (wrong kind,
    outside a block) decode_entry decodes the bytes itself."""
    entry = _entry()
    envelope = Envelope.decode(entry.envelope, reader_framing())
    schema, event = reader_framing().decode(envelope.payload)
    share_decoded(entry, envelope, schema.record, event)  # outside a block: not kept
    assert decode_entry(entry)[1] is not event
    with decoding_once():
        other = dataclasses.replace(entry, seq=4)
        share_decoded(other, envelope, "provenance_event", event)  # not what the bytes hold
        assert decode_entry(other)[1] is not event and decode_entry(other)[1] == event
        share_decoded(entry, envelope, schema.record, event)
        assert decode_entry(entry) == (envelope, event) and decode_entry(entry)[1] is event
    with decoding_once(), pytest.raises(RejectedInput):
        share_decoded(dataclasses.replace(entry, kind="consent_event"), envelope, "x", event)
        decode_entry(dataclasses.replace(entry, kind="consent_event"))
