"""The key registry state machine, driven through the consumer's real inspection path.

Every record here is built, signed and inspected exactly as the consumer does it
(``build_message`` → ``consumers.inspect.inspect`` with :class:`RegistryTrust`), so a reason
asserted here is the reason a dead-letter header would carry.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.inspect import RawRecord, inspect
from demo.story import production
from ledger.errors import ConfigurationError
from ledger.events.base import EventKind
from ledger.events.encoding import SingleObjectFraming
from ledger.events.keyregistry import KEY_REGISTRY, Scope, registry_problems
from ledger.events.provenance import PROVENANCE
from ledger.store import Batch, PendingEntry, Quarantined
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from ledger.trust.dsse import Envelope
from ledger.trust.keys import KeyPair
from ledger.trust.policy import RegistryTrust
from ledger.trust.records import cosign, delegate_event, enroll_event, revoke_event, rotate_event
from ledger.trust.registry import Registry, RootKey, TrustRoot
from ledger.trust.replay import load_roots, registry_entries, registry_from_ledger, set_roots
from producers.emitter import Message, build_message
from tests.ledger.ledger_factory import append_all

FRAMING = SingleObjectFraming()
ROOT = keys.generate("root")
ROOT2 = keys.generate("root2")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def new_trust(*roots: KeyPair, threshold: int = 1) -> RegistryTrust:
    root = TrustRoot(tuple(RootKey(r.name, r.public) for r in roots or (ROOT,)), threshold)
    return RegistryTrust(Registry(root))


def signed(event: dict[str, Any], *signers: KeyPair, kind: EventKind = KEY_REGISTRY) -> Message:
    message = build_message(event, signers[0], kind=kind, source="/test")
    if len(signers) == 1:
        return message
    envelope = cosign(Envelope.decode(message.value), signers[1:])
    return dataclasses.replace(message, value=envelope.encode())


_offsets = iter(range(10**6))


def submit(trust: RegistryTrust, message: Message) -> PendingEntry | Quarantined:
    raw = RawRecord("events", 0, next(_offsets), message.key, message.value, tuple(message.headers))
    return inspect(raw, trust, FRAMING)


def accepted(trust: RegistryTrust, message: Message) -> PendingEntry:
    outcome = submit(trust, message)
    assert isinstance(outcome, PendingEntry), outcome
    return outcome


def refused(trust: RegistryTrust, message: Message) -> str:
    outcome = submit(trust, message)
    assert isinstance(outcome, Quarantined), f"accepted {outcome.event_id}"
    assert outcome.detail
    return outcome.reason


def provenance(when: datetime, index: int = 2, **changes: Any) -> dict[str, Any]:
    """A demo provenance event (default: Mira's roto, studio.roto, digitalCreation)."""
    event = dict(production()[index][1], producer_id="t", producer_seq=1, event_time=when)
    event.update(changes)
    return event


def enrol(
    trust: RegistryTrust,
    pair: KeyPair,
    actor: str,
    kind: str = "human",
    *,
    signer: KeyPair = ROOT,
    **window: Any,
) -> PendingEntry:
    window.setdefault("valid_from", T0 - 24 * HOUR)
    event = enroll_event(
        actor, kind, actor.title(), pair.public, event_time=T0 - 48 * HOUR, **window
    )
    return accepted(trust, signed(event, signer))


# --- enrolment ------------------------------------------------------------------------------


def test_enrolled_key_may_sign_and_its_id_is_recorded() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrolment = enrol(trust, artist, "person:mira-keller")
    assert enrolment.signer_keyid == ROOT.key_id
    assert ("registry_key", artist.key_id) in enrolment.refs
    entry = accepted(trust, signed(provenance(T0), artist, kind=PROVENANCE))
    assert entry.signer_keyid == artist.key_id
    record = trust.registry.key_for(artist.key_id)
    assert record is not None and record.actor_id == "person:mira-keller"


def test_never_enrolled_key_is_not_enrolled() -> None:
    trust = new_trust()
    assert refused(trust, signed(provenance(T0), keys.generate("x"), kind=PROVENANCE)) == (
        "not_enrolled"
    )


def test_root_key_signs_only_registry_events() -> None:
    trust = new_trust()
    assert refused(trust, signed(provenance(T0), ROOT, kind=PROVENANCE)) == "not_enrolled"


def test_enrolment_signed_by_an_ordinary_signer_is_unauthorised() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:mira-keller")
    stranger = keys.generate("stranger")
    event = enroll_event("person:eve", "human", "Eve", stranger.public, event_time=T0)
    assert refused(trust, signed(event, artist)) == "enrolment_unauthorised"
    assert refused(trust, signed(event, stranger)) == "enrolment_unauthorised"
    assert trust.registry.key_for(stranger.key_id) is None


def test_a_key_is_enrolled_once_ever() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:mira-keller")
    again = enroll_event("person:other", "human", "Other", artist.public, event_time=T0)
    assert refused(trust, signed(again, ROOT)) == "registry_conflict"
    root_as_signer = enroll_event("person:x", "human", "X", ROOT.public, event_time=T0)
    assert refused(trust, signed(root_as_signer, ROOT)) == "registry_conflict"


def test_actor_kind_cannot_change() -> None:
    trust = new_trust()
    enrol(trust, keys.generate("a"), "tool:nuke-ws12", "software")
    other = enroll_event("tool:nuke-ws12", "human", "X", keys.generate("b").public, event_time=T0)
    assert refused(trust, signed(other, ROOT)) == "registry_conflict"


def unchecked(event: dict[str, Any], signer: KeyPair) -> Message:
    """A registry record signed without the writer's validation (what a rogue tool could send)."""
    same_headers = revoke_event(event["actor_id"], "ab" * 32, event_time=event["event_time"])
    valid = signed(dict(same_headers, event_id=event["event_id"]), signer)
    payload = FRAMING.encode(KEY_REGISTRY.record, event)
    forged = dsse.sign(KEY_REGISTRY.payload_type, payload, signer)
    return dataclasses.replace(valid, value=forged.encode())


def test_malformed_registry_events_are_invalid_at_the_consumer() -> None:
    trust, pair = new_trust(), keys.generate("a")
    wrong_id = dict(enroll_event("person:a", "human", "A", pair.public), key_id="ab" * 32)
    assert refused(trust, unchecked(wrong_id, ROOT)) == "invalid_event"
    assert trust.registry.key_for("ab" * 32) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"key_id": "ab" * 32}, "key_id is not the SHA-256 of public_key"),
        ({"public_key": b"short"}, "32-byte"),
        ({"actor_kind": "robot"}, "actor_kind 'robot'"),
        ({"display_name": None}, "enroll needs display_name"),
        ({"operation": "promote"}, "operation 'promote'"),
        ({"previous_key_id": "cd" * 32}, "previous_key_id does not belong"),
        ({"valid_until": T0 - HOUR}, "valid_until must be after valid_from"),
        ({"scope": Scope(actions=("made.up action",)).to_record()}, "custom dotted action"),
        ({"event_id": "not-a-uuid"}, "not a UUID"),
    ],
)
def test_registry_problems_name_each_rule(change: dict[str, Any], problem: str) -> None:
    event = enroll_event("person:a", "human", "A", keys.generate("a").public, valid_from=T0)
    problems = registry_problems(dict(event, **change), True)
    assert any(problem in p for p in problems), problems


