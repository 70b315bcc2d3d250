"""The disclosure as a document (HTML and PDF through :mod:`ledger.reports.render`) and as
markers and metadata on a copy of the cut (OpenTimelineIO JSON)."""

from __future__ import annotations

import json
from typing import Any

from ledger.audit.judge import party_label
from ledger.events.approval import CATEGORIES
from ledger.packet.cut import METADATA_KEY, otio_module
from ledger.packet.disclosure import CLEAR, UNMAPPED
from ledger.reports.document import Block, Document, Heading, Para, table
from ledger.reports.report import hash_para

MAX_DETAILED_CLIPS = 100
"""Clips given their own section in the HTML and PDF (the clips table and the JSON list all)."""


def disclosure_document(body: dict[str, Any]) -> Document:
    summary = body["summary"]
    where = f"{body['production']}, episode {body['episode']}"
    cp = body["checkpoint"]
    blocks: list[Block] = [
        Para(
            f"Locked cut {body['cut']['file']} (SHA-256 {body['cut']['sha256']}), read as"
            f" {body['cut']['adapter']}. Computed at the signed checkpoint of tree size"
            f" {cp['tree_size']}, Merkle root {cp['root_hash']}; waivers and approvals judged"
            f" at {body['as_of']}."
        ),
        Heading("Summary"),
        _verdict(summary),
        Para(
            f"{summary['clips']} clips: {summary['mapped']} mapped to asset versions,"
            f" {summary['unmapped']} unmapped. By status: "
            + ", ".join(f"{n} {s}" for s, n in summary["by_status"].items())
            + ". Open findings: "
            + (
                ", ".join(f"{n} {s}" for s, n in summary["open_findings_by_severity"].items())
                or "none"
            )
            + "."
        ),
        Para(
            "Open findings are those in the lineages of this cut's clips, under the audit rules"
            " and approval-missing: a delivery needs a distributor's written approval of each"
            " generative-AI, likeness, third-party AI input or personal-data use. assetledger"
            f" audit ip --production '{body['production']}' --episode {body['episode']}"
            " --require-approvals gives the same findings for these deliverables; without"
            " --require-approvals it leaves out the approval-missing findings (and a"
            " deliverable's count of open findings in its lineage counts them too).",
            "note",
        ),
        Heading("Clips"),
        table(
            ("#", "record in", "record out", "track", "clip", "asset version", "status", "open"),
            [
                (
                    c["index"],
                    c["record_in"],
                    c["record_out"],
                    f"{c['track']} ({c['track_kind']})",
                    c["name"],
                    c["asset"] or f"unmapped: {c['problem']}",
                    c["status"],
                    sum(f["status"] == "open" for f in c.get("findings", [])),
                )
                for c in body["clips"]
            ],
            (0.4, 1, 1, 0.9, 1.2, 3.2, 1.3, 0.5),
        ),
        *_unmapped_blocks(body),
        Heading("Distributor disclosure"),
        *_distributor_blocks(body),
        Heading("AI-usage register of the episode"),
        _register_table(body),
        Heading("Clip by clip"),
        *_clip_blocks(body),
        Heading("How to verify this disclosure independently"),
        Para(
            "assetledger packet verify PACKET --log-key LOG.vkey [--witness-key K --quorum N]"
            " checks, with no ledger and no network, every file's SHA-256, the signed"
            " checkpoint and its cosignatures, every entry's inclusion proof and signature, and"
            " each signer's key validity at its event's time; it then re-runs the audit rules on"
            " the packet's own events and confirms that this disclosure is what they give."
            " docs/packet.md specifies the format for an independent verifier."
        ),
        hash_para(body["content_sha256"]),
    ]
    return Document(
        f"Delivery disclosure: {where}",
        "Clip by clip, from the provenance ledger, with its evidence",
        tuple(blocks),
    )


def _verdict(summary: dict[str, Any]) -> Para:
    if summary["all_clear"]:
        return Para("Every clip maps to a published deliverable that is clear to ship.", "ok")
    return Para("Not every clip is clear to ship: see the clips marked otherwise below.", "alert")


