"""The ``c2pa`` field of provenance events (schema v4): what the consumer accepts and refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ledger.errors import InvalidEventError
from ledger.events.base import validate
from ledger.events.encoding import SingleObjectFraming, default_catalog, write_datum
from ledger.events.kinds import encode_checked, prepare
from ledger.events.provenance import PROVENANCE
from ledger.store import PendingEntry
from tests.ledger.events.test_events import _event, _refusal, _sent

PLATE = {"asset_id": "fallen-tower/ep101/sq040/sh010/plate", "version": "v001"}
VERDICT: dict[str, Any] = {
    "manifest_label": "urn:c2pa:2404d1d2-2d16-40ba-8fdc-fd44534cd808",
    "claim_generator": "Brightline VFX Pipeline 7.2",
    "signer": {"issuer": "Brightline", "common_name": "Brightline C2PA signer"},
    "state": "untrusted_signer",
    "checked": True,
    "status_codes": ["signingCredential.untrusted"],
    "ingredients": [
        {
            **PLATE,
            "manifest_label": "urn:c2pa:9030db34-34f4-41c1-9274-c72829aa039a",
            "state": "invalid",
            "status_codes": ["assertion.dataHash.mismatch", "signingCredential.untrusted"],
        }
    ],
}


def with_verdict(**changes: Any) -> dict[str, Any]:
    verdict = copy.deepcopy(VERDICT)
    verdict.update(changes)
    return _event(c2pa=verdict)


def with_ingredient_verdict(**changes: Any) -> dict[str, Any]:
    verdict = copy.deepcopy(VERDICT)
    verdict["ingredients"][0].update(changes)
    return _event(c2pa=verdict)


def test_a_c2pa_verdict_is_accepted_and_read_back() -> None:
    outcome = _sent(with_verdict())
    assert isinstance(outcome, PendingEntry), outcome
    for state in ("trusted", "valid", "invalid", "unsigned"):
        assert isinstance(_sent(with_verdict(state=state, signer=None)), PendingEntry), state
    _, decoded = SingleObjectFraming().decode(
        encode_checked(PROVENANCE, dict(with_verdict(), event_time=0), SingleObjectFraming())[0]
    )
    assert decoded["c2pa"] == VERDICT


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (with_verdict(state="Trusted"), "c2pa.state 'Trusted' is not one of"),
        (with_verdict(state="untrusted signer"), "c2pa.state 'untrusted signer' is not one of"),
        (with_verdict(manifest_label=" "), "c2pa.manifest_label must not be empty"),
        (with_verdict(status_codes=["not a code!"]), "is not a C2PA status code"),
        (with_verdict(status_codes=[""]), "is not a C2PA status code"),
        (with_verdict(status_codes=["a.b", "a.b"]), "c2pa.status_codes lists a code twice"),
        (with_ingredient_verdict(state="unsigned"), "cannot be unsigned"),
        (with_ingredient_verdict(state="bogus"), "c2pa.ingredients[0].state 'bogus'"),
        (with_ingredient_verdict(version="v002"), "which is not among the event's ingredients"),
        (with_ingredient_verdict(manifest_label=""), "manifest_label must not be empty"),
    ],
)
def test_a_bad_verdict_is_refused_with_its_reason(event: dict[str, Any], problem: str) -> None:
    refused = _refusal(event)
    assert refused.reason == "invalid_event"
    assert problem in refused.detail
    with pytest.raises(InvalidEventError, match="c2pa"):
        validate(PROVENANCE, prepare(PROVENANCE, dict(event, event_time=0)), writing=True)


def test_an_ingredient_verdict_is_given_once() -> None:
    event = with_verdict()
    event["c2pa"]["ingredients"] *= 2
    assert "a second time" in _refusal(event).detail


def test_the_status_code_lists_are_bounded() -> None:
    codes = [f"vendor.code{i}" for i in range(65)]
    assert _refusal(with_verdict(status_codes=codes)).reason == "too_many_items"
    assert _refusal(with_ingredient_verdict(status_codes=codes)).reason == "too_many_items"
    assert isinstance(_sent(with_verdict(status_codes=codes[:64])), PendingEntry)


@pytest.mark.parametrize(
    "signer",
    [
        {"issuer": "Evil\x1b[31m Co", "common_name": None},
        {"issuer": None, "common_name": "x\x00y"},
        {"issuer": None, "common_name": "n" * 1025},
    ],
)
def test_hostile_signer_names_are_refused(signer: dict[str, Any]) -> None:
    assert _refusal(with_verdict(signer=signer)).reason in {"invalid_text", "text_too_long"}


def test_older_events_read_with_no_verdict() -> None:
    """Data written with v3 (before the field) reads as the current version with c2pa null."""
    catalog = default_catalog()
    [v3] = [v for v in catalog.versions("provenance_event") if v.version == 3]
    record = prepare(PROVENANCE, dict(_event(), event_time=0))
    del record["c2pa"]
    data = b"\xc3\x01" + v3.fingerprint + write_datum(v3, record)
    schema, decoded = SingleObjectFraming(catalog).decode(data)
    assert schema.version == 4 and decoded["c2pa"] is None
    validate(PROVENANCE, decoded, writing=False)