def test_revocation_and_delegation_fields_are_checked() -> None:
    pair = keys.generate("a")
    with_scope = dict(
        revoke_event("a", pair.key_id), scope=Scope(productions=("Fallen Tower",)).to_record()
    )
    assert registry_problems(with_scope, True) == ["scope does not belong in a revoke event"]
    bad_reason = revoke_event("a", pair.key_id, reason="bored")
    assert "revocation reason 'bored'" in registry_problems(bad_reason, True)[0]
    grant = delegate_event("a", actor_kinds=("robot",), valid_until=T0, event_time=T0)
    assert len(registry_problems(grant, True)) == 2
    assert registry_problems(revoke_event("a", pair.key_id), True) == []


# --- validity windows, rotation, revocation ---------------------------------------------------


def test_validity_window_is_judged_at_the_event_time() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:mira-keller", valid_from=T0, valid_until=T0 + 10 * HOUR)
    sign = lambda when: signed(provenance(when), artist, kind=PROVENANCE)  # noqa: E731
    assert refused(trust, sign(T0 - HOUR)) == "key_not_yet_valid"
    accepted(trust, sign(T0))
    accepted(trust, sign(T0 + 9 * HOUR))
    assert refused(trust, sign(T0 + 10 * HOUR)) == "key_expired"


