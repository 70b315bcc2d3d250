"""The judgements every output shares, so that none can contradict another.

:func:`judge_consent` decides whether the consent an event cites covers what the event did
(production, episode, shot, asset, use kind, medium, territory, term, revocation), and
:func:`judge_likeness` applies it to one likeness use of a step.  :func:`judge_model_licence`
decides whether the licence record an AI step cites covers its use of the model.  The audit
rules, the credit report (every format), its end-credits statement and the portal all call
these; none builds a use or a reason of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ledger.audit.model import LedgerView, Likeness, Model, Step
from ledger.events import consent as consents
from ledger.events.base import format_time
from ledger.events.consent import Consent
from ledger.events.licence import Licence, LicensedUse, use_problem

NO_CONSENT_CITED = "the event cites no consent"


def step_use(step: Step, party_id: str, use: str) -> consents.Use:
    """What ``step`` does to ``party_id`` (a performer, or an input asset), with every
    dimension the event states: production, episode, shot, asset, time, territories, media."""
    dist = step.distribution
    return consents.Use(
        party_id,
        use,
        step.show,
        step.episode,
        step.event_time,
        shot=step.shot,
        asset_id=step.asset_id,
        territories=dist.territories if dist else (),
        media=dist.media if dist else (),
    )


@dataclass(frozen=True)
class ConsentVerdict:
    """Whether a cited consent covers a use, and the one reason every output states."""

    use: consents.Use
    consent_ref: str | None
    grant: consents.Consent | None
    reason: str | None  # None: the consent covers the use
    revocations: tuple[consents.Consent, ...] = ()  # in force at the time of use

    @property
    def covered(self) -> bool:
        return self.reason is None


def performer_name(view: LedgerView, party: str) -> str | None:
    """The name ``party`` gave on their latest consent record ``view`` holds (a production's
    view: that production's records only); None when they gave none."""
    names = [c.party_name for c in view.consents_for("consent_party", party) if c.party_name]
    return names[-1] if names else None


def party_label(name: str | None, party: str) -> str:
    """A performer as outputs print them: the name with the id to check it by, else the id."""
    return f"{name} ({party})" if name else party


def judge_consent(view: LedgerView, ref: str | None, use: consents.Use) -> ConsentVerdict:
    """Does the consent recorded as event ``ref`` cover ``use``?"""
    if ref is None:
        return ConsentVerdict(use, None, None, NO_CONSENT_CITED)
    grant = view.consent(ref)
    revocations = view.revocations(ref)
    reason = consents.check_use(grant, use, revocations)
    if reason is not None and grant is not None and not grant.structured:
        reason += f" ({consents.OLD_RULE_NOTE})"
    cited = tuple(r for r in revocations if r.valid_from <= use.time)
    return ConsentVerdict(use, ref, grant, reason, cited)


def judge_likeness(view: LedgerView, step: Step, likeness: Likeness) -> ConsentVerdict:
    """Does the consent a step cites for one likeness use cover that use?

    The one judgement of likeness consent: the ``likeness-without-consent`` rule, the credit
    report's consent rows and AI-disclosure statement, and the portal's pages all call it.
    """
    use = step_use(step, likeness.performer_id, likeness.use)
    return judge_consent(view, likeness.consent_ref, use)


# --- licence records of AI models ------------------------------------------------------------


def model_use(step: Step, model: Model) -> LicensedUse:
    """What an AI step did under its model's licence: when, which model, where it is shown."""
    use = LicensedUse(step.event_time, model=(model.name, model.version, model.provider))
    if step.distribution is None:
        return use
    return replace(
        use, commercial=step.distribution.commercial, territories=step.distribution.territories
    )


@dataclass(frozen=True)
class LicenceVerdict:
    """Whether the licence record an AI step cites covers its use of the model."""

    ref: str
    licence: Licence | None
    problem: str | None  # why the record does not cover the use; None: it covers it
    in_force: bool  # the record exists and was in force at the time of use

    @property
    def status(self) -> str:
        """In plain words, as the credits and the portal show it."""
        if self.problem is None:
            return "covers this use"
        if not self.in_force:
            return f"no licence in force: {self.problem}"
        return f"does not cover this use: {self.problem}"

    @property
    def label(self) -> str:
        named = f"{self.licence.label}, " if self.licence is not None else ""
        return f"licence record {self.ref} ({named}{self.status})"


def judge_model_licence(view: LedgerView, step: Step, model: Model) -> LicenceVerdict | None:
    """The licence record ``model`` cites judged against the step's use (None: it cites none).

    The ``ai-model-undeclared`` and ``licence-not-covering`` rules and the credits' licence
    column all read this verdict.
    """
    ref = model.licence_ref
    if ref is None:
        return None
    licence = view.licence(ref)
    problem = use_problem(licence, model_use(step, model))
    return LicenceVerdict(ref, licence, problem, licence is not None and _in_force(licence, step))


def _in_force(licence: Licence, step: Step) -> bool:
    until = licence.valid_until
    return licence.valid_from <= step.event_time and (until is None or step.event_time < until)


def consent_record_json(c: Consent, revoked_by: list[str]) -> dict[str, Any]:
    """A consent record as the reports, the portal and the register show it."""
    return {
        "event_id": c.event_id,
        "status": c.status,
        "party": c.party_id,
        "party_name": c.party_name,
        "party_kind": c.party_kind,
        "uses": list(c.likeness_uses + c.ai_uses),
        "assets": list(c.assets),
        # in words: each structured coverage ("Show" or "Show, episode E"), then old strings
        "productions": [v.label for v in c.coverage] + list(c.productions),
        "coverage": [v.to_json() for v in c.coverage],
        "scope": c.scope,
        "valid_from": format_time(c.valid_from),
        "expires": None if c.expires is None else format_time(c.expires),
        "revokes": c.revokes,
        "revoked_by": revoked_by,
        "document": c.document,
        "shots": list(c.shots),
        "media": list(c.media),
        "territories": list(c.territories),
        "compensation_ref": c.compensation_ref,
        "document_sha256": c.document_sha256,
        "terms": "structured" if c.structured else "old rule (consent schema v1)",
    }
