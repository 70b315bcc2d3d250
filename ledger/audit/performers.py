"""Performers' view: every use of a performer's likeness and voice, revocation impact, and the
guild's replica usage register.

Nothing here judges consent on its own.  Whether a use is covered, and why not, is
:func:`ledger.audit.judge.judge_likeness`: the one judgement the ``likeness-without-consent``
rule, the credits and the portal share.  The findings about a use, counsel's decisions on them
and whether a deliverable is clear to ship come from the production's audit
(:func:`ledger.audit.ip.run_audit`).  Callers give the audit of a production through
``audit_of`` so that the portal can pass its cached one and the CLI the one it computes: the
same code, the same answers.

Uses are found through the ledger's ``performer`` index rows (written at append time from each
provenance event's ``likeness[].performer_id``), across every production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledger.audit.ip import AuditResult
from ledger.audit.judge import (
    ConsentVerdict,
    consent_record_json,
    judge_likeness,
    performer_name,
)
from ledger.audit.model import LedgerView, Step
from ledger.audit.production import ProductionView, production_steps, production_view
from ledger.audit.rules import LIKENESS_WITHOUT_CONSENT, Finding
from ledger.errors import ConfigurationError
from ledger.events.base import format_time
from ledger.events.consent import Consent

Audits = Callable[[str], AuditResult]
"""The audit of a production (the show's name), as ``audit report`` computes it."""

Timecodes = Callable[[str, str, str], Sequence[str]]
"""Where an asset version sits in a deliverable's cut: (production, deliverable key, asset key) to
record
timecode ranges ("01:00:10:00-01:00:12:05"), read from a delivery packet.  Optional: without a
packet the timecode column says so."""

KINDS = {
    "digital_replica": "replica",
    "synthetic_performer": "replica",
    "likeness_alteration": "alteration",
    "voice": "voice",
    "likeness": "likeness",
}
EXPIRY_WINDOW_DAYS = 30


def kind_of(use: str) -> str:
    """The kind of use in the words of the 2023 agreements: replica, alteration or voice."""
    return KINDS.get(use, use)


@dataclass(frozen=True)
class Placement:
    """A published deliverable whose lineage holds the use, with the audit's verdict."""

    deliverable: str  # "id@version"
    clear_to_ship: bool
    published: datetime
    timecodes: tuple[str, ...] | None  # None: no delivery packet gives them

    def to_json(self) -> dict[str, Any]:
        return {
            "deliverable": self.deliverable,
            "clear_to_ship": self.clear_to_ship,
            "published": format_time(self.published),
            "timecodes": None if self.timecodes is None else list(self.timecodes),
        }


@dataclass(frozen=True)
class PerformerUse:
    """One use of one performer's likeness or voice by one provenance event."""

    party: str
    step: Step
    use: str  # the likeness-use term the event states
    consent_ref: str | None
    consent: Consent | None  # the grant cited, only when it is this performer's own
    consent_record: dict[str, Any] | None  # its terms as every output shows a consent record
    verdict: ConsentVerdict  # judge_likeness: covered, or the reason it is not
    finding: Finding | None  # the audit's likeness-without-consent finding on it, if any
    placements: tuple[Placement, ...]
    findings: tuple[Finding, ...]  # the audit's findings about it, with counsel's decisions

    @property
    def kind(self) -> str:
        return kind_of(self.use)

    @property
    def covered(self) -> bool:
        """The consent cited covers the use (counsel may still have cleared a finding)."""
        return self.verdict.covered

    @property
    def reason(self) -> str | None:
        """Why the consent does not cover it, in the words every output uses."""
        return self.verdict.reason

    @property
    def compensation_ref(self) -> str | None:
        return None if self.consent is None else self.consent.compensation_ref

    def to_json(self) -> dict[str, Any]:
        s = self.step
        return {
            "party": self.party,
            "production": s.show,
            "episode": s.episode,
            "shot": s.shot,
            "asset": s.key,
            "event_id": s.event_id,
            "time": s.time,
            "use": self.use,
            "kind": self.kind,
            "consent_ref": self.consent_ref,
            "covered": self.covered,
            "reason": self.reason,
            "consent": self.consent_record,
            "compensation_ref": self.compensation_ref,
            "deliverables": [p.to_json() for p in self.placements],
            "findings": [_finding_json(f) for f in self.findings],
        }


def _finding_json(f: Finding) -> dict[str, Any]:
    """A finding as a performer may read it: no evidence receipts, the decisions in full."""
    out = {k: v for k, v in f.to_json().items() if k != "evidence"}
    return out


def likeness_finding(result: AuditResult, step: Step, party: str, use: str) -> Finding | None:
    """The audit's ``likeness-without-consent`` finding on this use, if it found one.

    The rule makes one finding per failing ``likeness`` entry of the event, named by its
    summary; an event with a single entry has at most one, whatever its wording.
    """
    found = [
        f for f in result.findings if f.rule == LIKENESS_WITHOUT_CONSENT.id and f.asset == step.key
    ]
    summary = f"{use} of {party} without matching consent"
    named = [f for f in found if f.summary == summary]
    if named:
        return named[0]
    return found[0] if found and len(step.likeness) == 1 else None


def _about(result: AuditResult, step: Step, own: Finding | None) -> tuple[Finding, ...]:
    """Findings on the asset version that made the use, other performers' consent left out."""
    found = [own] if own is not None else []
    found += [
        f for f in result.findings if f.asset == step.key and f.rule != LIKENESS_WITHOUT_CONSENT.id
    ]
    return tuple(found)


def _placements(result: AuditResult, step: Step, timecodes: Timecodes | None) -> list[Placement]:
    clear = result.clear_to_ship()
    out = []
    for d in result.deliverables:
        lineage = result.lineage(d.key, d.show)
        if lineage is None or step.key not in lineage.nodes:
            continue
        where = None if timecodes is None else tuple(timecodes(step.show, d.key, step.key))
        out.append(Placement(d.key, clear.get(d.key, False), d.event_time, where))
    return out


def performer_uses(
    view: LedgerView, party: str, audit_of: Audits, timecodes: Timecodes | None = None
) -> list[PerformerUse]:
    """Every use of ``party``'s likeness and voice the ledger records, in ledger order."""
    results: dict[str, AuditResult] = {}
    views: dict[str, ProductionView] = {}
    out = []
    for step in view.steps("performer", party):
        if step.show not in results:
            results[step.show] = audit_of(step.show)
            views[step.show] = production_view(view, step.show)
        result = results[step.show]
        # judged through the production's own records, as its audit judges it: a consent
        # recorded for another production is no evidence here (ledger.audit.production)
        own_view = views[step.show]
        for u in step.likeness:
            if u.performer_id != party:
                continue
            verdict = judge_likeness(own_view, step, u)
            own = likeness_finding(result, step, party, u.use)
            grant = verdict.grant
            mine = grant if grant is not None and grant.party_id == party else None
            record = None
            if mine is not None:
                revoked_by = [r.event_id for r in own_view.revocations(mine.event_id)]
                record = consent_record_json(mine, revoked_by)
            out.append(
                PerformerUse(
                    party=party,
                    step=step,
                    use=u.use,
                    consent_ref=u.consent_ref,
                    consent=mine,
                    consent_record=record,
                    verdict=verdict,
                    finding=own,
                    placements=tuple(_placements(result, step, timecodes)),
                    findings=_about(result, step, own),
                )
            )
    return out


def production_uses(
    view: LedgerView, production: str, audit_of: Audits, timecodes: Timecodes | None = None
) -> list[PerformerUse]:
    """Every performer's uses in one production (for counsel and the guild's register)."""
    steps = production_steps(view, production)
    parties = sorted({u.performer_id for s in steps for u in s.likeness})
    return [
        u
        for party in parties
        for u in performer_uses(view, party, audit_of, timecodes)
        if u.step.show == production
    ]


def party_name(view: LedgerView, party: str, production: str | None = None) -> str | None:
    """The name a performer gave on their latest consent, if any; with ``production``, on
    their latest consent that counts for it (another production's record renames no one in
    this production's register)."""
    if production is not None:
        view = production_view(view, production)
    return performer_name(view, party)


def production_names(view: LedgerView, party: str, productions: Iterable[str]) -> dict[str, str]:
    """The name ``party`` gave on the latest consent that counts for each production (none:
    left out).  A performer's own pages list these: a consent recorded for one show, perhaps
    signed by a key any show's tools hold, never renames the performer in another."""
    names = {show: party_name(view, party, show) for show in sorted(set(productions))}
    return {show: name for show, name in names.items() if name is not None}


def one_name(names: dict[str, str]) -> str | None:
    """The performer's name when every production's consents give the same one, else None
    (pages then show the id, with each production's name listed)."""
    distinct = set(names.values())
    return distinct.pop() if len(distinct) == 1 else None


def party_register_rows(
    uses: Sequence[PerformerUse], party: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    """A performer's own register: each production's rows name the performer as that
    production's consents do (``names`` from :func:`production_names`)."""
    return [
        row
        for show in sorted({u.step.show for u in uses})
        for row in register_rows([u for u in uses if u.step.show == show], {party: names.get(show)})
    ]


def require_party(view: LedgerView, party: str) -> None:
    """Refuse a party that gave no consent the ledger records: a mistyped id must not read as
    "no consent is revoked or about to expire"."""
    if not view.consents_for("consent_party", party):
        raise ConfigurationError(
            f"no consent given by {party!r} is recorded at tree size {view.state.size}",
            hint="party ids are exact, e.g. performer:dana-whitfield",
        )


# --- revocation impact -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImpactedUse:
    use: PerformerUse
    after: bool  # made at or after the date the consent stops
    action: str  # what must be done, in plain words ("" when nothing)
    open: bool  # the action is still to be done (a finding open, a deliverable blocked)

    def to_json(self) -> dict[str, Any]:
        return self.use.to_json() | {
            "made_after": self.after,
            "action": self.action,
            "open": self.open,
        }


@dataclass(frozen=True)
class Impact:
    """What a consent's revocation or expiry touches."""

    consent: Consent
    event: str  # revoked | expires | expired
    effective: datetime
    revocation: Consent | None
    uses: tuple[ImpactedUse, ...]

    @property
    def deliverables(self) -> list[Placement]:
        seen: dict[str, Placement] = {}
        for u in self.uses:
            for p in u.use.placements:
                seen.setdefault(p.deliverable, p)
        return [seen[k] for k in sorted(seen)]

    @property
    def is_open(self) -> bool:
        """Something must still be done: a use to remediate or a deliverable not clear to ship."""
        return any(u.open for u in self.uses)

    def to_json(self) -> dict[str, Any]:
        c = self.consent
        return {
            "consent": c.event_id,
            "party": c.party_id,
            "party_name": c.party_name,
            "event": self.event,
            "effective": format_time(self.effective),
            "revocation": None if self.revocation is None else self.revocation.event_id,
            "open": self.is_open,
            "uses": [u.to_json() for u in self.uses],
            "deliverables": [
                p.to_json() | {"shots": self._shots(p.deliverable)} for p in self.deliverables
            ],
        }

    def _shots(self, deliverable: str) -> list[str]:
        shots = {
            u.use.step.shot or "-"
            for u in self.uses
            if any(p.deliverable == deliverable for p in u.use.placements)
        }
        return sorted(shots)


def _stops(
    view: LedgerView, c: Consent, as_of: datetime, window: timedelta
) -> tuple[str, datetime, Consent | None] | None:
    """Why and when a grant stops: revoked (earliest revocation) or expiring within ``window``."""
    revocations = [
        r
        for r in view.revocations(c.event_id)
        if r.party_id == c.party_id and r.status == "revoked"
    ]
    if revocations:
        first = min(revocations, key=lambda r: r.valid_from)
        return "revoked", first.valid_from, first
    if c.expires is not None and c.expires <= as_of + window:
        return ("expired" if c.expires <= as_of else "expires"), c.expires, None
    return None


def _action(u: PerformerUse, after: bool, event: str, effective: datetime) -> tuple[str, bool]:
    """What must be done about one use, and whether it is still open.

    A term that ends (``expires``, ``expired``) ends the right to distribute what holds the
    use: open until a renewed consent is cited.  A revocation does not undo a use it covered
    when made: counsel is asked to confirm, not told to remediate.
    """
    when = format_time(effective)[:10]
    if u.finding is not None and u.finding.is_open:
        why = f"made on or after {when}" if after else "not covered by the consent"
        return (
            f"remediate: {u.step.key} ({why}) must be replaced, or a new consent obtained"
            " and counsel's decision recorded",
            True,
        )
    blocked = [p.deliverable for p in u.placements if not p.clear_to_ship]
    if blocked:
        return "not clear to ship: " + ", ".join(blocked), True
    if u.placements and event != "revoked":
        held = ", ".join(p.deliverable for p in u.placements)
        return f"renew the consent (term ends {when}) or stop distributing {held} after it", True
    if u.placements:
        return f"counsel: confirm that distribution after {when} is allowed, or remove it", False
    return "", False


def consent_impacts(
    view: LedgerView,
    grants: Iterable[Consent],
    audit_of: Audits,
    *,
    as_of: datetime,
    window_days: int = EXPIRY_WINDOW_DAYS,
    production: str | None = None,
    timecodes: Timecodes | None = None,
) -> list[Impact]:
    """The impact of each revoked (or soon expiring) performer consent among ``grants``.

    Each use that cites the consent (in ``production`` only, when given), whether it was made
    after the consent stopped, the deliverables that hold it with their clear-to-ship verdict,
    and what must be done.
    """
    window = timedelta(days=window_days)
    out = []
    for c in grants:
        if c.status != "granted" or c.party_kind != "performer":
            continue
        stop = _stops(view, c, as_of, window)
        if stop is None:
            continue
        event, effective, revocation = stop
        uses = [
            u
            for u in performer_uses(view, c.party_id, audit_of, timecodes)
            if u.consent_ref == c.event_id and (production is None or u.step.show == production)
        ]
        impacted = []
        for u in uses:
            after = u.step.event_time >= effective
            impacted.append(ImpactedUse(u, after, *_action(u, after, event, effective)))
        out.append(Impact(c, event, effective, revocation, tuple(impacted)))
    return sorted(out, key=lambda i: (i.effective, i.consent.event_id))


def party_impacts(
    view: LedgerView, party: str, audit_of: Audits, *, as_of: datetime, **options: Any
) -> list[Impact]:
    """Impacts of every consent ``party`` gave, across productions."""
    grants = view.consents_for("consent_party", party)
    return consent_impacts(view, grants, audit_of, as_of=as_of, **options)


def production_impacts(
    view: LedgerView, production: str, audit_of: Audits, *, as_of: datetime, **options: Any
) -> list[Impact]:
    """Impacts of the consents that count for a production, on that production's uses."""
    grants = production_view(view, production).consents_for("show", production)
    return consent_impacts(view, grants, audit_of, as_of=as_of, production=production, **options)


# --- the replica usage register ------------------------------------------------------------------

REGISTER_COLUMNS = (
    "production",
    "episode",
    "performer",
    "performer_name",
    "shot",
    "asset",
    "kind",
    "use",
    "time",
    "consent_ref",
    "consent_status",
    "compensation_ref",
    "deliverables",
    "timecodes",
    "event_id",
)


def register_rows(
    uses: Iterable[PerformerUse], names: dict[str, str | None]
) -> list[dict[str, Any]]:
    """One row per use, ordered by production, episode, performer and time."""
    rows = []
    for u in uses:
        s = u.step
        timecodes = [
            f"{p.deliverable} {t}" for p in u.placements if p.timecodes for t in p.timecodes
        ]
        rows.append(
            {
                "production": s.show,
                "episode": s.episode or "",
                "performer": u.party,
                "performer_name": names.get(u.party) or "",
                "shot": s.shot or "",
                "asset": s.key,
                "kind": u.kind,
                "use": u.use,
                "time": s.time,
                "consent_ref": u.consent_ref or "",
                "consent_status": "covered" if u.covered else f"NOT COVERED: {u.reason}",
                "compensation_ref": u.compensation_ref or "",
                "deliverables": " ".join(p.deliverable for p in u.placements),
                "timecodes": " ".join(timecodes) or _no_timecodes(u.placements),
                "event_id": s.event_id,
            }
        )
    return sorted(
        rows, key=lambda r: (r["production"], r["episode"], r["performer"], r["time"], r["asset"])
    )


TIMECODES_NOT_READ = "not known: no delivery packet was read"
TIMECODES_NOT_IN_CUT = "not in the cut of the delivery packets read"


def _no_timecodes(placements: Sequence[Placement]) -> str:
    """What a register row says of a use in published deliverables without record timecodes:
    that no packet was read (so they are not known), or that the packets read place none."""
    if not placements:
        return ""
    if all(p.timecodes is None for p in placements):
        return TIMECODES_NOT_READ
    return TIMECODES_NOT_IN_CUT


def register_json(view: LedgerView, title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from ledger.audit.model import content_digest

    body = {
        "report": "assetledger replica usage register",
        "title": title,
        "checkpoint": view.state.to_json(),
        "uses": rows,
    }
    return body | {"content_sha256": content_digest(body)}