def test_rotation_hands_over_at_the_new_keys_start() -> None:
    trust = new_trust()
    old, new = keys.generate("old"), keys.generate("new")
    enrol(trust, old, "person:mira-keller")
    rotation = rotate_event(
        "person:mira-keller", old.key_id, new.public, valid_from=T0, event_time=T0 - HOUR
    )
    accepted(trust, signed(rotation, ROOT))
    sign = lambda pair, when: signed(provenance(when), pair, kind=PROVENANCE)  # noqa: E731
    accepted(trust, sign(old, T0 - timedelta(seconds=1)))
    assert refused(trust, sign(old, T0)) == "key_expired"
    accepted(trust, sign(new, T0))
    assert refused(trust, sign(new, T0 - HOUR)) == "key_not_yet_valid"
    previous = trust.registry.key_for(old.key_id)
    assert previous is not None and previous.replaced_by == new.key_id
    assert trust.registry.actors["person:mira-keller"].key_ids == [old.key_id, new.key_id]


def test_rotation_must_name_a_key_of_the_same_actor() -> None:
    trust = new_trust()
    a, b, c = keys.generate("a"), keys.generate("b"), keys.generate("c")
    enrol(trust, a, "person:a")
    enrol(trust, b, "person:b")
    steal = rotate_event("person:b", a.key_id, c.public, event_time=T0)
    assert refused(trust, signed(steal, ROOT)) == "registry_conflict"
    unknown = rotate_event("person:b", keys.generate("z").key_id, c.public, event_time=T0)
    assert refused(trust, signed(unknown, ROOT)) == "registry_conflict"


def test_after_a_compromise_revocation_entered_nothing_by_the_key_is_admitted() -> None:
    """A stolen key cannot write into the past: the arrival after the revocation decides."""
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:mira-keller")
    sign = lambda when: signed(provenance(when), artist, kind=PROVENANCE)  # noqa: E731
    before = accepted(trust, sign(T0 - HOUR))
    revocation = revoke_event(
        "person:mira-keller",
        artist.key_id,
        effective_time=T0,  # compromise found later, effective earlier: backdated
        reason="key_compromise",
        event_time=T0 + 5 * HOUR,
    )
    accepted(trust, signed(revocation, ROOT))
    assert refused(trust, sign(T0)) == "key_revoked"
    assert refused(trust, sign(T0 + 6 * HOUR)) == "key_revoked"
    backdated = submit(trust, sign(T0 - timedelta(microseconds=1)))
    assert isinstance(backdated, Quarantined) and backdated.reason == "key_revoked"
    assert "arrived after it" in backdated.detail and "key_compromise" in backdated.detail
    assert before.signer_keyid == artist.key_id
    record = trust.registry.key_for(artist.key_id)
    assert record is not None and record.revocation is not None
    assert record.revocation.reason == "key_compromise"


def test_a_superseded_key_keeps_a_grace_window_for_late_deliveries() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:mira-keller")
    sign = lambda when: signed(provenance(when), artist, kind=PROVENANCE)  # noqa: E731
    start = datetime.now(UTC)
    trust.receiving(start)
    superseded = revoke_event(
        "person:mira-keller", artist.key_id, effective_time=T0, reason="superseded", event_time=T0
    )
    accepted(trust, signed(superseded, ROOT))
    assert refused(trust, sign(T0)) == "key_revoked"  # the event time still counts
    trust.receiving(start + trust.registry.grace)
    accepted(trust, sign(T0 - HOUR))  # late, but within the grace window
    trust.receiving(start + trust.registry.grace + timedelta(microseconds=1))
    late = submit(trust, sign(T0 - HOUR))
    assert isinstance(late, Quarantined) and late.reason == "key_revoked"
    assert "grace window" in late.detail


