"""Event rules: event_id text, anchored patterns, required fields, CAWG and likeness terms.

Records are signed and inspected as the consumer inspects them; those the SDK refuses to write
are built with the independent emitter of ``tests/producers/test_protocol_doc.py``, as a foreign
producer would send them.
"""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consumers.inspect import RawRecord, inspect
from ledger.errors import InvalidEventError
from ledger.events import base, vocab
from ledger.events.base import EventKind, validate
from ledger.events.consent import CONSENT
from ledger.events.encoding import SingleObjectFraming, default_catalog
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.kinds import json_to_avro, prepare
from ledger.events.provenance import PROVENANCE
from ledger.store import PendingEntry, Quarantined
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust
from producers.emitter import build_message
from tests.producers.test_protocol_doc import EXAMPLE_EVENT, EXAMPLE_TIME, emit

KEY = Ed25519PrivateKey.generate()
SIGNER = KeyPair("t", KEY)
TRUST = FolderTrust({SIGNER.key_id: KEY.public_key()})
CANONICAL = "7d4c1e9a-2b3f-4c5d-8e6f-0a1b2c3d4e5f"


def _event(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(EXAMPLE_EVENT)
    event.update(changes)
    return event


def _sent(event: dict[str, Any]) -> PendingEntry | Quarantined:
    """Sign ``event`` as a foreign producer would, headers and key following the payload."""
    built = emit(event, EXAMPLE_TIME, KEY, "/x")
    raw = RawRecord("provenance.events", 0, 1, built.key, built.value, tuple(built.headers))
    return inspect(raw, TRUST, SingleObjectFraming())


def _refusal(event: dict[str, Any]) -> Quarantined:
    outcome = _sent(event)
    assert isinstance(outcome, Quarantined), outcome
    return outcome


# --- event_id ------------------------------------------------------------------------------


def test_the_canonical_event_id_is_kept_as_signed() -> None:
    outcome = _sent(_event(event_id=CANONICAL))
    assert isinstance(outcome, PendingEntry), outcome
    assert outcome.event_id == CANONICAL


@pytest.mark.parametrize(
    "text",
    [
        CANONICAL.upper(),
        "{" + CANONICAL + "}",
        "urn:uuid:" + CANONICAL,
        CANONICAL.replace("-", ""),
    ],
)
def test_a_non_canonical_uuid_is_an_invalid_event_never_rewritten(text: str) -> None:
    """ce_id equals the signed text here, so only the event_id rule can refuse the record."""
    refused = _refusal(_event(event_id=text))
    assert refused.reason == "invalid_event"
    assert f"event_id {text!r} is not a UUID's canonical text: write {CANONICAL!r}" in (
        refused.detail
    )


@pytest.mark.parametrize("text", ["not-a-uuid", "", CANONICAL[:-1]])
def test_an_event_id_that_is_no_uuid_is_an_invalid_event_not_undecodable(text: str) -> None:
    refused = _refusal(_event(event_id=text))
    assert refused.reason == "invalid_event"
    assert "event_id" in refused.detail and "UUID" in refused.detail


@pytest.mark.parametrize("text", [CANONICAL + "\n", CANONICAL[:-1] + "\x00", "\x1b" + CANONICAL])
def test_an_event_id_with_a_control_character_is_invalid_text(text: str) -> None:
    refused = _refusal(_event(event_id=text))
    assert refused.reason == "invalid_text"
    assert "event_id holds the control character U+00" in refused.detail


def test_the_sdk_refuses_to_sign_a_non_canonical_event_id_and_accepts_uuid_objects() -> None:
    with pytest.raises(InvalidEventError, match="canonical text: write '7d4c1e9a"):
        build_message(
            _event(event_id=CANONICAL.upper(), event_time=EXAMPLE_TIME), SIGNER, source="/x"
        )
    value = uuid.UUID(CANONICAL)
    message = build_message(_event(event_id=value, event_time=EXAMPLE_TIME), SIGNER, source="/x")
    assert message.event_id == CANONICAL
    assert dict(message.headers)["ce_id"] == CANONICAL.encode()


def test_every_kind_requires_the_canonical_event_id() -> None:
    """validate() checks event_id for every kind, whatever its own rules say."""
    for kind in (CONSENT, KEY_REGISTRY, PROVENANCE):
        with pytest.raises(InvalidEventError, match="canonical text") as caught:
            validate(kind, _consent_like(kind, CANONICAL.upper()), writing=False)
        assert str(caught.value).count("canonical text") == 1, kind.record
        with pytest.raises(InvalidEventError) as caught:
            validate(kind, _consent_like(kind, "nope"), writing=False)
        # The kind's own check and the common one agree: the problem is listed once.
        assert str(caught.value).count("event_id 'nope' is not a UUID") == 1, kind.record


def _consent_like(kind: EventKind, event_id: str) -> dict[str, Any]:
    """A record that passes ``kind``'s own rules except possibly event_id."""
    from demo import story

    if kind is PROVENANCE:
        return _event(event_id=event_id, event_time=EXAMPLE_TIME)
    if kind is CONSENT:
        record = prepare(CONSENT, story.consents()[0][1])
    else:
        from ledger.trust.records import enroll_event

        root = keys.generate("root")
        record = prepare(
            KEY_REGISTRY,
            enroll_event("person:x", "human", "X", root.public, event_time=EXAMPLE_TIME),
        )
    record["event_id"] = event_id
    return record


# --- anchored patterns ----------------------------------------------------------------------


def test_a_hash_with_a_trailing_newline_is_refused() -> None:
    asset = dict(
        EXAMPLE_EVENT["asset"], content_sha256=EXAMPLE_EVENT["asset"]["content_sha256"] + "\n"
    )
    refused = _refusal(_event(asset=asset))
    assert refused.reason == "invalid_text"  # control characters are refused before the rules
    assert "asset.content_sha256 holds the control character U+000A" in refused.detail


def test_a_custom_action_with_a_trailing_newline_is_refused() -> None:
    assert vocab.check_action("studio.roto", writing=True) is None
    assert vocab.check_action("studio.roto\n", writing=True) is not None
    assert _refusal(_event(action="studio.roto\n")).reason == "invalid_text"


# --- required text and vocabularies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("asset", "version"), "asset.version"),
        (("asset", "media_type"), "asset.media_type"),
        (("actor", "actor_id"), "actor.actor_id"),
        (("production", "show"), "production.show"),
    ],
)
def test_required_text_must_not_be_empty(path: tuple[str, str], where: str) -> None:
    for blank in ("", "  "):
        event = _event()
        event[path[0]] = dict(event[path[0]], **{path[1]: blank})
        refused = _refusal(event)
        shows = where == "production.show"  # a show's name has its own reason (issue 19)
        assert refused.reason == ("invalid_show_name" if shows else "invalid_event")
        assert f"{where} must not be empty" in refused.detail


