"""Record timecodes are kept per production: two shows may share a deliverable and asset id
(red team, issue 23)."""

from __future__ import annotations

from typing import Any

from ledger.packet.timecodes import disclosure_timecodes

DELIVERABLE = "ep101/final@v001"
ASSET = "stock/explosion@v001"


def body(production: str, record_in: str, record_out: str) -> dict[str, Any]:
    clip = {"asset": DELIVERABLE, "record_in": record_in, "record_out": record_out}
    return {"production": production, "clips": [clip | {"lineage": [DELIVERABLE, ASSET]}]}


def test_two_shows_sharing_a_deliverable_id_keep_their_own_timecodes() -> None:
    timecodes = disclosure_timecodes(
        [
            body("Fallen Tower", "01:00:00:00", "01:00:01:00"),
            body("Harbor Lights", "02:00:00:00", "02:00:05:00"),
        ]
    )
    assert list(timecodes("Fallen Tower", DELIVERABLE, ASSET)) == ["01:00:00:00-01:00:01:00"]
    assert list(timecodes("Harbor Lights", DELIVERABLE, ASSET)) == ["02:00:00:00-02:00:05:00"]
    assert list(timecodes("Fallen Tower/Secret", DELIVERABLE, ASSET)) == []
