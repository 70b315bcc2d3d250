"""``assetledger packet build|verify`` end to end on a real signed ledger (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from demo import story
from ledger.packet.files import MANIFEST, manifest_text
from tests.conftest import require_module
from tests.ledger.packet.packet_factory import (
    ORIGIN,
    SH010_V2,
    SH030,
    PacketLedger,
    approval,
    build_ledger,
    timeline,
    write_cut,
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def ledger(tmp_path: Path) -> PacketLedger:
    return build_ledger(tmp_path / "ledger.db", approvals=[])


def build_args(ledger: PacketLedger, cut: Path, out: Path, *more: str) -> list[str]:
    return [
        "packet", "build", "--ledger", ledger.url, "--production", story.SHOW,
        "--episode", story.EPISODE, "--cut", str(cut), "-o", str(out), *more,
    ]  # fmt: skip


def test_build_then_verify_offline_with_the_witness(tmp_path: Path, ledger: PacketLedger) -> None:
    cut = write_cut(timeline([SH010_V2, SH030]), tmp_path / "cut.edl")
    code, out, err = run(*build_args(ledger, cut, tmp_path / "pkt"))
    assert code == 0, err
    assert "NOT clear to ship" in out and "disclosure.html" in out
    assert "evidence:" in err  # progress on stderr
    vkey = tmp_path / "log.vkey"
    vkey.write_text(ledger.log_vkey + "\n", encoding="utf-8")
    args = ["packet", "verify", str(tmp_path / "pkt.zip"), "--log-key", str(vkey)]
    code, out, err = run(*args, "--witness-key", ledger.witness_vkey, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] and data["witness_cosigners"] == ["witness.example/w1"]
    assert data["summary"]["by_status"]["NOT clear to ship"] == 2  # no approvals recorded
    # the text verdict names each check once, then the clips by status
    code, out, _ = run(*args, "--witness-key", ledger.witness_vkey, "--skip-pdf")
    assert code == 0 and out.startswith(f"packet {tmp_path / 'pkt.zip'}: verified")
    labels = [line.split(":")[0].strip() for line in out.splitlines()[1:]]
    assert len(labels) == len(set(labels)), labels
    assert "  clips: 2 (2 NOT clear to ship)" in out.splitlines()
    # --fail-on gates a true disclosure of a cut that is not clear to ship
    code, _, err = run(*args, "--fail-on", "high")
    assert code == 1 and "open finding(s) at or above high" in err


def test_build_fail_on_gates_and_the_packet_is_still_written(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    cut = write_cut(timeline([SH030]), tmp_path / "cut.otio")
    code, _, err = run(*build_args(ledger, cut, tmp_path / "pkt", "--fail-on", "critical"))
    assert code == 1 and "at or above critical" in err
    assert (tmp_path / "pkt" / "disclosure.json").exists()


def test_a_tampered_packet_exits_1_naming_the_reason(tmp_path: Path, ledger: PacketLedger) -> None:
    cut = write_cut(timeline([SH010_V2]), tmp_path / "cut.otio")
    assert run(*build_args(ledger, cut, tmp_path / "pkt"))[0] == 0
    (tmp_path / "pkt" / "disclosure.pdf").write_bytes(b"%PDF-1.4 forged")
    code, out, err = run("packet", "verify", str(tmp_path / "pkt"), "--log-key", ledger.log_vkey)
    assert code == 1
    assert "[file_changed] disclosure.pdf" in out
    assert "fails: file_changed" in err


def test_usage_errors_exit_2(tmp_path: Path, ledger: PacketLedger) -> None:
    cut = write_cut(timeline([SH010_V2]), tmp_path / "cut.otio")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x", encoding="utf-8")
    code, _, err = run(*build_args(ledger, cut, tmp_path / "full"))
    assert code == 2 and "not an empty folder" in err
    # an old packet whose folder was removed: its .zip is never replaced by another packet's
    old = tmp_path / "old.zip"
    old.write_bytes(b"an old packet")
    code, _, err = run(*build_args(ledger, cut, tmp_path / "old"))
    assert code == 2 and f"{old} exists" in err and old.read_bytes() == b"an old packet"
    assert not (tmp_path / "old").exists()
    code, _, err = run("packet", "verify", str(cut), "--log-key", ledger.log_vkey)
    assert code == 2 and "neither a packet folder nor a .zip" in err


def test_audit_require_approvals_applies_the_same_rule(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    base = ["audit", "ip", "--ledger", ledger.url, "--production", story.SHOW, "--format", "json"]
    code, out, _ = run(*base, "--fail-on", "never", "--require-approvals")
    assert code == 0
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert "approval-missing" in rules
    _, plain, _ = run(*base, "--fail-on", "never")
    assert "approval-missing" not in {f["rule"] for f in json.loads(plain)["findings"]}


def test_serve_refuses_a_packet_that_does_not_verify(tmp_path: Path, ledger: PacketLedger) -> None:
    require_module("uvicorn")
    cut = write_cut(timeline([SH010_V2]), tmp_path / "cut.otio")
    assert run(*build_args(ledger, cut, tmp_path / "pkt"))[0] == 0
    (tmp_path / "pkt" / "disclosure.json").write_text("{}", encoding="utf-8")
    accounts = tmp_path / "accounts.json"
    args = ["serve", "--ledger", ledger.url, "--accounts", str(accounts)]
    code, _, err = run(*args, "--packet", str(tmp_path / "pkt"))
    assert code == 1 and "fails: file_changed" in err


def test_require_complete_fails_a_packet_whose_completeness_is_not_proven(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """A checkpoint that commits to no authenticated index gives "not proven": a packet that
    verifies, unless the reader asks for completeness with --require-complete (exit 1)."""
    from ledger.log import checkpoint as cp
    from ledger.store import StoredCheckpoint, open_store
    from tests.portal.portal_factory import append

    cut = write_cut(timeline([SH010_V2, SH030]), tmp_path / "cut.edl")
    vkey = tmp_path / "log.vkey"
    vkey.write_text(ledger.log_vkey + "\n", encoding="utf-8")
    code, _, err = run(*build_args(ledger, cut, tmp_path / "indexed"))
    assert code == 0, err
    proven = ["packet", "verify", str(tmp_path / "indexed"), "--log-key", str(vkey)]
    code, out, err = run(*proven, "--require-complete", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["completeness"].startswith("proven for")

    with open_store(ledger.url) as store:  # an older log: a checkpoint without index/v1
        append(store, [approval("generated_final", n=99)], ledger.signers)
        size = store.head().size
        root = store.tree(size).root()
        body = cp.Checkpoint(ORIGIN, size, root)
        note = cp.signed_checkpoint(body, ORIGIN, ledger.log.private)
        store.add_checkpoint(StoredCheckpoint(size, root, note, datetime.now(UTC)))
    code, _, err = run(*build_args(ledger, cut, tmp_path / "plain"))
    assert code == 0, err
    args = ["packet", "verify", str(tmp_path / "plain"), "--log-key", str(vkey)]
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["completeness"].startswith("not proven")
    code, _, err = run(*args, "--require-complete")
    assert code == 1
    assert "not proven" in err and "--require-complete" in err


def test_build_refuses_a_production_or_episode_no_event_records(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """As audit ip and credits do: a mistyped name never builds a packet of clips 'not in the
    ledger' with exit 0."""
    cut = write_cut(timeline([SH010_V2]), tmp_path / "cut.otio")
    args = build_args(ledger, cut, tmp_path / "pkt")
    for flag, wrong in (("--production", "Fallen tower"), ("--episode", "102")):
        given = list(args)
        given[given.index(flag) + 1] = wrong
        code, out, err = run(*given)
        assert code == 2 and "error: no provenance events for" in err and wrong in err, err
        assert not (tmp_path / "pkt").exists() and out == ""


