"""``packet build``: the delivery packet of one episode's locked cut, from the ledger.

The disclosure runs over the studio's ledger through a
:class:`~ledger.packet.store.PacketStore` that keeps every entry the audit reads: those are the
evidence (with the entries the completeness proofs list).  Every derived file (disclosure,
records, C2PA manifest definitions, annotated cut) is then the one computed from the evidence
alone, exactly as ``packet verify`` will, so a packet that builds also verifies: the disclosure
is the one already computed when the evidence answers every question it asked as the ledger did
(:mod:`ledger.packet.gather`), else it is computed again over the evidence.  The layout is
specified in docs/packet.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from ledger.audit.gcpause import paused_gc
from ledger.audit.model import LedgerView, TreeState
from ledger.c2pa.manifest import export_store
from ledger.errors import ConfigurationError, StoreError
from ledger.events.base import format_time, parse_time, to_json
from ledger.events.version import assetledger_version
from ledger.log.merkle import leaf_hash, verify_inclusion
from ledger.log.operator import META_LOG_VKEY, META_ORIGIN, require_identity, sign_a_checkpoint
from ledger.log.receipt import make_receipt
from ledger.packet import completeness
from ledger.packet.alongside import Alongside
from ledger.packet.cut import SUFFIX_ADAPTERS, ClipMap, clips, read_map, read_timeline
from ledger.packet.disclosure import CutInfo, disclose, manifest_file_name
from ledger.packet.files import MANIFEST, manifest_text, sha256_hex, write_packet
from ledger.packet.gather import NotingStore, same_answers
from ledger.packet.render import annotated_cut, disclosure_document
from ledger.packet.store import PacketEntry, PacketStore, entry_from_bytes
from ledger.reports.render import to_html, to_pdf
from ledger.store import LedgerStore, StoredCheckpoint
from ledger.trust.replay import (
    META_CLEARANCE_SCOPES,
    META_ROOT_KEYS,
    META_ROOT_THRESHOLD,
    META_ROTATION_GRACE,
    decode_entry,
    decoding_once,
)
from ledger.witness.cosignature import cosignature_lines

FORMAT = "assetledger-packet/v2"
PACKET_JSON = "packet.json"
CHECKPOINT_FILE = "evidence/checkpoint.txt"
ENTRIES_FILE = "evidence/entries.jsonl"
COMPLETENESS_FILE = "evidence/completeness.json"
DISCLOSURE_JSON = "disclosure.json"
DISCLOSURE_HTML = "disclosure.html"
DISCLOSURE_PDF = "disclosure.pdf"
ANNOTATED_CUT = "cut/annotated.otio"
MAP_FILE = "cut/map.csv"
TRUST_META = (META_ROOT_KEYS, META_ROOT_THRESHOLD, META_ROTATION_GRACE, META_CLEARANCE_SCOPES)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    folder: Path
    zip_path: Path
    disclosure: dict[str, Any]
    files: int
    entries: int


def cut_name(path: Path) -> str:
    return f"cut/cut{path.suffix.lower()}"


def build_packet(
    store: LedgerStore,
    production: str,
    episode: str,
    cut_path: Path,
    out: Path,
    *,
    map_path: Path | None = None,
    as_of: datetime | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Write the packet folder ``out`` and ``out``.zip (see the module docstring)."""
    # each entry decoded once for all the layers that read it; the cyclic collector paused
    # (ledger.audit.gcpause): what the build makes lives to its end, collections only walk it
    with decoding_once(), paused_gc():
        return _build(store, production, episode, cut_path, out, map_path, as_of, progress)


