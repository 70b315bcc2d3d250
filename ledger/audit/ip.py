"""``audit ip``: run the rules over a production or an asset, with evidence and receipts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ledger.audit.dispositions import (
    ApprovalCheck,
    Dangling,
    LegalCheck,
    apply_derivative_clearances,
    assign_ids,
    dangling_dispositions,
    dispositions,
    judged,
    registry_approval_check,
    registry_legal_check,
    replaced_versions,
)
from ledger.audit.gcpause import paused_gc
from ledger.audit.lineage import Lineage, ancestry, prefetch_ancestry, resolve, split_target
from ledger.audit.model import LedgerView, Step, content_digest
from ledger.audit.production import ProductionView, production_steps, production_view
from ledger.audit.rules import (
    DELIVERABLE_UNRESOLVED_ID,
    Finding,
    FindingLookup,
    RuleSet,
    SignerVerdicts,
    approval_findings,
    deliverable_findings,
    is_deliverable,
    severity_rank,
)
from ledger.errors import ConfigurationError
from ledger.events.base import format_time, now_utc
from ledger.events.disposition import DISPOSITION, Disposition
from ledger.log.merkle import inclusion_verified, leaf_hash, verify_inclusion
from ledger.log.receipt import make_receipt
from ledger.trust.replay import decoding_once

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Scope:
    production: str | None = None
    episode: str | None = None
    asset: str | None = None

    def describe(self) -> str:
        parts = []
        if self.production:
            parts.append(f"production {self.production}")
        if self.episode:
            parts.append(f"episode {self.episode}")
        if self.asset:
            parts.append(f"asset {self.asset}")
        return ", ".join(parts) or "the whole ledger"

    def to_json(self) -> dict[str, Any]:
        return {"production": self.production, "episode": self.episode, "asset": self.asset}


@dataclass
class AuditResult:
    scope: Scope
    view: LedgerView
    steps: list[Step]  # every step audited (scope plus deliverable lineages), ledger order
    deliverables: list[Step]
    # (production, deliverable key) -> ancestry: two productions' deliverables of one asset id
    # are two lineages, each through its own production's records
    lineages: dict[tuple[str, str], Lineage]
    findings: list[Finding] = field(default_factory=list)
    as_of: datetime = field(default_factory=lambda: start_of_today())  # waivers judged then
    dangling: list[Dangling] = field(default_factory=list)  # decisions naming no finding

    def lineage(self, key: str, production: str | None = None) -> Lineage | None:
        """The ancestry of the deliverable ``key`` that ``production`` published; without a
        production, the one production's that published it (None when several did)."""
        if production is not None:
            return self.lineages.get((production, key))
        found = [lineage for (_, k), lineage in self.lineages.items() if k == key]
        return found[0] if len(found) == 1 else None

    def at_or_above(self, severity: str) -> list[Finding]:
        """Open findings at or above ``severity`` (disposed ones never fail an audit)."""
        return [
            f
            for f in self.findings
            if f.is_open and severity_rank(f.severity) >= severity_rank(severity)
        ]

    def counts(self) -> dict[str, int]:
        """Open findings by severity."""
        out: dict[str, int] = {}
        for f in self.findings:
            if f.is_open:
                out[f.severity] = out.get(f.severity, 0) + 1
        return out

    def disposed(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_open]

    def clear_to_ship(self) -> dict[str, bool]:
        """Per published deliverable: True when no open finding remains in its lineage (an
        asset version two productions published: True when it is clear in both)."""
        out: dict[str, bool] = {}
        for _, key, clear in self.deliverable_verdicts():
            out[key] = out.get(key, True) and clear
        return out

    def deliverable_verdicts(self) -> list[tuple[str, str, bool]]:
        """(production, asset version, clear to ship) per published deliverable: an asset id
        two productions publish is two deliverables, each judged by its own findings."""
        blocked = {
            (f.production, f.asset) for f in self.findings if f.rule == DELIVERABLE_UNRESOLVED_ID
        }
        named = dict.fromkeys((d.show, d.key) for d in self.deliverables)  # each once, in order
        return [(show, key, (show, key) not in blocked) for show, key in named]


def scope_steps(view: LedgerView, scope: Scope) -> list[Step]:
    """The provenance steps a scope names, through the index (a bare ledger is scanned).

    A production is compared whole and exactly (:mod:`ledger.audit.production`).
    """
    if scope.episode and not scope.production:
        raise ConfigurationError("--episode needs --production")
    if scope.asset:
        steps = _asset_steps(view, scope.asset)
        if scope.production:
            steps = [s for s in steps if s.show == scope.production]
        return steps
    if scope.production:
        return production_steps(view, scope.production, scope.episode)
    return _all_steps(view)


def _asset_steps(view: LedgerView, target: str) -> list[Step]:
    _, version = split_target(target)
    if version is None:
        steps = view.steps("asset", target)
        if not steps:
            resolve(view, target)  # raises the helpful error
        return steps
    return view.recorded(target)


