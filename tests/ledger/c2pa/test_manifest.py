"""C2PA bridge: export shape, round trip (export -> import -> same lineage), vendor manifests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from demo import story
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import UNKNOWN_SHA256, LedgerView
from ledger.c2pa import importer as c2pa_import
from ledger.c2pa import manifest as c2pa
from ledger.c2pa.importer import ImportDefaults, import_events, validation_of
from ledger.errors import ConfigurationError, VerificationFailure
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import encode_checked
from ledger.events.provenance import PROVENANCE
from ledger.log.operator import Checkpointer, init_ledger
from ledger.store import LedgerStore
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import Item, build_store, demo_items

D = "fallen-tower/ep101/sq040"
VENDOR = Path(__file__).parents[3] / "examples" / "c2pa" / "vendor-delivery.json"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def as_items(imported: list[dict[str, Any]], signer: str = "stock-intake") -> list[Item]:
    return [(signer, PROVENANCE, e) for e in imported]


def test_export_is_a_manifest_store_of_the_lineage(view: LedgerView) -> None:
    store = c2pa.export_store(view, f"{D}/sh010/final@v001")
    assert len(store["manifests"]) == 7
    active = store["manifests"][store["active_manifest"]]
    assert active["title"] == f"{D}/sh010/final@v001"
    assert active["format"] == "video/quicktime"
    [ingredient] = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] in store["manifests"]
    dust = next(m for m in store["manifests"].values() if m["title"].endswith("fx_dust@v001"))
    [actions] = [
        a["data"]["actions"] for a in dust["assertions"] if a["label"] == "c2pa.actions.v2"
    ]
    assert actions == [
        {
            "action": "c2pa.created",
            "when": actions[0]["when"],
            "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
            "softwareAgent": {"name": "DustDiffusion", "version": "0.9"},
            "description": "Dust cloud element; model licence and training data undeclared",
        }
    ]


def test_export_carries_training_mining_terms(view: LedgerView) -> None:
    store = c2pa.export_store(view, f"{D}/sh030/sky@v001")
    stock = next(m for m in store["manifests"].values() if m["title"].startswith("stock/"))
    [terms] = [a["data"] for a in stock["assertions"] if a["label"] == "cawg.training-mining"]
    assert terms["entries"]["cawg.ai_inference"] == {"use": "notAllowed"}


@pytest.fixture
def signed_view(demo_ledger: LedgerStore) -> tuple[LedgerView, tuple[str, Ed25519PublicKey]]:
    """The demo ledger with a signed checkpoint, and its log's key."""
    log_key = keys.generate("log")
    identity = init_ledger(demo_ledger, "studio.example/ledger", log_key)
    Checkpointer(demo_ledger, log_key).checkpoint()
    return LedgerView.open(demo_ledger), (identity.origin, identity.public_key)


def test_round_trip_gives_the_same_lineage(
    signed_view: tuple[LedgerView, tuple[str, Ed25519PublicKey]],
    tmp_path: Path,
    signers: dict[str, KeyPair],
) -> None:
    view, log_key = signed_view
    key = f"{D}/sh030/final@v001"
    exported = json.loads(json.dumps(c2pa.export_store(view, key)))  # through JSON text
    imported = import_events(exported, ImportDefaults(log_key=log_key))
    assert len(imported) == 8  # every recorded version; the unrecorded smoke stays a missing link
    assert {e["event_id"] for e in imported} <= {
        s.event_id for seq in range(view.state.size) if (s := view.step(seq))
    }  # the ledger's own events, so importing into the same ledger doubles nothing
    with build_store(tmp_path / "copy.db", as_items(imported), signers) as copy:
        assert c2pa.lineage_signature(LedgerView.open(copy), key) == c2pa.lineage_signature(
            view, key
        )
        findings = run_audit(LedgerView.open(copy), Scope(production=story.SHOW)).findings
    assert {f.rule for f in findings} >= {"ingredient-unrecorded", "content-hash-mismatch"}


