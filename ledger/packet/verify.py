"""``packet verify``: check a delivery packet with no ledger and no network.

In order, each failure named by a stable code (docs/packet.md lists them):

0. ``file_unsafe``: the folder or .zip is refused as it is read (:func:`files.read_packet`);
1. ``file_missing`` / ``file_changed`` / ``file_unlisted``: every file against MANIFEST.sha256;
2. ``checkpoint_signature``: the checkpoint is signed by the log key given; ``cosignatures``:
   it carries the witness quorum asked for;
3. ``entry_unreadable`` / ``checkpoint_swapped`` / ``inclusion`` / ``entry_repeated``: every
   evidence entry is a receipt at that very checkpoint whose inclusion proof verifies;
4. ``signature``: every entry's DSSE signature verifies with the key the registry gives its
   signer (key validity at the event's time is judged by the audit rules, as in an audit);
5. ``event_missing``: every event the disclosure cites is in the evidence;
6. ``disclosure_mismatch``, ``derived_mismatch``: the audit re-run on the packet's own entries
   gives exactly the disclosure, and every derived file (HTML, PDF, annotated cut, records,
   C2PA manifest definitions, completeness keys) is what the evidence gives.

7. ``completeness``: when the checkpoint commits to the authenticated index, a proof for every
   key the disclosure rests on (its lineages' assets, the episode, its performers' and consents'
   records, its models' licence records, the key registry), at that checkpoint, each verifying,
   every entry a proof names is in the packet, and each claim of the disclosure is among the
   entries of the key it rests on (:mod:`ledger.packet.completeness`).
8. ``cut_mismatch``: given the SHA-256 of the cut the reader holds, the packet's cut is that one
   (a packet tells the truth about its own cut, which need not be the cut delivered).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from ledger.audit.gcpause import paused_gc
from ledger.audit.rules import severity_rank
from ledger.errors import AssetLedgerError, RejectedInput, SignatureError, VerificationFailure
from ledger.events.encoding import SingleObjectFraming, reader_framing
from ledger.events.kinds import kind_for_payload_type
from ledger.events.version import assetledger_version
from ledger.log import checkpoint as cp
from ledger.log.merkle import leaf_hash, remembering_inclusions, verify_inclusion
from ledger.log.operator import META_LOG_VKEY, META_ORIGIN
from ledger.log.receipt import parse_receipt
from ledger.log.verdicts import VerdictContext
from ledger.packet import build, completeness
from ledger.packet.alongside import Alongside
from ledger.packet.cut import SUFFIX_ADAPTERS, Clip, ClipMap, clips, parse_map, read_timeline
from ledger.packet.disclosure import CutInfo
from ledger.packet.files import MANIFEST, parse_manifest, read_packet, sha256_hex
from ledger.packet.store import PacketEntry, PacketStore
from ledger.store import Entry, StoredCheckpoint
from ledger.trust.dsse import Claim, Envelope, claim, not_verified, remember, taken_as_verified
from ledger.trust.keys import raw_public
from ledger.trust.replay import decode_entry, decoding_once, load_grace, load_roots
from ledger.witness.cosignature import (
    Cosignature,
    WitnessKey,
    cosignature_lines,
    require_quorum,
)

Progress = Callable[[str], None]

# the key of a failing packet's own summary in the JSON result: its claim, not verified
CLAIMED_SUMMARY = "claimed_summary_not_verified"


@dataclass(frozen=True)
class Problem:
    code: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass
class PacketVerdict:
    packet: str
    problems: list[Problem] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)
    entries: int = 0
    cosigners: list[str] = field(default_factory=list)
    witnesses: dict[str, Any] = field(default_factory=dict)  # carried / verified / not checked
    checkpoint_size: int | None = None
    summary: dict[str, Any] | None = None
    completeness: str = "not checked"

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def complete(self) -> bool:
        """Completeness proven: every key the disclosure rests on, at an indexed checkpoint."""
        return self.ok and self.completeness.startswith(completeness.PROVEN + " for ")

    def fail(self, code: str, detail: str) -> None:
        self.problems.append(Problem(code, detail))

    def to_json(self) -> dict[str, Any]:
        """The result; ``summary`` is the disclosure's summary only when the packet verified.

        Of a packet that fails, ``summary`` is null and the disclosure's own summary, which
        nothing vouches for, is under ``claimed_summary_not_verified`` (never stated as fact).
        """
        found: dict[str, Any] = {
            "packet": self.packet,
            "ok": self.ok,
            "problems": [p.to_json() for p in self.problems],
            "checks": self.checks,
            "checkpoint_size": self.checkpoint_size,
            "witness_cosigners": self.cosigners,
            "witnesses": self.witnesses,
            "entries": self.entries,
            "completeness": self.completeness,
            "summary": self.summary if self.ok else None,
        }
        if not self.ok and self.summary is not None:
            found[CLAIMED_SUMMARY] = self.summary
        return found

    def open_at_or_above(self, severity: str) -> int:
        """Open findings at or above ``severity`` in the disclosure, and unmapped clips."""
        if self.summary is None:
            return 0
        counts = self.summary.get("open_findings_by_severity", {})
        found = sum(n for s, n in counts.items() if severity_rank(s) >= severity_rank(severity))
        return int(found) + int(self.summary.get("unmapped", 0))


class _Stop(Exception):
    """A failure after which nothing further can be checked."""


def verify_packet(
    path: Path,
    log_vkey: str,
    *,
    witnesses: Sequence[WitnessKey] = (),
    quorum: int = 0,
    progress: Progress | None = None,
    now: float | None = None,
    check_pdf: bool = True,
    root_key_ids: Sequence[str] = (),
    cut_sha256: str | None = None,
) -> PacketVerdict:
    """Verify the packet folder or .zip at ``path`` (see the module docstring).

    ``check_pdf=False`` skips re-rendering the PDF (most of the time a long cut takes); the
    verdict then says the PDF was not checked, and the PDF must not be relied on.
    ``root_key_ids``: the key registry's root keys the verifier knows; the packet's trust root
    must be exactly these (``trust_root`` otherwise).  Without them the verdict names the
    packet's root keys, for the reader to compare.  ``cut_sha256``: the SHA-256 of the locked
    cut the reader holds; the packet's cut must be it (``cut_mismatch``).  Without it the verdict
    names the packet's cut and its SHA-256, for the reader to compare."""
    say = progress or (lambda _: None)
    verdict = PacketVerdict(str(path))
    try:
        files = read_packet(path)
    except VerificationFailure as exc:  # an unsafe name, a link, too large: read nothing more
        verdict.fail("file_unsafe", exc.message)
        return verdict
    # the collector paused: the evidence and what the audit makes of it all live until the
    # verdict (collections would only walk them, here and in the forked processes); the PDF
    # of the packet's own disclosure.json rendered alongside (used only if the audit re-run
    # gives those very bytes); each entry decoded once, and each inclusion verified once, for
    # all the layers
    with paused_gc():
        pdf = PdfRender(files.get(build.DISCLOSURE_JSON) if check_pdf else None)
        hashed = _Hashed(files)
        with pdf, contextlib.suppress(_Stop), decoding_once(), remembering_inclusions():
            _verify(
                files,
                log_vkey,
                witnesses,
                quorum,
                verdict,
                say,
                now,
                check_pdf,
                root_key_ids,
                pdf,
                hashed,
            )
        _check_cut_pin(files, hashed, cut_sha256, verdict)
    return verdict


