"""Counsel's dispositions applied to findings: stable ids, open or disposed, lapses.

Each finding gets its stable id (:func:`ledger.audit.rules.finding_id`) from its rule, its asset
version and its evidence, to which the events recording that asset version are added.  Then
the dispositions that name the id decide its status, the latest first:

* a disposition counts only when its signer's key was enrolled with a *legal scope* (the key's
  scope names the disposition's action, ``assetledger.finding.<decision>``), was valid at the
  decision's time, and belongs to the person named as deciding, and when it was made for the
  production that recorded the finding's asset (the consumer checked that production against
  the key's scope: counsel of one production cannot decide another's findings);
* ``reopened`` opens the finding again; a ``waived`` whose expiry is at or before the audit's
  ``as_of`` time has lapsed, and the finding is open;
* a disposition of the same rule and asset version under another id was made on other evidence:
  it has lapsed, and is shown with the finding so readers see what was decided before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.audit.model import LedgerView
from ledger.audit.rules import (
    AI_INPUT_NOT_ALLOWED,
    DELIVERABLE_UNRESOLVED_ID,
    OPEN,
    Decision,
    Evidence,
    Finding,
    finding_id,
)
from ledger.errors import AssetLedgerError
from ledger.events.approval import Approval
from ledger.events.approval import action_for as approval_action
from ledger.events.base import format_time
from ledger.events.disposition import DISPOSITION, Disposition
from ledger.store import LedgerStore

if TYPE_CHECKING:
    from ledger.trust.registry import Registry

LegalCheck = Callable[[Disposition], str | None]  # why the signer may not decide, or None
ApprovalCheck = Callable[[Approval], str | None]  # why the signer's approval does not count


def registry_legal_check(store: LedgerStore, stop: int | None = None) -> LegalCheck:
    """Legal scope from the ledger's key registry (entries below ``stop``): the signer's key
    names the action."""
    from ledger.trust.replay import registry_from_ledger

    try:
        registry = registry_from_ledger(store, stop=stop)
    except AssetLedgerError as exc:
        reason = f"the ledger's key registry cannot be read ({exc.message})"
        return lambda _: reason

    def check(d: Disposition) -> str | None:
        return admitted_signer_problem(store, registry, d.seq, d.signer_keyid) or (
            scoped_signer_problem(
                registry,
                d.signer_keyid,
                d.actor_id,
                f"assetledger.finding.{d.decision}",
                d.event_time,
            )
        )

    return check


def registry_approval_check(store: LedgerStore, stop: int | None = None) -> ApprovalCheck:
    """Whose approvals count, from the ledger's key registry (entries below ``stop``): the
    signer's key names the approval's action (a distributor or legal scope) and the production
    (when its scope names productions), and was valid when it signed."""
    from ledger.trust.replay import registry_from_ledger

    try:
        registry = registry_from_ledger(store, stop=stop)
    except AssetLedgerError as exc:
        reason = f"the ledger's key registry cannot be read ({exc.message})"
        return lambda _: reason

    def check(a: Approval) -> str | None:
        problem = admitted_signer_problem(store, registry, a.seq, a.signer_keyid)
        if problem is not None:
            return problem
        problem = scoped_signer_problem(
            registry,
            a.signer_keyid,
            a.actor_id,
            approval_action(a.decision),
            a.event_time,
            scope_name="distributor or legal",
        )
        key = registry.key_for(a.signer_keyid)
        restricted = key is not None and key.scope.productions
        if (
            problem is None
            and key is not None
            and restricted
            and a.show not in key.scope.productions
        ):
            problem = f"{key.actor_id}'s key is not enrolled for production {a.show!r}"
        return problem

    return check


def admitted_signer_problem(
    store: LedgerStore, registry: Registry, seq: int, keyid: str
) -> str | None:
    """Why the entry at ``seq`` is not judged by ``keyid``, its signer column (None: it is).

    The column is not in the signed log: the key that counts is the one whose signature
    verifies over the entry and that the key registry at the entry's position admitted it by
    (as ``assetledger verify`` judges it), not whichever key an edit of the column names.
    """
    from ledger.events.kinds import kind_for_payload_type
    from ledger.trust.dsse import verify_signature
    from ledger.trust.replay import decode_entry, registry_from_ledger

    altered = f"its entry's signer column names key {keyid[:16]}…, which"
    entry = store.entry(seq)
    if entry is None or entry.signer_keyid != keyid:
        return f"entry {seq} does not hold it as read (run assetledger verify)"
    try:
        envelope, event = decode_entry(entry)
        key = registry.public_key(keyid)
        if key is None:
            return f"{altered} the key registry does not know"
        verify_signature(envelope, keyid, key)
        if len(envelope.signatures) > 1:  # several signers: the registry chose one, not the column
            positional = registry_from_ledger(store, stop=seq)
            kind = kind_for_payload_type(envelope.payload_type)
            admitted, _ = positional.admit(envelope, kind, event, received_at=entry.ingested_at)
            if admitted != keyid:
                return (
                    f"{altered} is not the key the registry at its position admitted it by"
                    f" ({admitted[:16]}…): the column was altered; run assetledger verify"
                )
    except AssetLedgerError as exc:
        return f"{altered} does not make it count: {exc.message} (run assetledger verify)"
    return None


def scoped_signer_problem(
    registry: Registry,
    keyid: str,
    actor_id: str,
    action: str,
    when: datetime,
    *,
    scope_name: str = "legal",
) -> str | None:
    """Why the key ``keyid`` may not sign ``action`` for ``actor_id`` at ``when`` (None: it may).

    The key must be enrolled for that actor, with a scope naming the action, valid at ``when``.
    """
    key = registry.key_for(keyid)
    if key is None:
        return f"its key {keyid[:16]}… is not enrolled in the key registry"
    if key.actor_id != actor_id:
        return f"it is signed by {key.actor_id}'s key, not {actor_id}'s"
    if action not in key.scope.actions:
        return f"{key.actor_id}'s key is not enrolled with a {scope_name} scope naming {action}"
    status = key.status_at(when)
    if status != "valid":
        return f"{key.actor_id}'s key was {status.replace('_', ' ')} when it was signed"
    return None


def no_legal_check(reason: str) -> LegalCheck:
    """For audits without a key registry (``--trusted-keys``): no disposition applies."""
    return lambda _: reason


def assign_ids(view: LedgerView, findings: Sequence[Finding]) -> list[Finding]:
    """Each finding with its stable id, computed over its evidence and the asset's records.

    A finding id is reported once.  Findings with one id rest on the same facts: an asset
    version recorded twice finds the same fault once per record, and faults a rule finds on
    the same evidence (two unrecorded ingredients of one step) share it; each such group is
    one finding (:func:`merge_findings`), which one disposition decides.
    """
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        recorded = [s.event_id for s in view.recorded(f.asset)]
        ids = [e.event_id for e in f.evidence] + recorded
        fid = finding_id(f.rule, f.asset, ids)
        groups.setdefault(fid, []).append(replace(f, finding_id=fid))
    return [merge_findings(group) for group in groups.values()]


MAX_MERGED_SUMMARIES = 3
MAX_MERGED_EXPLANATIONS = 5


def merge_findings(group: Sequence[Finding]) -> Finding:
    """Findings with one id as one: the first's rule and asset, each evidence entry once (in
    the order first given), and each distinct fault: named in ``parts`` (all of them), the
    summary (the first few) and the explanation (the first few, saying how many more)."""
    first = group[0]
    if len(group) == 1:
        return first
    evidence: dict[str, Evidence] = {}
    for f in group:
        for e in f.evidence:
            evidence.setdefault(e.event_id, e)
    faults = list(dict.fromkeys(f.summary for f in group))
    summary = "; ".join(faults[:MAX_MERGED_SUMMARIES])
    if len(faults) > MAX_MERGED_SUMMARIES:
        summary = f"{len(faults)} faults on the same evidence: {summary} (and "
        summary += f"{len(faults) - MAX_MERGED_SUMMARIES} more)"
    told = list(dict.fromkeys(f.explanation for f in group))
    explanation = " Also: ".join(told[:MAX_MERGED_EXPLANATIONS])
    if len(told) > MAX_MERGED_EXPLANATIONS:
        explanation += (
            f" And {len(told) - MAX_MERGED_EXPLANATIONS} more like these, each named in the"
            " finding's parts (assetledger audit ip --format json)."
        )
    return replace(
        first,
        summary=summary,
        explanation=explanation,
        evidence=tuple(evidence.values()),
        parts=tuple(faults) if len(faults) > 1 else (),
    )


def dispositions(view: LedgerView, ref_kind: str, key: str) -> list[Disposition]:
    """Disposition entries indexed under (``finding`` | ``disposition_asset``, key)."""
    out = []
    for seq in view.seqs(ref_kind, key):
        entry = view.entry(seq)
        if entry.kind == DISPOSITION.record:
            out.append(Disposition.from_record(seq, entry.signer_keyid, view.decode(entry)))
    return out


def apply_dispositions(
    view: LedgerView, findings: Sequence[Finding], legal: LegalCheck, as_of: datetime
) -> list[Finding]:
    """Each finding with its status, the disposition in force, and the lapsed ones."""
    current = {f.finding_id for f in findings}
    view.prefetch(
        q for f in findings for q in (("finding", f.finding_id), ("disposition_asset", f.asset))
    )
    return [_apply(view, f, legal, as_of, current) for f in findings]


def judged(
    view: LedgerView, findings: Sequence[Finding], legal: LegalCheck, as_of: datetime
) -> list[Finding]:
    """Findings as ``audit ip`` judges them: each with its stable id (:func:`assign_ids`) and
    the status counsel's dispositions give it (:func:`apply_dispositions`).  Every output
    showing a finding's state (the audit, the credits) judges it here, so they never differ."""
    return apply_dispositions(view, assign_ids(view, findings), legal, as_of)