def _all_steps(view: LedgerView) -> list[Step]:
    view.require_whole()  # every entry is read: the linear guard, not the index
    found = (view.step(e.seq) for e in view.store.entries(0, view.state.size))
    return [s for s in found if s is not None]


def run_audit(
    view: LedgerView,
    scope: Scope,
    *,
    rules: RuleSet | None = None,
    signer_verdicts: SignerVerdicts | None = None,
    progress: Progress | None = None,
    legal: LegalCheck | None = None,
    as_of: datetime | None = None,
    approvers: ApprovalCheck | None = None,
    receipts: bool = True,
) -> AuditResult:
    """Run the rules, give each finding its id, apply counsel's dispositions, judge deliverables.

    ``legal`` decides whose dispositions count (default: the key registry's legal scopes);
    ``as_of`` is when waivers and approvals are judged (default: the start of today, UTC, so
    that reports computed on one day are identical; give it to reproduce a report).  With
    ``rules.approvals``, each use in a deliverable's lineage that needs a distributor's approval
    and has none in force is an ``approval-missing`` finding; ``approvers`` decides whose
    approvals count (default: the key registry's distributor and legal scopes).
    ``receipts=False``: the findings' evidence carries no receipts (for a report that shows
    none, as a packet's disclosure: attaching them is most of the audit's per-finding work).
    """
    # the objects it makes all live until it returns; with signer verdicts, each entry is
    # decoded once for every layer that reads it (the index's check, the rules, the verdicts)
    with paused_gc(), decoding_once() if signer_verdicts is not None else nullcontext():
        rules = (rules or RuleSet()).with_signer_verdicts(signer_verdicts)
        when = as_of or start_of_today()
        check = legal or registry_legal_check(view.store, view.state.size)
        say = progress or (lambda _: None)
        in_scope = scope_steps(view, scope)
        say(f"auditing {len(in_scope)} events in {scope.describe()} at tree size {view.state.size}")
        shows = sorted(
            {s.show for s in in_scope} | ({scope.production} if scope.production else set())
        )
        parts = [
            _audit_production(
                production_view(view, show),
                [s for s in in_scope if s.show == show],
                scope,
                rules,
                check,
                when,
                approvers,
            )
            for show in shows
        ]
        steps = sorted((s for p in parts for s in p.steps), key=lambda s: s.seq)
        deliverables = sorted((d for p in parts for d in p.deliverables), key=lambda s: s.seq)
        lineages = {k: v for p in parts for k, v in p.lineages.items()}
        findings = [f for p in parts for f in p.findings]
        if scope.production or scope.asset:
            dangling = [d for p in parts for d in p.dangling]
        else:
            named = _named_dispositions(view, scope, steps, findings)
            dangling = dangling_dispositions(named, findings)
        opened = sum(f.is_open for f in findings)
        say(
            f"{len(findings)} finding(s), {opened} open, over {len(steps)} events,"
            f" {len(deliverables)} deliverables"
        )
        if dangling:
            say(f"{len(dangling)} disposition(s) name no finding of this audit")
        # one production: the result reads through its view, so nothing built on it (licence
        # records, consents, lineage pictures) reaches another production's records
        seen = parts[0].view if scope.production and len(parts) == 1 else view
        result = AuditResult(
            scope, seen, steps, deliverables, lineages, as_of=when, dangling=dangling
        )
        if receipts:
            findings = with_receipts(view, findings)
        result.findings = sorted(findings, key=_finding_order)
        return result


def _audit_production(
    view: ProductionView,
    in_scope: list[Step],
    scope: Scope,
    rules: RuleSet,
    check: LegalCheck,
    when: datetime,
    approvers: ApprovalCheck | None = None,
) -> AuditResult:
    """The audit of one production's steps, reading only what counts for that production."""
    deliverables = [s for s in in_scope if is_deliverable(s)]
    prefetch_ancestry(view, [d.key for d in deliverables])
    lineages = {(view.show, d.key): ancestry(view, d.key) for d in deliverables}
    audited = {s.seq: s for s in in_scope}
    for lineage in lineages.values():
        audited.update((s.seq, s) for s in lineage.steps())
    steps = [audited[k] for k in sorted(audited)]
    # the asset versions the rules read (each step's own and its ingredients'), in one batch
    view.prefetch(
        ("asset_version", k) for s in steps for k in (s.key, *(i.key for i in s.ingredients))
    )
    rules.prefetch(steps)
    findings = [f for s in steps for r in rules.step_rules for f in r.check(view, s)]
    if rules.approvals:
        approver = approvers or registry_approval_check(view.store, view.state.size)
        shipped_steps = {s.seq: s for lin in lineages.values() for s in lin.steps()}
        ordered = [shipped_steps[k] for k in sorted(shipped_steps)]
        findings += approval_findings(view, ordered, approver, when)
    findings = judged(view, findings, check, when)
    findings = apply_derivative_clearances(findings)
    replaced = replaced_versions(findings)
    lookup = FindingLookup(findings)
    shipped = [
        f
        for d in deliverables
        for f in deliverable_findings(d, lineages[(view.show, d.key)], lookup, replaced)
    ]
    findings += assign_ids(view, shipped)
    part = Scope(view.show, scope.episode, scope.asset)
    result = AuditResult(part, view, steps, deliverables, lineages, as_of=when)
    result.findings = [replace(f, production=view.show) for f in findings]
    findings = result.findings
    if scope.production or scope.asset:  # the whole ledger's are judged once, over all
        named = _named_dispositions(view, part, steps, findings)
        result.dangling = dangling_dispositions(named, findings)
    return result