class PdfRender:
    """The PDF of the packet's own disclosure.json, rendered in a forked process while the
    evidence is checked (the PDF is a function of the disclosure's bytes alone).

    :meth:`result` hands it over only for the very bytes the audit re-run of the evidence
    gives; for any other bytes, or where no process is forked (:class:`Alongside`), it renders
    those in this process.  So what is compared is always the PDF of the re-computed
    disclosure, as before; only the wall time differs."""

    def __init__(self, disclosure: bytes | None) -> None:
        self.disclosure = disclosure
        self._render = None if disclosure is None else Alongside(partial(build.pdf_of, disclosure))

    @property
    def _process(self) -> BaseProcess | None:
        return None if self._render is None else self._render._process

    def result(self, disclosure: bytes) -> bytes:
        """The PDF of ``disclosure`` (the re-computed disclosure.json)."""
        if self._render is not None and disclosure == self.disclosure:
            return self._render.result()
        return build.pdf_of(disclosure)

    def close(self) -> None:
        if self._render is not None:
            self._render.close()

    def __enter__(self) -> PdfRender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _check_cut_pin(
    files: Mapping[str, bytes], hashed: Mapping[str, str], wanted: str | None, v: PacketVerdict
) -> None:
    """A packet that verifies tells the truth about *its* cut: is that the cut delivered?"""
    try:
        name = str(json.loads(files[build.PACKET_JSON])["cut"]["file"])
    except (KeyError, TypeError, ValueError, RecursionError):
        return  # already a problem of packet.json
    got = hashed[name]
    if wanted is None:
        v.checks["cut"] = f"{name}, SHA-256 {got}: not compared (pass --cut with the locked cut)"
    elif got != wanted.lower():
        v.fail("cut_mismatch", f"the packet's cut {name} has SHA-256 {got}, not {wanted}")
    else:
        v.checks["cut"] = f"{name} is the cut given (SHA-256 {got})"


