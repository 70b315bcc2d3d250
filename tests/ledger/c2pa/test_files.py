"""C2PA with the reference implementation (c2pa-python): every exported manifest signs and
validates, deliverables round-trip through signed files, vendor files join the lineage."""

from __future__ import annotations

import hashlib
import io
import json
import wave
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import c2pa as c2pa_lib
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import UNKNOWN_SHA256, LedgerView
from ledger.c2pa import files as c2pa_files
from ledger.c2pa import importer as c2pa_import
from ledger.c2pa import manifest as c2pa
from ledger.c2pa.importer import ImportDefaults, import_events, validation_of
from ledger.errors import ConfigurationError, VerificationFailure
from ledger.events.provenance import PROVENANCE
from ledger.log.operator import Checkpointer, init_ledger, log_identity
from ledger.log.receipt import verify_receipt
from ledger.store import LedgerStore
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import build_store, ingredient, provenance
from tests.ledger.c2pa.c2pa_factory import (
    IPTC,
    Credentials,
    builder_context,
    camera_capture,
    camera_plate,
    make_credentials,
    proxy_items,
    sign_definition,
    signer_info,
    tiny_jpeg,
    tiny_png,
    tiny_tiff,
    vendor_smoke,
    write_proxies,
)

D = "fallen-tower/ep101/sq040"
DELIVERABLES = [f"{D}/sh010/final@v001", f"{D}/sh020/final@v001", f"{D}/sh030/final@v001"]


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    return make_credentials(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def proxy_ledger(tmp_path: Path, signers: dict[str, KeyPair]) -> Iterator[LedgerStore]:
    items, _ = proxy_items()
    store = build_store(tmp_path / "proxy.db", items, signers)
    init_ledger(store, "studio.example/ledger", log_key := keys.generate("log"))
    Checkpointer(store, log_key).checkpoint()
    yield store
    store.close()


LogKey = tuple[str, Ed25519PublicKey]


def log_key_of(store: LedgerStore) -> LogKey:
    identity = log_identity(store)
    assert identity is not None
    return identity.origin, identity.public_key


def comparable_ingredient(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("title", "format", "relationship", "instance_id")}


def test_every_demo_manifest_signs_validates_and_reads_back_equal(
    view: LedgerView, tmp_path: Path, creds: Credentials
) -> None:
    steps = [s for seq in range(view.state.size) if (s := view.step(seq)) is not None]
    assert len(steps) == 19
    for step in steps:
        definition = c2pa.manifest_definition(view, step, "image/jpeg")
        out = tmp_path / f"{step.seq}.jpg"
        sign_definition(definition, creds, out)
        store = c2pa_files.read_document(out).document
        assert store["validation_state"] == "Valid", (step.key, store.get("validation_status"))
        assert validation_of(store).codes == ("signingCredential.untrusted",), step.key
        read = store["manifests"][store["active_manifest"]]
        assert store["active_manifest"] == definition["label"]
        assert read["instance_id"] == definition["instance_id"]
        assert c2pa.resolved_actions(read) == definition["assertions"][0]["data"]["actions"]
        assert [comparable_ingredient(i) for i in read.get("ingredients", [])] == [
            comparable_ingredient(i) for i in definition["ingredients"]
        ]
        assert [a for a in read["assertions"] if a["label"] != "c2pa.actions.v2"] == [
            a for a in definition["assertions"] if a["label"] != "c2pa.actions.v2"
        ]
        trusted = c2pa_files.read_document(out, trust_anchors=creds.ca_pem).document
        assert trusted["validation_state"] == "Trusted"


def test_exported_actions_follow_the_c2pa_2_rules(view: LedgerView) -> None:
    for seq in range(view.state.size):
        step = view.step(seq)
        if step is None:
            continue
        definition = c2pa.manifest_definition(view, step)
        actions = definition["assertions"][0]["data"]["actions"]
        relationships = {i["instance_id"]: i["relationship"] for i in definition["ingredients"]}
        first = actions[0]
        assert first["action"] in ("c2pa.opened", "c2pa.created")
        if first["action"] == "c2pa.opened":
            assert [relationships[i] for i in first["parameters"]["ingredientIds"][:1]] == [
                "parentOf"
            ]
        else:
            assert first["digitalSourceType"].startswith(IPTC)
            assert "parentOf" not in relationships.values()
        for action in actions[1:]:
            assert action["action"] not in ("c2pa.opened", "c2pa.created")
            if action["action"] == "c2pa.placed":
                ids = action["parameters"]["ingredientIds"]
                assert ids and {relationships[i] for i in ids} == {"componentOf"}


def test_the_stock_intake_opens_the_file_as_received(view: LedgerView) -> None:
    [step] = view.recorded("stock/vista/skyline-dusk-0456@v001")
    definition = c2pa.manifest_definition(view, step)
    [received] = definition["ingredients"]
    assert received["relationship"] == "parentOf"
    assert received["instance_id"] == "assetledger:stock/vista/skyline-dusk-0456@v001#received"
    [opened] = definition["assertions"][0]["data"]["actions"]
    assert opened["action"] == "c2pa.opened"
    assert opened["parameters"]["ingredientIds"] == [received["instance_id"]]


def test_ledger_evidence_carries_event_ids_and_a_receipt_that_verifies(
    proxy_ledger: LedgerStore,
) -> None:
    view = LedgerView.open(proxy_ledger)
    assert view.state.signed
    [step] = view.recorded(f"{D}/sh030/comp@v001")
    evidence = c2pa.ledger_evidence(view, step)
    assert evidence["event_ids"] == [step.event_id]
    assert evidence["event"]["event_id"] == step.event_id
    identity = log_identity(proxy_ledger)
    assert identity is not None
    verdict = verify_receipt(evidence["receipt"], identity.origin, identity.public_key)
    assert verdict.index == step.seq == evidence["ledger_index"]


def test_sign_refuses_a_file_that_is_not_the_recorded_version(
    proxy_ledger: LedgerStore, tmp_path: Path, creds: Credentials
) -> None:
    view = LedgerView.open(proxy_ledger)
    other = tmp_path / "other.jpg"
    other.write_bytes(tiny_jpeg("not the plate"))
    out = tmp_path / "out.jpg"
    with pytest.raises(VerificationFailure, match="SHA-256 is"):
        c2pa_files.sign_asset(view, f"{D}/sh010/plate@v001", other, creds.chain, creds.key, out)
    assert not out.exists()


def sign_lineage(
    view: LedgerView, key: str, files: dict[str, Path], creds: Credentials, out: Path
) -> dict[str, Path]:
    """Sign every recorded version of ``key``'s lineage, ingredients first, each with its
    signed ingredients' files, so the deliverable carries the whole lineage's manifests."""
    signed: dict[str, Path] = {}
    out.mkdir()

    def visit(k: str) -> None:
        if k in signed or k not in files:
            return
        [step] = view.recorded(k)
        for ing in step.ingredients:
            visit(ing.key)
        target = out / files[k].name
        ingredient_files = [signed[i.key] for i in step.ingredients if i.key in signed]
        result = c2pa_files.sign_asset(
            view, k, files[k], creds.chain, creds.key, target, ingredient_files=ingredient_files
        )
        assert result.validation.state == c2pa_import.STATE_UNTRUSTED
        signed[k] = target

    visit(key)
    return signed


@pytest.mark.parametrize("deliverable", DELIVERABLES)
def test_every_deliverable_round_trips_through_signed_files(
    proxy_ledger: LedgerStore,
    tmp_path: Path,
    creds: Credentials,
    signers: dict[str, KeyPair],
    deliverable: str,
) -> None:
    view = LedgerView.open(proxy_ledger)
    _, proxies = proxy_items()
    files = write_proxies(tmp_path / "proxies", proxies, proxies)
    signed = sign_lineage(view, deliverable, files, creds, tmp_path / "signed")
    read = c2pa_files.read_document(signed[deliverable])
    assert read.media_type == "image/jpeg"
    defaults = ImportDefaults(log_key=log_key_of(proxy_ledger))
    imported = import_events(read.document, defaults)
    assert len(imported) == len(signed)
    items = [("stock-intake", PROVENANCE, e) for e in imported]
    with build_store(tmp_path / "copy.db", items, signers) as copy:
        assert c2pa.lineage_signature(LedgerView.open(copy), deliverable) == (
            c2pa.lineage_signature(view, deliverable)
        )


def test_a_vendor_jpeg_with_a_c2pa_ingredient_joins_the_lineage(
    proxy_ledger: LedgerStore,
    tmp_path: Path,
    creds: Credentials,
    signers: dict[str, KeyPair],
) -> None:
    view = LedgerView.open(proxy_ledger)
    _, proxies = proxy_items()
    plate_key = f"{D}/sh020/plate@v002"
    files = write_proxies(tmp_path / "proxies", proxies, [plate_key])
    signed_plate = tmp_path / "plate_b.jpg"
    c2pa_files.sign_asset(view, plate_key, files[plate_key], creds.chain, creds.key, signed_plate)
    vendor = make_credentials(tmp_path / "vendor-ca", "Brightline")
    delivery = vendor_smoke(signed_plate, vendor, tmp_path / "smoke.jpg")

    read = c2pa_files.read_document(delivery)
    store = read.document
    active = store["manifests"][store["active_manifest"]]
    assert not active["ingredients"][0]["instance_id"].startswith("assetledger:")  # XMP iid
    defaults = ImportDefaults(
        production="Fallen Tower",
        episode="101",
        asset=f"{D}/sh020/fx_smoke@v003",
        content_sha256=c2pa_files.sha256_file(delivery),
        media_type=read.media_type,
    )
    [smoke] = import_events(store, defaults)  # the plate's manifest is the ledger's own
    proven = replace(defaults, log_key=log_key_of(proxy_ledger))
    plate_event, again = import_events(store, proven)
    assert plate_event["event_id"] == view.recorded(plate_key)[0].event_id  # a duplicate
    assert again == smoke
    assert smoke["actor"]["display_name"] == "Brightline VFX Pipeline"
    assert smoke["model"]["name"] == "SmokeSynth"
    assert smoke["ingredients"] == [
        {
            "asset_id": f"{D}/sh020/plate",
            "version": "v002",
            "content_sha256": view.recorded(plate_key)[0].content_sha256,
            "relationship": "inputTo",
        }
    ]
    assert "untrusted signer, signed by Brightline C2PA signer" in smoke["description"]
    assert smoke["c2pa"] == {
        "manifest_label": store["active_manifest"],
        "claim_generator": "Brightline VFX Pipeline 7.2",
        "signer": {"issuer": "Brightline", "common_name": "Brightline C2PA signer"},
        "state": "untrusted_signer",
        "checked": False,  # these defaults do not say the file was read here
        "status_codes": ["signingCredential.untrusted"],
        "ingredients": [
            {
                "asset_id": f"{D}/sh020/plate",
                "version": "v002",
                "manifest_label": active["ingredients"][0]["active_manifest"],
                "state": "untrusted_signer",
                "status_codes": ["signingCredential.untrusted"],
            }
        ],
    }

    items, _ = proxy_items()
    with build_store(
        tmp_path / "l.db", [*items, ("stock-intake", PROVENANCE, smoke)], signers
    ) as s:
        joined = LedgerView.open(s)
        assert f"{D}/sh020/fx_smoke@v003" in {u.key for u in joined.users(plate_key)}
        findings = run_audit(joined, Scope(asset=f"{D}/sh020/fx_smoke@v003")).findings
    assert {(f.rule, f.asset) for f in findings} == {
        ("ai-model-undeclared", f"{D}/sh020/fx_smoke@v003"),
        ("c2pa-signer-untrusted", f"{D}/sh020/fx_smoke@v003"),
    }


def test_a_trusted_vendor_is_recorded_as_trusted(
    proxy_ledger: LedgerStore, tmp_path: Path, creds: Credentials
) -> None:
    view = LedgerView.open(proxy_ledger)
    _, proxies = proxy_items()
    plate_key = f"{D}/sh020/plate@v002"
    files = write_proxies(tmp_path / "p", proxies, [plate_key])
    c2pa_files.sign_asset(
        view, plate_key, files[plate_key], creds.chain, creds.key, tmp_path / "b.jpg"
    )
    vendor = make_credentials(tmp_path / "v", "Brightline")
    delivery = vendor_smoke(tmp_path / "b.jpg", vendor, tmp_path / "smoke.jpg")
    anchors = vendor.ca_pem + creds.ca_pem
    read = c2pa_files.read_document(delivery, trust_anchors=anchors)
    defaults = ImportDefaults(
        production="Fallen Tower", content_sha256="ab" * 32, checked=read.checked
    )
    smoke = import_events(read.document, defaults)[-1]
    assert smoke["description"].endswith("[C2PA: trusted, signed by Brightline C2PA signer]")
    assert smoke["c2pa"]["state"] == "trusted" and smoke["c2pa"]["checked"] is True
    assert smoke["c2pa"]["status_codes"] == []
    # the plate's verdict is the one the vendor's tool recorded when adding it (no trust list)
    assert [i["state"] for i in smoke["c2pa"]["ingredients"]] == ["untrusted_signer"]


def test_ingredient_hashes_come_from_files_given_or_are_recorded_unknown(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    plate = tmp_path / "plate_b.jpg"
    plate.write_bytes(tiny_jpeg("an unsigned plate from elsewhere"))
    vendor = make_credentials(tmp_path / "v", "Brightline")
    delivery = vendor_smoke(plate, vendor, tmp_path / "smoke.jpg")
    store = c2pa_files.read_document(delivery).document
    base = {"production": "Fallen Tower", "content_sha256": "ab" * 32}
    [unknown] = import_events(store, ImportDefaults(**base))
    assert unknown["ingredients"][0]["content_sha256"] == UNKNOWN_SHA256
    given = {"plate_b.jpg": hashlib.sha256(plate.read_bytes()).hexdigest()}
    [known] = import_events(store, ImportDefaults(**base, ingredient_hashes=given))
    assert known["ingredients"][0]["content_sha256"] == given["plate_b.jpg"]

    used = unknown["ingredients"][0]
    plate_event = {
        **unknown,
        "asset": {**unknown["asset"], "asset_id": used["asset_id"], "version": used["version"]},
        "ingredients": [],
        "event_id": "6f1d2a64-0000-4000-8000-000000000001",
    }
    items = [("stock-intake", PROVENANCE, plate_event), ("stock-intake", PROVENANCE, unknown)]
    with build_store(tmp_path / "u.db", items, signers) as s:
        findings = run_audit(LedgerView.open(s), Scope(production="Fallen Tower")).findings
    assert "ingredient-hash-unknown" in {f.rule for f in findings}
    assert "content-hash-mismatch" not in {f.rule for f in findings}


def test_a_tampered_file_is_refused(tmp_path: Path, creds: Credentials) -> None:
    out = camera_plate(tmp_path / "signed.jpg", creds, tampered=True)
    store = c2pa_files.read_document(out).document
    assert validation_of(store).state == c2pa_import.STATE_INVALID
    with pytest.raises(VerificationFailure, match="does not validate"):
        import_events(store, ImportDefaults(production="X", content_sha256="ab" * 32))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("plain.jpg", tiny_jpeg("no credentials")),
        ("plain.png", tiny_png("no credentials")),
        ("garbage.bin", b"\x00\x01garbage\xff" * 10),
        ("empty.jpg", b""),
        ("broken.json", b"{ not json"),
        ("latin1.json", b'{"title": "caf\xe9"}'),
        ("list.json", b"[1, 2]"),
        ("other.json", b'{"hello": "world"}'),
    ],
)
def test_non_c2pa_input_is_a_clear_configuration_error(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigurationError) as caught:
        read = c2pa_files.read_document(path)
        import_events(read.document, ImportDefaults(production="X"))
    assert str(path) in str(caught.value) or "neither" in str(caught.value)


