"""Delivery packets: build from a real signed ledger, verify offline, catch tampering."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from demo import story
from ledger.errors import ConfigurationError
from ledger.events.approval import CATEGORIES, GENERATED_FINAL, LIKENESS
from ledger.events.base import format_time
from ledger.events.version import assetledger_version
from ledger.log.operator import EMPTY_LEDGER, Checkpointer, init_ledger
from ledger.packet import verify as pv
from ledger.packet.alongside import can_fork
from ledger.packet.build import FORMAT, PACKET_JSON, build_packet, header_meta, pdf_of
from ledger.packet.files import MANIFEST, manifest_text, read_packet
from ledger.packet.store import entry_from_bytes
from ledger.packet.verify import PacketVerdict, PdfRender, verify_packet
from ledger.store import open_store
from ledger.trust import keys
from ledger.trust.replay import (
    META_CLEARANCE_SCOPES,
    decode_entry,
    decoding_once,
    shared_decoding,
)
from ledger.witness.cosignature import WitnessKey, parse_witness_vkey
from tests.ledger.packet.packet_factory import (
    APPROVED_AT,
    SH010_V2,
    SH020,
    SH030,
    PacketLedger,
    approval,
    build_ledger,
    timeline,
    write_cut,
)
from tests.portal.portal_factory import append

CUT: list[str | None] = [SH010_V2, SH020, SH030]


def build(
    tmp_path: Path,
    ledger: PacketLedger,
    suffix: str = ".otio",
    assets: list[str | None] | None = None,
    name: str = "pkt",
    **kw: Any,
) -> tuple[Path, dict[str, Any]]:
    cut = tmp_path / f"cut-{name}{suffix}"
    if not cut.exists():
        write_cut(timeline(CUT if assets is None else assets), cut)
    with open_store(ledger.url) as store:
        result = build_packet(store, story.SHOW, story.EPISODE, cut, tmp_path / name, **kw)
    return result.folder, result.disclosure


def verify(path: Path, ledger: PacketLedger, quorum: int = 1) -> PacketVerdict:
    witnesses = [parse_witness_vkey(ledger.witness_vkey)] if quorum else []
    return verify_packet(path, ledger.log_vkey, witnesses=witnesses, quorum=quorum)


def codes(verdict: PacketVerdict) -> set[str]:
    return {p.code for p in verdict.problems}


@pytest.fixture
def ledger(tmp_path: Path) -> PacketLedger:
    return build_ledger(tmp_path / "ledger.db")


def clip(body: dict[str, Any], asset: str) -> dict[str, Any]:
    return next(c for c in body["clips"] if c["asset"] == asset)


@pytest.mark.parametrize("suffix", [".otio", ".edl", ".xml", ".aaf"])
def test_a_packet_from_each_cut_format_verifies_offline(
    tmp_path: Path, ledger: PacketLedger, suffix: str
) -> None:
    folder, body = build(tmp_path, ledger, suffix)
    assert [c["asset"] for c in body["clips"] if c["track_kind"] == "Video"] == CUT
    assert clip(body, SH010_V2)["status"] == "clear to ship"
    assert clip(body, SH030)["status"] == "NOT clear to ship"
    for path in (folder, folder.with_name(folder.name + ".zip")):
        verdict = verify(path, ledger)
        assert verdict.ok, verdict.problems
        assert verdict.cosigners == ["witness.example/w1"]
        assert verdict.entries == len(read_packet(folder)["evidence/entries.jsonl"].splitlines())
        assert verdict.completeness.startswith("proven for")


def test_the_disclosure_says_who_made_each_clip_and_with_what(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    _, body = build(tmp_path, ledger)
    sh030 = clip(body, SH030)
    assert sh030["record_in"] == "01:00:04:01" and sh030["shot"] == "sh030"
    assert {p["name"] for p in sh030["people"]} >= {"Ana Ruiz"}
    assert any(p["job_title"] for p in sh030["people"])
    models = {a["model"]["name"] for a in sh030["ai_elements"] if a["model"]}
    assert {"SkyForge", "ReplicaWorks"} <= models
    replica = next(u for u in sh030["likeness"] if u["performer"] == "performer:omar-haddad")
    assert not replica["covered"] and replica["consent"]["party_name"] == "Omar Haddad"
    rules = {(f["rule"], f["status"]) for f in sh030["findings"]}
    assert ("likeness-without-consent", "open") in rules
    assert ("deliverable-unresolved", "open") in rules
    sh020 = clip(body, SH020)
    cleared = next(f for f in sh020["findings"] if f["rule"] == "licence-not-covering")
    assert cleared["status"] == "cleared" and cleared["disposition"]["by"] == "Hana Sato"
    assert sh030["c2pa"]["manifest"].startswith("c2pa/")
    register = {r["asset"] for r in body["ai_register"]}
    assert f"{story.DELIVERY_PREFIX}/sh010/fx_debris@v001" in register
    files = read_packet(tmp_path / "pkt")
    assert sh030["c2pa"]["manifest"] in files
    html = files["disclosure.html"].decode()
    assert "Talent likeness and digital replicas" in html and "NOT clear to ship" in html
    assert files["disclosure.pdf"].startswith(b"%PDF")
    annotated = json.loads(files["cut/annotated.otio"])
    assert annotated["metadata"]["assetledger"]["disclosure_sha256"] == body["content_sha256"]


def test_the_same_ledger_checkpoint_and_cut_give_a_byte_identical_packet(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    first, _ = build(tmp_path, ledger, name="a")
    shutil.copy(tmp_path / "cut-a.otio", tmp_path / "cut-b.otio")
    second, _ = build(tmp_path, ledger, name="b")
    assert read_packet(first) == read_packet(second)
    assert first.with_name("a.zip").read_bytes() == second.with_name("b.zip").read_bytes()


def test_unmapped_clips_are_reported_never_guessed(tmp_path: Path, ledger: PacketLedger) -> None:
    _, body = build(tmp_path, ledger, assets=[SH010_V2, None])
    unmapped = [c for c in body["clips"] if c["status"] == "unmapped"]
    assert [c["name"] for c in unmapped] == ["clip1", "score-101"]
    assert all(c["asset"] is None and c["problem"] for c in unmapped)
    assert body["summary"]["unmapped"] == 2 and not body["summary"]["all_clear"]


# --- approvals ---------------------------------------------------------------------------------


def approvals_of(body: dict[str, Any], category: str) -> dict[str, str]:
    uses = body["distributor_disclosure"][category]["uses"]
    return {f"{u['asset']} {u['subject']}": u["status"] for u in uses}


def test_approvals_present_clear_the_uses(tmp_path: Path, ledger: PacketLedger) -> None:
    _, body = build(tmp_path, ledger)
    for category in CATEGORIES:
        assert set(approvals_of(body, category).values()) <= {"approved"}
    assert approvals_of(body, GENERATED_FINAL)
    assert not any(
        f["rule"] == "approval-missing" for c in body["clips"] for f in c.get("findings", [])
    )


def test_missing_approvals_are_findings_and_block_shipping(tmp_path: Path) -> None:
    ledger = build_ledger(tmp_path / "l.db", approvals=[])
    folder, body = build(tmp_path, ledger)
    assert set(approvals_of(body, GENERATED_FINAL).values()) == {"missing"}
    sh010 = clip(body, SH010_V2)
    assert sh010["status"] == "NOT clear to ship"
    missing = [f for f in sh010["findings"] if f["rule"] == "approval-missing"]
    assert missing and all(f["status"] == "open" for f in missing)
    assert "no approval is recorded" in missing[0]["explanation"]
    assert verify(folder, ledger).ok  # a true disclosure of a bad cut verifies


def test_an_expired_or_refused_approval_does_not_approve(tmp_path: Path) -> None:
    expired = APPROVED_AT + timedelta(days=1)
    chosen = [
        approval(GENERATED_FINAL, expires=format_time(expired)),
        approval(LIKENESS, decision="refused", n=1),
    ]
    ledger = build_ledger(tmp_path / "l.db", approvals=chosen)
    _, body = build(tmp_path, ledger)
    assert set(approvals_of(body, GENERATED_FINAL).values()) == {"expired"}
    assert set(approvals_of(body, LIKENESS).values()) == {"refused"}
    # judged before it expired, the same approval approves
    _, earlier = build(tmp_path, ledger, name="earlier", as_of=APPROVED_AT + timedelta(hours=1))
    assert set(approvals_of(earlier, GENERATED_FINAL).values()) == {"approved"}


def test_an_approval_signed_without_an_approval_scope_does_not_count(tmp_path: Path) -> None:
    forged = approval(GENERATED_FINAL, signer="editorial")  # editorial's key names no approvals
    ledger = build_ledger(tmp_path / "l.db", approvals=[forged])
    _, body = build(tmp_path, ledger)
    uses = body["distributor_disclosure"][GENERATED_FINAL]["uses"]
    assert {u["status"] for u in uses} == {"missing"}
    assert any(
        "not enrolled" in n["why"] or "signed by" in n["why"]
        for u in uses
        for n in u["not_counted"]
    )


# --- tampering -----------------------------------------------------------------------------


def rewrite(folder: Path, name: str, data: bytes) -> None:
    """Change a file and the manifest with it (an attacker who knows the format)."""
    (folder / name).write_bytes(data)
    files = read_packet(folder)
    (folder / MANIFEST).write_text(manifest_text(files), encoding="utf-8")


@pytest.fixture
def packet(tmp_path: Path, ledger: PacketLedger) -> Path:
    folder, _ = build(tmp_path, ledger)
    assert verify(folder, ledger).ok
    return folder


def test_a_changed_file_fails(packet: Path, ledger: PacketLedger) -> None:
    (packet / "disclosure.html").write_text("<p>all clear</p>", encoding="utf-8")
    assert codes(verify(packet, ledger)) == {"file_changed"}


def test_a_rewritten_pdf_fails_unless_the_pdf_check_is_skipped(
    packet: Path, ledger: PacketLedger
) -> None:
    rewrite(packet, "disclosure.pdf", b"%PDF-1.4 all clear")
    assert codes(verify(packet, ledger)) == {"derived_mismatch"}
    quick = verify_packet(packet, ledger.log_vkey, check_pdf=False)
    assert quick.ok and "not checked" in quick.checks["pdf"]


def test_an_added_file_fails(packet: Path, ledger: PacketLedger) -> None:
    (packet / "records" / "extra.json").write_text("[]", encoding="utf-8")
    assert codes(verify(packet, ledger)) == {"file_unlisted"}


def test_a_rewritten_html_with_a_new_manifest_fails(packet: Path, ledger: PacketLedger) -> None:
    rewrite(packet, "disclosure.html", b"<p>all clear</p>")
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"derived_mismatch"}
    assert "disclosure.html" in verdict.problems[0].detail


@pytest.mark.parametrize("kind", ["cut/annotated.otio", "c2pa/", "records/consents.json"])
def test_a_rewritten_file_checked_alongside_fails_with_or_without_a_fork(
    packet: Path, ledger: PacketLedger, kind: str
) -> None:
    """The annotated cut, the C2PA manifest stores and the records are checked in a forked
    process while the audit re-runs; where none is forked (a thread running), here: the same
    verdict either way."""
    name = next(n for n in sorted(read_packet(packet)) if n.startswith(kind))
    rewrite(packet, name, (packet / name).read_bytes().rstrip(b"\n") + b" \n")
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"derived_mismatch"}, verdict.problems
    assert name in verdict.problems[0].detail
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert verify(packet, ledger).problems == verdict.problems
    finally:
        stop.set()
        thread.join()


def test_an_event_removed_fails(packet: Path, ledger: PacketLedger) -> None:
    lines = (packet / "evidence/entries.jsonl").read_text(encoding="utf-8").splitlines()
    body = json.loads((packet / "disclosure.json").read_text(encoding="utf-8"))
    cited = clip(body, SH030)["findings"][0]["evidence"][0]["event_id"]
    kept = [ln for ln in lines if cited not in _event_ids(ln)]
    assert len(kept) == len(lines) - 1
    rewrite(packet, "evidence/entries.jsonl", ("\n".join(kept) + "\n").encode())
    verdict = verify(packet, ledger)
    assert "event_missing" in codes(verdict)
    assert cited in " ".join(p.detail for p in verdict.problems)


def _event_ids(line: str) -> str:
    from ledger.log.receipt import identify, parse_receipt

    return identify(parse_receipt(json.loads(line)["receipt"]).entry).event_id


def test_a_clip_remapped_in_the_disclosure_fails(packet: Path, ledger: PacketLedger) -> None:
    body = json.loads((packet / "disclosure.json").read_text(encoding="utf-8"))
    target = clip(body, SH030)
    target["asset"], target["status"] = SH020, "clear to ship"
    rewrite(packet, "disclosure.json", (json.dumps(body, indent=2) + "\n").encode())
    verdict = verify(packet, ledger)
    assert "disclosure_mismatch" in codes(verdict)
    assert "$.clips[2]" in verdict.problems[0].detail


def test_a_clip_remapped_in_the_cut_fails(
    tmp_path: Path, packet: Path, ledger: PacketLedger
) -> None:
    other = write_cut(timeline([SH010_V2, SH020, SH020]), tmp_path / "other.otio")
    header = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    header["cut"]["sha256"] = hashlib.sha256(other.read_bytes()).hexdigest()
    (packet / "cut/cut.otio").write_bytes(other.read_bytes())
    rewrite(packet, "packet.json", (json.dumps(header, indent=2) + "\n").encode())
    verdict = verify(packet, ledger)
    assert "disclosure_mismatch" in codes(verdict)


def test_a_swapped_proof_fails(packet: Path, ledger: PacketLedger) -> None:
    rows = [json.loads(ln) for ln in (packet / "evidence/entries.jsonl").read_text().splitlines()]
    a, b = rows[3]["receipt"].split("\n"), rows[4]["receipt"].split("\n")
    a_end, b_end = a.index(""), b.index("")  # proof lines sit between index and the blank line
    rows[3]["receipt"] = "\n".join([*a[:3], *b[3:b_end], *a[a_end:]])
    text = "".join(json.dumps(r) + "\n" for r in rows)
    rewrite(packet, "evidence/entries.jsonl", text.encode())
    assert codes(verify(packet, ledger)) == {"inclusion"}


def _entries_swapped(a: list[str], b: list[str]) -> None:
    a[1], b[1] = b[1], a[1]


def _indices_swapped(a: list[str], b: list[str]) -> None:
    a[2], b[2] = b[2], a[2]


def _line_of_the_other(a: list[str], b: list[str]) -> None:
    # a proof line the first receipt holds (decoded and remembered when it was read) put into
    # the second's proof where the second holds another
    b[-1] = next(line for line in a[3:] if line not in b[3:])


@pytest.mark.parametrize("forge", [_entries_swapped, _indices_swapped, _line_of_the_other])
def test_receipts_forged_from_each_others_lines_fail(
    packet: Path, ledger: PacketLedger, forge: Any
) -> None:
    """verify decodes each distinct proof line once and remembers the nodes and inclusions it
    proved: none of that lets one receipt's verified lines vouch for another's."""
    rows = [json.loads(ln) for ln in (packet / "evidence/entries.jsonl").read_text().splitlines()]
    heads = [rows[n]["receipt"].partition("\n\n") for n in (3, 4)]
    a, b = (head.split("\n") for head, _, _ in heads)
    forge(a, b)
    if forge is _indices_swapped:  # the rows' own numbers follow, so only the proofs object
        rows[3]["seq"], rows[4]["seq"] = rows[4]["seq"], rows[3]["seq"]
    for n, lines, (_, sep, note) in zip((3, 4), (a, b), heads, strict=True):
        rows[n]["receipt"] = "\n".join(lines) + sep + note
    text = "".join(json.dumps(r) + "\n" for r in rows)
    rewrite(packet, "evidence/entries.jsonl", text.encode())
    assert codes(verify(packet, ledger)) == {"inclusion"}


def test_a_swapped_checkpoint_fails(packet: Path, ledger: PacketLedger) -> None:
    with open_store(ledger.url) as store:  # the log grows and signs a later checkpoint
        append(store, [approval(LIKENESS, n=9)], ledger.signers)
        newer = Checkpointer(store, ledger.log).checkpoint()
    assert newer is not None
    rewrite(packet, "evidence/checkpoint.txt", newer.note.encode())
    verdict = verify(packet, ledger, quorum=0)
    assert "checkpoint_swapped" in codes(verdict)


def test_a_dropped_cosignature_fails(packet: Path, ledger: PacketLedger) -> None:
    note = (packet / "evidence/checkpoint.txt").read_text(encoding="utf-8")
    bare = "".join(ln + "\n" for ln in note.splitlines() if "witness.example" not in ln)
    assert bare != note
    rewrite(packet, "evidence/checkpoint.txt", bare.encode())
    assert "cosignatures" in codes(verify(packet, ledger))
    # dropped from every receipt too: still short of the quorum
    rows = (packet / "evidence/entries.jsonl").read_text(encoding="utf-8")
    escaped = [json.dumps(t, ensure_ascii=False)[1:-1] for t in (note, bare)]
    swapped = rows.replace(*escaped)
    assert swapped != rows
    rewrite(packet, "evidence/entries.jsonl", swapped.encode())
    # packet.json names the cosignature the checkpoint no longer carries
    assert codes(verify(packet, ledger)) == {"cosignatures", "checkpoint_swapped"}
    # without a witness policy the loss still shows: packet.json names the witness (the C2PA
    # manifests carry the cosigned checkpoint too: derived_mismatch, once packet.json agrees)
    assert codes(verify(packet, ledger, quorum=0)) == {"checkpoint_swapped"}
    header = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    header["checkpoint"]["cosignatures"] = []
    rewrite(packet, "packet.json", (json.dumps(header, indent=2) + "\n").encode())
    assert codes(verify(packet, ledger, quorum=0)) == {"derived_mismatch"}


def test_a_pinned_trust_root_must_be_the_packets(packet: Path, ledger: PacketLedger) -> None:
    root = ledger.signers["root"].key_id
    pinned = verify_packet(packet, ledger.log_vkey, root_key_ids=[root])
    assert pinned.ok and "as given" in pinned.checks["trust_root"]
    other = verify_packet(packet, ledger.log_vkey, root_key_ids=["0" * 64])
    assert codes(other) == {"trust_root"}
    assert "not pinned" in verify(packet, ledger).checks["trust_root"]


def test_the_wrong_log_key_fails(packet: Path, ledger: PacketLedger) -> None:
    from ledger.log import checkpoint as cp

    other = keys.generate("other")
    vkey = cp.vkey(cp.parse_vkey(ledger.log_vkey)[0], other.public)
    verdict = verify_packet(packet, vkey)
    assert codes(verdict) == {"checkpoint_signature"}


def test_an_entry_whose_signature_does_not_verify_fails(tmp_path: Path) -> None:
    """The log holds an entry of the episode appended behind the consumer's back with a broken
    signature: the packet includes it (the audit reads the episode) and verify names it."""
    from dataclasses import replace

    from ledger.events.provenance import PROVENANCE
    from ledger.store import Batch
    from ledger.trust.dsse import Envelope, Signature
    from tests.ledger.audit.audit_factory import fixed, pending

    ledger = build_ledger(tmp_path / "l.db")
    _, event = next(e for e in story.production() if e[0] == "editorial")
    forged = dict(event, description="published behind the consumer's back")
    forged["asset"] = dict(event["asset"], version="v009")
    (item,) = pending(fixed([("editorial", PROVENANCE, forged)]), ledger.signers)
    envelope = Envelope.decode(item.envelope)
    bad = Signature(envelope.signatures[0].keyid, bytes(64))
    broken = replace(item, envelope=replace(envelope, signatures=(bad,)).encode())
    with open_store(ledger.url) as store:
        size = store.head().size
        entry = replace(broken, origin=replace(item.origin, offset=size))
        store.append(Batch([entry], [], {("events", 0): size + 1}, "test"))
        Checkpointer(store, ledger.log).checkpoint()
    folder, _ = build(tmp_path, ledger)
    verdict = verify(folder, ledger, quorum=0)
    assert codes(verdict) == {"signature"}
    assert "does not verify" in verdict.problems[0].detail
    # the signatures are checked in a forked process alongside the audit; where none can be
    # forked (another thread running: a server), here, with the same verdict
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert verify(folder, ledger, quorum=0).problems == verdict.problems
    finally:
        stop.set()
        thread.join()


def test_a_zip_with_an_escaping_name_is_refused(packet: Path, ledger: PacketLedger) -> None:
    import zipfile

    hostile = packet.with_name("hostile.zip")
    with zipfile.ZipFile(hostile, "w") as z:
        for name, data in read_packet(packet).items():
            z.writestr(name, data)
        z.writestr("../../etc/cron.d/x", b"* * * * * root true\n")
    verdict = verify(hostile, ledger)
    assert codes(verdict) == {"file_unsafe"} and "unsafe file name" in verdict.problems[0].detail
    assert not (packet.parent.parent / "etc").exists()


# --- completeness (the authenticated index) --------------------------------------------------


def test_completeness_is_proven_for_every_asset_performer_and_model(packet: Path) -> None:
    data = json.loads((packet / "evidence/completeness.json").read_text(encoding="utf-8"))
    assert data["status"] == "proven"
    keys = set(data["keys"])
    assert f"asset:{story.DELIVERY_PREFIX}/sh030/crowd_replica" in keys
    assert {"party:performer:omar-haddad", f"consent:{story.CONSENT_OMAR}"} <= keys
    assert {"party:org:mirrorhouse", "party:org:kestrel-ai"} <= keys  # licensors
    # never the ledger-wide keys: every use of a performer or model in every production
    assert not any(k.startswith(("performer:", "model:")) for k in keys), sorted(keys)
    assert {"registry:all", f"approval:generated_final/{story.SHOW}"} <= keys
    assert [p["key"] for p in data["proofs"]] == data["keys"]


def test_an_entry_left_out_that_the_index_names_fails(packet: Path, ledger: PacketLedger) -> None:
    """The studio leaves out an event about an asset of the cut (here the first publication of
    sh010's final, which the cut does not use): the proof for that asset names it."""
    from ledger.log.receipt import identify, parse_receipt

    lines = (packet / "evidence/entries.jsonl").read_text(encoding="utf-8").splitlines()
    wanted = f"{story.DELIVERY_PREFIX}/sh010/final@v001"

    def about(line: str) -> str | None:
        return identify(parse_receipt(json.loads(line)["receipt"]).entry).asset_version

    kept = [ln for ln in lines if about(ln) != wanted]
    assert len(kept) == len(lines) - 1
    rewrite(packet, "evidence/entries.jsonl", ("\n".join(kept) + "\n").encode())
    verdict = verify(packet, ledger)
    assert "completeness" in codes(verdict)
    assert any("leaves out" in p.detail for p in verdict.problems)


def test_a_proof_dropped_fails(packet: Path, ledger: PacketLedger) -> None:
    data = json.loads((packet / "evidence/completeness.json").read_text(encoding="utf-8"))
    dropped = data["proofs"].pop(0)
    rewrite(packet, "evidence/completeness.json", (json.dumps(data, indent=2) + "\n").encode())
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"completeness"}
    assert f"no proof for {dropped['key']}" in verdict.problems[0].detail