def test_ledger_evidence_needs_the_log_key_to_be_restored(
    signed_view: tuple[LedgerView, tuple[str, Ed25519PublicKey]],
) -> None:
    view, _ = signed_view
    exported = c2pa.export_store(view, f"{D}/sh010/comp@v001")
    with pytest.raises(ConfigurationError, match="--log-key"):
        import_events(exported, ImportDefaults())


def test_forged_or_foreign_ledger_evidence_is_refused(
    signed_view: tuple[LedgerView, tuple[str, Ed25519PublicKey]],
) -> None:
    view, log_key = signed_view
    exported = c2pa.export_store(view, f"{D}/sh010/fx_dust@v001")
    [dust] = exported["manifests"].values()
    [evidence] = [a["data"] for a in dust["assertions"] if a["label"] == c2pa.LEDGER_LABEL]
    evidence["event"]["actor"]["display_name"] = "A human artist"  # launder the AI output
    with pytest.raises(VerificationFailure, match="not the one its receipt proves"):
        import_events(exported, ImportDefaults(log_key=log_key))
    other = keys.generate("other-log")
    with pytest.raises(VerificationFailure, match="receipt fails"):
        import_events(exported, ImportDefaults(log_key=("studio.example/ledger", other.public)))
    evidence.pop("receipt")
    with pytest.raises(VerificationFailure, match="without a receipt"):
        import_events(exported, ImportDefaults(log_key=log_key))


def test_importing_twice_gives_the_same_event_ids(
    signed_view: tuple[LedgerView, tuple[str, Ed25519PublicKey]],
) -> None:
    view, log_key = signed_view
    exported = c2pa.export_store(view, f"{D}/sh010/comp@v001")
    first = import_events(exported, ImportDefaults(log_key=log_key))
    again = import_events(exported, ImportDefaults(log_key=log_key))
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    mapped = vendor()
    defaults = ImportDefaults(production="Fallen Tower", content_sha256="ab" * 32)
    assert import_events(mapped, defaults) == import_events(mapped, defaults)


def test_a_single_definition_imports_too(
    signed_view: tuple[LedgerView, tuple[str, Ed25519PublicKey]],
) -> None:
    view, log_key = signed_view
    store = c2pa.export_store(view, f"{D}/sh020/plate@v002")
    definition = store["manifests"][store["active_manifest"]]
    [event] = import_events(definition, ImportDefaults(log_key=log_key))
    assert event["asset"]["asset_id"] == f"{D}/sh020/plate"
    assert event["action"] == "c2pa.enhanced"


def vendor() -> dict[str, Any]:
    return dict(json.loads(VENDOR.read_text()))


def test_an_imported_show_name_is_never_split_at_a_slash() -> None:
    """--production names the show whole; the episode is its own option (issue 19 §4)."""
    defaults = ImportDefaults(production="Love/Hate", asset=f"{D}/sh020/fx_smoke@v003")
    [event] = import_events(vendor(), defaults)
    assert (event["production"]["show"], event["production"]["episode"]) == ("Love/Hate", None)
    with_episode = replace(defaults, episode="7")
    [event] = import_events(vendor(), with_episode)
    assert (event["production"]["show"], event["production"]["episode"]) == ("Love/Hate", "7")


def test_vendor_manifest_maps_to_valid_events() -> None:
    defaults = ImportDefaults(
        production="Fallen Tower", episode="101", asset=f"{D}/sh020/fx_smoke@v003"
    )
    [event] = import_events(vendor(), defaults)
    assert event["actor"]["display_name"] == "Brightline VFX Pipeline"
    assert event["actor"]["kind"] == "organisation"
    assert event["action"] == "c2pa.created"  # the primary action, not c2pa.opened
    assert event["model"]["name"] == "SmokeSynth" and event["model"]["licence"] is None
    assert event["ingredients"][0]["asset_id"] == f"{D}/sh020/plate"
    event.update(producer_id="vendor", producer_seq=1)
    encode_checked(PROVENANCE, event, SingleObjectFraming())  # valid for the ledger