def test_the_reader_json_of_a_signed_file_imports_like_the_file(
    proxy_ledger: LedgerStore, tmp_path: Path, creds: Credentials
) -> None:
    view = LedgerView.open(proxy_ledger)
    _, proxies = proxy_items()
    key = f"{D}/sh020/plate@v002"
    files = write_proxies(tmp_path / "p", proxies, [key])
    out = tmp_path / "plate.jpg"
    c2pa_files.sign_asset(view, key, files[key], creds.chain, creds.key, out)
    from_file = c2pa_files.read_document(out).document
    as_json = tmp_path / "store.json"
    as_json.write_text(json.dumps(from_file))
    from_json = c2pa_files.read_document(as_json).document
    defaults = ImportDefaults(log_key=log_key_of(proxy_ledger))
    assert import_events(from_json, defaults) == import_events(from_file, defaults)


def test_a_sidecar_manifest_binds_the_whole_file_and_gives_its_hash(
    tmp_path: Path, creds: Credentials
) -> None:
    asset = tmp_path / "plate.jpg"
    asset.write_bytes(tiny_jpeg("plate with a sidecar"))
    definition = camera_capture("plate.jpg", generator="Onset")
    unchanged = tmp_path / "unchanged.jpg"
    with (
        c2pa_lib.Signer.from_info(signer_info(creds)) as signer,
        c2pa_lib.Builder(definition, builder_context()) as builder,
        asset.open("rb") as src,
        unchanged.open("w+b") as dst,
    ):
        builder.set_no_embed()
        manifest_bytes = builder.sign(signer, "image/jpeg", src, dst)
    sidecar = tmp_path / "plate.c2pa"
    sidecar.write_bytes(manifest_bytes)

    read = c2pa_files.read_document(asset, sidecar=sidecar)
    digest = hashlib.sha256(asset.read_bytes()).hexdigest()
    assert read.bindings == {read.document["active_manifest"]: digest}
    defaults = ImportDefaults(production="Fallen Tower", bindings=read.bindings)
    [event] = import_events(read.document, defaults)
    assert event["asset"]["content_sha256"] == digest
    with pytest.raises(ConfigurationError, match="carries no readable C2PA manifest"):
        c2pa_files.read_document(asset)  # the asset alone embeds nothing