def _verify(
    files: dict[str, bytes],
    log_vkey: str,
    witnesses: Sequence[WitnessKey],
    quorum: int,
    v: PacketVerdict,
    say: Progress,
    now: float | None,
    check_pdf: bool,
    root_key_ids: Sequence[str],
    pdf: PdfRender | None = None,
    hashed: Mapping[str, str] | None = None,
) -> None:
    hashed = _Hashed(files) if hashed is None else hashed
    _check_manifest(files, hashed, v)
    header = _json(files, build.PACKET_JSON, v)
    note = _text(files, build.CHECKPOINT_FILE, v)
    checkpoint = _check_checkpoint(header, note, log_vkey, witnesses, quorum, v, now)
    entries = list(_check_entries(files, note, checkpoint, v))
    v.entries = len(entries)
    _check_format(header, v)
    say(f"{len(entries)} entries included at the checkpoint of size {checkpoint.size}")
    if v.problems:
        raise _Stop
    meta = {**build.header_meta(header), **_log_meta(log_vkey)}
    try:
        store = build.evidence_store(checkpoint, meta, entries)
    except (AssetLedgerError, KeyError, ValueError) as exc:
        v.fail("entry_unreadable", f"an entry in the log is not an event: {exc}")
        raise _Stop from None
    _check_roots(store, root_key_ids, v)
    claims = _signature_claims(store, v)
    v.checks["key_validity"] = "judged by the audit rules (signer-not-trusted) in the disclosure"
    # the Ed25519 checks, the C2PA manifest stores and the records alongside the audit re-run,
    # which takes the signatures as verified meanwhile: what it computes counts only once every
    # one of them verified (a failure is reported as before, alone)
    mark = len(v.problems)
    side: Alongside[_Side] | None = None
    try:
        with taken_as_verified(claims):
            disclosure = _json(files, build.DISCLOSURE_JSON, v)
            _check_cited(disclosure, store, v)
            inputs = _inputs(files, header, hashed, v)
            assets = [c.asset for c in inputs.clips]
            side = Alongside(
                partial(
                    _evidence_side,
                    claims,
                    store,
                    checkpoint,
                    assets,
                    files,
                    log_vkey,
                    entries,
                    inputs.timeline,
                )
            )
            derived = _recompute(inputs, checkpoint, v, check_pdf, store, pdf)
            say("audit re-run on the packet's own entries")
    except _Stop:
        _settle_signatures(store, claims, side, v, mark)
        raise
    except BaseException:
        if side is not None:
            side.close()  # no process left behind
        raise
    outcome = _settle_signatures(store, claims, side, v, mark)
    if outcome.error is not None:
        v.fail(
            "disclosure_mismatch", f"the audit cannot be re-run on the evidence: {outcome.error}"
        )
        raise _Stop
    recomputed = derived[build.DISCLOSURE_JSON]
    followed = outcome.disclosure == recomputed  # what was computed alongside holds for it
    if followed and outcome.documents is not None:
        same = {**outcome.same, **outcome.documents}
    else:
        same = {**outcome.same, **_same(files, build.document_files(recomputed, inputs.timeline))}
    _compare(files, derived, same, header, v)
    _check_unvouched(files, [*derived, *same], header, check_pdf, v)
    v.summary = disclosure.get("summary")
    section = _json(files, build.COMPLETENESS_FILE, v)
    if followed and outcome.completeness is not None:
        status, problems = outcome.completeness
    else:
        body = json.loads(recomputed)
        status, problems = _completeness(section, body, checkpoint, log_vkey, entries, store)
    v.completeness = status
    for p in problems:
        v.fail("completeness", p)


def _completeness(
    section: Any,
    body: Mapping[str, Any],
    checkpoint: StoredCheckpoint,
    log_vkey: str,
    entries: Sequence[PacketEntry],
    store: PacketStore,
) -> tuple[str, list[str]]:
    """(status, problems) of the completeness proofs ``section`` for the disclosure ``body``."""
    name, key = cp.parse_vkey(log_vkey)
    keys = completeness.completeness_keys(
        body, completeness.index_rule_of(checkpoint.note, name, key)
    )
    indexed = completeness.commits_index(checkpoint.note, name, key)
    status, problems = completeness.check(
        section,
        keys,
        checkpoint.note,
        log_vkey,
        indexed,
        {e.seq: (e.envelope, leaf_hash(e.envelope), e.proof) for e in entries},
        completeness.decoded_keys(store),
    )
    if status.startswith(completeness.PROVEN):
        problems += completeness.backing_problems(
            body, section["proofs"], lambda event_id: _seq_of(store, event_id)
        )
        status = "failed" if problems else status
    return status, problems


class _Hashed(dict[str, str]):
    """The SHA-256 (hex) of each packet file, computed once (the manifest check, the cut and
    the map); of the empty string for a file the packet lacks."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        super().__init__()
        self.files = files

    def __missing__(self, name: str) -> str:
        digest = self[name] = sha256_hex(self.files.get(name, b""))
        return digest


@dataclass(frozen=True)
class _Side:
    """What the evidence gives besides the audit: the index of each signature claim that does
    not hold, and for each C2PA manifest store and record file, whether the packet's is it."""

    failed: list[int]
    same: dict[str, bool]
    error: str | None = None  # why the evidence gives no such files
    disclosure: bytes = b""  # the packet's disclosure.json; for those bytes only:
    documents: dict[str, bool] | None = None  # HTML and annotated cut, the packet's or not
    completeness: tuple[str, list[str]] | None = None  # (status, problems)