def test_a_proof_filed_under_another_key_fails(packet: Path, ledger: PacketLedger) -> None:
    data = json.loads((packet / "evidence/completeness.json").read_text(encoding="utf-8"))
    first, second = data["proofs"][0], data["proofs"][1]
    first["key"], second["key"] = second["key"], first["key"]
    data["proofs"][0], data["proofs"][1] = second, first  # in the listed order again
    rewrite(packet, "evidence/completeness.json", (json.dumps(data, indent=2) + "\n").encode())
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"completeness"}
    assert "(map_mismatch)" in verdict.problems[0].detail


def test_verified_packets_feed_record_timecodes(packet: Path, ledger: PacketLedger) -> None:
    from ledger.errors import VerificationFailure
    from ledger.packet.timecodes import packet_timecodes

    timecodes = packet_timecodes([packet], ledger.log_vkey)
    replica = f"{story.DELIVERY_PREFIX}/sh030/crowd_replica@v001"
    assert list(timecodes(story.SHOW, SH030, replica)) == ["01:00:04:01-01:00:06:03"]
    assert list(timecodes(story.SHOW, SH010_V2, replica)) == []
    assert list(timecodes("Another Show", SH030, replica)) == []
    (packet / "disclosure.json").write_text("{}", encoding="utf-8")
    with pytest.raises(VerificationFailure, match="file_changed"):
        packet_timecodes([packet], ledger.log_vkey)