def disposed_note(f: Finding) -> str | None:
    """Counsel's decision in force on ``f`` in words (who, when, what, the decision's event
    id), None while the finding is open."""
    d = f.disposition
    if f.is_open or d is None:
        return None
    return f"{d.decision} by {d.by} ({d.role}) at {d.at}, decision {d.event_id}"


def finding_state(f: Finding) -> dict[str, Any]:
    """A finding's state as outputs beside the audit show it (the credits, a disclosure's AI
    register): its id, rule, status and summary, the decision in force as ``audit ip`` shows it,
    and that decision in words (``counsel``, None while open)."""
    return {
        "id": f.finding_id,
        "rule": f.rule,
        "status": f.status,
        "summary": f.summary,
        "disposition": None if f.disposition is None else f.disposition.to_json(),
        "counsel": disposed_note(f),
    }


def _apply(
    view: LedgerView, f: Finding, legal: LegalCheck, as_of: datetime, current: set[str]
) -> Finding:
    lapsed = [  # decisions on an earlier id of this finding: its evidence has changed since
        _decision(d, f"{EARLIER_EVIDENCE} (it had this id until ledger entry {until})")
        for d in dispositions(view, "disposition_asset", f.asset)
        if d.rule == f.rule and d.finding_id not in current
        for until in [earlier_ids(view, f, d.seq).get(d.finding_id)]
        if until is not None
    ]
    in_force: Disposition | None = None
    shows = {s.show for s in view.recorded(f.asset)}
    for d in sorted(dispositions(view, "finding", f.finding_id), key=lambda d: d.seq):
        why_not = legal(d)
        if why_not is not None:
            lapsed.append(_decision(d, f"not applied: {why_not}"))
        elif d.rule != f.rule or d.asset != f.asset:
            lapsed.append(_decision(d, "not applied: it names another rule or asset version"))
        elif shows and d.show not in shows:  # counsel of one production deciding another's
            where = ", ".join(sorted(shows))
            note = f"not applied: it was made for production {d.show!r}, not {where}"
            lapsed.append(_decision(d, note))
        else:
            if in_force is not None:
                lapsed.append(_decision(in_force, "superseded by a later disposition"))
            in_force = d
    if in_force is None:
        return replace(f, status=OPEN, disposition=None, lapsed=_ordered(lapsed))
    if in_force.decision == "reopened":  # open, showing who reopened it and why
        return replace(f, status=OPEN, disposition=_decision(in_force, ""), lapsed=_ordered(lapsed))
    expires = in_force.expires
    if in_force.decision == "waived" and expires is not None and expires <= as_of:
        lapsed.append(_decision(in_force, "the waiver expired"))
        return replace(f, status=OPEN, disposition=None, lapsed=_ordered(lapsed))
    evidence = (*f.evidence, Evidence(in_force.event_id, in_force.seq, "counsel's disposition"))
    return replace(
        f,
        status=in_force.decision,
        disposition=_decision(in_force, ""),
        lapsed=_ordered(lapsed),
        evidence=evidence,
    )