def test_a_rotated_out_key_keeps_the_same_grace_window() -> None:
    trust, old, new = new_trust(), keys.generate("old"), keys.generate("new")
    enrol(trust, old, "person:a")
    start = datetime.now(UTC)
    trust.receiving(start)
    rotation = rotate_event("person:a", old.key_id, new.public, valid_from=T0, event_time=T0)
    accepted(trust, signed(rotation, ROOT))
    sign = lambda when: signed(provenance(when), old, kind=PROVENANCE)  # noqa: E731
    trust.receiving(start + HOUR)
    accepted(trust, sign(T0 - HOUR))
    trust.receiving(start + trust.registry.grace + HOUR)
    late = submit(trust, sign(T0 - HOUR))
    assert isinstance(late, Quarantined) and late.reason == "key_expired"
    assert "rotation" in late.detail and "grace window" in late.detail


def test_an_earlier_dated_revocation_moves_the_effective_time_back() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:a")
    first = revoke_event("person:a", artist.key_id, effective_time=T0, event_time=T0)
    accepted(trust, signed(first, ROOT))
    later = revoke_event("person:a", artist.key_id, effective_time=T0 + HOUR, event_time=T0)
    earlier = revoke_event("person:a", artist.key_id, effective_time=T0 - HOUR, event_time=T0)
    accepted(trust, signed(later, ROOT))
    accepted(trust, signed(earlier, ROOT))
    record = trust.registry.key_for(artist.key_id)
    assert record is not None and record.revocation is not None
    assert record.revocation.effective_time == T0 - HOUR


def test_a_key_may_revoke_itself_but_not_another() -> None:
    trust = new_trust()
    a, b = keys.generate("a"), keys.generate("b")
    enrol(trust, a, "person:a")
    enrol(trust, b, "person:b")
    other = revoke_event("person:b", b.key_id, event_time=T0)
    assert refused(trust, signed(other, a)) == "enrolment_unauthorised"
    itself = revoke_event("person:a", a.key_id, reason="key_compromise", event_time=T0)
    accepted(trust, signed(itself, a))
    assert refused(trust, signed(provenance(T0), a, kind=PROVENANCE)) == "key_revoked"


# --- scope ------------------------------------------------------------------------------------


def test_scope_limits_production_actor_action_and_source_type() -> None:
    trust, ai = new_trust(), keys.generate("debrisgen")
    scope = Scope(
        productions=("Fallen Tower",),
        actors=("model:kestrel/debrisgen",),
        actions=("c2pa.created",),
        digital_source_types=("trainedAlgorithmicMedia",),
    )
    enrol(trust, ai, "service:debrisgen", "ai_model", scope=scope)
    sign = lambda **c: signed(provenance(T0, 4, **c), ai, kind=PROVENANCE)  # noqa: E731
    accepted(trust, sign())
    assert refused(trust, sign(action="c2pa.edited")) == "out_of_scope"
    capture = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    assert refused(trust, sign(digital_source_type=capture)) == "out_of_scope"
    other_show = dict(provenance(T0, 4)["production"], show="Another Show")
    assert refused(trust, sign(production=other_show)) == "out_of_scope"
    posing = dict(provenance(T0, 4)["actor"], actor_id="person:ana-ruiz")
    assert refused(trust, sign(actor=posing)) == "out_of_scope"


def test_out_of_scope_signature_does_not_hide_behind_an_unknown_one() -> None:
    """With two signatures, the specific reason wins over not_enrolled."""
    trust, ai = new_trust(), keys.generate("ai")
    enrol(trust, ai, "service:ai", "ai_model", scope=Scope(actions=("c2pa.created",)))
    message = signed(provenance(T0), keys.generate("unknown"), ai, kind=PROVENANCE)
    assert refused(trust, message) == "out_of_scope"


