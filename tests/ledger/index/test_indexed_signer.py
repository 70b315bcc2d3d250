"""The signer column of a several-times-signed entry is not chosen by whoever edits the
database: an audit judges the entry by the key the registry at its position admitted it by
(as ``assetledger verify`` and ``packet verify`` do), not by whichever of its signers the
column names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo import story
from ledger.audit.ip import Scope, run_audit
from ledger.audit.keys import registry_verdicts
from ledger.audit.model import LedgerView
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.log.operator import Checkpointer, init_ledger
from ledger.store import Batch, LedgerStore, open_store
from ledger.trust import keys
from ledger.trust.dsse import Envelope
from ledger.trust.records import cosign, enroll_event, revoke_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from tests.ledger.audit.audit_factory import Item, pending
from tests.ledger.audit.test_signer_registry import by_artist

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROOT = keys.generate("root")
ARTIST = keys.generate("artist")
SECOND = keys.generate("artist-2")
LOG = keys.generate("log")


def _findings(store: LedgerStore, says: str = "") -> set[tuple[str, str]]:
    view = LedgerView.open(store)
    assert view.index is not None  # read through the authenticated index
    verdicts = registry_verdicts(store)
    assert verdicts is not None
    result = run_audit(view, Scope(production=story.SHOW), signer_verdicts=verdicts)
    assert all(says in f.explanation for f in result.findings)
    return {(f.rule, f.asset) for f in result.findings}


def test_a_cosigned_entry_relabelled_with_its_other_signer_still_fails(tmp_path: Path) -> None:
    """ "after" is signed by the artist's key (the one admitted) and cosigned by the artist's
    second key; the first is revoked from before "after" was made.  Setting the signer column
    to the second key (whose signature is on the envelope too) hid the finding."""
    items: list[Item] = [
        ("root", KEY_REGISTRY, enroll_event("person:m", "human", "M", ARTIST.public,
                                            valid_from=T0, event_time=T0)),
        ("root", KEY_REGISTRY, enroll_event("person:m", "human", "M", SECOND.public,
                                            valid_from=T0, event_time=T0)),
        by_artist("after", T0 + timedelta(hours=3)),
        ("root", KEY_REGISTRY, revoke_event("person:m", ARTIST.key_id,
                                            effective_time=T0 + timedelta(hours=2),
                                            event_time=T0 + timedelta(hours=5))),
    ]  # fmt: skip
    url = str(tmp_path / "l.db")
    with open_store(url) as store:
        init_ledger(store, "test.example/ledger", LOG)
        set_roots(store, [RootKey("root", ROOT.public)])
        entries = pending(items, {"root": ROOT, "artist": ARTIST})
        after = entries[2]
        envelope = cosign(Envelope.decode(after.envelope), [SECOND]).encode()
        entries[2] = type(after)(**{**after.__dict__, "envelope": envelope})
        store.append(Batch(entries, [], {("events", 0): len(entries)}, "t"))
        Checkpointer(store, LOG).checkpoint()
        seq = next(e.seq for e in store.entries() if e.signer_keyid == ARTIST.key_id)
        assert _findings(store) == {("signer-not-trusted", "after@v001")}
        store.db.execute(  # type: ignore[attr-defined]
            "UPDATE entries SET signer_keyid = ? WHERE seq = ?", (SECOND.key_id, seq)
        )
    with open_store(url) as store:
        assert store.entry(seq).signer_keyid == SECOND.key_id  # type: ignore[union-attr]
        assert _findings(store, "derived, not chosen") == {("signer-not-trusted", "after@v001")}