def _evidence_side(
    claims: Sequence[Claim],
    store: PacketStore,
    checkpoint: StoredCheckpoint,
    assets: Sequence[str | None],
    files: Mapping[str, bytes],
    log_vkey: str,
    entries: Sequence[PacketEntry],
    timeline: Any,
) -> _Side:
    """The signature claims, the C2PA stores and records against the packet's, and for the
    packet's own disclosure.json (used only if the audit re-run gives exactly those bytes) its
    HTML, annotated cut and completeness."""
    failed = [i for i, c in enumerate(claims) if not c.holds()]
    if failed:
        return _Side(failed, {})  # nothing computed from the evidence counts
    try:
        given = build.evidence_files(store, checkpoint, assets)
    except AssetLedgerError as exc:
        return _Side([], {}, exc.message)
    same = _same(files, given)
    stated = files[build.DISCLOSURE_JSON]
    try:
        documents = _same(files, build.document_files(stated, timeline))
        section = json.loads(files[build.COMPLETENESS_FILE])
        found = _completeness(section, json.loads(stated), checkpoint, log_vkey, entries, store)
    except Exception:  # the packet's own bytes, hostile: checked from the audit's, and named
        return _Side([], same)
    return _Side([], same, None, stated, documents, found)


def _same(files: Mapping[str, bytes], derived: Mapping[str, bytes]) -> dict[str, bool]:
    return {name: files.get(name) == data for name, data in derived.items()}


def _settle_signatures(
    store: PacketStore,
    claims: Sequence[Claim],
    side: Alongside[_Side] | None,
    v: PacketVerdict,
    mark: int,
) -> _Side:
    """The signature checks' outcome: when one failed, that alone is the result (what was
    found since ``mark`` rested on signatures taken as verified), and verification stops."""
    if side is None:
        outcome = _Side([i for i, c in enumerate(claims) if not c.holds()], {})
    else:
        with side:
            outcome = side.result()
    if not outcome.failed:
        remember(claims)
        return outcome
    del v.problems[mark:]
    held = store.held()
    for i in outcome.failed:
        entry = held[i]
        v.fail(
            "signature",
            f"entry {entry.seq} ({entry.event_id}): {not_verified(entry.signer_keyid).message}",
        )
    raise _Stop


def _seq_of(store: PacketStore, event_id: str) -> int | None:
    entry = store.entry_by_event_id(event_id)
    return None if entry is None else entry.seq


def _check_manifest(files: dict[str, bytes], hashed: Mapping[str, str], v: PacketVerdict) -> None:
    if MANIFEST not in files:
        v.fail("file_missing", f"{MANIFEST} is missing")
        raise _Stop
    listed, bad = parse_manifest(files[MANIFEST].decode("utf-8", "replace"))
    for b in bad:
        v.fail("file_changed", f"{MANIFEST} {b} is not '<sha256>  <path>'")
    for name, digest in sorted(listed.items()):
        if name not in files:
            v.fail("file_missing", f"{name} is listed in {MANIFEST} but missing")
        elif hashed[name] != digest:
            v.fail("file_changed", f"{name} does not have the SHA-256 {MANIFEST} lists")
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        v.fail("file_unlisted", f"{name} is not listed in {MANIFEST}")
    v.checks["files"] = "failed" if v.problems else f"{len(listed)} files match {MANIFEST}"


def _json(files: Mapping[str, bytes], name: str, v: PacketVerdict) -> Any:
    try:
        return json.loads(files[name])
    except KeyError:
        v.fail("file_missing", f"{name} is missing")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested past the parser
        v.fail("file_changed", f"{name} is not JSON: {exc}")
    raise _Stop


def _text(files: Mapping[str, bytes], name: str, v: PacketVerdict) -> str:
    try:
        return files[name].decode("utf-8")
    except KeyError:
        v.fail("file_missing", f"{name} is missing")
    except UnicodeDecodeError:
        v.fail("file_changed", f"{name} is not UTF-8")
    raise _Stop


def _log_meta(log_vkey: str) -> dict[str, str]:
    name, _ = cp.parse_vkey(log_vkey)
    return {META_ORIGIN: name, META_LOG_VKEY: log_vkey}


def _check_checkpoint(
    header: Any,
    note: str,
    log_vkey: str,
    witnesses: Sequence[WitnessKey],
    quorum: int,
    v: PacketVerdict,
    now: float | None,
) -> StoredCheckpoint:
    name, key = cp.parse_vkey(log_vkey)
    try:
        opened = cp.open_checkpoint(note, name, key)
    except AssetLedgerError as exc:
        v.fail("checkpoint_signature", f"{build.CHECKPOINT_FILE}: {exc.message}")
        raise _Stop from None
    v.checkpoint_size = opened.size
    v.checks["checkpoint"] = f"signed by {name} at tree size {opened.size}"
    _check_witnesses_stated(header, note, v)
    if witnesses:
        try:
            valid = require_quorum(note, witnesses, quorum, now=now)
        except AssetLedgerError as exc:
            v.fail("cosignatures", exc.message)
            _witness_report(note, witnesses, [], v)
            raise _Stop from None
        v.cosigners = [c.witness.name for c in valid]
        v.checks["cosignatures"] = f"{len(valid)} of quorum {quorum}: {', '.join(v.cosigners)}"
    else:
        valid = []
        v.checks["cosignatures"] = "not checked (no --witness-key)"
    _witness_report(note, witnesses, valid, v)
    try:
        created = build.header_time(header, "checkpoint", "created_at")
        stated = int(header["checkpoint"]["size"])
    except (KeyError, TypeError, ValueError, AssetLedgerError):
        v.fail("file_changed", f"{build.PACKET_JSON} does not state the checkpoint")
        raise _Stop from None
    if stated != opened.size:
        v.fail(
            "checkpoint_swapped",
            f"{build.PACKET_JSON} states size {stated}, the note {opened.size}",
        )
    _check_stated(header, opened, log_vkey, v)
    return StoredCheckpoint(opened.size, opened.root_hash, note, created)


