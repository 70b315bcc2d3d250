"""Through a real Kafka-protocol broker: a pipeline key's consent revocation is quarantined and
dead-lettered as ``no_clearance_scope``; the clearances key's records are ingested (issue 23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.events import kafka as k
from ledger.events.consent import CONSENT
from ledger.events.keyregistry import CLEARANCE_ACTIONS, Scope
from ledger.events.licence import LICENCE
from ledger.store.sqlite import SqliteStore
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from tests.conftest import FreshTopic
from tests.consumers.test_registry_ingest import ROOT, consume, send, signed
from tests.ledger.trust.test_clearance_scopes import (
    CLEARANCES,
    PIPELINE,
    START,
    grant,
    licence,
    revocation,
)
from tests.support.kafka_tools import header_map, read_topic

pytestmark = pytest.mark.broker


def test_only_a_clearances_key_signs_consents_and_licences(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    clearances = Scope(actions=tuple(CLEARANCE_ACTIONS.values()))
    enrolments = [
        enroll_event("tool:onset-dit", "software", "DIT", PIPELINE.public, valid_from=START),
        enroll_event(
            "service:clearances", "software", "Clearances", CLEARANCES.public,
            valid_from=START, scope=clearances,
        ),
    ]  # fmt: skip
    granted = signed(grant(), CLEARANCES, CONSENT)
    hostile = [
        signed(revocation(granted.event_id), PIPELINE, CONSENT),
        signed(licence(), PIPELINE, LICENCE),
    ]
    good = [granted, signed(licence(), CLEARANCES, LICENCE)]
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)], clearance_scopes=True)
        send(fresh_topic.bootstrap, fresh_topic.name, [signed(e, ROOT) for e in enrolments])
        consume(store, fresh_topic.bootstrap, fresh_topic.name)
        send(fresh_topic.bootstrap, fresh_topic.name, [*good, *hostile])
        consume(store, fresh_topic.bootstrap, fresh_topic.name)
        ingested = {e.event_id for e in store.entries()}
        assert {m.event_id for m in good} <= ingested
        assert not {m.event_id for m in hostile} & ingested
        assert {(q.event_id, q.reason) for q in store.quarantine()} == {
            (m.event_id, "no_clearance_scope") for m in hostile
        }
    dead = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=2)
    assert [header_map(r)[k.DLT_REASON] for r in dead] == ["no_clearance_scope"] * 2