def test_a_packet_carries_the_ledgers_clearance_rule(tmp_path: Path, ledger: PacketLedger) -> None:
    """The packet states whether consents and licences need a clearance scope (ledger meta
    fixed at init), so its audit re-run judges signers by the ledger's own rule."""
    folder, _ = build(tmp_path, ledger, name="older-rule")
    older = verify(folder, ledger)
    assert older.ok, older.problems
    assert json.loads((folder / PACKET_JSON).read_text())["trust"]["clearance_scopes"] is False
    assert "any enrolled key may sign consents" in older.checks["trust_root"]
    with open_store(ledger.url) as store:
        store.set_meta(META_CLEARANCE_SCOPES, "required")
    folder, _ = build(tmp_path, ledger, name="clearance-rule")
    assert json.loads((folder / PACKET_JSON).read_text())["trust"]["clearance_scopes"] is True
    assert header_meta({"trust": {"clearance_scopes": True}}) == {META_CLEARANCE_SCOPES: "required"}
    required = verify(folder, ledger)
    assert required.ok, required.problems  # the demo's clearances key names both actions
    assert (
        "consents and licences need a key with a clearance scope" in required.checks["trust_root"]
    )


def test_the_signer_of_a_cosigned_entry_is_derived_not_chosen(tmp_path: Path) -> None:
    """An episode event carries two enrolled signatures; the ledger admitted it by the first.
    entries.jsonl naming the other (which also verifies) would have the audit judge the entry
    by a key the ledger did not admit it by: verify re-derives the signer and fails."""
    from dataclasses import replace

    from ledger.events.provenance import PROVENANCE
    from ledger.store import Batch
    from ledger.trust.dsse import Envelope
    from ledger.trust.records import cosign
    from tests.ledger.audit.audit_factory import fixed, pending

    ledger = build_ledger(tmp_path / "l.db")
    _, event = next(e for e in story.production() if e[0] == "editorial")
    extra = dict(event, description="published, signed twice")
    extra["asset"] = dict(event["asset"], version="v009")
    (item,) = pending(fixed([("editorial", PROVENANCE, extra)]), ledger.signers)
    envelope = Envelope.decode(item.envelope)
    other = next(p for n, p in ledger.signers.items() if n not in ("editorial", "root", "log"))
    item = replace(item, envelope=cosign(envelope, [other]).encode())
    with open_store(ledger.url) as store:
        size = store.head().size
        store.append(
            Batch(
                [replace(item, origin=replace(item.origin, offset=size))],
                [],
                {("events", 0): size + 1},
                "test",
            )
        )
        Checkpointer(store, ledger.log).checkpoint()
    folder, _ = build(tmp_path, ledger)
    assert verify(folder, ledger, quorum=0).ok
    rows = (folder / "evidence/entries.jsonl").read_text(encoding="utf-8").splitlines()
    at = next(i for i, r in enumerate(rows) if json.loads(r)["seq"] == size)
    row = json.loads(rows[at])
    assert row["signer_keyid"] == item.signer_keyid != other.key_id
    row["signer_keyid"] = other.key_id
    rows[at] = json.dumps(row, ensure_ascii=False)
    rewrite(folder, "evidence/entries.jsonl", ("\n".join(rows) + "\n").encode())
    verdict = verify(folder, ledger, quorum=0)
    assert codes(verdict) == {"signature"}, verdict.problems
    assert "derived, not chosen" in verdict.problems[0].detail


