"""C2PA bridge: export shape, round trip (export -> import -> same lineage), vendor manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from demo import story
from ledger.audit import c2pa
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.errors import ConfigurationError
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import encode_checked
from ledger.events.provenance import PROVENANCE
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


def test_round_trip_gives_the_same_lineage(
    view: LedgerView, tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    key = f"{D}/sh030/final@v001"
    exported = json.loads(json.dumps(c2pa.export_store(view, key)))  # through JSON text
    imported = c2pa.import_events(exported, c2pa.ImportDefaults())
    assert len(imported) == 8  # every recorded version; the unrecorded smoke stays a missing link
    with build_store(tmp_path / "copy.db", as_items(imported), signers) as copy:
        assert c2pa.lineage_signature(LedgerView.open(copy), key) == c2pa.lineage_signature(
            view, key
        )
        findings = run_audit(LedgerView.open(copy), Scope(production=story.SHOW)).findings
    assert {f.rule for f in findings} >= {"ingredient-unrecorded", "content-hash-mismatch"}


def test_importing_twice_gives_the_same_event_ids(view: LedgerView) -> None:
    exported = c2pa.export_store(view, f"{D}/sh010/comp@v001")
    first = c2pa.import_events(exported, c2pa.ImportDefaults())
    again = c2pa.import_events(exported, c2pa.ImportDefaults())
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]


def test_a_single_definition_imports_too(view: LedgerView) -> None:
    store = c2pa.export_store(view, f"{D}/sh020/plate@v002")
    definition = store["manifests"][store["active_manifest"]]
    [event] = c2pa.import_events(definition, c2pa.ImportDefaults())
    assert event["asset"]["asset_id"] == f"{D}/sh020/plate"
    assert event["action"] == "c2pa.enhanced"


def vendor() -> dict[str, Any]:
    return dict(json.loads(VENDOR.read_text()))


def test_vendor_manifest_maps_to_valid_events() -> None:
    defaults = c2pa.ImportDefaults(production="Fallen Tower/101", asset=f"{D}/sh020/fx_smoke@v003")
    [event] = c2pa.import_events(vendor(), defaults)
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
    defaults = c2pa.ImportDefaults(production="Fallen Tower/101", asset=f"{D}/sh020/fx_smoke@v003")
    imported = c2pa.import_events(vendor(), defaults)
    with build_store(tmp_path / "l.db", [*demo_items(), *as_items(imported)], signers) as store:
        view = LedgerView.open(store)
        findings = run_audit(view, Scope(asset=f"{D}/sh020/fx_smoke@v003")).findings
        plate_users = {s.key for s in view.users(f"{D}/sh020/plate@v002")}
    assert f"{D}/sh020/fx_smoke@v003" in plate_users
    assert {(f.rule, f.asset) for f in findings} == {
        ("ai-model-undeclared", f"{D}/sh020/fx_smoke@v003")
    }


def test_vendor_manifest_needs_production_and_hashes() -> None:
    with pytest.raises(ConfigurationError, match="--production"):
        c2pa.import_events(vendor(), c2pa.ImportDefaults())
    no_hash = vendor()
    no_hash["ingredients"][0].pop("hash")
    with pytest.raises(ConfigurationError, match="states no SHA-256"):
        c2pa.import_events(no_hash, c2pa.ImportDefaults(production="Fallen Tower"))
