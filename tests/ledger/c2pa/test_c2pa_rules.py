"""The C2PA audit rules on deliveries made and read with c2pa-python: an untrusted signer
(``c2pa-signer-untrusted``) and a manifest that did not validate (``c2pa-manifest-invalid``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.rules import Finding
from ledger.c2pa import files as c2pa_files
from ledger.c2pa.importer import ImportDefaults, import_events
from ledger.events.provenance import PROVENANCE
from ledger.log.operator import Checkpointer, init_ledger, log_identity
from ledger.log.receipt import verify_receipt
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import WRITER, Item, build_store, provenance
from tests.ledger.c2pa.c2pa_factory import (
    Credentials,
    camera_plate,
    make_credentials,
    tiny_jpeg,
    vendor_smoke,
)

SMOKE = "fallen-tower/ep101/sq020/fx_smoke@v003"
UNTRUSTED = "c2pa-signer-untrusted"
INVALID = "c2pa-manifest-invalid"


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    return make_credentials(tmp_path_factory.mktemp("vendor-ca"), "Brightline")


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory, vendor: Credentials) -> Path:
    """A vendor JPEG whose ingredient is a plain (unsigned) plate."""
    folder = tmp_path_factory.mktemp("delivery")
    plate = folder / "plate_b.jpg"
    plate.write_bytes(tiny_jpeg("a plate without credentials"))
    return vendor_smoke(plate, vendor, folder / "smoke.jpg")


def imported(path: Path, trust_anchors: str | None = None) -> list[dict[str, Any]]:
    """``c2pa import`` as the CLI does it: the file read with c2pa's Reader."""
    read = c2pa_files.read_document(path, trust_anchors=trust_anchors)
    defaults = ImportDefaults(
        production="Fallen Tower",
        episode="101",
        asset=SMOKE,
        content_sha256=c2pa_files.sha256_file(path),
        media_type=read.media_type,
        checked=read.checked,
    )
    return import_events(read.document, defaults)


def audit(tmp_path: Path, signers: dict[str, KeyPair], items: list[Item]) -> list[Finding]:
    with build_store(tmp_path / "l.db", items, signers) as store:
        return run_audit(LedgerView.open(store), Scope(production="Fallen Tower")).findings


def items(*batches: list[dict[str, Any]]) -> list[Item]:
    return [("stock-intake", PROVENANCE, e) for batch in batches for e in batch]