# --- delegation -------------------------------------------------------------------------------


def _vendor(trust: RegistryTrust, **limits: Any) -> KeyPair:
    vendor = keys.generate("vendor")
    enrol(trust, vendor, "org:kestrel", "organisation")
    grant = delegate_event("org:kestrel", event_time=T0 - 40 * HOUR, **limits)
    accepted(trust, signed(grant, ROOT))
    return vendor


def test_delegate_enrols_within_its_limits() -> None:
    trust = new_trust()
    vendor = _vendor(trust, actor_kinds=("ai_model",), productions=("Fallen Tower",))
    ai = keys.generate("ai")
    ok = enroll_event(
        "service:debrisgen",
        "ai_model",
        "DebrisGen",
        ai.public,
        scope=Scope(productions=("Fallen Tower",)),
        valid_from=T0 - HOUR,
        event_time=T0 - 2 * HOUR,
    )
    accepted(trust, signed(ok, vendor))
    accepted(trust, signed(provenance(T0, 4), ai, kind=PROVENANCE))
    record = trust.registry.key_for(ai.key_id)
    assert record is not None and record.enrolled_by == vendor.key_id


def test_delegate_outside_its_limits_is_refused() -> None:
    trust = new_trust()
    vendor = _vendor(trust, actor_kinds=("ai_model",), productions=("Fallen Tower",))
    human = enroll_event("person:z", "human", "Z", keys.generate("z").public, event_time=T0)
    assert refused(trust, signed(human, vendor)) == "out_of_scope"
    any_show = enroll_event("service:y", "ai_model", "Y", keys.generate("y").public, event_time=T0)
    assert refused(trust, signed(any_show, vendor)) == "out_of_scope"
    further = delegate_event("org:kestrel", event_time=T0)
    assert refused(trust, signed(further, vendor)) == "enrolment_unauthorised"


def test_delegate_cannot_touch_another_enrollers_keys() -> None:
    trust = new_trust()
    vendor = _vendor(trust)
    new = keys.generate("new")
    self_rotate = rotate_event("org:kestrel", vendor.key_id, new.public, event_time=T0)
    assert refused(trust, signed(self_rotate, vendor)) == "enrolment_unauthorised"


def test_delegation_ends_at_its_valid_until() -> None:
    trust = new_trust()
    vendor = _vendor(trust, valid_until=T0)
    late = enroll_event("service:y", "ai_model", "Y", keys.generate("y").public, event_time=T0)
    assert refused(trust, signed(late, vendor)) == "enrolment_unauthorised"


def test_revoked_delegate_signs_no_registry_event_even_backdated() -> None:
    trust = new_trust()
    vendor = _vendor(trust)
    revoke = revoke_event("org:kestrel", vendor.key_id, effective_time=T0, event_time=T0)
    accepted(trust, signed(revoke, ROOT))
    backdated = enroll_event(
        "service:y", "ai_model", "Y", keys.generate("y").public, event_time=T0 - 10 * HOUR
    )
    assert refused(trust, signed(backdated, vendor)) == "key_revoked"


def test_delegating_to_an_unknown_actor_is_a_conflict() -> None:
    trust = new_trust()
    assert refused(trust, signed(delegate_event("org:nobody"), ROOT)) == "registry_conflict"


# --- root threshold ---------------------------------------------------------------------------


def test_threshold_needs_distinct_root_signatures() -> None:
    trust, pair = new_trust(ROOT, ROOT2, threshold=2), keys.generate("a")
    event = enroll_event("person:a", "human", "A", pair.public, event_time=T0)
    assert refused(trust, signed(event, ROOT)) == "enrolment_unauthorised"
    assert refused(trust, signed(event, ROOT, ROOT)) == "enrolment_unauthorised"
    accepted(trust, signed(event, ROOT, ROOT2))
    assert trust.registry.key_for(pair.key_id) is not None


