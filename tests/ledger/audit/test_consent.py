"""Consent events: validation, and whether a grant covers a use (expiry, scope, revocation)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from demo import story
from ledger.errors import InvalidEventError
from ledger.events.consent import CONSENT, Consent, Use, check_use, consent_problems, consent_refs
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import encode_checked


def grant(**changes: Any) -> dict[str, Any]:
    event = dict(story.consents()[0][1])
    event.update(changes)
    return event


def decoded(event: dict[str, Any]) -> dict[str, Any]:
    return encode_checked(CONSENT, event, SingleObjectFraming())[1]


def consent(**changes: Any) -> Consent:
    return Consent.from_record(decoded(grant(**changes)))


def use(**changes: Any) -> Use:
    values: dict[str, Any] = {
        "party_id": "performer:dana-whitfield",
        "use": "digital_replica",
        "show": "Fallen Tower",
        "episode": "101",
        "time": datetime(2026, 5, 1, tzinfo=UTC),
    }
    values.update(changes)
    return Use(**values)


def test_demo_consents_are_valid_events() -> None:
    for _, event in story.consents():
        assert consent_problems(decoded(event), True) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"status": "maybe"}, "status"),
        ({"likeness_uses": ["voice_clone"]}, "likeness use"),
        ({"ai_uses": ["cawg.everything"]}, "CAWG"),
        ({"coverage": []}, "productions it covers"),
        ({"productions": ["Fallen Tower/101"]}, "old 'Show/Episode' string form"),
        ({"productions": ["Love/Hate"]}, "state coverage instead"),
        ({"coverage": [{"show": " ", "episode": None}]}, r"coverage\[0\]\.show"),
        ({"coverage": [{"show": "Fallen Tower", "episode": ""}]}, r"coverage\[0\]\.episode"),
        ({"scope": "  "}, "specific description"),
        ({"expires": "2024-01-01T00:00:00Z"}, "later than valid_from"),
        ({"valid_from": "next tuesday"}, "ISO 8601"),
        ({"status": "revoked"}, "name the grant it revokes"),
    ],
)
def test_invalid_consents_are_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidEventError, match=problem):
        decoded(grant(**changes))


def test_index_rows_name_party_assets_revoked_grant_and_show() -> None:
    revocation = decoded(grant(status="revoked", revokes=story.CONSENT_DANA))
    rows = consent_refs(revocation)
    assert ("consent_party", "performer:dana-whitfield") in rows
    assert ("consent_revokes", story.CONSENT_DANA) in rows
    assert ("show", "Fallen Tower") in rows


def test_a_grant_covers_its_own_use() -> None:
    assert check_use(consent(), use(), []) is None


def test_expired_consent_does_not_cover() -> None:
    c = consent(expires="2026-01-01T00:00:00Z")
    assert "expired" in (check_use(c, use(), []) or "")
    assert check_use(c, use(time=datetime(2025, 12, 31, tzinfo=UTC)), []) is None


def test_consent_not_yet_valid_does_not_cover() -> None:
    c = consent(valid_from="2026-06-01T00:00:00Z")
    assert "not yet valid" in (check_use(c, use(), []) or "")


def test_scope_is_the_named_episode_or_the_whole_show() -> None:
    episode_only = consent()  # Fallen Tower, episode 101
    said = check_use(episode_only, use(episode="102"), []) or ""
    assert "covers Fallen Tower, episode 101, not Fallen Tower, episode 102" in said
    whole_show = consent(coverage=[{"show": "Fallen Tower", "episode": None}])
    assert check_use(whole_show, use(episode="102"), []) is None
    assert "covers Fallen Tower" in (check_use(whole_show, use(show="Other Show"), []) or "")


def test_wrong_performer_or_use_does_not_cover() -> None:
    c = consent()
    assert "not performer:omar" in (check_use(c, use(party_id="performer:omar-haddad"), []) or "")
    assert "not synthetic_performer" in (check_use(c, use(use="synthetic_performer"), []) or "")


def test_revocation_applies_from_its_valid_from() -> None:
    c = consent()
    revocation = consent(
        event_id=story.fixed_id("revocation"),
        status="revoked",
        revokes=c.event_id,
        valid_from="2026-03-01T00:00:00Z",
    )
    assert "revoked" in (check_use(c, use(), [revocation]) or "")
    early = use(time=datetime(2026, 2, 1, tzinfo=UTC))
    assert check_use(c, early, [revocation]) is None


def test_rights_holder_grant_covers_named_assets_only() -> None:
    c = consent(
        grantor={"party_id": "org:vista", "kind": "rights_holder", "display_name": "Vista"},
        likeness_uses=[],
        ai_uses=["cawg.ai_inference"],
        assets=["stock/a"],
    )
    ai_use = use(party_id="stock/a", use="cawg.ai_inference")
    assert check_use(c, ai_use, []) is None
    assert "does not cover asset stock/b" in (
        check_use(c, use(party_id="stock/b", use="cawg.ai_inference"), []) or ""
    )


def test_missing_consent_is_a_reason() -> None:
    said = "the consent it refers to is not in the ledger, or not one recorded for this production"
    assert check_use(None, use(), []) == said


# --- structured terms (consent schema v2) -----------------------------------------------------


def test_demo_consents_state_territories_media_and_the_signed_document() -> None:
    c = consent()
    assert c.structured and c.territories == ("US", "CA", "GB") and c.media
    assert c.document_sha256 is not None and len(c.document_sha256) == 64
    assert c.compensation_ref


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"territories": []}, "must state its territories"),
        ({"media": []}, "must state its media"),
        ({"document_sha256": None}, "document_sha256"),
        ({"territories": ["usa"]}, "ISO 3166-1"),
        ({"territories": ["U\x00"]}, r"territories\[\] holds the control character U\+0000"),
        ({"media": ["cinema"]}, "is not one of"),
        ({"document_sha256": "AB" * 32}, "64 lowercase hex"),
        ({"likeness_uses": ["hologram"]}, "likeness use"),
    ],
)
def test_a_new_grant_must_state_its_terms_as_data(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidEventError, match=problem):
        decoded(grant(**changes))


def test_voice_and_likeness_are_uses_a_grant_may_name() -> None:
    c = consent(likeness_uses=["voice", "likeness"])
    assert check_use(c, use(use="voice"), []) is None
    assert "not digital_replica" in (check_use(c, use(), []) or "")


def test_each_dimension_the_use_states_is_checked() -> None:
    c = consent(shots=["sh030"], assets=["ep101/sh030/stunt_face"])
    inside = use(
        shot="sh030",
        asset_id="ep101/sh030/stunt_face",
        territories=("US", "GB"),
        media=("streaming",),
    )
    assert check_use(c, inside, []) is None
    assert "not sh040" in (check_use(c, replace(inside, shot="sh040"), []) or "")
    assert "not ep101/sh030/crowd" in (
        check_use(c, replace(inside, asset_id="ep101/sh030/crowd"), []) or ""
    )
    assert "not FR" in (check_use(c, replace(inside, territories=("US", "FR")), []) or "")
    assert "not theatrical" in (check_use(c, replace(inside, media=("theatrical",)), []) or "")
    # A dimension the use does not state is not checked.
    assert check_use(c, replace(inside, territories=(), media=()), []) is None


def test_world_and_all_media_cover_everything() -> None:
    c = consent(territories=["WORLD"], media=["all_media"])
    assert check_use(c, use(territories=("JP",), media=("theatrical",)), []) is None


def test_an_old_grant_is_readable_and_judged_by_the_old_rule() -> None:
    """A grant written before v2 (no territories or media) reads back; those are not checked."""
    old = Consent.from_record(
        {**decoded(grant()), "territories": [], "media": [], "document_sha256": None}
    )
    assert not old.structured
    assert check_use(old, use(territories=("FR",), media=("theatrical",)), []) is None
    assert (
        consent_problems(
            {**decoded(grant()), "territories": [], "media": [], "document_sha256": None}, False
        )
        == []
    )


# --- productions as structured fields (consent schema v3, issue 19 §4) ------------------------


def test_coverage_is_compared_whole_and_exactly() -> None:
    """A show named with "/", or differing by case or spaces, is another production."""
    secret = consent(coverage=[{"show": "Fallen Tower/Secret", "episode": None}])
    assert check_use(secret, use(show="Fallen Tower/Secret", episode=None), []) is None
    for show, episode in (
        ("Fallen Tower", "Secret"),
        ("Fallen Tower", "101"),
        ("fallen tower/secret", None),
        ("Fallen Tower/Secret ", None),
    ):
        assert "covers Fallen Tower/Secret, not" in (
            check_use(secret, use(show=show, episode=episode), []) or ""
        ), (show, episode)
    plain = consent(coverage=[{"show": "Fallen Tower", "episode": None}])
    for other in ("fallen tower", "Fallen  Tower", "Fallen Tower/Secret"):
        assert check_use(plain, use(show=other), []) is not None, other


def test_a_structured_consent_is_indexed_under_its_whole_show_name() -> None:
    rows = consent_refs(decoded(grant(coverage=[{"show": "Love/Hate", "episode": "1"}])))
    assert ("show", "Love/Hate") in rows
    assert ("show", "Love") not in rows


def test_an_old_string_consent_is_still_read_as_show_or_show_slash_episode() -> None:
    """Consents written with schema v1/v2 name "Show" or "Show/Episode": compared whole."""
    old = replace(consent(), coverage=(), productions=("Fallen Tower/101",))
    assert check_use(old, use(episode="101"), []) is None
    assert "covers Fallen Tower/101, not" in (check_use(old, use(episode="102"), []) or "")
    whole = replace(consent(), coverage=(), productions=("Fallen Tower",))
    assert check_use(whole, use(episode="102"), []) is None
    assert check_use(whole, use(show="Fallen Tower/Secret", episode=None), []) is not None
