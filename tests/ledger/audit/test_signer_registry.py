"""The signer-not-trusted rule on the key registry's verdicts (ledger/log/verdicts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo import story
from ledger.audit.ip import Scope, run_audit
from ledger.audit.keys import registry_verdicts
from ledger.audit.model import LedgerView
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.store import Batch, open_store
from ledger.trust import keys
from ledger.trust.records import enroll_event, revoke_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from tests.ledger.audit.audit_factory import Item, pending, provenance

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROOT = keys.generate("root")
ARTIST = keys.generate("artist")


def by_artist(asset: str, when: datetime) -> Item:
    _, kind, event = provenance(asset)
    event["actor"] = {
        "actor_id": "person:m",
        "kind": "human",
        "display_name": "M",
        "role": "cawg.creator",
    }
    event["event_time"] = when.isoformat()
    return ("artist", kind, event)


def test_events_signed_after_the_key_was_revoked_are_findings(tmp_path: Path) -> None:
    enrol = enroll_event("person:m", "human", "M", ARTIST.public, valid_from=T0, event_time=T0)
    revoke = revoke_event(
        "person:m",
        ARTIST.key_id,
        effective_time=T0 + timedelta(hours=2),
        event_time=T0 + timedelta(hours=5),
    )
    items: list[Item] = [
        ("root", KEY_REGISTRY, enrol),
        by_artist("before", T0 + timedelta(hours=1)),
        by_artist("after", T0 + timedelta(hours=3)),  # appended before the revocation was known
        ("root", KEY_REGISTRY, revoke),
    ]
    with open_store(str(tmp_path / "l.db")) as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        entries = pending(items, {"root": ROOT, "artist": ARTIST})
        store.append(Batch(entries, [], {("events", 0): len(entries)}, "t"))
        verdicts = registry_verdicts(store)
        assert verdicts is not None
        result = run_audit(
            LedgerView.open(store), Scope(production=story.SHOW), signer_verdicts=verdicts
        )
    assert {(f.rule, f.asset) for f in result.findings} == {("signer-not-trusted", "after@v001")}
    assert "key_valid" in result.findings[0].explanation