def _unmapped_blocks(body: dict[str, Any]) -> list[Block]:
    rows = [
        (c["index"], c["name"], c["reel"] or "", c["problem"])
        for c in body["clips"]
        if c["status"] == UNMAPPED
    ]
    refused = body["cut"]["map_rows_refused"]
    blocks: list[Block] = []
    if rows:
        blocks += [
            Heading("Unmapped clips", 3),
            Para("These clips name no asset version; none is guessed.", "alert"),
            table(("#", "clip", "reel", "why"), rows, (0.4, 1.5, 1, 4)),
        ]
    if refused:
        blocks += [Heading("Map rows refused", 3), *[Para(r, "note") for r in refused[:50]]]
    return blocks


def _distributor_blocks(body: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for category in CATEGORIES:
        section = body["distributor_disclosure"][category]
        blocks.append(Heading(section["title"], 3))
        if not section["uses"]:
            blocks.append(Para("None in this cut.", "note"))
            continue
        blocks.append(
            table(
                ("use", "status", "approval", "conditions", "expires", "clips"),
                [
                    (
                        u["what"],
                        u["status"],
                        ""
                        if u["approval"] is None
                        else f"{u['approval']['organisation']} ({u['approval']['by']},"
                        f" {u['approval']['at']})",
                        "; ".join(u["approval"]["conditions"]) if u["approval"] else "",
                        (u["approval"] or {}).get("expires") or "",
                        ", ".join(str(i) for i in u["clips"]),
                    )
                    for u in section["uses"]
                ],
                (3, 0.8, 2, 2, 1.2, 0.8),
            )
        )
    return blocks


def _counsel(finding: dict[str, Any] | None) -> str:
    """Counsel's decision on the audit's licence finding, as the credits show it."""
    said = None if finding is None else finding.get("counsel")
    return f"; counsel: {said}" if said else ""


def _licence_said(ai: dict[str, Any]) -> str:
    """Whether an AI element's licence covers its use, with counsel's decision on the audit's
    licence finding (the same words in the register and under each clip)."""
    licence = ai["licence_record"]
    said = (
        "no licence record"
        if licence is None
        else "covers the use"
        if licence["covers_use"]
        else licence["problem"]
    )
    return said + _counsel(ai.get("licence_finding"))


def _register_table(body: dict[str, Any]) -> Any:
    rows = []
    names = {  # performers by the names the clips' likeness rows give, with the id
        u["performer"]: party_label(u.get("performer_name"), u["performer"])
        for c in body["clips"]
        for u in c.get("likeness", [])
    }
    for r in body["ai_register"]:
        model = r["model"]
        rows.append(
            (
                r["asset"],
                ""
                if model is None
                else f"{model['name']} {model['version']} ({model['provider']})",
                _licence_said(r),
                ", ".join(d["name"] for d in r["directed_by"]),
                ", ".join(names.get(p, p) for p in r["likeness"]),
                "; ".join(f"{a['category']}: {a['status']}" for a in r["approvals"]),
                ", ".join(str(i) for i in r["clips"]),
            )
        )
    columns = ("asset", "model", "licence", "directed by", "likeness", "approvals", "clips")
    return table(columns, rows, (2.6, 1.8, 2, 1.2, 1, 2, 0.7))


def _clip_blocks(body: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    mapped = [c for c in body["clips"] if c["status"] != UNMAPPED]
    for c in mapped[:MAX_DETAILED_CLIPS]:
        blocks.append(
            Heading(f"Clip {c['index']} — {c['record_in']} to {c['record_out']} — {c['asset']}", 3)
        )
        style = "ok" if c["status"] == CLEAR else "alert"
        blocks.append(
            Para(f"Shot {c['shot'] or '-'}: {c['status']}; C2PA: {c['c2pa']['state']}.", style)
        )
        if c["people"]:
            blocks.append(
                Para(
                    "Made by: "
                    + "; ".join(f"{p['name']} ({p['job_title'] or p['role']})" for p in c["people"])
                )
            )
        for a in c["ai_elements"]:
            model = a["model"]
            label = "an AI tool" if model is None else f"{model['name']} {model['version']}"
            licence = a["licence_record"]
            lic = "" if licence is None else f"licence {licence['licence_ref']}: "
            who = ", ".join(d["name"] for d in a["directed_by"]) or "nobody recorded"
            blocks.append(
                Para(
                    f"AI: {a['asset']} by {label}, {lic}{_licence_said(a)}, directed by {who}.",
                    "note",
                )
            )
        for u in c["likeness"]:
            ok = "covered" if u["covered"] else f"NOT covered: {u['problem']}"
            blocks.append(
                Para(f"Likeness: {u['use']} of {u['performer_name'] or u['performer']} — {ok}.")
            )
        for f in c["findings"]:
            decided = f.get("disposition")
            who = f" — {f['status']} by {decided['by']}: {decided['reason']}" if decided else ""
            blocks.append(
                Para(
                    f"[{f['severity']}] {f['rule']} on {f['asset']}: {f['summary']}{who}",
                    "alert" if f["status"] == "open" else "note",
                )
            )
    if len(mapped) > MAX_DETAILED_CLIPS:
        more = len(mapped) - MAX_DETAILED_CLIPS
        blocks.append(
            Para(f"… and {more} more clips (all of them are in disclosure.json).", "note")
        )
    return blocks


# --- the annotated cut ------------------------------------------------------------------------

MARKER_COLOURS = {CLEAR: "GREEN", UNMAPPED: "YELLOW"}


def annotated_cut(timeline: Any, body: dict[str, Any]) -> str:
    """A copy of the cut as OTIO JSON: each clip with a marker (its status) and, under the
    ``assetledger`` metadata key, its disclosure summary; the timeline with the packet's."""
    otio = otio_module()
    copy = timeline.deepcopy()
    rows = {c["index"]: c for c in body["clips"]}
    index = 0
    for track in copy.tracks:
        if not isinstance(track, otio.schema.Track) or track.kind not in (
            otio.schema.TrackKind.Video,
            otio.schema.TrackKind.Audio,
        ):
            continue
        for clip in track.find_clips():
            index += 1
            row = rows[index]
            _annotate(otio, clip, row)
    copy.metadata[METADATA_KEY] = {
        "disclosure_sha256": body["content_sha256"],
        "production": body["production"],
        "episode": body["episode"],
        "checkpoint": body["checkpoint"],
        "summary": body["summary"],
    }
    text: str = otio.adapters.write_to_string(copy, "otio_json")
    return text if text.endswith("\n") else text + "\n"


def _annotate(otio: Any, clip: Any, row: dict[str, Any]) -> None:
    status = row["status"]
    opened = [f for f in row.get("findings", []) if f["status"] == "open"]
    note = (
        f"{status}: {row['problem']}"
        if status == UNMAPPED
        else f"{row['asset']}: {status}; {len(opened)} open finding(s)"
    )
    marker = otio.schema.Marker(
        name=f"assetledger: {status}",
        marked_range=otio.opentime.TimeRange(
            clip.trimmed_range().start_time,
            otio.opentime.RationalTime(1, clip.trimmed_range().duration.rate),
        ),
        color=MARKER_COLOURS.get(status, "RED"),
    )
    marker.comment = note
    clip.markers.append(marker)
    clip.metadata[METADATA_KEY] = json.loads(
        json.dumps(
            {
                "asset": row["asset"],
                "status": status,
                "open_findings": [f["id"] for f in opened],
                "ai_elements": [a["asset"] for a in row.get("ai_elements", [])],
                "likeness": [u["performer"] for u in row.get("likeness", [])],
                "approvals": [
                    {"category": u["category"], "subject": u["subject"], "status": u["status"]}
                    for u in row.get("approvals", [])
                ],
            }
        )
    )