def _build(
    store: LedgerStore,
    production: str,
    episode: str,
    cut_path: Path,
    out: Path,
    map_path: Path | None,
    as_of: datetime | None,
    progress: Progress | None,
) -> BuildResult:
    say = progress or (lambda _: None)
    _check_out(out)
    cut_bytes = _read(cut_path, "cut")
    map_bytes = _read(map_path, "map") if map_path is not None else None
    timeline = read_timeline(cut_path)
    clip_map = read_map(map_path) if map_path is not None else None
    cut_clips = clips(timeline, clip_map)
    say(
        f"cut {cut_path}: {len(cut_clips)} clips,"
        f" {sum(c.asset is None for c in cut_clips)} unmapped"
    )
    checkpoint = _signed_state(store, say)
    when = as_of or checkpoint.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    info = CutInfo(
        cut_name(cut_path),
        sha256_hex(cut_bytes),
        SUFFIX_ADAPTERS[cut_path.suffix.lower()],
        MAP_FILE if map_bytes is not None else None,
        sha256_hex(map_bytes) if map_bytes is not None else None,
    )
    meta = _meta(store)
    gather = NotingStore(checkpoint, meta, source=store, noting=True)
    first = disclose(
        LedgerView(gather, evidence_state(checkpoint)),
        production,
        episode,
        cut_clips,
        info,
        as_of=when,
        map_refused=_refused(clip_map),
    )
    gather.noting = False
    identity = require_identity(store)
    indexed = completeness.commits_index(checkpoint.note, identity.origin, identity.public_key)
    rule = completeness.index_rule_of(checkpoint.note, identity.origin, identity.public_key)
    keys = completeness.completeness_keys(first.body, rule)
    args = (production, episode, cut_clips, info, when, timeline, _refused(clip_map))
    once = dumps(first.body, compact=True)
    # the PDF of these bytes renders on the other core meanwhile (used if they are the packet's)
    with Alongside(partial(pdf_of, once)) as pdf:
        files, keys, proofs, entries, evidence = _settle(
            store, gather, checkpoint, meta, keys, once, rule, indexed, say, args
        )
        section = completeness.section(keys, proofs)
        _check_completeness(section, keys, checkpoint, identity.vkey, indexed, entries, evidence)
        body = json.loads(files[DISCLOSURE_JSON])
        if indexed:
            problems = completeness.backing_problems(body, section["proofs"], _seq_in(gather))
            if problems:
                raise StoreError(f"the packet's completeness keys do not cover it: {problems[0]}")
        files[COMPLETENESS_FILE] = dumps(section, compact=True)
        files[ENTRIES_FILE] = entries_jsonl(entries, checkpoint.note)
        if DISCLOSURE_PDF not in files:
            files[DISCLOSURE_PDF] = pdf.result()
    files[info.file] = cut_bytes
    if map_bytes is not None:
        files[MAP_FILE] = map_bytes
    files[CHECKPOINT_FILE] = checkpoint.note.encode("utf-8")
    files[PACKET_JSON] = dumps(
        packet_header(production, episode, info, checkpoint, when, meta, len(entries))
    )
    files[MANIFEST] = manifest_text(files).encode("utf-8")
    zip_path = write_packet(out, files)  # whole or not at all (a full disk: exit 2)
    say(f"packet {out} ({len(files)} files) and {zip_path}")
    return BuildResult(out, zip_path, body, len(files), len(entries))


Settled = tuple[
    dict[str, bytes], list[str], dict[str, dict[str, Any]] | None, list[PacketEntry], PacketStore
]


def _settle(
    store: LedgerStore,
    gather: NotingStore,
    checkpoint: StoredCheckpoint,
    meta: dict[str, str],
    keys: list[str],
    once: bytes,
    rule: str,
    indexed: bool,
    say: Progress,
    args: tuple[Any, ...],
) -> Settled:
    """The completeness proofs of ``keys``, the evidence (the entries the disclosure read and
    those the proofs list) and the files derived from it (all but the PDF when the disclosure
    is ``once``, the one computed over the ledger: see :mod:`ledger.packet.gather`).  The
    entries the proofs list join the evidence; when the disclosure over it differs, so may its
    keys: then again, until they settle."""
    first: bytes | None = once
    for _ in range(3):
        proofs = completeness.prove(store, keys, checkpoint.size) if indexed else None
        for seq in sorted(completeness.proven_indices(proofs or {})):
            gather.entry(seq)
        say(f"evidence: {len(gather.held())} ledger entries, {len(keys)} completeness keys")
        entries = _with_proofs(store, gather, checkpoint)
        evidence = evidence_store(checkpoint, meta, entries)
        if first is not None and same_answers(gather, evidence):
            # the evidence answers every question the disclosure asked as the ledger did: the
            # disclosure over it is this one, its keys these keys
            files = derived_files(
                checkpoint, meta, entries, *args, store=evidence, disclosure=first, pdf=False
            )
            return files, keys, proofs, entries, evidence
        first = None
        say("disclosure: computed again over the evidence, which answers otherwise")
        files = derived_files(checkpoint, meta, entries, *args, store=evidence)
        again = completeness.completeness_keys(json.loads(files[DISCLOSURE_JSON]), rule)
        if again == keys:
            return files, keys, proofs, entries, evidence
        keys = again
    raise StoreError("the packet's completeness keys did not settle; report this")


