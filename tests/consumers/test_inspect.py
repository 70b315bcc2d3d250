"""Every bad-input kind gets its own reason (unit level; the broker tests repeat it end to end)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from consumers.inspect import RawRecord, inspect
from demo.story import production
from ledger.events import kafka as k
from ledger.events.encoding import SingleObjectFraming
from ledger.store import PendingEntry, Quarantined
from ledger.trust import dsse, keys
from ledger.trust.policy import FolderTrust
from producers.emitter import Message, build_message

ARTIST = keys.generate("artist")
TRUST = FolderTrust({ARTIST.key_id: ARTIST.public})
FRAMING = SingleObjectFraming()


def _event(**changes: Any) -> dict[str, Any]:
    event = dict(production()[2][1], producer_id="ws", producer_seq=1)
    event.update(changes)
    return event


def _raw(m: Message, **changes: Any) -> RawRecord:
    raw = RawRecord("events", 0, 42, m.key, m.value, tuple(m.headers))
    return dataclasses.replace(raw, **changes)


def _reason(raw: RawRecord, max_bytes: int = 1 << 20) -> str:
    outcome = inspect(raw, TRUST, FRAMING, max_bytes)
    assert isinstance(outcome, Quarantined), outcome
    assert outcome.detail
    return outcome.reason


def test_valid_record_becomes_a_pending_entry_with_index_rows() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    outcome = inspect(_raw(m), TRUST, FRAMING)
    assert isinstance(outcome, PendingEntry)
    assert outcome.event_id == m.event_id
    assert outcome.signer_keyid == ARTIST.key_id
    assert outcome.envelope == m.value
    assert ("asset_version", "fallen-tower/ep101/sq040/sh010/roto@v001") in outcome.refs
    assert ("ingredient", "fallen-tower/ep101/sq040/sh010/plate@v001") in outcome.refs


def test_garbage_bytes() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    assert _reason(_raw(m, value=b"\x00\x01garbage")) == "undecodable"
    assert _reason(_raw(m, value=None)) == "undecodable"


def test_truncated_envelope() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    assert _reason(_raw(m, value=m.value[:-30])) == "undecodable"


def test_unknown_schema_fingerprint() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    forged = m.value[:2] + bytes(8) + m.value[10:]
    assert _reason(_raw(m, value=forged)) == "unknown_schema"


def test_unknown_schema_inside_a_valid_envelope() -> None:
    payload = b"\xc3\x01" + b"\x11" * 8 + b"\x00"
    envelope = dsse.sign("application/vnd.assetledger.provenance-event+avro", payload, ARTIST)
    m = build_message(_event(), ARTIST, source="/ws")
    assert _reason(_raw(m, value=envelope.encode())) == "unknown_schema"


def test_unknown_payload_type() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    env = dsse.Envelope.decode(m.value)
    other = dsse.sign("application/x-unknown", env.payload, ARTIST)
    assert _reason(_raw(m, value=other.encode())) == "unknown_payload_type"


def test_oversized() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    assert _reason(_raw(m), max_bytes=100) == "oversized"


def test_bad_signature_after_alteration() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    env = dsse.Envelope.decode(m.value)
    payload = env.payload.replace(b"Mira Keller", b"Mira Kellar")
    assert payload != env.payload
    altered = dsse.Envelope(env.payload_type, payload, env.signatures).encode()
    assert _reason(_raw(m, value=altered)) == "bad_signature"


def test_unknown_key() -> None:
    m = build_message(_event(), keys.generate("intruder"), source="/ws")
    assert _reason(_raw(m)) == "unknown_key"


@pytest.mark.parametrize("header", [k.H_ID, k.H_TYPE, k.H_TIME, k.H_CONTENT_TYPE, k.H_SPECVERSION])
def test_headers_disagreeing_with_payload(header: str) -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    headers = tuple((h, b"tampered" if h == header else v) for h, v in m.headers)
    assert _reason(_raw(m, headers=headers)) == "header_mismatch"
    missing = tuple((h, v) for h, v in m.headers if h != header)
    assert _reason(_raw(m, headers=missing)) == "header_mismatch"


@pytest.mark.parametrize("header", [k.H_ID, k.H_TYPE, k.H_TIME, k.H_SUBJECT])
def test_a_repeated_header_is_judged_by_its_last_value(header: str) -> None:
    """As ledger.events.kafka.header reads it: the last value, undecodable bytes as absent."""
    m = build_message(_event(), ARTIST, source="/ws")
    value = dict(m.headers)[header]
    others = tuple((h, v) for h, v in m.headers if h != header)
    assert isinstance(inspect(_raw(m, headers=(*others, (header, b"x"), (header, value))),
                              TRUST, FRAMING), PendingEntry)  # fmt: skip
    assert _reason(_raw(m, headers=(*others, (header, value), (header, b"x")))) == "header_mismatch"
    if header != k.H_SUBJECT:  # an absent ce_subject is allowed
        undecodable = (*others, (header, value), (header, b"\xff"))
        assert _reason(_raw(m, headers=undecodable)) == "header_mismatch"


def test_kafka_key_must_be_the_asset() -> None:
    m = build_message(_event(), ARTIST, source="/ws")
    assert _reason(_raw(m, key=b"some/other/asset")) == "header_mismatch"


def test_invalid_event_content_is_refused_even_when_signed() -> None:
    from ledger.events.encoding import SingleObjectFraming as F

    m = build_message(_event(), ARTIST, source="/ws")
    _, event = F().decode(dsse.Envelope.decode(m.value).payload)
    event["action"] = "c2pa.teleported"
    payload = F().encode("provenance_event", event)
    env = dsse.sign("application/vnd.assetledger.provenance-event+avro", payload, ARTIST)
    assert _reason(_raw(m, value=env.encode())) == "invalid_event"


def test_pending_entry_keeps_key_and_headers_for_a_duplicates_dead_letter_copy() -> None:
    from ledger.store import Batch, Origin
    from ledger.store.base import split_batch

    m = build_message(_event(), ARTIST, source="/ws")
    traced = (*m.headers, ("traceparent", b"00-abc-def-01"))
    outcome = inspect(_raw(m, headers=traced), TRUST, FRAMING)
    assert isinstance(outcome, PendingEntry)
    assert outcome.key == m.key and outcome.headers == traced
    later = dataclasses.replace(outcome, origin=Origin("events", 0, 43))
    fresh, duplicates, stale = split_batch(
        Batch([later], [], {("events", 0): 44}, "g"), {("events", 0): 43}, {m.event_id}
    )
    assert fresh == [] and stale == 0
    [dup] = duplicates
    assert dup.reason == "duplicate_event_id" and dup.error_class == "DuplicateEventError"
    assert dup.key == m.key and dup.headers == traced and dup.value == m.value
    # Built without them (older callers), a PendingEntry still works: no key, no headers.
    bare = PendingEntry("id", "provenance_event", outcome.event_time, b"v", "k", later.origin)
    assert bare.key is None and bare.headers == ()


def test_the_index_keys_are_derived_where_the_event_is_decoded() -> None:
    """Sequential and pool inspection carry the event's index keys to the store: exactly the
    keys the index derives from the stored envelope (verify's replay derives them again)."""
    from consumers.inspect import ParallelInspector
    from ledger.index.maintain import entry_keys

    messages = [build_message(dict(e, producer_id="ws", producer_seq=i), ARTIST, source="/ws")
                for i, (_, e) in enumerate(production()[:12])]  # fmt: skip
    raws = [RawRecord("events", 0, i, m.key, m.value, tuple(m.headers))
            for i, m in enumerate(messages)]  # fmt: skip
    sequential = [inspect(r, TRUST, FRAMING) for r in raws]
    with ParallelInspector(TRUST, FRAMING, workers=1, chunk_size=5) as inspector:
        pooled = inspector(raws)
    for one, other, m in zip(sequential, pooled, messages, strict=True):
        assert isinstance(one, PendingEntry) and isinstance(other, PendingEntry)
        assert one.index_keys == other.index_keys == tuple(entry_keys(m.value))
        assert one.index_keys and any(k.startswith("version:") for k in one.index_keys)


def test_the_ledgers_index_rule_reaches_every_derivation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inspector derives keys under the ledger's index rule: in this process (a licence
    record gets ``licence-record:`` under v2) and in the forked workers (told at start)."""
    import consumers.inspect as ci
    from demo.story import licences
    from ledger.events.licence import LICENCE
    from ledger.index.keys import event_keys
    from ledger.index.maintain import entry_keys

    _, licence = licences()[0]
    m = build_message(dict(licence), ARTIST, kind=LICENCE, source="/ws")
    raw = RawRecord("events", 0, 0, m.key, m.value, tuple(m.headers))
    for rule in ("v1", "v2"):
        outcome = inspect(raw, TRUST, FRAMING, index_rule=rule)
        assert isinstance(outcome, PendingEntry)
        assert outcome.index_keys == tuple(entry_keys(m.value, rule=rule))
        marked = f"licence-record:{licence['event_id']}" in outcome.index_keys
        assert marked == (rule == "v2")

    def tagged(record: str, event: dict[str, Any], refs: Any, rule: str = "v1") -> list[str]:
        return [*event_keys(record, event, refs, rule), f"rule:{rule}"]

    monkeypatch.setattr(ci, "event_keys", tagged)  # inherited by the forked workers
    use = build_message(_event(), ARTIST, source="/ws")
    raws = [RawRecord("events", 0, 1, use.key, use.value, tuple(use.headers))]
    with ci.ParallelInspector(TRUST, FRAMING, workers=1, index_rule="v2") as inspector:
        (pooled,) = inspector(raws)
    assert isinstance(pooled, PendingEntry) and pooled.index_keys
    assert pooled.index_keys[-1] == "rule:v2"


def test_damaged_envelopes_and_damaged_signed_payloads_get_a_reason_never_a_crash() -> None:
    """A hostile producer's bytes (tests/support/avro_fuzz.py): damaged envelopes, and damaged
    or non-canonical payloads it signs with a trusted key, are quarantined with a reason or,
    when they still decode to a valid event, taken; inspect never raises, nor does a
    ParallelInspector worker's side, which refuses each for the same reason."""
    from consumers.inspect import Refused, _inspect_wire, _WorkerSetup
    from ledger.events.encoding import default_catalog
    from ledger.trust.keys import raw_public
    from tests.support.avro_fuzz import SEED, mutants, rng_for

    worker = _WorkerSetup(FRAMING, 1 << 20, {ARTIST.key_id: raw_public(ARTIST.public)})

    rng = rng_for("inspect")
    envelope_schema = default_catalog().current("dsse_envelope").reading
    event_schema = default_catalog().current("provenance_event").reading
    reasons: set[str] = set()
    for seq in (1, 2):
        m = build_message(_event(producer_seq=seq), ARTIST, source="/ws")
        env = dsse.Envelope.decode(m.value)
        variants = [m.value[:10] + v for v in mutants(rng, envelope_schema, m.value[10:])]
        for v in mutants(rng, event_schema, env.payload[10:], aimed=40):
            variants.append(dsse.sign(env.payload_type, env.payload[:10] + v, ARTIST).encode())
        for value in variants:
            outcome = inspect(_raw(m, value=value), TRUST, FRAMING)  # raises: a crash
            if isinstance(outcome, Quarantined):
                assert outcome.reason and outcome.detail, (SEED, value.hex())
                reasons.add(outcome.reason)
            in_worker = _inspect_wire(_raw(m, value=value), worker)
            if isinstance(in_worker, Refused):
                assert isinstance(outcome, Quarantined), (SEED, value.hex())
                assert in_worker.reason == outcome.reason, (SEED, value.hex())
    assert {"undecodable", "bad_signature", "invalid_text"} <= reasons