EARLIER_EVIDENCE = "made on other evidence: the finding's evidence has changed since"


def earlier_ids(view: LedgerView, f: Finding, before: int) -> dict[str, int]:
    """The ids finding ``f`` had in audits of the ledger below entry ``before``, each with
    the entry that changed it.

    The ledger only grows, so at an earlier tree size the finding rested on the part of its
    evidence (and of its asset version's records) recorded by then: its id then was the id
    over that part.  A disposition naming one of these ids was made on this finding.
    """
    entries = {e.event_id: e.seq for e in f.evidence}
    entries.update((s.event_id, s.seq) for s in view.recorded(f.asset))
    ordered = sorted((seq, event_id) for event_id, seq in entries.items())
    out: dict[str, int] = {}
    for k in range(1, len(ordered)):
        if ordered[k - 1][0] >= before:
            break
        ids = [event_id for _, event_id in ordered[:k]]
        out[finding_id(f.rule, f.asset, ids)] = ordered[k][0]
    return out


@dataclass(frozen=True)
class Dangling:
    """A signed disposition that decides no finding of the audit, and what it names."""

    decision: Decision
    finding_id: str
    rule: str
    asset: str
    show: str
    signer_keyid: str

    def to_json(self) -> dict[str, Any]:
        return {
            **self.decision.to_json(),
            "finding_id": self.finding_id,
            "rule": self.rule,
            "asset": self.asset,
            "production": self.show,
            "signer_keyid": self.signer_keyid,
        }