def test_the_map_is_pinned_by_its_sha256(tmp_path: Path, ledger: PacketLedger) -> None:
    """A cut whose clips name no asset, mapped by a --map file: packet.json and the disclosure
    state the map's SHA-256 and each clip says it was mapped by the map; a map changed in the
    packet, even by a row no clip uses (which maps every clip the same), fails."""
    write_cut(timeline(CUT, how="name"), tmp_path / "cut-m.otio")
    rows = "".join(f"{str(a).split('/')[-2]},{a}\n" for a in CUT)
    (tmp_path / "reels.csv").write_text("clip,asset\n" + rows, encoding="utf-8")
    folder, body = build(tmp_path, ledger, name="m", map_path=tmp_path / "reels.csv")
    digest = hashlib.sha256((tmp_path / "reels.csv").read_bytes()).hexdigest()
    header = json.loads((folder / PACKET_JSON).read_text(encoding="utf-8"))
    assert header["cut"]["map"] == "cut/map.csv" and header["cut"]["map_sha256"] == digest
    assert body["cut"]["map_sha256"] == digest
    video = [c for c in body["clips"] if c["track_kind"] == "Video"]
    assert [c["asset"] for c in video] == CUT and {c["mapped_by"] for c in video} == {"map:clip"}
    assert verify(folder, ledger).ok
    extra = (tmp_path / "reels.csv").read_text(encoding="utf-8") + "sh999,other/sh999@v001\n"
    rewrite(folder, "cut/map.csv", extra.encode())
    verdict = verify(folder, ledger)
    assert codes(verdict) == {"file_changed"}, verdict.problems
    assert "map" in verdict.problems[0].detail


