"""The four verdicts on a real SQLite ledger with a key registry and signed checkpoints.

The ledger is built through the consumer's own inspection (``inspect`` + ``RegistryTrust``), so
every entry is one the consumer would have appended, except where a test deliberately appends
an entry behind its back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.inspect import RawRecord, inspect
from demo.story import production
from ledger.errors import ConfigurationError
from ledger.events.base import EventKind
from ledger.events.encoding import SingleObjectFraming
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.provenance import PROVENANCE
from ledger.log import operator
from ledger.log.checkpoint import Checkpoint, signed_checkpoint
from ledger.log.merkle import leaf_hash, remembering_inclusions, verify_inclusion
from ledger.log.verdicts import (
    EntryVerdicts,
    Status,
    VerdictContext,
    entry_verdicts,
    ledger_verdicts,
    verdicts_for_event,
)
from ledger.store import PendingEntry, Quarantined, StoredCheckpoint
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust, RegistryTrust, TrustPolicy
from ledger.trust.records import enroll_event, revoke_event
from ledger.trust.registry import Registry, RootKey, TrustRoot
from ledger.trust.replay import set_roots
from producers.emitter import Message, build_message
from tests.ledger.ledger_factory import append_all

ORIGIN = "verdicts.example/ledger"
FRAMING = SingleObjectFraming()
ROOT = keys.generate("root")
ARTIST = keys.generate("artist")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Builder:
    """Appends entries one by one as the consumer would, checkpointing on request."""

    def __init__(self, store: SqliteStore, trust: TrustPolicy, log_key: KeyPair | None) -> None:
        self.store, self.trust = store, trust
        self.checkpointer = operator.Checkpointer(store, log_key) if log_key else None
        self.offset = 0

    def add(self, message: Message, trust: TrustPolicy | None = None) -> str:
        raw = RawRecord(
            "events", 0, self.offset, message.key, message.value, tuple(message.headers)
        )
        outcome = inspect(raw, trust or self.trust, FRAMING)
        assert isinstance(outcome, PendingEntry), outcome
        self.offset += 1
        append_all(self.store, [outcome])
        return outcome.event_id

    def checkpoint(self) -> None:
        assert self.checkpointer is not None and self.checkpointer.checkpoint() is not None


def signed(event: dict[str, Any], signer: KeyPair, kind: EventKind = PROVENANCE) -> Message:
    return build_message(event, signer, kind=kind, source="/test")


def work(when: datetime) -> Message:
    event = dict(production()[2][1], producer_id="t", producer_seq=1, event_time=when)
    return signed(event, ARTIST)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[SqliteStore, Builder]]:
    store = SqliteStore(tmp_path / "ledger.db")
    set_roots(store, [RootKey("root", ROOT.public)])
    log_key = keys.generate("log")
    operator.init_ledger(store, ORIGIN, log_key)
    root = TrustRoot((RootKey("root", ROOT.public),))
    yield store, Builder(store, RegistryTrust(Registry(root)), log_key)
    store.close()


def _statuses(v: EntryVerdicts) -> tuple[str, str, str, str]:
    return (v.signature.status, v.signer_trusted.status, v.key_valid.status, v.anchored.status)


OK, FAILED, NA = Status.OK, Status.FAILED, Status.NOT_APPLICABLE


def test_revocation_story(ledger: tuple[SqliteStore, Builder]) -> None:
    """Signed before a revocation: valid, and anchored before it.  After it: the key fails."""
    store, b = ledger
    now = datetime.now(UTC)
    enrolment = enroll_event(
        "person:mira-keller", "human", "Mira", ARTIST.public, valid_from=now - 5 * HOUR
    )
    enrolled = b.add(signed(enrolment, ROOT, KEY_REGISTRY))
    early = b.add(work(now - HOUR))
    b.checkpoint()  # size 2, signed before the compromise below takes effect
    compromised_at = datetime.now(UTC)
    slipped = b.add(work(compromised_at + HOUR))  # accepted: the revocation is not known yet
    window = b.add(work(compromised_at - timedelta(minutes=30)))  # the thief, backdating
    revocation = revoke_event(
        "person:mira-keller", ARTIST.key_id, effective_time=compromised_at, reason="key_compromise"
    )
    b.add(signed(revocation, ROOT, KEY_REGISTRY))  # entry 4, effective earlier than recorded
    late = work(compromised_at - timedelta(minutes=30))  # claims a time before the revocation
    refused = inspect(
        RawRecord("events", 0, 99, late.key, late.value, tuple(late.headers)), b.trust, FRAMING
    )
    assert isinstance(refused, Quarantined) and refused.reason == "key_revoked"
    assert "arrived after it" in refused.detail
    b.checkpoint()  # size 5

    v = verdicts_for_event(store, early)
    assert _statuses(v) == (OK, OK, OK, OK)
    assert v.signer == "person:mira-keller"
    assert v.anchor is not None and v.anchor.checkpoint_size == 2
    assert v.anchor.predates_revocation is True and v.anchor.predates_compromise is True
    assert "after this event's time" in v.key_valid.reason
    assert "anchored before the compromise took effect" in v.anchored.reason
    assert v.compromised is None  # provably older than the compromise: not cited

    v = verdicts_for_event(store, slipped)
    assert _statuses(v) == (OK, OK, FAILED, OK)
    assert v.admitted_at_append is True  # the consumer was right at the time
    assert v.key_valid.code == "key_revoked"
    assert "recorded after this entry was appended" in v.key_valid.reason
    assert v.anchor is not None and v.anchor.predates_revocation is False

    v = verdicts_for_event(store, window)  # valid by its claimed time, yet not provably older
    assert _statuses(v) == (OK, OK, OK, OK)
    assert v.anchor is not None and v.anchor.checkpoint_size == 5
    assert v.anchor.predates_revocation is False and v.anchor.predates_compromise is False
    assert "entered the ledger before the key's compromise revocation (entry 4)" in (
        v.anchored.reason
    )
    assert v.compromised is not None and "stolen key" in v.compromised

    v = verdicts_for_event(store, enrolled)
    assert _statuses(v) == (OK, OK, OK, OK)
    assert v.signer == "root:root" and "root key" in v.signer_trusted.reason
    assert v.anchor is not None and v.anchor.predates_revocation is None


def test_an_entry_not_yet_anchored_fails_only_verdict_d(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    store, b = ledger
    b.add(
        signed(
            enroll_event("person:m", "human", "M", ARTIST.public, valid_from=T0), ROOT, KEY_REGISTRY
        )
    )
    b.checkpoint()
    pending = b.add(work(T0 + HOUR))
    v = verdicts_for_event(store, pending)
    assert _statuses(v) == (OK, OK, OK, FAILED)
    assert v.anchored.code == "not_anchored" and v.anchor is None


def test_ledger_walk_agrees_with_single_entry_verdicts(ledger: tuple[SqliteStore, Builder]) -> None:
    store, b = ledger
    b.add(
        signed(
            enroll_event("person:m", "human", "M", ARTIST.public, valid_from=T0), ROOT, KEY_REGISTRY
        )
    )
    b.add(work(T0 + HOUR))
    b.add(signed(revoke_event("person:m", ARTIST.key_id, effective_time=T0), ROOT, KEY_REGISTRY))
    b.checkpoint()
    walked = list(ledger_verdicts(store))
    single = [verdicts_for_event(store, e.event_id) for e in store.entries()]
    assert walked == single
    ctx = VerdictContext(store)  # asked out of order, the context replays from the start
    backwards = [entry_verdicts(ctx, e) for e in reversed(list(store.entries()))]
    assert backwards[::-1] == single
    assert [v.key_valid.code for v in walked] == [None, "key_revoked", None]


def test_a_backdated_entry_slipped_in_after_a_compromise_revocation_is_caught(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    """An insider appends, behind the consumer's back, an event the stolen key backdated."""
    from ledger.log.verify import UNTRUSTED_SIGNER, verify_ledger

    store, b = ledger
    now = datetime.now(UTC)
    enrolment = enroll_event("person:m", "human", "M", ARTIST.public, valid_from=now - 5 * HOUR)
    b.add(signed(enrolment, ROOT, KEY_REGISTRY))
    revocation = revoke_event(
        "person:m", ARTIST.key_id, effective_time=now, reason="key_compromise"
    )
    b.add(signed(revocation, ROOT, KEY_REGISTRY))
    bypass = FolderTrust({ARTIST.key_id: ARTIST.public})
    slipped = b.add(work(now - HOUR), trust=bypass)  # valid by its claimed time alone
    b.checkpoint()
    v = verdicts_for_event(store, slipped)
    assert v.admitted_at_append is False
    assert v.key_valid.status is FAILED and v.key_valid.code == "key_revoked"
    assert "already refused when this entry was appended" in v.key_valid.reason
    assert "arrived after it" in v.key_valid.reason
    report = verify_ledger(store, workers=1)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (UNTRUSTED_SIGNER, 2)


