"""A hostile packet: files the verifier never compares, names that collide, links in a .zip."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import VerificationFailure
from ledger.packet import build as pb
from ledger.packet import verify as pv
from ledger.packet.completeness import completeness_keys
from ledger.packet.files import MANIFEST, manifest_text, read_packet, sha256_hex
from ledger.packet.verify import PacketVerdict
from ledger.store import open_store
from tests.ledger.packet.packet_factory import (
    SH010_V2,
    SH030,
    PacketLedger,
    timeline,
    write_cut,
)
from tests.ledger.packet.test_packet import build, codes, rewrite, verify


@pytest.fixture
def ledger(tmp_path: Path) -> PacketLedger:
    from tests.ledger.packet.packet_factory import build_ledger

    return build_ledger(tmp_path / "ledger.db")


@pytest.fixture
def packet(tmp_path: Path, ledger: PacketLedger) -> Path:
    folder, _ = build(tmp_path, ledger)
    assert verify(folder, ledger).ok
    return folder


def _zip(path: Path, files: dict[str, bytes], link: tuple[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link[0])
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, link[1])
    return path


@pytest.mark.parametrize(
    "name", ["disclosure-final.html", "README.txt", "cut/annotated-v2.otio", "c2pa/extra.json"]
)
def test_a_file_listed_in_the_manifest_that_nothing_checks_fails(
    packet: Path, ledger: PacketLedger, name: str
) -> None:
    """A forged page next to the real one, listed in the manifest, must not ride along with a
    packet that verifies: the reader opens it believing the packet vouches for it."""
    rewrite(packet, name, b"<p>every clip is clear to ship</p>")
    assert MANIFEST in read_packet(packet) and name in read_packet(packet)
    verdict = verify(packet, ledger)
    assert not verdict.ok
    assert any(name in p.detail for p in verdict.problems)


def test_a_zip_with_names_that_differ_only_in_case_is_refused(
    packet: Path, ledger: PacketLedger
) -> None:
    """Unpacked on a case-insensitive disk (macOS, Windows), the later one replaces the other."""
    files = read_packet(packet)
    files["DISCLOSURE.html"] = b"<p>all clear</p>"
    hostile = _zip(packet.with_name("case.zip"), files)
    _refused(verify(hostile, ledger), "differ only in case")
    (packet / "Disclosure.html").write_bytes(b"<p>all clear</p>")  # and in a folder
    _refused(verify(packet, ledger), "differ only in case")
    (packet / "Disclosure.html").unlink()
    (packet / "cafe\u0301.txt").write_bytes(b"x")  # NFD; macOS writes both as one file
    (packet / "caf\u00e9.txt").write_bytes(b"y")
    _refused(verify(packet, ledger), "differ only in case")


@pytest.mark.parametrize("name", ["./disclosure.html", "evidence//checkpoint.txt"])
def test_a_zip_name_spelled_another_way_is_refused(
    packet: Path, ledger: PacketLedger, name: str
) -> None:
    """unzip writes ./disclosure.html over disclosure.html: one file on disk, two to a reader."""
    files = {**read_packet(packet), name: b"<p>all clear</p>"}
    _refused(verify(_zip(packet.with_name("spelled.zip"), files), ledger), "plain form")


def test_a_zip_holding_a_symbolic_link_is_refused(packet: Path, ledger: PacketLedger) -> None:
    """The verifier reads the link's target text; unzip makes a link the reader then follows."""
    files = read_packet(packet)
    hostile = _zip(packet.with_name("link.zip"), files, ("evidence/notes.txt", "/etc/passwd"))
    _refused(verify(hostile, ledger), "symbolic link")
    with pytest.raises(VerificationFailure, match="symbolic link"):
        read_packet(hostile)


def _refused(verdict: PacketVerdict, why: str) -> None:
    assert codes(verdict) == {"file_unsafe"}
    assert why in verdict.problems[0].detail


def test_an_unchanged_packet_and_its_zip_still_verify(packet: Path, ledger: PacketLedger) -> None:
    assert verify(packet, ledger).ok
    assert verify(_zip(packet.with_name("same.zip"), read_packet(packet)), ledger).ok
    assert codes(verify(packet, ledger)) == set()