def test_empty_asset_id_and_empty_kafka_key_are_refused() -> None:
    event = _event(asset=dict(EXAMPLE_EVENT["asset"], asset_id=""))
    built = emit(event, EXAMPLE_TIME, KEY, "/x")
    assert built.key == b""
    refused = _refusal(event)
    assert (
        refused.reason == "invalid_event" and "asset.asset_id must not be empty" in refused.detail
    )


def test_empty_producer_id_ingredient_and_performer_are_refused() -> None:
    ingredient = dict(EXAMPLE_EVENT["ingredients"][0], version="")
    likeness = [{"performer_id": "", "use": "digital_replica", "consent_ref": None}]
    refused = _refusal(
        _event(producer_id="", ingredients=[ingredient], likeness=likeness, directed_by=[""])
    )
    for where in (
        "producer_id",
        "ingredients[0].version",
        "likeness[0].performer_id",
        "directed_by[0]",
    ):
        assert f"{where} must not be empty" in refused.detail


def test_likeness_use_must_be_a_known_term() -> None:
    bad = [{"performer_id": "performer:dana", "use": "deepfake", "consent_ref": None}]
    refused = _refusal(_event(likeness=bad))
    assert refused.reason == "invalid_event"
    assert "likeness[0].use 'deepfake' is not one of" in refused.detail
    for use in sorted(vocab.LIKENESS_USES):
        good = [{"performer_id": "performer:dana", "use": use, "consent_ref": CANONICAL}]
        assert isinstance(_sent(_event(likeness=good)), PendingEntry), use