def _forged_summary(tmp_path: Path, ledger: PacketLedger) -> tuple[Path, Path, dict[str, Any]]:
    """A packet whose disclosure.json's summary is rewritten (MANIFEST.sha256 too, which
    nothing signs): its folder, the log key's file and the forged disclosure."""
    cut = write_cut(timeline([SH010_V2, SH030]), tmp_path / "cut.otio")
    packet = tmp_path / "pkt"
    assert run(*build_args(ledger, cut, packet))[0] == 0
    disclosure = json.loads((packet / "disclosure.json").read_text(encoding="utf-8"))
    disclosure["summary"]["by_status"] = {"clear to ship\x1b]0;pwned\x07": 2}
    disclosure["summary"]["all_clear"] = True
    (packet / "disclosure.json").write_text(json.dumps(disclosure), encoding="utf-8")
    files = {p.relative_to(packet).as_posix(): p.read_bytes() for p in packet.rglob("*.*")}
    (packet / MANIFEST).write_text(manifest_text(files), encoding="utf-8")
    vkey = tmp_path / "log.vkey"
    vkey.write_text(ledger.log_vkey + "\n", encoding="utf-8")
    return packet, vkey, disclosure


def test_a_failing_packets_own_summary_is_labelled_unverified_and_escaped(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """A forger rewrites disclosure.json's summary (and MANIFEST.sha256, which nothing signs):
    verify failed, then printed the forged counts as 'clips: 3 (2 clear to ship…)', with the
    terminal escapes it held; it now labels them as the packet's unverified claim, escaped."""
    packet, vkey, disclosure = _forged_summary(tmp_path, ledger)
    code, out, _ = run("packet", "verify", str(packet), "--log-key", str(vkey), "--skip-pdf")
    assert code == 1 and "disclosure_mismatch" in out
    assert "\x1b" not in out and "\x07" not in out
    claimed = f"{disclosure['summary']['clips']} (2 clear to ship\\x1b]0;pwned\\x07)"
    assert f"  clips as the packet claims (NOT verified): {claimed}" in out
    assert "\n  clips: " not in out


def test_a_failing_packets_json_states_its_summary_only_as_an_unverified_claim(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """--format json of a packet whose summary is forged gave it as 'summary' beside ok: false,
    so a script reading summary.all_clear saw the forger's 'true': the claim now sits under a
    key that says it is not verified, and 'summary' is null."""
    packet, vkey, disclosure = _forged_summary(tmp_path, ledger)
    args = ["packet", "verify", str(packet), "--log-key", str(vkey), "--skip-pdf"]
    code, out, _ = run(*args, "--format", "json")
    data = json.loads(out)
    assert code == 1 and not data["ok"] and data["problems"][0]["code"] == "disclosure_mismatch"
    assert data["summary"] is None
    assert data["claimed_summary_not_verified"] == disclosure["summary"]