def test_a_refused_zip_still_gives_json_and_exit_1(packet: Path, ledger: PacketLedger) -> None:
    """A script reading --format json gets a verdict naming the reason, not an empty stdout."""
    from tests.cli.test_packet_cli import run

    hostile = _zip(packet.with_name("escape.zip"), {**read_packet(packet), "../x": b"x"})
    args = ["packet", "verify", str(hostile), "--log-key", ledger.log_vkey]
    code, out, err = run(*args, "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    assert data["ok"] is False and data["problems"][0]["code"] == "file_unsafe"
    code, out, err = run(*args)
    assert code == 1 and "[file_unsafe]" in out and "fails: file_unsafe" in err


def _forge_without(folder: Path, ledger: PacketLedger, drop: set[int]) -> dict[str, Any]:
    """The studio leaves entries out and recomputes every derived file from the rest, as the
    verifier would: a self-consistent packet that tells less than the log holds."""
    files = read_packet(folder)
    v = pv.PacketVerdict(str(folder))
    header = json.loads(files[pb.PACKET_JSON])
    note = files[pb.CHECKPOINT_FILE].decode("utf-8")
    checkpoint = pv._check_checkpoint(header, note, ledger.log_vkey, [], 0, v, None)
    kept = [e for e in pv._check_entries(files, note, checkpoint, v) if e.seq not in drop]
    meta = {**pb.header_meta(header), **pv._log_meta(ledger.log_vkey)}
    store = pb.evidence_store(checkpoint, meta, kept)
    i = pv._inputs(files, header, pv._Hashed(files), v)
    args = (i.production, i.episode, i.clips, i.info, i.as_of, i.timeline, i.refused)
    derived = pb.derived_files(checkpoint, meta, kept, *args, store=store)
    lines = files[pb.ENTRIES_FILE].decode("utf-8").splitlines()
    kept_lines = [line for line in lines if json.loads(line)["seq"] not in drop]
    (folder / pb.ENTRIES_FILE).write_text("".join(f"{ln}\n" for ln in kept_lines), "utf-8")
    for name, data in derived.items():
        (folder / name).write_bytes(data)
    (folder / MANIFEST).write_text(manifest_text(read_packet(folder)), encoding="utf-8")
    body: dict[str, Any] = json.loads(derived[pb.DISCLOSURE_JSON])
    return body


def _rekey(folder: Path, forged: dict[str, Any]) -> None:
    """completeness.json listing the keys ``forged`` rests on (each among those built)."""
    path = folder / pb.COMPLETENESS_FILE
    section = json.loads(path.read_text(encoding="utf-8"))
    proofs = {p["key"]: p for p in section["proofs"]}
    keys = completeness_keys(forged)
    section.update(keys=keys, proofs=[proofs[k] for k in keys])
    path.write_text(json.dumps(section), encoding="utf-8")
    (folder / MANIFEST).write_text(manifest_text(read_packet(folder)), encoding="utf-8")


def test_an_ai_step_of_the_episode_left_out_of_the_register_fails_completeness(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """The AI-usage register lists every AI step of the episode, not only the cut's lineages:
    a step outside the cut's lineages, left out, must not leave completeness 'proven'."""
    folder, body = build(tmp_path, ledger, assets=[SH030])
    lineage = {v for c in body["clips"] for v in c.get("lineage", [])}
    outside = [a for a in body["ai_register"] if a["asset"] not in lineage]
    assert outside, "the demo episode has AI steps outside sh030's lineage"
    with open_store(ledger.url) as store:
        seq = next(e.seq for e in store.entries() if outside[0]["event_id"] in str(identify_id(e)))
    forged = _forge_without(folder, ledger, {seq})
    assert len(forged["ai_register"]) == len(body["ai_register"]) - 1
    _rekey(folder, forged)  # the keys of the forged disclosure, their proofs as built
    verdict = verify(folder, ledger)
    assert not verdict.ok and "completeness" in codes(verdict), verdict.completeness
    assert any(str(seq) in p.detail for p in verdict.problems)


def identify_id(entry: Any) -> str | None:
    from ledger.log.receipt import identify

    return identify(entry.envelope).event_id


def test_a_proof_given_twice_fails_even_when_one_copy_verifies(
    packet: Path, ledger: PacketLedger
) -> None:
    """Only one copy would be checked; a reader checking the other by hand reads a forgery."""
    path = packet / pb.COMPLETENESS_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    first = data["proofs"][0]
    data["proofs"].insert(0, {"key": first["key"], "path": [], "end": "empty", "entries": []})
    rewrite(packet, pb.COMPLETENESS_FILE, pb.dumps(data))
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"completeness"}
    assert any("given 2 times" in p.detail for p in verdict.problems)
    data["proofs"][0] = "not an object"
    rewrite(packet, pb.COMPLETENESS_FILE, pb.dumps(data))
    assert any("not an object with a key" in p.detail for p in verify(packet, ledger).problems)


def test_the_trust_root_the_verifier_took_from_the_packet_is_stated_whole(
    packet: Path, ledger: PacketLedger
) -> None:
    """Without --root-key the packet's own trust root is used: the result says so, with the
    threshold and the rotation grace (both also unpinned by --root-key), in text and JSON."""
    header = json.loads((packet / pb.PACKET_JSON).read_text(encoding="utf-8"))
    header["trust"]["rotation_grace_seconds"] = 10 * 365 * 86400  # late events for ten years
    rewrite(packet, pb.PACKET_JSON, pb.dumps(header))
    verdict = verify(packet, ledger)
    line = verdict.checks["trust_root"]
    assert "not pinned" in line and f"rotation grace {10 * 365 * 86400} s" in line
    assert "does not commit" in line


def test_a_packet_about_another_cut_fails_against_the_cut_held(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """A studio that drops the troubled shot from the cut gets a true packet about a cut that is
    not the one delivered: --cut pins it; without, the result names the cut's SHA-256."""
    from tests.cli.test_packet_cli import run

    folder, _ = build(tmp_path, ledger, assets=[SH030], name="short")
    locked = tmp_path / "locked.otio"
    write_cut(timeline([SH010_V2, SH030]), locked)
    args = ["packet", "verify", str(folder), "--log-key", ledger.log_vkey, "--format", "json"]
    code, out, err = run(*args, "--cut", str(locked))
    assert code == 1, err
    data = json.loads(out)
    assert [p["code"] for p in data["problems"]] == ["cut_mismatch"]
    code, out, _ = run(*args)
    assert code == 0 and "not compared" in json.loads(out)["checks"]["cut"]
    held = folder / json.loads((folder / pb.PACKET_JSON).read_text("utf-8"))["cut"]["file"]
    code, out, _ = run(*args[:-2], "--cut", str(held))
    assert code == 0 and "is the cut given" in out


def test_a_manifest_listing_itself_or_a_zip_naming_a_file_twice_fails(
    packet: Path, ledger: PacketLedger
) -> None:
    manifest = (packet / MANIFEST).read_text(encoding="utf-8")
    (packet / MANIFEST).write_text(manifest + f"{'0' * 64}  {MANIFEST}\n", encoding="utf-8")
    assert codes(verify(packet, ledger)) == {"file_changed"}
    (packet / MANIFEST).write_text(manifest, encoding="utf-8")
    files = read_packet(packet)
    hostile = packet.with_name("twice.zip")
    with zipfile.ZipFile(hostile, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("disclosure.html", b"<p>all clear</p>")
    _refused(verify(hostile, ledger), "twice")


def test_each_completeness_proof_is_the_standalone_proof_reassembled(
    packet: Path, ledger: PacketLedger
) -> None:
    """A packet's proof names its entries by index into entries.jsonl; with the receipts' bytes
    and paths and the packet's checkpoint it is, byte for byte, what ``prove --about`` gives at
    that checkpoint, and verifies alone (verify_about) as a reader re-checking it expects."""
    from ledger.index import prove_about, verify_about
    from ledger.log.receipt import parse_receipt
    from ledger.packet.completeness import standalone

    note = (packet / pb.CHECKPOINT_FILE).read_text(encoding="utf-8")
    held = {}
    for line in (packet / pb.ENTRIES_FILE).read_text(encoding="utf-8").splitlines():
        receipt = parse_receipt(json.loads(line)["receipt"])
        held[receipt.index] = (receipt.entry, receipt.proof)
    data = json.loads((packet / pb.COMPLETENESS_FILE).read_text(encoding="utf-8"))
    assert any(p["entries"] for p in data["proofs"]) and len(data["proofs"]) == len(data["keys"])
    with open_store(ledger.url) as store:
        for item in data["proofs"]:
            text = standalone(item, note, held)
            assert text == prove_about(store, item["key"])
            assert verify_about(text, ledger.log_vkey).indices == tuple(item["entries"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p["path"].__setitem__(0, "A" * 43 + "="), "(map_mismatch)"),
        (lambda p: p["entries"].pop(), "(map_mismatch)"),
        (lambda p: p["entries"].append(p["entries"][-1] + 1), "(map_mismatch)"),
        (lambda p: p["entries"].reverse(), "(map_mismatch)"),
        (lambda p: p.__setitem__("end", "empty"), "(map_mismatch)"),
        (lambda p: p.__setitem__("end", "nothing"), "(malformed)"),
        (lambda p: p["path"].append("not base64!"), "(malformed)"),
        (lambda p: p["entries"].__setitem__(0, str(p["entries"][0])), "(malformed)"),
        (lambda p: p["entries"].__setitem__(0, True), "(malformed)"),
        (lambda p: p.__setitem__("proof", "asset-ledger/index-proof@v1"), "(malformed)"),
    ],
)
def test_a_tampered_completeness_proof_fails_with_its_reason(
    packet: Path, ledger: PacketLedger, change: Any, reason: str
) -> None:
    """Every element of a packet's proof is checked: the map path, the end, the entries named
    (an entry dropped, added, or out of order changes the key's value under the index root),
    and nothing else may ride along in it."""
    data = json.loads((packet / pb.COMPLETENESS_FILE).read_text(encoding="utf-8"))
    change(next(p for p in data["proofs"] if len(p["entries"]) > 1))
    rewrite(packet, pb.COMPLETENESS_FILE, pb.dumps(data))
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"completeness"}, verdict.problems
    assert any(reason in p.detail for p in verdict.problems), verdict.problems


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("checkpoint", "root_hash"), "00" * 32),
        (("ledger", "origin"), "other-studio.example/ledger"),
        (("ledger", "log_vkey"), "other-studio.example/ledger+00000000+AQ=="),
    ],
)
def test_packet_json_stating_another_root_or_log_fails(
    packet: Path, ledger: PacketLedger, where: tuple[str, str], value: str
) -> None:
    """packet.json is what a reader opens first: what it states of the checkpoint and the log
    must be what was verified."""
    header = json.loads((packet / pb.PACKET_JSON).read_text(encoding="utf-8"))
    header[where[0]][where[1]] = value
    rewrite(packet, pb.PACKET_JSON, pb.dumps(header))
    assert codes(verify(packet, ledger)) == {"checkpoint_swapped"}