def test_vendor_delivery_joins_the_lineage_and_is_audited(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    defaults = ImportDefaults(
        production="Fallen Tower", episode="101", asset=f"{D}/sh020/fx_smoke@v003"
    )
    imported = import_events(vendor(), defaults)
    with build_store(tmp_path / "l.db", [*demo_items(), *as_items(imported)], signers) as store:
        view = LedgerView.open(store)
        findings = run_audit(view, Scope(asset=f"{D}/sh020/fx_smoke@v003")).findings
        plate_users = {s.key for s in view.users(f"{D}/sh020/plate@v002")}
    assert f"{D}/sh020/fx_smoke@v003" in plate_users
    assert {(f.rule, f.asset) for f in findings} == {
        ("ai-model-undeclared", f"{D}/sh020/fx_smoke@v003"),
        ("c2pa-signer-untrusted", f"{D}/sh020/fx_smoke@v003"),  # a bare definition
    }
    [unsigned] = [f for f in findings if f.rule == "c2pa-signer-untrusted"]
    assert "carries no signature at all" in unsigned.explanation
    assert "Ask the vendor for a signed delivery" in unsigned.explanation


def test_vendor_manifest_needs_production_and_hashes() -> None:
    with pytest.raises(ConfigurationError, match="--production"):
        import_events(vendor(), ImportDefaults())
    no_hash = vendor()
    no_hash.pop("hash")
    with pytest.raises(ConfigurationError, match="states no SHA-256"):
        import_events(no_hash, ImportDefaults(production="Fallen Tower"))


def test_an_ingredient_without_a_stated_hash_is_recorded_unknown() -> None:
    no_hash = vendor()
    no_hash["ingredients"][0].pop("hash")
    defaults = ImportDefaults(production="Fallen Tower", content_sha256="ab" * 32)
    [event] = import_events(no_hash, defaults)
    assert event["ingredients"][0]["content_sha256"] == UNKNOWN_SHA256
    given = ImportDefaults(
        production="Fallen Tower",
        content_sha256="ab" * 32,
        ingredient_hashes={no_hash["ingredients"][0]["title"]: "cd" * 32},
    )
    [event] = import_events(no_hash, given)
    assert event["ingredients"][0]["content_sha256"] == "cd" * 32


def test_an_unsigned_definition_is_recorded_as_not_signed() -> None:
    defaults = ImportDefaults(production="Fallen Tower", content_sha256="ab" * 32)
    [event] = import_events(vendor(), defaults)
    assert event["description"].endswith("[C2PA: not signed]")
    assert event["c2pa"]["state"] == "unsigned" and event["c2pa"]["signer"] is None
    assert event["c2pa"]["checked"] is False and event["c2pa"]["status_codes"] == []


@pytest.mark.parametrize(
    ("state", "codes", "expected"),
    [
        ("Trusted", [], c2pa_import.STATE_TRUSTED),
        ("Valid", ["signingCredential.untrusted"], c2pa_import.STATE_UNTRUSTED),
        ("Valid", [], c2pa_import.STATE_VALID),
        ("Invalid", ["assertion.dataHash.mismatch"], c2pa_import.STATE_INVALID),
        (None, ["claimSignature.mismatch"], c2pa_import.STATE_INVALID),
    ],
)
def test_validation_states(state: str | None, codes: list[str], expected: str) -> None:
    store: dict[str, Any] = {"validation_status": [{"code": c} for c in codes]}
    if state is not None:
        store["validation_state"] = state
    assert validation_of(store).state == expected


def test_an_invalid_store_is_refused() -> None:
    store = {
        "active_manifest": "urn:c2pa:x",
        "manifests": {"urn:c2pa:x": vendor()},
        "validation_state": "Invalid",
        "validation_status": [{"code": "assertion.dataHash.mismatch"}],
    }
    with pytest.raises(VerificationFailure, match=r"assertion\.dataHash\.mismatch"):
        import_events(store, ImportDefaults(production="Fallen Tower"))


def test_instance_ids_map_back_through_the_ingredient_manifest() -> None:
    """c2pa-rs names an ingredient by its file's XMP instance id; the ingredient's own
    manifest carries the assetledger: id, and that is the ledger id used."""
    plate = {
        "title": "plate",
        "instance_id": f"assetledger:{D}/sh020/plate@v002",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}
                    ]
                },
            }
        ],
    }
    smoke = vendor()
    smoke["ingredients"][0].update(instance_id="xmp:iid:0a1b2c3d", active_manifest="urn:c2pa:plate")
    store = {
        "active_manifest": "urn:c2pa:smoke",
        "manifests": {"urn:c2pa:smoke": smoke, "urn:c2pa:plate": plate},
    }
    defaults = ImportDefaults(production="Fallen Tower", content_sha256="ab" * 32)
    [event] = import_events(store, defaults)  # the plate's own manifest records nothing
    assert event["ingredients"][0]["asset_id"] == f"{D}/sh020/plate"
    assert event["ingredients"][0]["version"] == "v002"