DANGLING = (
    "it names no finding of this audit: no finding has this id, and it is not an earlier id"
    " of a finding of this rule and asset version (the finding it names does not exist here,"
    " or no longer does)"
)
DANGLING_DELIVERABLE = (
    "it names a deliverable-unresolved finding, which is not itself decided: it follows from"
    " the findings in the deliverable's lineage"
)


def dangling_dispositions(
    named: Iterable[Disposition], findings: Sequence[Finding]
) -> list[Dangling]:
    """The dispositions among ``named`` that no finding shows (in force, lapsed or inherited
    by a derivative), oldest first: never attached to another finding, never left unsaid."""
    shown = {
        d.event_id
        for f in findings
        for d in (*f.lapsed, *([f.disposition] if f.disposition else []))
    }
    deliverables = {f.finding_id for f in findings if f.rule == DELIVERABLE_UNRESOLVED_ID}
    out: dict[str, Dangling] = {}
    for d in named:
        if d.event_id in shown or d.event_id in out:
            continue
        why = DANGLING_DELIVERABLE if d.finding_id in deliverables else DANGLING
        out[d.event_id] = Dangling(
            _decision(d, why), d.finding_id, d.rule, d.asset, d.show, d.signer_keyid
        )
    return sorted(out.values(), key=lambda x: x.decision.seq)


def _ordered(decisions: list[Decision]) -> tuple[Decision, ...]:
    return tuple(sorted(decisions, key=lambda d: d.seq))


def _decision(d: Disposition, note: str) -> Decision:
    return Decision(
        decision=d.decision,
        by=d.actor_name,
        by_id=d.actor_id,
        role=d.actor_role,
        at=format_time(d.event_time),
        reason=d.reason,
        event_id=d.event_id,
        seq=d.seq,
        document_sha256=d.document_sha256,
        approver=d.approver,
        expires=None if d.expires is None else format_time(d.expires),
        replaced_by=d.replaced_by,
        note=note,
    )


def replaced_versions(findings: Sequence[Finding]) -> dict[str, str]:
    """Asset versions a remediation replaced (at fault → replacement)."""
    return {
        f.asset: f.disposition.replaced_by
        for f in findings
        if f.status == "remediated" and f.disposition and f.disposition.replaced_by
    }


def apply_derivative_clearances(findings: Sequence[Finding]) -> list[Finding]:
    """Counsel's clearance of an inherited restriction holds for that derivative.

    When counsel clears an ``ai-input-not-allowed`` finding whose input *derives* from the
    restricted material (its path is longer than the input itself), the clearance is for that
    derivative: every other AI use of it, or of anything made from it, that inherits the same
    restriction through it is cleared by the same decision, which the finding shows. A direct AI
    use of restricted material is cleared one use at a time.
    """
    cleared: dict[tuple[str, str], tuple[Finding, Decision]] = {}
    for f in findings:
        derived = f.rule == AI_INPUT_NOT_ALLOWED.id and len(f.path) > 1
        if derived and f.status == "cleared" and f.disposition is not None:
            cleared.setdefault((f.path[0], f.path[-1]), (f, f.disposition))
    return [_derivative_cleared(f, cleared) for f in findings]


def _derivative_cleared(
    f: Finding, cleared: dict[tuple[str, str], tuple[Finding, Decision]]
) -> Finding:
    if not f.is_open or f.rule != AI_INPUT_NOT_ALLOWED.id or not f.path:
        return f
    for node in f.path[:-1]:
        hit = cleared.get((node, f.path[-1]))
        if hit is None:
            continue
        source, decision = hit
        note = (
            f"cleared for the derivative {node} by counsel's decision on finding"
            f" {source.finding_id}"
        )
        evidence = (
            *f.evidence,
            Evidence(decision.event_id, decision.seq, "counsel's clearance of the derivative"),
        )
        return replace(
            f, status="cleared", disposition=replace(decision, note=note), evidence=evidence
        )
    return f
