"""The disclosure: per clip of the locked cut, what made it and whether it may ship.

Computed by the audit itself (:func:`ledger.audit.ip.run_audit` with the approval rule on) over
a ledger view — the studio's ledger when a packet is built, the packet's own entries when it is
verified — so the disclosure and the audit can never disagree.  For each mapped clip: its
record timecodes, the asset version and shot, whether that version is a published deliverable
clear to ship, the people who made its lineage (names, job titles), every AI element (model,
licence record, who directed it, the audit's finding on the licence with counsel's decision),
every likeness (performer, consent record and terms), the findings on its lineage (open and
disposed, with counsel's decisions), the uses that need a distributor's approval with their
status, and its C2PA state.  Then the episode's AI-usage
register and the distributor disclosure by category.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.audit.credits import directors_names, party_names
from ledger.audit.dispositions import ApprovalCheck, finding_state, registry_approval_check
from ledger.audit.ip import AuditResult, Scope, run_audit
from ledger.audit.judge import consent_record_json, judge_likeness, judge_model_licence
from ledger.audit.keys import registry_verdicts
from ledger.audit.lineage import Lineage, ancestry
from ledger.audit.model import LedgerView, Step, content_digest
from ledger.audit.rules import (
    LICENCE_RULES,
    AiUse,
    ApprovalStatus,
    Finding,
    RuleSet,
    ai_uses,
    approval_status,
    is_deliverable,
    severity_rank,
)
from ledger.events.approval import CATEGORIES, CATEGORY_TITLES
from ledger.events.base import format_time
from ledger.packet.cut import Clip

REPORT = "assetledger delivery disclosure"
FORMAT = 1
CLEAR = "clear to ship"
NOT_CLEAR = "NOT clear to ship"
NOT_PUBLISHED = "not a published deliverable"
OUTSIDE = "published outside the episode audited"
NOT_RECORDED = "not in the ledger"
UNMAPPED = "unmapped"


@dataclass(frozen=True)
class CutInfo:
    file: str  # the file name inside the packet's cut/ folder
    sha256: str
    adapter: str
    map_file: str | None = None
    map_sha256: str | None = None  # of the map file as given, when there is one


@dataclass
class Disclosure:
    body: dict[str, Any]  # with content_sha256
    result: AuditResult
    clips: list[Clip]
    lineages: dict[str, Lineage]


def disclose(
    view: LedgerView,
    production: str,
    episode: str,
    clips: Sequence[Clip],
    cut: CutInfo,
    *,
    as_of: datetime,
    map_refused: Sequence[str] = (),
) -> Disclosure:
    """The disclosure of ``clips`` at ``view``'s checkpoint, judged at ``as_of``."""
    result = run_audit(
        view,
        Scope(production=production, episode=episode),
        rules=RuleSet(approvals=True),
        signer_verdicts=registry_verdicts(view.store),
        as_of=as_of,
        receipts=False,  # a disclosure shows its evidence by event id and seq, not receipts
    )
    view = result.view  # the production's view: only the records that count for it
    approver = registry_approval_check(view.store, view.state.size)
    names = _names(view, result.steps)  # as the credits name them
    lineages: dict[str, Lineage] = {}
    for clip in clips:
        if clip.asset is not None and clip.asset not in lineages:
            lineages[clip.asset] = ancestry(view, clip.asset)
    ctx = _Context(view, result, approver, names, lineages, as_of, result.clear_to_ship())
    for f in result.findings:
        ctx.by_asset.setdefault(f.asset, []).append(f)
    clip_rows = [ctx.clip_json(c) for c in clips]
    body: dict[str, Any] = {
        "report": REPORT,
        "format": FORMAT,
        "production": production,
        "episode": episode,
        "cut": {
            "file": cut.file,
            "sha256": cut.sha256,
            "adapter": cut.adapter,
            "map": cut.map_file,
            "map_sha256": cut.map_sha256,
            "map_rows_refused": list(map_refused),
        },
        "checkpoint": view.state.to_json(),
        "as_of": format_time(as_of),
        "summary": _summary(clip_rows),
        "clips": clip_rows,
        "ai_register": ctx.register(clips),
        "distributor_disclosure": ctx.distributor(clips),
        "rules": RuleSet(approvals=True).catalog(
            f["rule"] for row in clip_rows for f in row.get("findings", [])
        ),
    }
    return Disclosure(
        {**body, "content_sha256": content_digest(body)}, result, list(clips), lineages
    )