def _check_witnesses_stated(header: Any, note: str, v: PacketVerdict) -> None:
    """packet.json names the witnesses whose cosignature lines the checkpoint carries (since
    the field was added; an older packet names none, and this says so)."""
    section = header.get("checkpoint") if isinstance(header, dict) else None
    stated = section.get("cosignatures") if isinstance(section, dict) else None
    carried = [c.to_json() for c in cosignature_lines(note)]
    if stated is None:
        v.checks["witnesses_stated"] = f"{build.PACKET_JSON} names no witnesses (an older packet)"
    elif stated != carried:
        v.fail(
            "checkpoint_swapped",
            f"{build.PACKET_JSON} names the cosignatures {_labels(stated)}, the checkpoint"
            f" carries {_labels(carried)}",
        )


def _labels(rows: Any) -> str:
    if not isinstance(rows, list):
        return repr(str(rows)[:80])
    shown = [f"{r.get('witness')}+{r.get('key_id')}" for r in rows if isinstance(r, dict)]
    return ", ".join(shown)[:400] or "none"


def _witness_report(
    note: str, witnesses: Sequence[WitnessKey], valid: Sequence[Cosignature], v: PacketVerdict
) -> None:
    """Which cosignatures the checkpoint carries, which of them were checked against a
    --witness-key (and held), which were not, and which witnesses given have none on it."""
    carried = cosignature_lines(note)
    checked = {(c.witness.name, c.witness.key_id) for c in valid}
    given = {(w.name, w.key_id): w for w in witnesses}
    v.witnesses = {
        "on_checkpoint": [c.to_json() for c in carried],
        "verified": [f"{n}+{k.hex()}" for n, k in sorted(checked)],
        "not_checked": [c.label for c in carried if (c.witness, c.key_id) not in given],
        "given_without_cosignature": [
            f"{n}+{k.hex()}"
            for (n, k) in given
            if (n, k) not in {(c.witness, c.key_id) for c in carried}
        ],
    }
    parts = [
        "the checkpoint carries cosignatures by " + ", ".join(c.label for c in carried)
        if carried
        else "the checkpoint carries no witness cosignature"
    ]
    if v.witnesses["verified"]:
        parts.append("verified: " + ", ".join(v.witnesses["verified"]))
    if v.witnesses["not_checked"]:
        parts.append(
            "not checked (no --witness-key given for it): " + ", ".join(v.witnesses["not_checked"])
        )
    if v.witnesses["given_without_cosignature"]:
        parts.append(
            "given, no cosignature on the checkpoint: "
            + ", ".join(v.witnesses["given_without_cosignature"])
        )
    v.checks["witnesses"] = "; ".join(parts)


def _check_stated(header: Any, opened: cp.Checkpoint, log_vkey: str, v: PacketVerdict) -> None:
    """What packet.json states of the root and the log is what was verified (a reader opens
    packet.json first)."""
    stated_root = header["checkpoint"].get("root_hash")
    if stated_root != opened.root_hash.hex():
        v.fail(
            "checkpoint_swapped",
            f"{build.PACKET_JSON} states root {str(stated_root)[:64]}, the note"
            f" {opened.root_hash.hex()}",
        )
    ledger = header.get("ledger") if isinstance(header.get("ledger"), dict) else {}
    if ledger.get("origin") not in (None, opened.origin):
        v.fail(
            "checkpoint_swapped",
            f"{build.PACKET_JSON} names the log {str(ledger['origin'])[:80]!r}, the checkpoint"
            f" is {opened.origin!r}'s",
        )
    stated_key = ledger.get("log_vkey")
    if stated_key is not None and not _same_vkey(str(stated_key), log_vkey):
        v.fail(
            "checkpoint_swapped",
            f"{build.PACKET_JSON} names another log key than the one given: {str(stated_key)[:80]}",
        )


def _check_format(header: Any, v: PacketVerdict) -> None:
    """packet.json's format is the one this verifier reads."""
    if header.get("format") != build.FORMAT:
        v.fail(
            "file_changed",
            f"{build.PACKET_JSON} is format {str(header.get('format'))[:40]!r}; this verifier"
            f" reads {build.FORMAT}",
        )


def _same_vkey(a: str, b: str) -> bool:
    try:
        (name_a, key_a), (name_b, key_b) = cp.parse_vkey(a), cp.parse_vkey(b)
    except AssetLedgerError:
        return False
    return name_a == name_b and raw_public(key_a) == raw_public(key_b)


