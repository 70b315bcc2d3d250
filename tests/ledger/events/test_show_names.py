"""A show named "." or ".." (or nothing) is refused at emit: browsers normalise such path
segments, so the show's portal pages could never be opened (red team, issue 19)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from demo import story
from ledger.errors import InvalidShowNameError
from ledger.events.consent import CONSENT
from ledger.events.provenance import PROVENANCE
from ledger.trust import keys
from producers.emitter import build_message

SIGNER = keys.generate("artist")
UNUSABLE = [".", "..", " .. ", "", "   "]


def provenance(show: str) -> dict[str, Any]:
    event = copy.deepcopy(story.production()[0][1])
    event["production"]["show"] = show
    return event


def consent(show: str) -> dict[str, Any]:
    event = copy.deepcopy(story.consents()[0][1])
    event["coverage"] = [{"show": show, "episode": None}]
    return event


@pytest.mark.parametrize("show", UNUSABLE)
def test_the_emitter_refuses_a_show_named_as_a_path_step(show: str) -> None:
    with pytest.raises(InvalidShowNameError) as refused:
        build_message(provenance(show), SIGNER, source="/test")
    assert refused.value.reason == "invalid_show_name"
    assert "production.show" in refused.value.message


@pytest.mark.parametrize("show", UNUSABLE)
def test_a_consent_covering_such_a_show_is_refused(show: str) -> None:
    with pytest.raises(InvalidShowNameError, match=r"coverage\[0\]\.show"):
        build_message(consent(show), SIGNER, kind=CONSENT, source="/test")


@pytest.mark.parametrize("show", ["...", ".hidden", "Act I.", "Fallen Tower"])
def test_other_names_with_dots_are_shows(show: str) -> None:
    message = build_message(provenance(show), SIGNER, kind=PROVENANCE, source="/test")
    assert message.event_id