def test_packet_json_of_another_format_fails(packet: Path, ledger: PacketLedger) -> None:
    header = json.loads((packet / pb.PACKET_JSON).read_text(encoding="utf-8"))
    header["format"] = "assetledger-packet/v1"  # the form before packet-level proofs
    rewrite(packet, pb.PACKET_JSON, pb.dumps(header))
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"file_changed"}
    assert "format" in verdict.problems[0].detail


def test_a_forged_page_cannot_pass_as_the_map(packet: Path, ledger: PacketLedger) -> None:
    """packet.json names the map file: naming a forged page makes it an 'input' nothing checks
    (its rows are merely refused), unless the map is where a packet keeps it."""
    (packet / "disclosure-final.html").write_bytes(b"<p>every clip is clear to ship</p>\n")
    header = json.loads((packet / pb.PACKET_JSON).read_text(encoding="utf-8"))
    header["cut"]["map"] = "disclosure-final.html"
    header["cut"]["map_sha256"] = sha256_hex((packet / "disclosure-final.html").read_bytes())
    (packet / pb.PACKET_JSON).write_bytes(pb.dumps(header))
    _forge_without(packet, ledger, set())  # every derived file recomputed with that "map"
    verdict = verify(packet, ledger)
    assert not verdict.ok
    assert any("disclosure-final.html" in p.detail for p in verdict.problems)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (pb.DISCLOSURE_JSON, "file_changed"),
        (pb.PACKET_JSON, "file_changed"),
        (pb.COMPLETENESS_FILE, "file_changed"),
        (pb.ENTRIES_FILE, "entry_unreadable"),
    ],
)
def test_json_nested_past_the_parsers_depth_is_named_not_a_crash(
    packet: Path, ledger: PacketLedger, name: str, code: str
) -> None:
    """JSON nested deeper than the parser goes (it raises RecursionError, not ValueError) is
    a file that is not what the packet says, with its reason: the verifier does not crash."""
    rewrite(packet, name, b"[" * 100_000 + b"]" * 100_000 + b"\n")
    verdict = verify(packet, ledger)
    assert codes(verdict) == {code}, verdict.problems