def test_signature_failure_is_its_own_verdict(ledger: tuple[SqliteStore, Builder]) -> None:
    """An altered entry appended behind the consumer's back: only the signature fails."""
    store, b = ledger
    b.add(
        signed(
            enroll_event("person:m", "human", "Mira", ARTIST.public, valid_from=T0),
            ROOT,
            KEY_REGISTRY,
        )
    )
    message = work(T0 + HOUR)
    envelope = dsse.Envelope.decode(message.value)
    altered = dataclasses.replace(
        envelope, payload=envelope.payload.replace(b"Mira Keller", b"Mira Kellar")
    )
    bypass = FolderTrust({ARTIST.key_id: ARTIST.public})
    forged = dataclasses.replace(message, value=altered.encode())
    raw = RawRecord("events", 0, 1, forged.key, forged.value, tuple(forged.headers))
    refusal = inspect(raw, bypass, FRAMING)
    assert isinstance(refusal, Quarantined) and refusal.reason == "bad_signature"
    entry = PendingEntry(
        message.event_id, "provenance_event", T0 + HOUR, forged.value, ARTIST.key_id, raw.origin
    )
    append_all(store, [entry])
    b.checkpoint()
    v = verdicts_for_event(store, message.event_id)
    assert _statuses(v) == (FAILED, OK, OK, OK)
    assert v.signature.code == "bad_signature"