def test_the_pdf_rendered_alongside_counts_only_for_the_disclosure_it_was_rendered_from(
    packet: Path,
) -> None:
    """PdfRender renders the packet's own disclosure.json in a forked process; verify takes
    that PDF only for the very bytes the audit re-run gives, any other bytes are rendered
    themselves."""
    files = read_packet(packet)
    stated = files["disclosure.json"]
    body = json.loads(stated)
    body["production"] = "Another Show"
    other = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    assert pdf_of(stated) == files["disclosure.pdf"] != pdf_of(other)
    with PdfRender(stated) as alongside:
        # rendering in another process (Linux: fork) unless threads that other tests left
        # running forbid it here (tests/ledger/packet/test_alongside.py forks in a fresh process)
        assert (alongside._process is not None) == can_fork()
        assert alongside.result(stated) == files["disclosure.pdf"]
    with PdfRender(stated) as alongside:
        assert alongside.result(other) == pdf_of(other)
    with PdfRender(None) as none:
        assert none._process is None and none.result(other) == pdf_of(other)
    # with another thread running (a server), nothing is forked: rendered here, the same
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with PdfRender(stated) as here:
            assert here._process is None and here.result(stated) == files["disclosure.pdf"]
    finally:
        stop.set()
        thread.join()


def test_a_forged_disclosure_with_its_own_pdf_fails(packet: Path, ledger: PacketLedger) -> None:
    """The studio changes disclosure.json and puts the PDF of the changed one beside it: the
    PDF rendered alongside is of the forged bytes, and is not what the evidence gives."""
    body = json.loads(read_packet(packet)["disclosure.json"])
    body["production"] = "Another Show"
    forged = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    (packet / "disclosure.json").write_bytes(forged)
    rewrite(packet, "disclosure.pdf", pdf_of(forged))
    verdict = verify(packet, ledger)
    assert codes(verdict) == {"disclosure_mismatch", "derived_mismatch"}
    assert any("disclosure.pdf" in p.detail for p in verdict.problems), verdict.problems