def _check_entries(
    files: Mapping[str, bytes], note: str, checkpoint: StoredCheckpoint, v: PacketVerdict
) -> Iterator[PacketEntry]:
    raw = files.get(build.ENTRIES_FILE)
    if raw is None:
        v.fail("file_missing", f"{build.ENTRIES_FILE} is missing")
        raise _Stop
    seen: set[int] = set()
    decoded: dict[str, bytes] = {}  # the proof lines the receipts share, each decoded once
    for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        where = f"{build.ENTRIES_FILE} line {n}"
        try:
            row = json.loads(line)
            receipt = parse_receipt(row["receipt"], decoded=decoded)
            signer = str(row["signer_keyid"])
            ingested: datetime = build.header_time(row, "ingested_at")
            seq = int(row["seq"])
        except (ValueError, KeyError, TypeError, RecursionError, AssetLedgerError) as exc:
            v.fail("entry_unreadable", f"{where}: {getattr(exc, 'message', exc)}")
            continue
        if receipt.checkpoint != note:
            v.fail(
                "checkpoint_swapped",
                f"{where}: its receipt is at another checkpoint than"
                f" {build.CHECKPOINT_FILE} (or carries other cosignatures)",
            )
            continue
        if receipt.index != seq or seq in seen:
            code = "entry_repeated" if seq in seen else "entry_unreadable"
            v.fail(
                code,
                f"{where}: entry {seq} (receipt index {receipt.index}) given twice or misnumbered",
            )
            continue
        try:
            verify_inclusion(
                leaf_hash(receipt.entry),
                receipt.index,
                checkpoint.size,
                receipt.proof,
                checkpoint.root_hash,
            )
        except AssetLedgerError as exc:
            v.fail("inclusion", f"{where}: entry {seq}: {exc.message}")
            continue
        seen.add(seq)
        yield PacketEntry(seq, receipt.entry, signer, ingested, receipt.proof)
    if not v.problems:
        v.checks["inclusion"] = f"{len(seen)} inclusion proofs verify against the checkpoint"


def _check_roots(store: PacketStore, wanted: Sequence[str], v: PacketVerdict) -> None:
    try:
        root = load_roots(store)
    except AssetLedgerError as exc:
        v.fail("trust_root", f"{build.PACKET_JSON}: {exc.message}")
        raise _Stop from None
    held = {k.key_id: k.name for k in root.keys}
    named = ", ".join(f"{name} ({keyid[:16]}…)" for keyid, name in sorted(held.items()))
    if wanted and set(wanted) != set(held):
        v.fail("trust_root", f"the packet's root keys are {named}, not the ones given")
        raise _Stop
    try:
        grace = int(load_grace(store).total_seconds())
    except AssetLedgerError as exc:
        v.fail("trust_root", f"{build.PACKET_JSON}: {exc.message}")
        raise _Stop from None
    pinned = (
        "the keys as given"
        if wanted
        else "not pinned: trusted as packet.json states them (pass"
        " --root-key to require the production's)"
    )
    clearances = (
        "consents and licences need a key with a clearance scope"
        if root.clearance_scopes
        else "any enrolled key may sign consents and licences (a ledger made before that rule)"
    )
    v.checks["trust_root"] = (
        f"root keys {named}, threshold {root.threshold}, rotation grace {grace} s, as"
        f" packet.json states them (the log's checkpoint does not commit to them); {pinned};"
        f" {clearances}"
    )


def _signature_claims(store: PacketStore, v: PacketVerdict) -> list[Claim]:
    """Every entry's DSSE signature, to verify with its signer's key from the registry the
    packet holds: one claim per held entry, in order (checked alongside the audit re-run).

    ``signer_keyid`` in entries.jsonl is not the builder's choice: it names one of the
    envelope's signatures, and when the envelope carries several, the one the key registry as it
    stood at the entry's position admits (as the consumer chose it), re-derived here.  When an
    entry has no such signature or key, every signature is checked here and verification
    stops."""
    try:
        context = VerdictContext(store)
    except AssetLedgerError as exc:
        v.fail("signature", f"the packet's trust root cannot be read: {exc.message}")
        raise _Stop from None
    registry = context.current
    if registry is None:
        v.fail("signature", f"{build.PACKET_JSON} states no root keys: no signer can be checked")
        raise _Stop
    framing = reader_framing()
    held = store.held()
    claims: list[Claim | None] = []
    problems: dict[int, str] = {}
    for i, entry in enumerate(held):
        key = registry.public_key(entry.signer_keyid)
        try:
            if key is None:
                raise SignatureError(f"no key {entry.signer_keyid[:16]}… in the key registry")
            claims.append(claim(_envelope(entry, framing), entry.signer_keyid, key))
        except AssetLedgerError as exc:
            claims.append(None)
            problems[i] = exc.message
    with taken_as_verified(c for c in claims if c is not None):
        for i, entry in enumerate(held):
            envelope = _envelope(entry, framing)
            if i not in problems and len(envelope.signatures) > 1:
                try:
                    _check_signer(context, entry, envelope)
                except AssetLedgerError as exc:
                    problems[i] = exc.message
    if not problems:
        v.checks["signatures"] = f"{len(held)} DSSE signatures verify with their signers' keys"
        return [c for c in claims if c is not None]
    for i, c in enumerate(claims):
        if c is not None and not c.holds():
            problems[i] = not_verified(held[i].signer_keyid).message
    for i in sorted(problems):
        v.fail("signature", f"entry {held[i].seq} ({held[i].event_id}): {problems[i]}")
    raise _Stop