def test_references_to_events_must_be_canonical_event_ids() -> None:
    likeness = [{"performer_id": "p", "use": "digital_replica", "consent_ref": CANONICAL.upper()}]
    refused = _refusal(_event(likeness=likeness))
    assert "likeness[0].consent_ref" in refused.detail
    rights = dict(EXAMPLE_EVENT["rights"], consent_refs=["consent-1"])
    assert (
        "rights.consent_refs[0] 'consent-1' is not a UUID" in _refusal(_event(rights=rights)).detail
    )


def _terms(use: str, info: str | None) -> dict[str, Any]:
    entry = {"use_kind": "cawg.ai_inference", "use": use, "constraint_info": info}
    return dict(EXAMPLE_EVENT["rights"], training_mining=[entry])


def test_constraint_info_is_optional_as_in_cawg_but_never_blank() -> None:
    # CAWG 1.1: constraint_info MAY describe the constraint; without it, constrained reads as
    # notAllowed.  So constrained without it is a valid (restrictive) statement.
    assert isinstance(_sent(_event(rights=_terms("constrained", None))), PendingEntry)
    assert isinstance(_sent(_event(rights=_terms("constrained", "CC BY-NC 4.0"))), PendingEntry)
    refused = _refusal(_event(rights=_terms("constrained", " ")))
    assert "constraint_info is empty" in refused.detail


# --- ce_type: the kind's contract version, not the schema's ---------------------------------


def test_ce_type_names_the_contract_version_not_the_schema_version() -> None:
    from ledger.events.encoding import default_catalog

    assert default_catalog().current("provenance_event").version == 4
    assert PROVENANCE.ce_type == "io.assetledger.provenance.v1"
    v1 = {k: v for k, v in EXAMPLE_EVENT.items() if k not in {"directed_by", "likeness"}}
    v1["rights"] = {"licence": None, "consent_refs": []}
    for writer, event in (
        ("provenance_event.v1", v1),
        ("provenance_event.v2", EXAMPLE_EVENT),
        ("provenance_event.v3", EXAMPLE_EVENT),
        ("provenance_event.v4", EXAMPLE_EVENT),
    ):
        built = emit(event, datetime.now(UTC), KEY, "/x", writer=writer)
        assert dict(built.headers)["ce_type"] == b"io.assetledger.provenance.v1"
        assert isinstance(
            inspect(
                RawRecord("t", 0, 0, built.key, built.value, tuple(built.headers)),
                TRUST,
                SingleObjectFraming(),
            ),
            PendingEntry,
        ), writer
    assert "not of its Avro schema" in (base.__doc__ or "")


def test_format_time_spells_times_as_strftime_does() -> None:
    """ce_time is compared with format_time's text: the hand-made spelling must not drift."""
    import random
    from datetime import timezone

    from ledger.events.base import format_time

    rng = random.Random(7)
    samples = [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC)]
    for _ in range(2000):
        offset = timezone(timedelta(minutes=rng.randint(-720, 720)))
        samples.append(
            datetime(rng.randint(1001, 9998), rng.randint(1, 12), rng.randint(1, 28),
                     rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                     rng.choice([0, 1, 999_999, rng.randint(0, 999_999)]), tzinfo=offset)
        )  # fmt: skip
    for t in samples:
        assert format_time(t) == t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_json_to_avro_converts_times_and_bytes_wherever_the_schema_holds_them() -> None:
    """The converter walks only the fields with a time or bytes in their type; a time deep
    in a union, an array and a nested record is still converted, base64 too, and the fields
    it skips come back unchanged."""
    schema = default_catalog().current("provenance_event").parsed
    given = {
        "event_time": "2026-12-07T10:00:00Z",
        "description": "2026-12-07T10:00:00Z",  # text that looks like a time: a string field
        "writing": {
            "credit": "written_by",
            "ai_material": [{"asset_id": "a", "version": "v1", "given_at": "2026-12-01T09:30:00Z"}],
        },
    }
    out = json_to_avro(schema, given, "provenance_event")
    assert out["event_time"] == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert out["writing"]["ai_material"][0]["given_at"] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert out["description"] == "2026-12-07T10:00:00Z"
    registry = default_catalog().current("key_registry_event").parsed
    key = base64.b64encode(bytes(range(32))).decode()
    assert json_to_avro(registry, {"public_key": key}, "k")["public_key"] == bytes(range(32))