def test_no_layer_of_verify_changes_the_shared_records(packet: Path, ledger: PacketLedger) -> None:
    """Within decoding_once every layer (the audit views too) reads the same decoded records:
    after a whole verify they are still what each entry's bytes decode to."""
    with decoding_once():
        assert verify(packet, ledger).ok
        files = read_packet(packet)
        note = files["evidence/checkpoint.txt"].decode("utf-8")
        v = PacketVerdict(str(packet))
        header = json.loads(files[PACKET_JSON])
        checkpoint = pv._check_checkpoint(header, note, ledger.log_vkey, [], 0, v, None)
        entries = [entry_from_bytes(e) for e in pv._check_entries(files, note, checkpoint, v)]
        shared = [decode_entry(e) for e in entries]
        assert all(shared_decoding(e) is s for e, s in zip(entries, shared, strict=True))
    assert entries and [decode_entry(e)[1] for e in entries] == [s[1] for s in shared]


def test_the_packet_names_its_witnesses_and_verify_says_which_it_checked(
    packet: Path, ledger: PacketLedger
) -> None:
    """packet.json names each cosignature the checkpoint carries (witness, key id, time), so
    an outside verifier can say which it checked with the keys it was given and which not."""
    header = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    key = parse_witness_vkey(ledger.witness_vkey)
    label = f"witness.example/w1+{key.key_id.hex()}"
    assert header["checkpoint"]["cosignatures"] == [
        {"witness": "witness.example/w1", "key_id": key.key_id.hex(), "timestamp": 1_700_000_000}
    ]
    checked = verify(packet, ledger)
    assert checked.ok, checked.problems
    assert checked.witnesses["verified"] == [label] and checked.witnesses["not_checked"] == []
    assert f"verified: {label}" in checked.checks["witnesses"]
    unchecked = verify(packet, ledger, quorum=0)
    assert unchecked.ok and unchecked.witnesses["not_checked"] == [label]
    assert "not checked (no --witness-key given for it)" in unchecked.checks["witnesses"]
    other = WitnessKey("witness.example/w2", Ed25519PrivateKey.generate().public_key())
    short = verify_packet(packet, ledger.log_vkey, witnesses=[key, other], quorum=1)
    assert short.ok
    assert short.witnesses["given_without_cosignature"] == [f"{other.name}+{other.key_id.hex()}"]