def _names(view: LedgerView, steps: list[Step]) -> dict[str, str]:
    """The people who directed AI work and the performers of the audited ``steps``, named as
    the credit report names them (:func:`ledger.audit.credits.directors_names`,
    :func:`~.party_names`): a director by the name on their own signed events among the steps,
    before the key registry's (which may name a key's workstation), a performer by their
    consent record's name.  No other event is read: the packet holds only what the
    disclosure rests on (another episode's events stay out)."""
    return {**directors_names(view, steps, own_events=False), **party_names(view, steps)}


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    open_counts: dict[str, int] = {}
    seen: set[str] = set()
    for r in rows:
        for f in r.get("findings", []):
            if f["status"] == "open" and f["id"] not in seen:
                seen.add(f["id"])
                open_counts[f["severity"]] = open_counts.get(f["severity"], 0) + 1
    return {
        "clips": len(rows),
        "mapped": sum(r["asset"] is not None for r in rows),
        "unmapped": sum(r["asset"] is None for r in rows),
        "by_status": dict(sorted(statuses.items())),
        "open_findings_by_severity": dict(
            sorted(open_counts.items(), key=lambda kv: -severity_rank(kv[0]))
        ),
        "all_clear": bool(rows) and all(r["status"] == CLEAR for r in rows),
    }


