"""Only a key whose scope names the kind may sign consent and licence events (red team, issue 23).

Before: a pipeline key enrolled without a production limit could sign a consent revocation,
which every output honours.  On a ledger created with clearance scopes required (ledger meta,
fixed at ``assetledger init``) the consumer refuses such a record (``no_clearance_scope``) and
verify's replay judges an entry slipped in behind its back the same way; older ledgers, whose
enrolments never named the scope, keep their rule.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.inspect import RawRecord, inspect
from demo import story
from ledger.events.consent import CONSENT
from ledger.events.keyregistry import CLEARANCE_ACTIONS, KEY_REGISTRY, Scope
from ledger.events.licence import LICENCE
from ledger.log import operator
from ledger.log.verify import UNTRUSTED_SIGNER, verify_ledger
from ledger.store import Quarantined
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.trust.policy import FolderTrust, RegistryTrust
from ledger.trust.records import enroll_event
from ledger.trust.registry import Registry, RootKey
from ledger.trust.replay import load_roots, registry_from_ledger, set_roots
from producers.emitter import Message
from tests.ledger.log.test_verdicts import FRAMING, ROOT, Builder, signed

PIPELINE = keys.generate("pipeline")
CLEARANCES = keys.generate("clearances")
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=400)


def ledger(tmp_path: Path, *, required: bool) -> tuple[SqliteStore, Builder]:
    store = SqliteStore(tmp_path / "ledger.db")
    set_roots(store, [RootKey("root", ROOT.public)], clearance_scopes=required)
    log_key = keys.generate("log")
    operator.init_ledger(store, "clearances.example/ledger", log_key)
    b = Builder(store, RegistryTrust(Registry(load_roots(store))), log_key)
    clearances = Scope(actions=tuple(CLEARANCE_ACTIONS.values()))
    for actor, pair, scope in (
        ("tool:onset-dit", PIPELINE, Scope()),  # no limit at all: every production, actor
        ("service:clearances", CLEARANCES, clearances),
    ):
        event = enroll_event(actor, "software", actor, pair.public, valid_from=START, scope=scope)
        b.add(signed(event, ROOT, KEY_REGISTRY))
    return store, b


@pytest.fixture
def required(tmp_path: Path) -> Iterator[tuple[SqliteStore, Builder]]:
    store, b = ledger(tmp_path, required=True)
    yield store, b
    store.close()


def grant() -> dict[str, Any]:
    event = copy.deepcopy(story.consents()[0][1])
    return event | {"event_id": str(uuid.uuid4()), "event_time": NOW - timedelta(days=1)}


def revocation(of: str) -> dict[str, Any]:
    return grant() | {
        "status": "revoked",
        "revokes": of,
        "valid_from": "2025-02-01T00:00:00Z",
        "expires": None,
    }


def licence() -> dict[str, Any]:
    event = copy.deepcopy(story.licences()[0][1])
    return event | {"event_id": str(uuid.uuid4()), "event_time": NOW - timedelta(days=1)}


def refusal(b: Builder, message: Message) -> Quarantined:
    raw = RawRecord("events", 0, 99, message.key, message.value, tuple(message.headers))
    outcome = inspect(raw, b.trust, FRAMING)
    assert isinstance(outcome, Quarantined), outcome
    return outcome


def test_a_pipeline_key_cannot_revoke_a_performers_consent(
    required: tuple[SqliteStore, Builder],
) -> None:
    _, b = required
    granted = b.add(signed(grant(), CLEARANCES, CONSENT))  # the clearances key may
    refused = refusal(b, signed(revocation(granted), PIPELINE, CONSENT))
    assert refused.reason == "no_clearance_scope"
    assert "assetledger.consent" in refused.detail


def test_a_pipeline_key_cannot_sign_a_licence(required: tuple[SqliteStore, Builder]) -> None:
    _, b = required
    assert refusal(b, signed(licence(), PIPELINE, LICENCE)).reason == "no_clearance_scope"
    b.add(signed(licence(), CLEARANCES, LICENCE))


def test_verify_judges_an_entry_slipped_in_behind_the_consumer_as_it_would(
    required: tuple[SqliteStore, Builder],
) -> None:
    store, b = required
    granted = b.add(signed(grant(), CLEARANCES, CONSENT))
    bypass = FolderTrust({PIPELINE.key_id: PIPELINE.public})  # an insider's own append
    b.add(signed(revocation(granted), PIPELINE, CONSENT), trust=bypass)
    b.checkpoint()
    report = verify_ledger(store, workers=1)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (UNTRUSTED_SIGNER, 3)
    assert "no_clearance_scope" in report.first.detail


def test_an_older_ledger_keeps_its_rule(tmp_path: Path) -> None:
    """A ledger created before clearance scopes (no meta flag): its enrolments never named
    them, so consent events signed by any valid key in scope are still admitted and verify."""
    store, b = ledger(tmp_path, required=False)
    with store:
        granted = b.add(signed(grant(), PIPELINE, CONSENT))
        b.add(signed(revocation(granted), PIPELINE, CONSENT))
        b.checkpoint()
        assert verify_ledger(store, workers=1).first is None
        assert not registry_from_ledger(store).root.clearance_scopes


def test_the_flag_is_fixed_at_creation(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        again = set_roots(store, [RootKey("root", ROOT.public)], clearance_scopes=True)
        assert not again.clearance_scopes and not load_roots(store).clearance_scopes