def _check_signer(context: VerdictContext, entry: Entry, envelope: Envelope) -> None:
    """The signer of a several-times-signed entry is the one the registry admitted it by."""
    before = context.positional(entry.seq)
    if before is None:
        return
    try:
        event = decode_entry(entry)[1]
        admitted, _ = before.admit(
            envelope,
            kind_for_payload_type(envelope.payload_type),
            event,
            received_at=entry.ingested_at,
        )
    except RejectedInput:
        return  # not admitted by any of its keys: the audit's verdicts say so
    if admitted != entry.signer_keyid:
        raise SignatureError(
            f"{build.ENTRIES_FILE} names signer {entry.signer_keyid[:16]}…, but the key registry"
            f" at its position admits it by {admitted[:16]}… (the signer is derived, not chosen)"
        )


def _envelope(entry: Entry, framing: SingleObjectFraming) -> Envelope:
    """The entry's envelope, as decoded once for every layer (a damaged event: decoded alone)."""
    try:
        return decode_entry(entry)[0]
    except RejectedInput:
        return Envelope.decode(entry.envelope, framing)


def _cited(value: Any) -> set[str]:
    """Every event id the JSON ``value`` names (in ``event_id`` or ``event_ids``), at any depth
    (walked with a stack: the disclosure of a long cut is millions of values deep in lists)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, inner in item.items():
                if k == "event_id" and isinstance(inner, str):
                    found.add(inner)
                elif k == "event_ids" and isinstance(inner, list):
                    found.update(str(i) for i in inner)
                elif isinstance(inner, dict | list):
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(i for i in item if isinstance(i, dict | list))
    return found


def _check_cited(disclosure: Any, store: PacketStore, v: PacketVerdict) -> None:
    missing = sorted(e for e in _cited(disclosure) if store.entry_by_event_id(e) is None)
    for event_id in missing[:20]:
        v.fail("event_missing", f"the disclosure cites event {event_id}, not in the evidence")
    if len(missing) > 20:
        v.fail("event_missing", f"and {len(missing) - 20} more events cited but not included")


@dataclass(frozen=True)
class _Inputs:
    """What the audit re-run reads besides the evidence: packet.json's statements and the cut."""

    info: CutInfo
    production: str
    episode: str
    as_of: datetime
    timeline: Any
    clips: list[Clip]
    refused: list[str]


def _inputs(
    files: Mapping[str, bytes], header: Any, hashed: Mapping[str, str], v: PacketVerdict
) -> _Inputs:
    try:
        cut = header["cut"]
        info = CutInfo(
            str(cut["file"]),
            str(cut["sha256"]),
            str(cut["adapter"]),
            cut.get("map"),
            cut.get("map_sha256"),
        )
        production, episode = str(header["production"]), str(header["episode"])
        as_of = build.header_time(header, "as_of")
    except (KeyError, TypeError, AssetLedgerError) as exc:
        v.fail("file_changed", f"{build.PACKET_JSON} is incomplete: {exc}")
        raise _Stop from None
    if info.file not in files or hashed[info.file] != info.sha256:
        v.fail("file_changed", f"the cut {info.file} is not the one {build.PACKET_JSON} names")
        raise _Stop
    clip_map: ClipMap | None = None
    if (info.map_file is None) != (info.map_sha256 is None) or (
        info.map_file is not None and hashed[info.map_file] != info.map_sha256
    ):
        v.fail(
            "file_changed",
            f"the map {str(info.map_file)[:80]!r} is not the one {build.PACKET_JSON} pins by"
            f" SHA-256 ({str(info.map_sha256)[:64]})",
        )
        raise _Stop
    if info.map_file is not None:
        text = files.get(info.map_file, b"").decode("utf-8-sig", "replace")
        clip_map = parse_map(text, info.map_file)
    with tempfile.TemporaryDirectory() as tmp:
        cut_path = Path(tmp) / Path(info.file).name
        cut_path.write_bytes(files[info.file])
        timeline = read_timeline(cut_path)
    refused = [] if clip_map is None else clip_map.refused[:1000]
    return _Inputs(info, production, episode, as_of, timeline, clips(timeline, clip_map), refused)