def test_threshold_ignores_a_bad_cosignature() -> None:
    trust, pair = new_trust(ROOT, ROOT2, threshold=2), keys.generate("a")
    message = signed(enroll_event("person:a", "human", "A", pair.public), ROOT, ROOT2)
    envelope = Envelope.decode(message.value)
    first, second = envelope.signatures
    broken = dataclasses.replace(second, sig=bytes(64))
    forged = dataclasses.replace(envelope, signatures=(first, broken))
    assert refused(trust, dataclasses.replace(message, value=forged.encode())) == (
        "enrolment_unauthorised"
    )


# --- replay and forgery through the policy ------------------------------------------------------


def test_replayed_registry_event_passes_the_policy_for_the_store_to_catch(tmp_path: Path) -> None:
    trust, pair = new_trust(), keys.generate("a")
    message = signed(enroll_event("person:a", "human", "A", pair.public, event_time=T0), ROOT)
    first = accepted(trust, message)
    again = accepted(trust, message)  # same event id: the policy does not re-apply it
    assert again.event_id == first.event_id
    assert len(trust.registry.history) == 1
    with SqliteStore(tmp_path / "l.db") as store:
        append_all(store, [first])
        result = store.append(Batch([again], [], {("events", 0): again.origin.offset + 1}, "g"))
        assert [q.reason for q in result.duplicates] == ["duplicate_event_id"]
        assert store.head().size == 1


def test_altered_registry_payload_is_a_bad_signature() -> None:
    trust, pair = new_trust(), keys.generate("a")
    message = signed(enroll_event("person:a", "human", "Ann", pair.public, event_time=T0), ROOT)
    envelope = Envelope.decode(message.value)
    altered = dataclasses.replace(envelope, payload=envelope.payload.replace(b"Ann", b"Bob"))
    assert refused(trust, dataclasses.replace(message, value=altered.encode())) == "bad_signature"
    assert trust.registry.key_for(pair.key_id) is None


def test_registry_event_re_signed_by_another_key_is_unauthorised() -> None:
    trust, pair = new_trust(), keys.generate("a")
    event = enroll_event("person:a", "human", "A", pair.public, event_time=T0)
    assert refused(trust, signed(event, keys.generate("mallory"))) == "enrolment_unauthorised"


def test_provenance_re_signed_by_another_key_is_not_enrolled() -> None:
    trust, artist = new_trust(), keys.generate("artist")
    enrol(trust, artist, "person:a")
    original = signed(provenance(T0), artist, kind=PROVENANCE)
    envelope = Envelope.decode(original.value)
    forged = dsse.sign(envelope.payload_type, envelope.payload, keys.generate("mallory"))
    assert refused(trust, dataclasses.replace(original, value=forged.encode())) == "not_enrolled"


# --- replaying the registry from a ledger ------------------------------------------------------