def tiny_wav(tag: str) -> bytes:
    frames = io.BytesIO()
    with wave.open(frames, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tag.encode().ljust(64, b"\0"))
    return frames.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("take.wav", tiny_wav("take 3")),
        ("matte.png", tiny_png("m")),
        ("scan.tif", tiny_tiff("film scan")),
    ],
)
def test_sign_writes_other_formats_too(
    tmp_path: Path, creds: Credentials, signers: dict[str, KeyPair], name: str, content: bytes
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    signer, kind, event = provenance("fallen-tower/ep101/sq040/sh900/take")
    event["asset"]["content_sha256"] = hashlib.sha256(content).hexdigest()
    with build_store(tmp_path / "one.db", [(signer, kind, event)], signers) as store:
        init_ledger(store, "studio.example/ledger", log := keys.generate("log"))
        Checkpointer(store, log).checkpoint()
        log_key = log_key_of(store)
        view = LedgerView.open(store)
        out = tmp_path / ("signed-" + name)
        result = c2pa_files.sign_asset(
            view, "fallen-tower/ep101/sq040/sh900/take@v001", source, creds.chain, creds.key, out
        )
    assert result.validation.state == c2pa_import.STATE_UNTRUSTED
    read = c2pa_files.read_document(out, trust_anchors=creds.ca_pem)
    assert read.document["validation_state"] == "Trusted"
    [back] = import_events(read.document, ImportDefaults(log_key=log_key))
    assert back["action"] == "c2pa.created" and back["asset"]["asset_id"].endswith("/take")
    assert back["asset"]["content_sha256"] == hashlib.sha256(content).hexdigest()


def test_placed_removed_and_transcoded_steps_validate_too(
    tmp_path: Path, creds: Credentials, signers: dict[str, KeyPair]
) -> None:
    """Actions with their own ingredient rules: placed/removed name componentOf ingredients,
    transcoded may name only its parent (inputTo ingredients go on the opened action)."""
    x = "fallen-tower/ep101/sq040/sh900"
    parent = ingredient(f"{x}/plate", "v001", "parentOf")
    element = ingredient(f"{x}/element", "v001", "componentOf")
    reference = ingredient(f"{x}/reference", "v001", "inputTo")
    items = [
        provenance(f"{x}/plate"),
        provenance(f"{x}/element"),
        provenance(f"{x}/reference"),
        provenance(f"{x}/placed", action="c2pa.placed", ingredients=[parent, element, reference]),
        provenance(f"{x}/removed", action="c2pa.removed", ingredients=[parent, element]),
        provenance(f"{x}/transcoded", action="c2pa.transcoded", ingredients=[parent, reference]),
        provenance(f"{x}/comp", ingredients=[parent, element, reference]),  # created on a parent
    ]
    with build_store(tmp_path / "x.db", items, signers) as store:
        view = LedgerView.open(store)
        for name in ("placed", "removed", "transcoded", "comp"):
            [step] = view.recorded(f"{x}/{name}@v001")
            definition = c2pa.manifest_definition(view, step, "image/jpeg")
            out = tmp_path / f"{name}.jpg"
            sign_definition(definition, creds, out)
            document = c2pa_files.read_document(out).document
            assert validation_of(document).codes == ("signingCredential.untrusted",), name
            read = document["manifests"][document["active_manifest"]]
            actions = c2pa.resolved_actions(read)
            assert actions == definition["assertions"][0]["data"]["actions"]
            names = [a["action"] for a in actions]
            if name == "comp":  # created on a parent: opened names the parent
                assert names == ["c2pa.opened", "c2pa.placed"]
            else:
                assert names[-1] == step.action


def test_a_third_party_c2pa_ingredient_is_recorded_with_its_verdict(
    tmp_path: Path, creds: Credentials
) -> None:
    plate = camera_plate(tmp_path / "plate_b.jpg", creds)
    delivery = vendor_smoke(
        plate, make_credentials(tmp_path / "v", "Brightline"), tmp_path / "s.jpg"
    )
    store = c2pa_files.read_document(delivery).document
    defaults = ImportDefaults(production="Fallen Tower", content_sha256="ab" * 32)
    plate_event, smoke = import_events(store, defaults)
    assert plate_event["actor"]["display_name"] == "Onset Camera"
    assert plate_event["asset"]["content_sha256"] == UNKNOWN_SHA256  # a JPEG binds itself only
    assert ": untrusted signer, signed by Test Studio C2PA signer" in plate_event["description"]
    used = smoke["ingredients"][0]
    assert (used["asset_id"], used["version"]) == (
        plate_event["asset"]["asset_id"],
        plate_event["asset"]["version"],
    )  # the lineage joins the ingredient's own event (the XMP iids of file and manifest differ)
    assert plate_event["c2pa"]["state"] == "untrusted_signer"
    assert plate_event["c2pa"]["signer"]["common_name"] == "Test Studio C2PA signer"


def test_json_nested_too_deeply_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"manifests": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigurationError, match="nested too deeply"):
        c2pa_files.read_document(path)