def _recompute(
    inputs: _Inputs,
    checkpoint: StoredCheckpoint,
    v: PacketVerdict,
    check_pdf: bool,
    store: PacketStore,
    pdf: PdfRender | None = None,
) -> dict[str, bytes]:
    """disclosure.json as the audit re-run gives it (the other derived files are checked
    alongside); the PDF (``check_pdf``) rendered from its bytes, by ``pdf`` when it rendered
    those very bytes already."""
    if not check_pdf:
        v.checks["pdf"] = f"not checked: do not rely on {build.DISCLOSURE_PDF}"
    try:
        disclosure = build.disclosure_json(
            store,
            checkpoint,
            inputs.production,
            inputs.episode,
            inputs.clips,
            inputs.info,
            inputs.as_of,
            inputs.refused,
        )
    except AssetLedgerError as exc:
        v.fail("disclosure_mismatch", f"the audit cannot be re-run on the evidence: {exc.message}")
        raise _Stop from None
    derived = {build.DISCLOSURE_JSON: disclosure}
    if check_pdf:
        derived[build.DISCLOSURE_PDF] = (
            build.pdf_of(disclosure) if pdf is None else pdf.result(disclosure)
        )
    return derived


def _release_note(header: Any) -> str:
    """Why a re-derived disclosure may differ other than tampering: the packet names another
    release as its builder than this verifier's (its rules may have changed since)."""
    built_by = header.get("built_by") if isinstance(header, dict) else None
    built = built_by.get("assetledger") if isinstance(built_by, dict) else None
    if not isinstance(built, str) or built == assetledger_version():
        return ""
    return (
        f"; the packet was built by asset-ledger release {built[:40]!r} and this verifier is"
        f" release {assetledger_version()!r}: verify it with the release that built it"
    )


def _compare(
    files: Mapping[str, bytes],
    derived: Mapping[str, bytes],
    same: Mapping[str, bool],
    header: Any,
    v: PacketVerdict,
) -> None:
    """The disclosure and every derived file against the packet's (``same``: the files
    compared alongside)."""
    if files.get(build.DISCLOSURE_JSON) != derived[build.DISCLOSURE_JSON]:
        where = _first_difference(
            json.loads(files[build.DISCLOSURE_JSON]), json.loads(derived[build.DISCLOSURE_JSON])
        )
        v.fail(
            "disclosure_mismatch",
            f"{build.DISCLOSURE_JSON} is not what the audit of the"
            f" packet's entries gives: first difference at {where}{_release_note(header)}",
        )
    for name, equal in sorted({**_same(files, derived), **same}.items()):
        if name == build.DISCLOSURE_JSON:
            continue
        if name not in files:
            v.fail("derived_mismatch", f"{name} is missing (the evidence gives it)")
        elif not equal:
            v.fail("derived_mismatch", f"{name} is not what the evidence gives")
    if not v.problems:
        v.checks["disclosure"] = "the audit of the packet's own entries gives this disclosure"


_EVIDENCE = (MANIFEST, build.PACKET_JSON, build.CHECKPOINT_FILE, build.ENTRIES_FILE)


def _check_unvouched(
    files: Mapping[str, bytes],
    derived: Iterable[str],
    header: Any,
    check_pdf: bool,
    v: PacketVerdict,
) -> None:
    """Every file is evidence, the cut and map as given, or what the evidence gives: a file
    listed in the manifest that nothing else checks (a second "disclosure", a note) would ride
    along with a packet that verifies, and its reader would take it as vouched for."""
    cut = header["cut"]
    given = {*_EVIDENCE, build.COMPLETENESS_FILE, str(cut["file"])}
    cut_names = {f"cut/cut{suffix}" for suffix in SUFFIX_ADAPTERS}
    if str(cut["file"]) not in cut_names:
        v.fail(
            "file_changed",
            f"{build.PACKET_JSON} names the cut {str(cut['file'])[:80]!r},"
            " not cut/cut.<ext> where a packet keeps it",
        )
    if cut.get("map") is not None:
        given.add(str(cut["map"]))
        if cut["map"] != build.MAP_FILE:
            v.fail(
                "file_changed",
                f"{build.PACKET_JSON} names the map {str(cut['map'])[:80]!r},"
                f" not {build.MAP_FILE} where a packet keeps it",
            )
    if not check_pdf:
        given.add(build.DISCLOSURE_PDF)  # said not checked (v.checks["pdf"])
    for name in sorted(set(files) - given - set(derived)):
        v.fail("derived_mismatch", f"{name} is not given by the evidence (and not a packet input)")


def _first_difference(stated: Any, computed: Any, path: str = "$") -> str:
    if type(stated) is not type(computed):
        return f"{path} (packet: {_short(stated)}; evidence: {_short(computed)})"
    if isinstance(stated, dict):
        for k in sorted(set(stated) | set(computed), key=str):
            if k not in stated or k not in computed:
                return f"{path}.{k} (present in only one)"
            if stated[k] != computed[k]:
                return _first_difference(stated[k], computed[k], f"{path}.{k}")
    if isinstance(stated, list):
        if len(stated) != len(computed):
            return f"{path} ({len(stated)} items in the packet, {len(computed)} from evidence)"
        for i, (a, b) in enumerate(zip(stated, computed, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return f"{path} (packet: {_short(stated)}; evidence: {_short(computed)})"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
