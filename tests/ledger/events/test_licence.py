"""Licence records: validation, and whether a record covers one use (term, subject, territory)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from demo import story
from ledger.errors import InvalidEventError
from ledger.events import kinds
from ledger.events.encoding import SingleObjectFraming
from ledger.events.licence import LICENCE, Licence, LicensedUse, licence_refs, use_problem


def record(**changes: Any) -> dict[str, Any]:
    event = dict(story.licences()[0][1])  # DebrisGen, worldwide, 2025-2028
    event.update(changes)
    return kinds.encode_checked(LICENCE, event, SingleObjectFraming())[1]


def licence(**changes: Any) -> Licence:
    return Licence.from_record(record(**changes))


WHEN = datetime(2026, 5, 1, tzinfo=UTC)
DEBRIS = LicensedUse(WHEN, model=("DebrisGen", "2.1", "Kestrel AI"), territories=("US",))


def test_demo_licences_are_valid_and_indexed() -> None:
    for _, event in story.licences():
        decoded = kinds.encode_checked(LICENCE, event, SingleObjectFraming())[1]
        assert decoded["valid_from"].tzinfo is not None  # ISO text became a UTC time
    rows = licence_refs(record())
    assert ("licensor", "org:kestrel-ai") in rows
    assert ("licence_model", "Kestrel AI/DebrisGen") in rows


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"licence_id": None, "url": None}, "SPDX licence_id or the url"),
        ({"licence_id": "Apache 2.0"}, "not an SPDX identifier"),
        ({"url": "kestrel licence"}, "not an absolute URI"),
        ({"territories": []}, "at least one territory"),
        ({"territories": ["Worldwide"]}, "ISO 3166-1"),
        ({"subject": "font"}, "model or asset"),
        ({"models": []}, "must name the models"),
        ({"valid_until": "2024-01-01T00:00:00Z"}, "later than valid_from"),
        ({"document_sha256": "x" * 64}, "64 lowercase hex"),
        ({"licensor": {"party_id": " ", "display_name": "K"}}, "licensor.party_id"),
        (
            {"ai_terms": [{"use_kind": "cawg.ai_inference", "use": "constrained"}]},
            "must state the constraint",
        ),
        (
            {"ai_terms": [{"use_kind": "cawg.everything", "use": "allowed"}]},
            "not a CAWG entry",
        ),
        ({"valid_from": "yesterday"}, "ISO 8601"),
    ],
)
def test_invalid_licences_are_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidEventError, match=problem):
        record(**changes)


def test_an_spdx_id_alone_is_enough() -> None:
    assert licence(licence_id="Apache-2.0", url=None).licence_id == "Apache-2.0"


def test_a_licence_covers_its_own_use() -> None:
    assert use_problem(licence(), DEBRIS) is None


def test_term_is_checked_at_the_time_of_use() -> None:
    assert "expired" in (
        use_problem(licence(), replace(DEBRIS, time=datetime(2028, 1, 1, tzinfo=UTC))) or ""
    )
    early = replace(DEBRIS, time=datetime(2024, 12, 31, tzinfo=UTC))
    assert "not yet in force" in (use_problem(licence(), early) or "")


def test_model_name_provider_and_version_are_checked() -> None:
    other = replace(DEBRIS, model=("DustDiffusion", "0.9", "open weights"))
    assert "does not cover DustDiffusion" in (use_problem(licence(), other) or "")
    pinned = licence(models=[{"name": "DebrisGen", "version": "2.0", "provider": "Kestrel AI"}])
    assert "does not cover DebrisGen 2.1" in (use_problem(pinned, DEBRIS) or "")


def test_commercial_use_and_territories_are_checked() -> None:
    non_commercial = licence(commercial_use=False)
    assert "commercial use" in (use_problem(non_commercial, DEBRIS) or "")
    assert use_problem(non_commercial, replace(DEBRIS, commercial=False)) is None
    north_america = licence(territories=["US", "CA"])
    assert use_problem(north_america, DEBRIS) is None
    assert "not GB" in (use_problem(north_america, replace(DEBRIS, territories=("US", "GB"))) or "")


def test_asset_licences_cover_their_assets_only() -> None:
    vista = Licence.from_record(
        kinds.encode_checked(LICENCE, story.licences()[-1][1], SingleObjectFraming())[1]
    )
    assert use_problem(vista, LicensedUse(WHEN, asset="stock/vista/skyline-dusk-0456")) is None
    assert "does not cover asset stock/other" in (
        use_problem(vista, LicensedUse(WHEN, asset="stock/other")) or ""
    )
    assert vista.term_for("cawg.ai_inference") is not None
    assert vista.term_for("cawg.data_mining") is None


def test_a_missing_record_is_a_reason() -> None:
    assert use_problem(None, DEBRIS) == "the licence record it cites is not in the ledger"