def of(rule: str, findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_an_untrusted_vendor_delivery_is_imported_and_reported_with_receipts(
    tmp_path: Path, signers: dict[str, KeyPair], delivery: Path
) -> None:
    [smoke] = imported(delivery)
    assert smoke["c2pa"]["state"] == "untrusted_signer" and smoke["c2pa"]["checked"] is True
    with build_store(tmp_path / "l.db", items([smoke]), signers) as store:
        init_ledger(store, "studio.example/ledger", log_key := keys.generate("log"))
        Checkpointer(store, log_key).checkpoint()
        view = LedgerView.open(store)
        first = run_audit(view, Scope(production="Fallen Tower")).findings
        again = run_audit(view, Scope(production="Fallen Tower")).findings
        identity = log_identity(store)
    assert identity is not None
    [finding] = of(UNTRUSTED, first)
    assert (finding.severity, finding.asset) == ("medium", SMOKE)
    assert finding.summary == "C2PA delivery signed by Brightline C2PA signer (issued by " \
        "Brightline) not trusted"  # fmt: skip
    assert "signed by Brightline C2PA signer (issued by Brightline)" in finding.explanation
    assert "made by Brightline VFX Pipeline 7.2" in finding.explanation
    assert "--trust-anchors" in finding.explanation and "counsel" in finding.explanation
    assert len(finding.finding_id) == 64
    assert [f.finding_id for f in of(UNTRUSTED, again)] == [finding.finding_id]  # stable
    [evidence] = finding.evidence
    assert evidence.event_id == smoke["event_id"] and evidence.receipt is not None
    verify_receipt(evidence.receipt, identity.origin, identity.public_key)
    assert of(INVALID, first) == []


def test_a_trusted_vendor_delivery_is_not_reported(
    tmp_path: Path, signers: dict[str, KeyPair], delivery: Path, vendor: Credentials
) -> None:
    [smoke] = imported(delivery, trust_anchors=vendor.ca_pem)
    assert smoke["c2pa"]["state"] == "trusted" and smoke["c2pa"]["checked"] is True
    assert smoke["c2pa"]["status_codes"] == []
    findings = audit(tmp_path, signers, items([smoke]))
    assert of(UNTRUSTED, findings) == [] and of(INVALID, findings) == []


def test_importing_again_with_the_vendors_ca_resolves_the_finding(
    tmp_path: Path, signers: dict[str, KeyPair], delivery: Path, vendor: Credentials
) -> None:
    [untrusted] = imported(delivery)
    assert imported(delivery)[0]["event_id"] == untrusted["event_id"]  # a retry: a duplicate
    [trusted] = imported(delivery, trust_anchors=vendor.ca_pem)
    assert trusted["event_id"] != untrusted["event_id"]  # a new record of the same version
    assert of(UNTRUSTED, audit(tmp_path / "a", signers, items([untrusted]))) != []
    assert of(UNTRUSTED, audit(tmp_path / "b", signers, items([untrusted], [trusted]))) == []


def test_another_vendors_ca_does_not_make_the_signer_trusted(
    tmp_path: Path, signers: dict[str, KeyPair], delivery: Path
) -> None:
    other = make_credentials(tmp_path / "other", "Someone Else")
    [smoke] = imported(delivery, trust_anchors=other.ca_pem)
    assert smoke["c2pa"]["state"] == "untrusted_signer"
    assert len(of(UNTRUSTED, audit(tmp_path, signers, items([smoke])))) == 1


def test_reader_json_that_claims_trust_is_reported(
    tmp_path: Path, signers: dict[str, KeyPair], delivery: Path, vendor: Credentials
) -> None:
    """Reader JSON is only a claim: anyone can write "Trusted" into it."""
    store = c2pa_files.read_document(delivery, trust_anchors=vendor.ca_pem).document
    as_json = tmp_path / "store.json"
    as_json.write_text(json.dumps(store))
    read = c2pa_files.read_document(as_json)
    assert read.checked is False
    defaults = ImportDefaults(production="Fallen Tower", asset=SMOKE, content_sha256="ab" * 32)
    [smoke] = import_events(read.document, defaults)
    assert smoke["c2pa"]["state"] == "trusted" and smoke["c2pa"]["checked"] is False
    [finding] = of(UNTRUSTED, audit(tmp_path, signers, items([smoke])))
    assert "only by the Reader JSON given to the import" in finding.explanation


@pytest.mark.parametrize("tamper", [True, False])
def test_an_ingredient_manifest_invalid_when_added_is_reported(
    tmp_path: Path, signers: dict[str, KeyPair], vendor: Credentials, tamper: bool
) -> None:
    camera = make_credentials(tmp_path / "camera", "Onset")
    plate = camera_plate(tmp_path / "plate_b.jpg", camera, tampered=tamper)
    delivery = vendor_smoke(plate, vendor, tmp_path / "smoke.jpg")
    anchors = vendor.ca_pem + camera.ca_pem
    plate_event, smoke = imported(delivery, trust_anchors=anchors)  # the delivery validates
    [verdict] = smoke["c2pa"]["ingredients"]
    findings = audit(tmp_path, signers, items([plate_event, smoke]))
    plate_key = f"{plate_event['asset']['asset_id']}@{plate_event['asset']['version']}"
    if not tamper:
        assert verdict["state"] == "untrusted_signer"  # the vendor's tool had no trust list
        assert of(INVALID, findings) == []
        return
    assert verdict["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in verdict["status_codes"]
    assert plate_event["c2pa"]["state"] == "invalid" and not plate_event["c2pa"]["checked"]
    invalid = {f.asset: f for f in of(INVALID, findings)}
    assert set(invalid) == {SMOKE, plate_key}
    used = invalid[SMOKE]
    assert used.severity == "high"
    assert f"the manifest of {plate_key}" in used.explanation
    assert "assertion.dataHash.mismatch" in used.explanation
    assert [e.event_id for e in used.evidence] == [smoke["event_id"], plate_event["event_id"]]
    # the invalid one is c2pa-manifest-invalid's, not also c2pa-signer-untrusted's
    assert plate_key not in {f.asset for f in of(UNTRUSTED, findings)}
    assert SMOKE not in {f.asset for f in of(UNTRUSTED, findings)}  # trusted delivery


def test_events_without_a_c2pa_verdict_are_not_judged(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Schema evolution: events written with v3 (no c2pa field) still read, with c2pa null,
    and neither C2PA rule fires on them."""
    old = provenance("plate")
    old[2][WRITER] = "provenance_event.v3"
    new = provenance("roto")
    with build_store(tmp_path / "l.db", [old, new], signers) as store:
        view = LedgerView.open(store)
        steps = [view.step(seq) for seq in range(view.state.size)]
        findings = run_audit(view, Scope(production="Fallen Tower")).findings
    assert [s.schema_version for s in steps if s is not None] == [3, 4]
    assert [s.c2pa for s in steps if s is not None] == [None, None]
    assert {f.rule for f in findings} & {UNTRUSTED, INVALID} == set()


def test_a_hostile_certificate_name_is_recorded_escaped(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """A vendor's certificate is outside our control: an ESC in its names must neither be
    refused at signing time nor reach a terminal raw."""
    hostile = make_credentials(tmp_path / "evil", "Evil\x1b[31m Co")
    plate = tmp_path / "plate.jpg"
    plate.write_bytes(tiny_jpeg("plate"))
    [smoke] = imported(vendor_smoke(plate, hostile, tmp_path / "smoke.jpg"))
    assert smoke["c2pa"]["signer"]["common_name"] == "Evil\\x1b[31m Co C2PA signer"
    [finding] = of(UNTRUSTED, audit(tmp_path, signers, items([smoke])))
    assert "\x1b" not in finding.explanation