def _check_completeness(
    section: dict[str, Any],
    keys: list[str],
    checkpoint: StoredCheckpoint,
    log_vkey: str,
    indexed: bool,
    entries: list[PacketEntry],
    evidence: PacketStore,
) -> None:
    """Never hand out proofs that do not verify: checked as ``packet verify`` checks them (each
    entry's index keys from the event decoded once, as verify takes them)."""
    held = {e.seq: (e.envelope, leaf_hash(e.envelope), e.proof) for e in entries}
    _, problems = completeness.check(
        section,
        keys,
        checkpoint.note,
        log_vkey,
        indexed,
        held,
        completeness.decoded_keys(evidence),
    )
    if problems:
        raise StoreError(f"the packet's completeness proofs do not verify: {problems[0]}")


def _seq_in(gather: PacketStore) -> Callable[[str], int | None]:
    """An event id's index in the ledger (the backing check wants it among a proof's)."""

    def seq(event_id: str) -> int | None:
        entry = gather.entry_by_event_id(event_id)
        return None if entry is None else entry.seq

    return seq


def _check_out(out: Path) -> None:
    hint = "give a new folder for the packet (-o DIR); an old packet is never overwritten"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigurationError(f"{out} exists and is not an empty folder", hint=hint)
    zip_path = out.with_name(out.name + ".zip")
    if zip_path.exists():  # an old packet's .zip (its folder removed) is a packet too
        raise ConfigurationError(f"{zip_path} exists", hint=hint)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from None


def _refused(clip_map: ClipMap | None) -> list[str]:
    return [] if clip_map is None else clip_map.refused[:1000]


def _signed_state(store: LedgerStore, say: Progress) -> StoredCheckpoint:
    checkpoint = store.latest_checkpoint()
    if checkpoint is None:
        raise ConfigurationError(
            f"ledger {store.url} has no signed checkpoint, so no packet can be proven",
            hint=sign_a_checkpoint(store),
        )
    require_identity(store)
    view = LedgerView.open(store, progress=None)
    if view.state.size != checkpoint.size:
        raise StoreError("the latest checkpoint changed while the packet was built; run again")
    say(f"computing at the signed checkpoint of tree size {checkpoint.size}")
    return checkpoint


def _meta(store: LedgerStore) -> dict[str, str]:
    names = (*TRUST_META, META_ORIGIN, META_LOG_VKEY)
    return {n: v for n in names if (v := store.get_meta(n)) is not None}