@dataclass
class _Context:
    view: LedgerView
    result: AuditResult
    approver: ApprovalCheck
    names: dict[str, str]
    lineages: dict[str, Lineage]
    as_of: datetime
    clear: dict[str, bool]
    by_asset: dict[str, list[Finding]] = field(default_factory=dict)

    def _status(self, key: str) -> str:
        recorded = self.view.recorded(key)
        if not recorded:
            return NOT_RECORDED
        if not any(is_deliverable(s) for s in recorded):
            return NOT_PUBLISHED
        clear = self.clear.get(key)
        if clear is None:
            return OUTSIDE
        return CLEAR if clear else NOT_CLEAR

    @functools.cached_property
    def _order(self) -> dict[int, int]:
        return {id(f): i for i, f in enumerate(self.result.findings)}

    def clip_json(self, clip: Clip) -> dict[str, Any]:
        row = clip.to_json()
        if clip.asset is None:
            return {**row, "status": UNMAPPED}
        key = clip.asset
        lineage = self.lineages[key]
        steps = sorted(lineage.steps(), key=lambda s: s.seq)
        recorded = self.view.recorded(key)
        first = recorded[0] if recorded else None
        findings = sorted(
            (f for node in lineage.nodes for f in self.by_asset.get(node, [])),
            key=lambda f: self._order[id(f)],
        )
        return {
            **row,
            "status": self._status(key),
            "shot": None if first is None else first.shot,
            "show": None if first is None else first.show,
            "episode_recorded": None if first is None else first.episode,
            "deliverable": {
                "asset": key,
                "published": any(is_deliverable(s) for s in recorded),
                "event_ids": [s.event_id for s in recorded],
            },
            "lineage": sorted(lineage.nodes),
            "people": self._people(steps),
            "ai_elements": [self._ai(s) for s in steps if s.is_ai],
            "likeness": [u for s in steps for u in self._likeness(s)],
            "findings": [_finding_json(f) for f in findings],
            "approvals": [
                self._use_json(u, approval_status(self.view, u, self.approver, self.as_of))
                for s in steps
                for u in ai_uses(self.view, s)
            ],
            "c2pa": self._c2pa(key, steps),
        }

    def _people(self, steps: Iterable[Step]) -> list[dict[str, Any]]:
        people: dict[str, dict[str, Any]] = {}
        for s in steps:
            if s.actor.kind != "human":
                continue
            p = people.setdefault(
                s.actor.actor_id,
                {
                    "actor_id": s.actor.actor_id,
                    "name": s.actor.name,
                    "job_title": s.actor.job_title,
                    "role": s.actor.role,
                    "assets": [],
                },
            )
            p["job_title"] = p["job_title"] or s.actor.job_title
            if s.key not in p["assets"]:
                p["assets"].append(s.key)
        return [people[k] for k in sorted(people)]

    def _ai(self, s: Step) -> dict[str, Any]:
        """An AI step: its model, the licence it cites and whether that covers the use, and the
        audit's finding on the licence with counsel's decision in force (``licence_finding``),
        the same in a clip's ``ai_elements`` as in the AI-usage register."""
        model = s.model
        finding = self._licence_findings.get(s.key)
        licence: dict[str, Any] | None = None
        verdict = None if model is None else judge_model_licence(self.view, s, model)
        if verdict is not None:
            record = verdict.licence
            licence = {
                "licence_ref": verdict.ref,
                "licensor": None if record is None else record.licensor_name,
                "licensor_id": None if record is None else record.licensor,
                "licence": None if record is None else (record.licence_id or record.url),
                "document_sha256": None if record is None else record.document_sha256,
                "covers_use": verdict.problem is None,
                "problem": verdict.problem,
            }
        return {
            "asset": s.key,
            "event_id": s.event_id,
            "model": None
            if model is None
            else {"name": model.name, "version": model.version, "provider": model.provider},
            "digital_source_type": s.source_type,
            "licence_record": licence,
            "licence_text": None if model is None else model.licence,
            "training_data": None if model is None else model.training_data,
            "directed_by": [{"actor_id": p, "name": self.names.get(p, p)} for p in s.directed_by],
            "licence_finding": None if finding is None else finding_state(finding),
        }

    def _likeness(self, s: Step) -> list[dict[str, Any]]:
        out = []
        for u in s.likeness:
            verdict = judge_likeness(self.view, s, u)
            grant, problem = verdict.grant, verdict.reason
            ref = u.consent_ref
            revoked = [r.event_id for r in self.view.revocations(ref)] if grant and ref else []
            out.append(
                {
                    "asset": s.key,
                    "event_id": s.event_id,
                    "performer": u.performer_id,
                    "performer_name": self.names.get(u.performer_id)
                    or (grant.party_name if grant else None),
                    "use": u.use,
                    "consent_ref": u.consent_ref,
                    "consent": None if grant is None else consent_record_json(grant, revoked),
                    "covered": problem is None,
                    "problem": problem,
                }
            )
        return out

    def _use_json(self, use: AiUse, status: ApprovalStatus) -> dict[str, Any]:
        a = status.approval
        return {
            "category": use.category,
            "asset": use.step.key,
            "event_id": use.step.event_id,
            "subject": use.subject,
            "what": use.what,
            "status": status.status,
            "approval": None
            if a is None
            else {
                "event_id": a.event_id,
                "organisation": a.organisation,
                "by": a.actor_name,
                "role": a.actor_role,
                "decision": a.decision,
                "at": format_time(a.event_time),
                "conditions": list(a.conditions),
                "expires": None if a.expires is None else format_time(a.expires),
                "document_sha256": a.document_sha256,
                "reason": a.reason,
            },
            "not_counted": [{"event_id": x.event_id, "why": why} for x, why in status.not_counted],
        }

    def _c2pa(self, key: str, steps: Sequence[Step]) -> dict[str, Any]:
        own = [s for s in self.view.recorded(key) if s.c2pa is not None]
        imported = [
            {
                "asset": s.key,
                "manifest_label": s.c2pa.manifest_label,
                "state": s.c2pa.state,
                "checked": s.c2pa.checked,
                "signer": s.c2pa.signer,
            }
            for s in steps
            if s.c2pa is not None
        ]
        state = own[-1].c2pa.state if own and own[-1].c2pa is not None else "not imported"
        return {
            "state": state,
            "manifest": f"c2pa/{manifest_file_name(key)}",
            "imported_manifests": imported,
        }

    def register(self, clips: Sequence[Clip]) -> list[dict[str, Any]]:
        """Every AI step and likeness use of the episode audited, with the clips using it."""
        used_in = self._clips_by_asset(clips)
        rows = []
        for s in self.result.steps:
            if not (s.is_ai or s.likeness):
                continue
            uses = ai_uses(self.view, s)
            statuses = [approval_status(self.view, u, self.approver, self.as_of) for u in uses]
            rows.append(
                {
                    **self._ai(s),
                    "likeness": [u["performer"] for u in self._likeness(s)],
                    "clips": used_in.get(s.key, []),
                    "approvals": [
                        {"category": u.category, "subject": u.subject, "status": st.status}
                        for u, st in zip(uses, statuses, strict=True)
                    ],
                }
            )
        return rows

    @functools.cached_property
    def _licence_findings(self) -> dict[str, Finding]:
        """The audit's finding on each AI output's model licence, with counsel's decision (the
        credits show the same one, judged the same way)."""
        return {f.asset: f for f in self.result.findings if f.rule in LICENCE_RULES}

    def _clips_by_asset(self, clips: Sequence[Clip]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for c in clips:
            if c.asset is None:
                continue
            for node in self.lineages[c.asset].nodes:
                out.setdefault(node, [])
                if c.index not in out[node]:
                    out[node].append(c.index)
        return out

    def distributor(self, clips: Sequence[Clip]) -> dict[str, Any]:
        """The uses in the cut's lineages by the categories distributors use, with approvals."""
        used_in = self._clips_by_asset(clips)
        seen: set[int] = set()
        by_category: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
        for lineage in self.lineages.values():
            for s in lineage.steps():
                if s.seq in seen:
                    continue
                seen.add(s.seq)
                for u in ai_uses(self.view, s):
                    status = approval_status(self.view, u, self.approver, self.as_of)
                    row = {**self._use_json(u, status), "clips": used_in.get(s.key, [])}
                    by_category[u.category].append(row)
        return {
            c: {
                "title": CATEGORY_TITLES[c],
                "uses": sorted(by_category[c], key=lambda r: (r["asset"], r["subject"])),
                "all_approved": all(r["status"] == "approved" for r in by_category[c]),
            }
            for c in CATEGORIES
        }


def _finding_json(f: Finding) -> dict[str, Any]:
    return f.to_json()


def manifest_file_name(key: str) -> str:
    """A file name for an asset version's C2PA manifest definition (no folders, no dots)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in key)
    return f"{safe[:120]}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}.json"