def test_packet_json_must_name_the_cosignatures_the_checkpoint_carries(
    packet: Path, ledger: PacketLedger
) -> None:
    header = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    header["checkpoint"]["cosignatures"] = []
    rewrite(packet, "packet.json", (json.dumps(header, indent=2) + "\n").encode())
    verdict = verify(packet, ledger, quorum=0)
    assert codes(verdict) == {"checkpoint_swapped"}
    assert any("names the cosignatures none" in p.detail for p in verdict.problems)


# --- what to do when the checkpoint cannot be proven against the index (outside review) --------


def test_an_index_behind_a_checkpoint_at_the_head_is_not_told_to_sign_again(
    tmp_path: Path, ledger: PacketLedger
) -> None:
    """The checkpoint is at the ledger's head and commits to the index of all its entries, but
    the stored index tables cover fewer (restored or altered): a consumer signs nothing new
    (nothing is unanchored), so "sign a new checkpoint, then build again" cannot help; the
    error says what is wrong instead."""
    with open_store(ledger.url) as store:
        size = store.head().size
        latest = store.latest_checkpoint()  # nothing unanchored: a consumer signs nothing
        assert latest is not None and latest.size == size
        store.db.execute("UPDATE index_head SET size = ? WHERE id = 1", (size - 1,))  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError) as caught:
        build(tmp_path, ledger)
    err = caught.value
    assert f"(size {size}) is at the ledger's head" in err.message
    assert f"the stored index covers {size - 1} entries" in err.message
    assert "sign a new checkpoint" not in (err.hint or "")
    assert "assetledger verify" in (err.hint or "")