def _c2pa_files(view: LedgerView, assets: Iterable[str | None]) -> dict[str, bytes]:
    out = {}
    for key in sorted({a for a in assets if a is not None}):
        if view.recorded(key):
            store = export_store(view, key)
            text = json.dumps(store, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            out[f"c2pa/{manifest_file_name(key)}"] = (text + "\n").encode("utf-8")
    return out


def _with_proofs(
    store: LedgerStore, gather: PacketStore, checkpoint: StoredCheckpoint
) -> list[PacketEntry]:
    held = gather.held()
    proofs = store.tree(checkpoint.size).inclusion_proofs([e.seq for e in held], checkpoint.size)
    out = []
    for entry in held:
        proof = proofs[entry.seq]
        # stored tree nodes are derived data: a proof built from altered ones is refused
        verify_inclusion(
            leaf_hash(entry.envelope), entry.seq, checkpoint.size, proof, checkpoint.root_hash
        )
        out.append(
            PacketEntry(
                entry.seq, entry.envelope, entry.signer_keyid, entry.ingested_at, tuple(proof)
            )
        )
    return out


def evidence_store(
    checkpoint: StoredCheckpoint, meta: Mapping[str, str], entries: list[PacketEntry]
) -> PacketStore:
    store = PacketStore(checkpoint, dict(meta))
    for item in entries:
        store.add(entry_from_bytes(item), item.proof)
    return store


def derived_files(
    checkpoint: StoredCheckpoint,
    meta: Mapping[str, str],
    entries: list[PacketEntry],
    production: str,
    episode: str,
    cut_clips: list[Any],
    info: CutInfo,
    as_of: datetime,
    timeline: Any,
    refused: list[str],
    *,
    pdf: bool = True,
    store: PacketStore | None = None,
    disclosure: bytes | None = None,
) -> dict[str, bytes]:
    """Every file computed from the evidence (what ``packet verify`` recomputes, in parts:
    :func:`disclosure_json`, :func:`document_files`, :func:`evidence_files`); ``pdf``: render
    the PDF too (most of the time verification takes); ``store``: the :func:`evidence_store`
    of ``entries``, when the caller has built it already; ``disclosure``: disclosure.json's
    bytes, when the caller has shown them to be the evidence's (:mod:`ledger.packet.gather`)."""
    if store is None:
        store = evidence_store(checkpoint, meta, entries)
    if disclosure is None:
        disclosure = disclosure_json(
            store, checkpoint, production, episode, cut_clips, info, as_of, refused
        )
    files = {
        DISCLOSURE_JSON: disclosure,
        **document_files(disclosure, timeline),
        **evidence_files(store, checkpoint, [c.asset for c in cut_clips]),
    }
    if pdf:
        files[DISCLOSURE_PDF] = pdf_of(disclosure)
    return files


def disclosure_json(
    store: PacketStore,
    checkpoint: StoredCheckpoint,
    production: str,
    episode: str,
    cut_clips: list[Any],
    info: CutInfo,
    as_of: datetime,
    refused: list[str],
) -> bytes:
    """disclosure.json: the audit over the evidence ``store`` at its checkpoint."""
    view = LedgerView(store, evidence_state(checkpoint))
    try:
        result = disclose(
            view, production, episode, cut_clips, info, as_of=as_of, map_refused=refused
        )
    except LookupError as exc:
        raise StoreError(f"the packet's evidence is incomplete: {exc}") from None
    return dumps(result.body, compact=True)


def document_files(disclosure: bytes, timeline: Any) -> dict[str, bytes]:
    """The HTML and the annotated cut: functions of disclosure.json's bytes and the cut alone
    (as the PDF is, :func:`pdf_of`), so ``packet verify`` computes them from the packet's own
    disclosure.json while it re-runs the audit, and uses them if the re-run gives those bytes."""
    body = json.loads(disclosure)
    return {
        DISCLOSURE_HTML: to_html(disclosure_document(body)).encode("utf-8"),
        ANNOTATED_CUT: annotated_cut(timeline, body).encode("utf-8"),
    }


def evidence_state(checkpoint: StoredCheckpoint) -> TreeState:
    """The ledger state a packet's evidence is read at: its one signed checkpoint."""
    return TreeState(checkpoint.size, checkpoint.root_hash, True, checkpoint.note)


def evidence_files(
    store: PacketStore, checkpoint: StoredCheckpoint, assets: Iterable[str | None]
) -> dict[str, bytes]:
    """The C2PA manifest stores of the cut's ``assets`` and the records: the derived files the
    evidence gives without the audit (``packet verify`` computes them while the audit runs)."""
    try:
        c2pa = _c2pa_files(LedgerView(store, evidence_state(checkpoint)), assets)
    except LookupError as exc:
        raise StoreError(f"the packet's evidence is incomplete: {exc}") from None
    return {**c2pa, **records(store)}


def pdf_of(disclosure: bytes) -> bytes:
    """The PDF of disclosure.json's bytes (a function of them alone: ``packet verify`` renders
    the PDF of the packet's own disclosure.json while it re-runs the audit)."""
    return to_pdf(disclosure_document(json.loads(disclosure)))


RECORD_FILES = {
    "consent_event": "records/consents.json",
    "licence_event": "records/licences.json",
    "approval_event": "records/approvals.json",
    "disposition_event": "records/dispositions.json",
    "key_registry_event": "records/key-registry.json",
}


def records(store: PacketStore) -> dict[str, bytes]:
    """The consent, licence, approval, disposition and key-registry records the packet holds,
    decoded for reading (each is also in the evidence, signed)."""
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in RECORD_FILES.values()}
    for entry in store.held():
        name = RECORD_FILES.get(entry.kind)
        if name is not None:
            _, event = decode_entry(entry)
            found[name].append({"seq": entry.seq, "event": to_json(event)})
    return {name: dumps(rows, compact=True) for name, rows in found.items()}


