"""verify's reading of an event: what it skips changes none of the rows and keys it derives."""

from __future__ import annotations

import io
import random

import fastavro
import pytest

from ledger.events.encoding import SOE_MAGIC, default_catalog, reader_framing
from ledger.events.provenance import PROVENANCE
from ledger.index.keys import INDEX_RULES
from ledger.index.replay import index_keys
from ledger.log.entry_facts import decode_event, derive, derive_chunk, facts_of
from ledger.trust import dsse, keys
from tests.ledger.events.test_avro_write import _Random
from tests.support.avro_fuzz import story_records

SIGNER = keys.generate("artist")


def _payloads() -> list[bytes]:
    """The story's provenance events and random values of the schema, framed as stored."""
    schema = default_catalog().current(PROVENANCE.record)
    named = schema.parsed.get("__named_schemas", {})
    records = story_records(schema)
    records += [_Random(seed, named).value(schema.parsed) for seed in range(40)]
    out = []
    for record in records:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema.parsed, record)
        out.append(SOE_MAGIC + schema.fingerprint + buf.getvalue())
    return out


@pytest.mark.parametrize("rule", INDEX_RULES)
def test_the_rows_and_keys_of_a_projected_event_are_those_of_the_whole_event(rule: str) -> None:
    framing = reader_framing()
    for payload in _payloads():
        _, whole = decode_event(framing, payload)
        schema, part = decode_event(framing, payload, whole=False)
        assert schema.record == PROVENANCE.record
        assert len(part) < len(whole)  # it is read projected
        assert sorted(PROVENANCE.refs(part)) == sorted(PROVENANCE.refs(whole))
        assert index_keys(PROVENANCE, part, rule=rule) == index_keys(PROVENANCE, whole, rule=rule)
        assert (part["event_id"], part["event_time"]) == (whole["event_id"], whole["event_time"])


def test_facts_sent_as_plain_tuples_are_the_facts() -> None:
    """Workers send plain tuples, event times as microseconds; they come back the same."""
    rng = random.Random(5)
    jobs = []
    for seq, payload in enumerate(_payloads()):
        env = dsse.sign(PROVENANCE.payload_type, payload, SIGNER)
        raw = SIGNER.public.public_bytes_raw() if rng.random() < 0.5 else None
        jobs.append((seq, env.encode(), SIGNER.key_id, raw))
    for validating in (False, True):
        facts = [facts_of(t) for t in derive_chunk(jobs, validating, 20)]
        assert facts == [derive(j, validating=validating, index_below=20) for j in jobs]
        assert all(f.decoded for f in facts)
        assert [f.index_keys is not None for f in facts] == [j[0] < 20 for j in jobs]
