"""``assetledger c2pa sign`` and ``c2pa import`` of signed files, end to end with c2pa-python."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ledger.audit.model import UNKNOWN_SHA256
from ledger.c2pa import manifest as c2pa
from ledger.log.operator import Checkpointer, init_ledger
from ledger.trust import keys
from tests.cli.test_audit_cli import run
from tests.ledger.audit.audit_factory import build_store, demo_signers
from tests.ledger.c2pa.c2pa_factory import (
    Credentials,
    make_credentials,
    make_self_signed,
    proxy_items,
    tiny_jpeg,
    vendor_smoke,
    write_proxies,
)

D = "fallen-tower/ep101/sq040"
PLATE = f"{D}/sh020/plate@v002"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Path], Credentials]:
    folder = tmp_path_factory.mktemp("c2pa-cli")
    items, proxies = proxy_items()
    store = build_store(folder / "ledger.db", items, demo_signers())
    log_key = keys.generate("log")
    identity = init_ledger(store, "studio.example/ledger", log_key)
    Checkpointer(store, log_key).checkpoint()
    store.close()
    (folder / "log.vkey").write_text(identity.vkey + "\n")
    files = write_proxies(folder / "proxies", proxies, proxies)
    return str(folder / "ledger.db"), files, make_credentials(folder / "ca")


def sign(
    ledger: str, creds: Credentials, file: Path, key: str, out: Path, *extra: str
) -> tuple[int, str, str]:
    return run(
        "c2pa", "sign", str(file), "--ledger", ledger, "--asset", key,
        "--cert", str(creds.chain), "--key", str(creds.key), "-o", str(out), *extra,
    )  # fmt: skip


def test_sign_embeds_the_manifest_and_import_reads_it_back(
    setup: tuple[str, dict[str, Path], Credentials], tmp_path: Path
) -> None:
    ledger, files, creds = setup
    out = tmp_path / "plate.jpg"
    code, stdout, err = sign(ledger, creds, files[PLATE], PLATE, out)
    assert code == 0, err
    assert stdout.startswith("urn:c2pa:") and "untrusted signer" in err
    code, stdout, err = run("c2pa", "import", str(out), "--dry-run")
    assert code == 2 and "--log-key" in err  # the ledger's own record: proven, or not restored
    vkey = str(Path(ledger).parent / "log.vkey")
    code, stdout, err = run("c2pa", "import", str(out), "--dry-run", "--log-key", vkey)
    assert code == 0, err
    [event] = [json.loads(line) for line in stdout.splitlines()]
    assert f"{event['asset']['asset_id']}@{event['asset']['version']}" == PLATE
    assert event["asset"]["content_sha256"] == hashlib.sha256(files[PLATE].read_bytes()).hexdigest()


def test_sign_refuses_another_file_and_writes_nothing(
    setup: tuple[str, dict[str, Path], Credentials], tmp_path: Path
) -> None:
    ledger, files, creds = setup
    out = tmp_path / "out.jpg"
    code, _, err = sign(ledger, creds, files[f"{D}/sh010/plate@v001"], PLATE, out)
    assert code == 1 and "is not" in err and "the ledger records" in err
    assert not out.exists()
    code, _, err = sign(ledger, creds, files[PLATE], f"{D}/nothing@v9", out)
    assert code == 2 and "not recorded" in err


def test_sign_with_a_wrong_key_or_chain_is_a_usage_error(
    setup: tuple[str, dict[str, Path], Credentials], tmp_path: Path
) -> None:
    ledger, files, creds = setup
    other = make_credentials(tmp_path / "other")
    code, _, err = run(
        "c2pa", "sign", str(files[PLATE]), "--ledger", ledger, "--asset", PLATE,
        "--cert", str(creds.chain), "--key", str(other.key), "-o", str(tmp_path / "o.jpg"),
    )  # fmt: skip
    assert code == 2 and "does not belong" in err
    code, _, err = run(
        "c2pa", "sign", str(files[PLATE]), "--ledger", ledger, "--asset", PLATE,
        "--cert", str(creds.key), "--key", str(creds.key), "-o", str(tmp_path / "o.jpg"),
    )  # fmt: skip
    assert code == 2 and "no PEM certificate chain" in err
    selfish = make_self_signed(tmp_path / "self")
    out = tmp_path / "self.jpg"
    code, _, err = sign(ledger, selfish, files[PLATE], PLATE, out)
    assert code == 2 and "C2PA library refused signing" in err and "certificate" in err
    assert not out.exists() and not list(tmp_path.glob(".c2pa-*"))


def test_a_vendor_file_imports_with_its_c2pa_ingredient(
    setup: tuple[str, dict[str, Path], Credentials], tmp_path: Path
) -> None:
    ledger, files, creds = setup
    signed_plate = tmp_path / "plate_b.jpg"
    assert sign(ledger, creds, files[PLATE], PLATE, signed_plate)[0] == 0
    vendor = make_credentials(tmp_path / "v", "Brightline")
    delivery = vendor_smoke(signed_plate, vendor, tmp_path / "smoke.jpg")
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(vendor.ca_pem + creds.ca_pem)
    code, stdout, err = run(
        "c2pa", "import", str(delivery), "--dry-run", "--production", "Fallen Tower",
        "--episode", "101", "--asset", f"{D}/sh020/fx_smoke@v003", "--trust-anchors", str(anchors),
    )  # fmt: skip
    assert code == 0, err
    events = [json.loads(line) for line in stdout.splitlines()]
    smoke = events[-1]
    assert smoke["asset"]["content_sha256"] == hashlib.sha256(delivery.read_bytes()).hexdigest()
    assert smoke["asset"]["media_type"] == "image/jpeg"
    assert ": trusted, signed by Brightline C2PA signer" in smoke["description"]
    assert (smoke["ingredients"][0]["asset_id"], smoke["ingredients"][0]["version"]) == (
        f"{D}/sh020/plate",
        "v002",
    )


def test_ingredient_files_give_hashes_else_they_are_unknown(tmp_path: Path) -> None:
    plate = tmp_path / "plate_b.jpg"
    plate.write_bytes(tiny_jpeg("someone else's plate"))
    delivery = vendor_smoke(
        plate, make_credentials(tmp_path / "v", "Brightline"), tmp_path / "smoke.jpg"
    )
    args = ("c2pa", "import", str(delivery), "--dry-run", "--production", "Fallen Tower")
    code, stdout, _ = run(*args)
    assert code == 0
    assert json.loads(stdout.splitlines()[-1])["ingredients"][0]["content_sha256"] == UNKNOWN_SHA256
    code, stdout, _ = run(*args, "--ingredient-file", str(plate))
    assert code == 0
    used = json.loads(stdout.splitlines()[-1])["ingredients"][0]["content_sha256"]
    assert used == hashlib.sha256(plate.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("plain.jpg", tiny_jpeg("no credentials")),
        ("garbage.jpg", b"\xff\xd8\xff" + b"\x00garbage" * 50),
        ("noise.bin", bytes(range(256)) * 4),
        ("empty.png", b""),
        ("bad.json", b"{\xff\xfe not utf-8"),
    ],
)
def test_import_of_non_c2pa_input_exits_2_without_a_traceback(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, stdout, err = run("c2pa", "import", str(path), "--dry-run", "--production", "X")
    assert code == 2, err
    assert stdout == "" and "Traceback" not in err and str(path) in err


def test_export_then_import_with_the_log_key_restores_the_ledger_events(
    setup: tuple[str, dict[str, Path], Credentials], tmp_path: Path
) -> None:
    ledger, _, _ = setup
    manifest = tmp_path / "m.json"
    assert (
        run("c2pa", "export", "--ledger", ledger, f"{D}/sh020/final", "-o", str(manifest))[0] == 0
    )
    vkey = str(Path(ledger).parent / "log.vkey")
    code, out, err = run("c2pa", "import", str(manifest), "--dry-run", "--log-key", vkey)
    assert code == 0, err
    imported = [json.loads(line) for line in out.splitlines()]
    assert [e["asset"]["asset_id"] for e in imported][-1] == f"{D}/sh020/final"
    forged = json.loads(manifest.read_text())
    active = forged["manifests"][forged["active_manifest"]]
    [evidence] = [a["data"] for a in active["assertions"] if a["label"] == c2pa.LEDGER_LABEL]
    evidence["event"]["actor"]["display_name"] = "Someone else"
    manifest.write_text(json.dumps(forged))
    code, out, err = run("c2pa", "import", str(manifest), "--dry-run", "--log-key", vkey)
    assert code == 1 and out == "" and "not the one its receipt proves" in err


def test_import_records_and_says_the_vendors_verdict(tmp_path: Path) -> None:
    plate = tmp_path / "plate_b.jpg"
    plate.write_bytes(tiny_jpeg("an unsigned plate"))
    vendor = make_credentials(tmp_path / "v", "Brightline")
    delivery = vendor_smoke(plate, vendor, tmp_path / "smoke.jpg")
    args = ("c2pa", "import", str(delivery), "--dry-run", "--production", "Fallen Tower")
    code, stdout, err = run(*args)
    assert code == 0, err
    [smoke] = [json.loads(line) for line in stdout.splitlines()]
    assert smoke["c2pa"]["state"] == "untrusted_signer" and smoke["c2pa"]["checked"] is True
    assert smoke["c2pa"]["signer"]["common_name"] == "Brightline C2PA signer"
    assert ": untrusted signer, Brightline C2PA signer" in err
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(vendor.ca_pem)
    code, stdout, err = run(*args, "--trust-anchors", str(anchors))
    assert code == 0, err
    [trusted] = [json.loads(line) for line in stdout.splitlines()]
    assert trusted["c2pa"]["state"] == "trusted" and trusted["event_id"] != smoke["event_id"]
    assert ": trusted, Brightline C2PA signer" in err and "untrusted" not in err
    as_json = tmp_path / "store.json"
    forged = {**_reader_json(delivery), "validation_state": "Trusted"}  # anyone can write it
    as_json.write_text(json.dumps(forged))
    code, stdout, err = run(
        "c2pa", "import", str(as_json), "--dry-run", "--production", "Fallen Tower",
        "--content-sha256", "ab" * 32,
    )  # fmt: skip
    assert code == 0, err
    claimed = json.loads(stdout)["c2pa"]
    assert (claimed["state"], claimed["checked"]) == ("trusted", False)
    assert "(as the JSON given states; not checked here)" in err


def _reader_json(path: Path) -> dict[str, object]:
    from ledger.c2pa import files as c2pa_files

    return c2pa_files.read_document(path).document