def test_registry_replays_from_the_ledger_in_order(tmp_path: Path) -> None:
    trust = new_trust()
    a, a2, b = keys.generate("a"), keys.generate("a2"), keys.generate("b")
    entries = [
        enrol(trust, a, "person:a"),
        enrol(trust, b, "person:b"),
        accepted(trust, signed(rotate_event("person:a", a.key_id, a2.public, valid_from=T0), ROOT)),
        accepted(trust, signed(provenance(T0 - HOUR), a, kind=PROVENANCE)),
        accepted(trust, signed(revoke_event("person:b", b.key_id, effective_time=T0), ROOT)),
    ]
    entries = [
        dataclasses.replace(e, origin=dataclasses.replace(e.origin, offset=i))
        for i, e in enumerate(entries)
    ]
    with SqliteStore(tmp_path / "l.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        append_all(store, entries)
        replayed = registry_from_ledger(store)
        scanned = registry_from_ledger(store, scan=True)
        before_rotation = registry_from_ledger(store, stop=2)
        assert [e.seq for e in registry_entries(store)] == [0, 1, 2, 4]
    assert replayed.refusals == []
    for registry in (replayed, scanned):
        assert set(registry.keys) == set(trust.registry.keys)
        assert registry.keys[a.key_id].replaced_by == a2.key_id
        revocation = registry.keys[b.key_id].revocation
        assert revocation is not None and revocation.seq == 4
    assert set(before_rotation.keys) == {a.key_id, b.key_id}
    assert before_rotation.keys[a.key_id].replaced_by is None
    assert [c.seq for c in replayed.history] == [0, 1, 2, 4]


def test_replay_refuses_a_registry_entry_the_consumer_could_not_have_accepted(
    tmp_path: Path,
) -> None:
    """An entry slipped into the ledger behind the consumer's back is a refusal on replay."""
    lax = RegistryTrust(Registry(TrustRoot((RootKey("mallory", keys.generate("m").public),))))
    mallory = keys.generate("mallory")
    lax.registry.roots[mallory.key_id] = RootKey("mallory", mallory.public)
    planted = enroll_event("person:x", "human", "X", keys.generate("x").public)
    entry = accepted(lax, signed(planted, mallory))
    with SqliteStore(tmp_path / "l.db") as store:
        set_roots(store, [RootKey("root", ROOT.public)])
        append_all(store, [entry])
        replayed = registry_from_ledger(store)
    assert [(r.seq, r.reason) for r in replayed.refusals] == [(0, "enrolment_unauthorised")]
    assert replayed.keys == {}


# --- trust root meta --------------------------------------------------------------------------


def test_roots_round_trip_and_are_never_silently_replaced(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "l.db") as store:
        with pytest.raises(ConfigurationError, match="no root keys"):
            load_roots(store)
        set_roots(store, [RootKey("r1", ROOT.public), RootKey("r2", ROOT2.public)], threshold=2)
        root = load_roots(store)
        assert [k.key_id for k in root.keys] == [ROOT.key_id, ROOT2.key_id]
        assert root.threshold == 2
        set_roots(store, [RootKey("r2", ROOT2.public), RootKey("r1", ROOT.public)], threshold=2)
        with pytest.raises(ConfigurationError, match="already has other root keys"):
            set_roots(store, [RootKey("r1", ROOT.public)])
        store.set_meta("root_keys", "[{]")
        with pytest.raises(ConfigurationError, match="corrupt"):
            load_roots(store)


def test_trust_root_rejects_bad_thresholds_and_duplicates() -> None:
    with pytest.raises(ConfigurationError):
        TrustRoot((RootKey("r", ROOT.public),), threshold=2)
    with pytest.raises(ConfigurationError):
        TrustRoot((RootKey("r", ROOT.public), RootKey("again", ROOT.public)))
    with pytest.raises(ConfigurationError):
        TrustRoot(())


# --- views ------------------------------------------------------------------------------------


def test_key_rows_show_status_as_of_a_time() -> None:
    trust = new_trust()
    old, new, gone = keys.generate("old"), keys.generate("new"), keys.generate("gone")
    enrol(trust, old, "person:a")
    enrol(trust, gone, "person:b")
    accepted(trust, signed(rotate_event("person:a", old.key_id, new.public, valid_from=T0), ROOT))
    revoke = revoke_event("person:b", gone.key_id, effective_time=T0 + HOUR, reason="superseded")
    accepted(trust, signed(revoke, ROOT))

    def status(when: datetime) -> dict[str, str]:
        return {r["key_id"]: r["status"] for r in trust.registry.key_rows(when)}

    assert status(T0 - HOUR) == {
        ROOT.key_id: "root",
        old.key_id: "valid",
        new.key_id: "not_yet_valid",
        gone.key_id: "valid",
    }
    assert status(T0 + 2 * HOUR) == {
        ROOT.key_id: "root",
        old.key_id: "rotated",
        new.key_id: "valid",
        gone.key_id: "revoked",
    }
    view = trust.registry.actor_view("person:a", T0)
    assert [h["operation"] for h in view["history"]] == ["enroll", "rotate"]
    assert all(h["signed_by"] == "root:root" for h in view["history"])
    with pytest.raises(ConfigurationError):
        trust.registry.actor_view("person:nobody", T0)