def test_an_empty_ledger_is_not_told_to_run_a_consumer_that_signs_nothing(
    tmp_path: Path,
) -> None:
    """A ledger with no entries has no checkpoint, and a consumer signs none until it appends
    an entry: the hint says there is nothing to sign yet."""
    cut = tmp_path / "cut.otio"
    write_cut(timeline(CUT), cut)
    with open_store(str(tmp_path / "empty.db")) as store:
        init_ledger(store, "empty.example/log", keys.generate("log"))
        with pytest.raises(ConfigurationError) as caught:
            build_packet(store, story.SHOW, story.EPISODE, cut, tmp_path / "pkt")
    assert "has no signed checkpoint" in caught.value.message
    assert caught.value.hint == EMPTY_LEDGER


def test_a_packet_states_the_format_and_release_that_built_it(packet: Path) -> None:
    header = json.loads((packet / PACKET_JSON).read_text(encoding="utf-8"))
    assert header["format"] == FORMAT
    assert header["built_by"] == {"assetledger": assetledger_version()}


def test_a_disclosure_differing_in_a_packet_of_another_release_names_both_releases(
    packet: Path, ledger: PacketLedger
) -> None:
    """A packet built by another release whose disclosure this verifier derives differently
    still fails (exit 1), and the reason says which release built it and which verifies it; a
    packet of this release that differs names no release."""
    body = json.loads((packet / "disclosure.json").read_text(encoding="utf-8"))
    clip(body, SH030)["status"] = "clear to ship"
    rewrite(packet, "disclosure.json", (json.dumps(body, indent=2) + "\n").encode())
    same = verify(packet, ledger)
    assert "disclosure_mismatch" in codes(same) and not same.ok
    assert "release" not in " ".join(p.detail for p in same.problems)
    header = json.loads((packet / PACKET_JSON).read_text(encoding="utf-8"))
    header["built_by"]["assetledger"] = "0.0.1-older"
    rewrite(packet, PACKET_JSON, (json.dumps(header, indent=2) + "\n").encode())
    other = verify(packet, ledger)
    assert "disclosure_mismatch" in codes(other) and not other.ok
    [said] = [p.detail for p in other.problems if p.code == "disclosure_mismatch"]
    assert "built by asset-ledger release '0.0.1-older'" in said
    assert f"this verifier is release {assetledger_version()!r}" in said