def _named_dispositions(
    view: LedgerView, scope: Scope, steps: list[Step], findings: list[Finding]
) -> list[Disposition]:
    """The dispositions an audit of ``scope`` answers for: those naming an asset version it
    found a fault in or audited, and those made for its production (a whole show's audit);
    an audit of the whole ledger answers for every disposition."""
    if not scope.production and not scope.asset:
        return [
            Disposition.from_record(e.seq, e.signer_keyid, view.decode(e))
            for e in view.store.entries(0, view.state.size)
            if e.kind == DISPOSITION.record
        ]
    whole_show = scope.production is not None and not scope.episode and not scope.asset
    keys = {f.asset for f in findings} | (set() if whole_show else {s.key for s in steps})
    view.prefetch(("disposition_asset", key) for key in keys)
    named = [d for key in sorted(keys) for d in dispositions(view, "disposition_asset", key)]
    if whole_show and scope.production:
        for seq in view.seqs("show", scope.production):
            if view.step(seq) is None:  # provenance steps are cached; read only the others
                entry = view.entry(seq)
                if entry.kind == DISPOSITION.record:
                    named.append(
                        Disposition.from_record(seq, entry.signer_keyid, view.decode(entry))
                    )
    return named


def start_of_today() -> datetime:
    """Midnight UTC of the current day: the default time waivers are judged at."""
    return now_utc().replace(hour=0, minute=0, second=0, microsecond=0)


def _finding_order(f: Finding) -> tuple[bool, int, str, str, str]:
    return (not f.is_open, -severity_rank(f.severity), f.rule, f.asset, f.summary)


def with_receipts(view: LedgerView, findings: list[Finding]) -> list[Finding]:
    """Attach a tlog-proof receipt to each evidence entry the signed checkpoint covers."""
    if not view.state.signed or view.state.note is None:
        return findings
    receipts = _receipts(view, {e.seq for f in findings for e in f.evidence})
    out = []
    for f in findings:
        evidence = tuple(
            replace(e, receipt=receipts[e.seq]) if e.seq in receipts else e for e in f.evidence
        )
        out.append(replace(f, evidence=evidence))
    return out


def _receipts(view: LedgerView, seqs: set[int]) -> dict[int, str]:
    """A receipt for each entry of ``seqs`` below the checkpoint, their inclusion proofs
    read together (the nodes they share once)."""
    size, note = view.state.size, view.state.note
    wanted = sorted(s for s in seqs if s < size)
    if note is None or not wanted:
        return {}
    if view.index is not None:  # from the log-tree nodes the view proved reading the entries
        proofs, proven = view.index.inclusion_proofs(wanted)
    else:
        proofs, proven = view.store.tree(size).inclusion_proofs(wanted, size), False
    out = {}
    for seq in wanted:
        envelope = view.entry(seq).envelope
        leaf = leaf_hash(envelope)
        if not proven and not inclusion_verified(
            leaf, seq, size, view.state.root_hash, proofs[seq]
        ):
            # stored tree nodes are derived data: a receipt built from altered ones is refused
            # (proven nodes were hashed up to the signed root already)
            verify_inclusion(leaf, seq, size, proofs[seq], view.state.root_hash)
        out[seq] = make_receipt(envelope, seq, proofs[seq], note)
    return out


def audit_json(result: AuditResult, *, receipts: bool = True) -> dict[str, Any]:
    """The JSON body of ``audit ip`` (deterministic), with its content hash."""
    findings = []
    for f in result.findings:
        item = f.to_json()
        item["production"] = f.production  # an asset id two productions recorded: whose
        if receipts:
            for ev, e in zip(item["evidence"], f.evidence, strict=True):
                ev["receipt"] = e.receipt
        findings.append(item)
    body = {
        "report": "assetledger audit ip",
        "scope": result.scope.to_json(),
        "checkpoint": result.view.state.to_json(),
        "events_audited": len(result.steps),
        "as_of": format_time(result.as_of),
        "deliverables": [
            {"asset": key, "production": show, "clear_to_ship": clear}
            for show, key, clear in result.deliverable_verdicts()
        ],
        "counts": dict(sorted(result.counts().items(), key=lambda kv: -_rank(kv[0]))),
        "disposed": len(result.disposed()),
        "findings": findings,
        "dangling_dispositions": [d.to_json() for d in result.dangling],
    }
    return {**body, "content_sha256": content_digest(body)}


def _rank(severity: str) -> int:
    return severity_rank(severity)