def claiming(instance_id: str) -> dict[str, Any]:
    """A vendor's manifest naming itself by a ledger id, without the ledger's evidence."""
    return vendor() | {"instance_id": instance_id, "title": "not ours"}


def test_a_vendor_manifest_cannot_record_a_ledger_version_by_claiming_its_id() -> None:
    """A hostile vendor names an ingredient manifest (or its delivery) after a ledger asset
    version, of this production or another: that must not become the vendor's record of it."""
    other = "other-show/ep1/hero@v001"
    smoke = vendor()
    smoke["ingredients"][0].update(active_manifest="urn:c2pa:fake")
    store = {
        "active_manifest": "urn:c2pa:smoke",
        "manifests": {"urn:c2pa:smoke": smoke, "urn:c2pa:fake": claiming("assetledger:" + other)},
    }
    defaults = ImportDefaults(production="Fallen Tower", content_sha256="ab" * 32)
    events = import_events(store, defaults)
    assert [e["asset"]["asset_id"] for e in events] == ["c2pa/sh020-smoke-v003-exr"]
    assert events[0]["ingredients"][0]["asset_id"] == "other-show/ep1/hero"
    with pytest.raises(VerificationFailure, match="names itself assetledger:other-show"):
        import_events(claiming("assetledger:" + other), defaults)
    # Named by the importer (--asset), the delivery is that new version, whatever it claims.
    named = ImportDefaults(production="Fallen Tower", asset=f"{D}/fx@v9", content_sha256="ab" * 32)
    [event] = import_events(claiming("assetledger:" + other), named)
    assert (event["asset"]["asset_id"], event["asset"]["version"]) == (f"{D}/fx", "v9")


def chain(length: int) -> dict[str, Any]:
    manifests = {}
    for i in range(length):
        m = vendor() | {"title": f"m{i}", "instance_id": f"xmp:iid:{i}"}
        m["ingredients"] = [
            {"title": f"m{i + 1}", "relationship": "parentOf", "active_manifest": f"m{i + 1}"}
        ][: 1 if i + 1 < length else 0]
        manifests[f"m{i}"] = m
    return {"active_manifest": "m0", "manifests": manifests}


def test_a_long_chain_of_ingredient_manifests_imports_ingredients_first() -> None:
    events = import_events(chain(3000), ImportDefaults(production="Fallen Tower"))
    assert len(events) == 3000
    assert [e["asset"]["asset_id"] for e in events[:2]] == ["c2pa/m2999", "c2pa/m2998"]
    assert events[-1]["ingredients"][0]["asset_id"] == "c2pa/m1"


@pytest.mark.parametrize("active", [["m0"], {"m": 1}, 7])
def test_an_active_manifest_that_is_not_a_label_is_a_clear_error(active: Any) -> None:
    store = chain(1) | {"active_manifest": active}
    with pytest.raises(ConfigurationError, match="active_manifest is not among"):
        import_events(store, ImportDefaults(production="Fallen Tower"))


@pytest.mark.parametrize(
    "data", [None, "text", {"event": None}, {"event": {"asset": {"asset_id": 1}}}, {"event": {}}]
)
def test_a_malformed_ledger_assertion_is_a_clear_error(data: Any) -> None:
    manifest = vendor()
    manifest["assertions"].append({"label": c2pa.LEDGER_LABEL, "data": data})
    with pytest.raises(ConfigurationError, match="malformed"):
        import_events(manifest, ImportDefaults(production="Fallen Tower"))