def test_unenrolled_signer_fails_trust_and_cannot_be_judged_further(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    store, b = ledger
    intruder = keys.generate("intruder")
    event = dict(production()[2][1], producer_id="t", producer_seq=1, event_time=T0)
    event_id = b.add(signed(event, intruder), trust=FolderTrust({intruder.key_id: intruder.public}))
    v = verdicts_for_event(store, event_id)
    assert _statuses(v) == (NA, FAILED, NA, FAILED)
    assert v.signer_trusted.code == "not_enrolled"
    assert v.admitted_at_append is False
    assert v.signer is None


def test_checkpoint_signed_by_another_key_anchors_nothing(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    store, b = ledger
    b.add(
        signed(
            enroll_event("person:m", "human", "M", ARTIST.public, valid_from=T0), ROOT, KEY_REGISTRY
        )
    )
    root = store.tree(1).root()
    note = signed_checkpoint(Checkpoint(ORIGIN, 1, root), ORIGIN, keys.generate("rogue").private)
    store.add_checkpoint(StoredCheckpoint(1, root, note, datetime.now(UTC)))
    v = verdicts_for_event(store, store.entries().__next__().event_id)
    assert v.anchored.status is FAILED and v.anchored.code == "checkpoint_mismatch"


def test_ledger_without_registry_or_log_key(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "plain.db") as store:
        folder = FolderTrust({ARTIST.key_id: ARTIST.public})
        event_id = Builder(store, folder, None).add(work(T0))
        v = verdicts_for_event(store, event_id)
        assert _statuses(v) == (NA, NA, NA, NA)
        with pytest.raises(ConfigurationError, match="not in the ledger"):
            verdicts_for_event(store, "00000000-0000-4000-8000-000000000000")


def test_verdicts_serialise_every_field(ledger: tuple[SqliteStore, Builder]) -> None:
    store, b = ledger
    b.add(
        signed(
            enroll_event("person:m", "human", "M", ARTIST.public, valid_from=T0), ROOT, KEY_REGISTRY
        )
    )
    event_id = b.add(work(T0 + HOUR))
    b.checkpoint()
    data = verdicts_for_event(store, event_id).to_dict()
    assert set(data["verdicts"]) == {"signature", "signer_trusted", "key_valid", "anchored"}
    assert data["verdicts"]["anchored"]["status"] == "ok"
    assert data["anchor"]["checkpoint_size"] == 2
    assert data["anchor"]["root_hash"] == store.tree(2).root().hex()


def _enrolled_work(b: Builder) -> None:
    """Entry 0 enrols the artist's key at T0, entry 1 is a work signed by it an hour later."""
    b.add(
        signed(
            enroll_event("person:m", "human", "M", ARTIST.public, valid_from=T0), ROOT, KEY_REGISTRY
        )
    )
    b.add(work(T0 + HOUR))


def test_anchors_take_an_inclusion_verified_in_this_block_as_shown(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    """Within remembering_inclusions, an inclusion verified already (these bytes, this index,
    this signed tree) anchors an entry without proving it again from the store's tree nodes;
    otherwise the store's (here altered) nodes are what the verdict rests on."""
    store, b = ledger
    _enrolled_work(b)
    b.checkpoint()
    entry = store.entry(1)
    assert entry is not None
    size, root = 2, store.tree(2).root()
    proof = store.tree(2).inclusion_proof(1, 2)
    store.db.execute("UPDATE merkle_nodes SET hash = ? WHERE level = 0", (bytes(32),))
    assert verdicts_for_event(store, entry.event_id).anchored.code == "checkpoint_mismatch"
    with remembering_inclusions():
        verify_inclusion(leaf_hash(entry.envelope), 1, size, proof, root)
        v = verdicts_for_event(store, entry.event_id)
        assert v.anchored.status is OK and "inclusion proof verified" in v.anchored.reason
        other = store.entry(0)
        assert other is not None  # an inclusion not verified in the block is proven again
        assert verdicts_for_event(store, other.event_id).anchored.code == "checkpoint_mismatch"
    assert verdicts_for_event(store, entry.event_id).anchored.code == "checkpoint_mismatch"


def test_inclusion_proven_ahead_in_a_batch_gives_the_same_verdicts(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    """Anchors.prove_many (an audit's batch) changes no verdict: an entry whose bytes are not
    the signed ones still fails its anchoring, with the same words."""
    store, b = ledger
    _enrolled_work(b)
    b.checkpoint()
    b.add(work(T0 + 2 * HOUR))
    b.checkpoint()
    b.add(work(T0 + 3 * HOUR))  # not anchored yet
    entries = list(store.entries())
    altered = dataclasses.replace(entries[1], envelope=entries[1].envelope + b"\0")
    asked = [*entries, altered]
    ahead = VerdictContext(store)
    ahead.anchors.prove_many(asked)
    one_by_one = VerdictContext(store)
    for entry in asked:
        assert ahead.anchors.verdict(entry, None) == one_by_one.anchors.verdict(entry, None)
    assert ahead.anchors.verdict(entries[2], None)[0].status == OK
    assert ahead.anchors.verdict(altered, None)[0].status == FAILED
    assert ahead.anchors.verdict(entries[3], None)[0].code == "not_anchored"


def test_a_batch_within_the_block_proves_only_what_the_block_has_not_verified(
    ledger: tuple[SqliteStore, Builder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anchors.prove_many within remembering_inclusions reads no proof for an inclusion the
    block verified already (a packet's receipts verified every entry's): an entry whose bytes
    are not the verified ones is still proven from the store, and fails as one by one."""
    store, b = ledger
    _enrolled_work(b)
    b.checkpoint()
    entries = list(store.entries())
    size = len(entries)
    tree = store.tree(size)
    root = tree.root(size)
    altered = dataclasses.replace(entries[1], envelope=entries[1].envelope + b"\0")
    with remembering_inclusions():
        for e in entries:
            proof = tree.inclusion_proof(e.seq, size)
            verify_inclusion(leaf_hash(e.envelope), e.seq, size, proof, root)
        asked: list[list[int]] = []
        real_tree = store.tree

        def tree_asked(size: int | None = None) -> Any:
            found = real_tree(size)
            real = found.inclusion_proofs
            found.inclusion_proofs = lambda seqs, n: asked.append(list(seqs)) or real(seqs, n)
            return found

        monkeypatch.setattr(store, "tree", tree_asked)
        ahead = VerdictContext(store)
        ahead.anchors.prove_many([*entries, altered])
        assert asked == [[altered.seq]]
        for e in entries:
            assert ahead.anchors.verdict(e, None)[0].status == OK
        assert ahead.anchors.verdict(altered, None) == VerdictContext(store).anchors.verdict(
            altered, None
        )
        assert ahead.anchors.verdict(altered, None)[0].status == FAILED


def _words_of_failures_only(v: EntryVerdicts) -> EntryVerdicts:
    return dataclasses.replace(
        v,
        **{
            name: dataclasses.replace(x, reason="") if x.status is OK else x
            for name, x in v.verdicts.items()
        },
    )


def test_verdicts_without_words_differ_only_in_the_words_of_what_holds(
    ledger: tuple[SqliteStore, Builder],
) -> None:
    """entry_verdicts(reasons=False), as the audit's signer rule asks, runs every check: each
    verdict's status and code, the failures' words, the anchor, admission and compromise are
    the full verdicts'; only a verdict that holds is not put in words (but for the registry's
    own entries, a few)."""
    store, b = ledger
    now = datetime.now(UTC)
    enrolment = enroll_event("person:m", "human", "M", ARTIST.public, valid_from=now - 5 * HOUR)
    b.add(signed(enrolment, ROOT, KEY_REGISTRY))
    b.add(work(now - HOUR))
    b.checkpoint()
    b.add(work(now + HOUR))  # accepted: the revocation is not known yet
    b.add(work(now - timedelta(minutes=30)))  # backdated by whoever stole the key
    revocation = revoke_event(
        "person:m", ARTIST.key_id, effective_time=now, reason="key_compromise"
    )
    b.add(signed(revocation, ROOT, KEY_REGISTRY))
    bypass = FolderTrust({ARTIST.key_id: ARTIST.public})
    b.add(work(now - 2 * HOUR), trust=bypass)  # behind the consumer's back, after the revocation
    intruder = keys.generate("intruder")
    event = dict(production()[2][1], producer_id="t", producer_seq=1, event_time=T0)
    b.add(signed(event, intruder), trust=FolderTrust({intruder.key_id: intruder.public}))
    message = work(now - HOUR)
    envelope = dsse.Envelope.decode(message.value)
    forged = dataclasses.replace(envelope, payload=envelope.payload.replace(b"Mira", b"Mora"))
    raw = RawRecord("events", 0, b.offset, message.key, forged.encode(), tuple(message.headers))
    b.offset += 1
    append_all(
        store,
        [
            PendingEntry(
                message.event_id,
                "provenance_event",
                now,
                forged.encode(),
                ARTIST.key_id,
                raw.origin,
            )
        ],
    )
    b.checkpoint()
    b.add(work(now - HOUR), trust=bypass)  # not anchored yet
    full, brief = VerdictContext(store), VerdictContext(store)
    seen = set()
    for entry in store.entries():
        said = entry_verdicts(full, entry)
        quiet = entry_verdicts(brief, entry, reasons=False)
        assert _words_of_failures_only(quiet) == _words_of_failures_only(said), entry.seq
        if entry.kind != KEY_REGISTRY.record:  # (the registry's own: a few, in words)
            assert all(x.reason == "" for x in quiet.verdicts.values() if x.status is OK)
        seen |= {(name, x.status, x.code) for name, x in said.verdicts.items()}
        seen |= {("compromised", said.compromised is not None, said.admitted_at_append)}
    # the ledger holds what each check refuses
    for failure in [
        ("signature", FAILED, "bad_signature"),
        ("signer_trusted", FAILED, "not_enrolled"),
        ("key_valid", FAILED, "key_revoked"),
        ("anchored", FAILED, "not_anchored"),
        ("compromised", True, True),
        ("compromised", True, False),
    ]:
        assert failure in seen, failure