def entries_jsonl(entries: list[PacketEntry], note: str) -> bytes:
    lines = [
        json.dumps(
            {
                "seq": e.seq,
                "signer_keyid": e.signer_keyid,
                "ingested_at": format_time(e.ingested_at),
                "receipt": make_receipt(e.envelope, e.seq, e.proof, note),
            },
            ensure_ascii=False,
        )
        for e in entries
    ]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def packet_header(
    production: str,
    episode: str,
    info: CutInfo,
    checkpoint: StoredCheckpoint,
    as_of: datetime,
    meta: Mapping[str, str],
    entries: int,
) -> dict[str, Any]:
    grace = meta.get(META_ROTATION_GRACE)
    return {
        "format": FORMAT,
        # the release that built the packet: a verifier of another release that derives another
        # disclosure from the same evidence says so, rather than only that the packet differs
        "built_by": {"assetledger": assetledger_version()},
        "production": production,
        "episode": episode,
        "cut": {
            "file": info.file,
            "sha256": info.sha256,
            "adapter": info.adapter,
            "map": info.map_file,
            "map_sha256": info.map_sha256,
        },
        "checkpoint": {
            "file": CHECKPOINT_FILE,
            "size": checkpoint.size,
            "root_hash": checkpoint.root_hash.hex(),
            "created_at": format_time(checkpoint.created_at),
            # the witnesses whose cosignature lines the note carries, for a verifier to name
            # which of them it checked (those it holds a --witness-key for) and which it did not
            "cosignatures": [c.to_json() for c in cosignature_lines(checkpoint.note)],
        },
        "as_of": format_time(as_of),
        "ledger": {"origin": meta.get(META_ORIGIN), "log_vkey": meta.get(META_LOG_VKEY)},
        "trust": {
            "root_keys": json.loads(meta[META_ROOT_KEYS]) if META_ROOT_KEYS in meta else None,
            "root_threshold": int(meta.get(META_ROOT_THRESHOLD) or "1"),
            "rotation_grace_seconds": None if grace is None else grace,
            "clearance_scopes": meta.get(META_CLEARANCE_SCOPES) == "required",
        },
        "entries": {"file": ENTRIES_FILE, "count": entries},
        "completeness": {"file": COMPLETENESS_FILE},
    }


def header_meta(header: Mapping[str, Any]) -> dict[str, str]:
    """The ledger properties a packet header carries, as ledger meta (for :class:`PacketStore`)."""
    trust = header.get("trust") or {}
    meta: dict[str, str] = {}
    if trust.get("root_keys") is not None:
        meta[META_ROOT_KEYS] = json.dumps(trust["root_keys"])
        meta[META_ROOT_THRESHOLD] = str(int(trust.get("root_threshold") or 1))
    if trust.get("rotation_grace_seconds") is not None:
        meta[META_ROTATION_GRACE] = str(trust["rotation_grace_seconds"])
    if trust.get("clearance_scopes") is True:
        meta[META_CLEARANCE_SCOPES] = "required"
    return meta


def header_time(header: Mapping[str, Any], *path: str) -> datetime:
    value: Any = header
    for name in path:
        value = value[name]
    return parse_time(value, ".".join(path))


def dumps(data: Any, *, compact: bool = False) -> bytes:
    """JSON as a packet writes it: ``packet.json`` indented for people who open it first; the
    large files (disclosure, records, completeness) ``compact``, without whitespace (JSON's C
    encoder: the verifier re-encodes the disclosure and records to compare bytes)."""
    if compact:
        return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
