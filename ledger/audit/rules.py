"""IP rules: each looks at one provenance step and returns findings with evidence.

A finding names its rule, a severity, the asset version it is about, a plain-language
explanation a lawyer can read, and the ledger entries (event ids, with receipts when a signed
checkpoint covers them) that prove it.  The deliverable rule runs last, over the lineage of
each published asset and the findings of the other rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.audit.lineage import EDGE_HASH_MISMATCH, EDGE_HASH_UNKNOWN, EDGE_MISSING, Lineage
from ledger.audit.model import UNKNOWN_SHA256, LedgerView, Step
from ledger.events import consent as consents

SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Evidence:
    event_id: str
    seq: int
    what: str  # plain words: "the AI generation", "the consent relied on"
    receipt: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "seq": self.seq, "what": self.what}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    asset: str  # the asset version ("id@version") the finding is about
    summary: str
    explanation: str
    evidence: tuple[Evidence, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "asset": self.asset,
            "summary": self.summary,
            "explanation": self.explanation,
            "evidence": [e.to_json() for e in self.evidence],
        }


def _step_evidence(step: Step, what: str) -> Evidence:
    return Evidence(step.event_id, step.seq, what)


@dataclass(frozen=True)
class Rule:
    """A named check over one step."""

    id: str
    severity: str
    title: str
    check: Callable[[LedgerView, Step], list[Finding]]


# --- ai-model-undeclared ---------------------------------------------------------------------


def check_model_declared(view: LedgerView, step: Step) -> list[Finding]:
    """AI output whose model lacks a licence or a training-data declaration."""
    if not step.is_ai:
        return []
    model = step.model
    missing = (
        ["model name"]
        if model is None
        else [
            what
            for what, value in (
                ("licence", model.licence),
                ("training-data declaration", model.training_data),
            )
            if not value
        ]
    )
    if not missing:
        return []
    label = model.label if model else step.actor.name
    return [
        Finding(
            rule=AI_MODEL_UNDECLARED.id,
            severity=AI_MODEL_UNDECLARED.severity,
            asset=step.key,
            summary=f"{label} has no declared {' or '.join(missing)}",
            explanation=(
                f"{step.key} was made by the AI model {label} ({step.source_type}), but the "
                f"event declares no {' and no '.join(missing)} for that model. Without them "
                "nobody can show the studio had the right to use the model's output or that the "
                "model was not trained on material it had no right to use."
            ),
            evidence=(_step_evidence(step, "the AI action, as signed by its tool"),),
        )
    ]


AI_MODEL_UNDECLARED = Rule(
    "ai-model-undeclared",
    "high",
    "AI output from a model with no declared licence or training data",
    check_model_declared,
)


# --- ai-input-not-allowed --------------------------------------------------------------------

AI_INPUT_USE = "cawg.ai_inference"


def check_ai_inputs(view: LedgerView, step: Step) -> list[Finding]:
    """An input whose rights holder said notAllowed (or an unmet constrained) fed to AI."""
    if not step.is_ai:
        return []
    findings = []
    for ing in step.ingredients:
        for source in view.recorded(ing.key):
            problem = _input_problem(view, step, ing.asset_id, source)
            if problem is not None:
                findings.append(_input_finding(step, ing.key, source, problem))
    return findings


def _input_problem(view: LedgerView, step: Step, asset_id: str, source: Step) -> str | None:
    for p in source.permissions:
        if p.use_kind != AI_INPUT_USE or p.use == "allowed":
            continue
        if p.use == "notAllowed":
            return f"its rights holder marked it notAllowed for {AI_INPUT_USE}"
        why = _constraint_unmet(view, step, asset_id)
        if why is not None:
            info = f" ({p.constraint_info})" if p.constraint_info else ""
            return f"its use for {AI_INPUT_USE} is constrained{info} and {why}"
    return None


def _constraint_unmet(view: LedgerView, step: Step, asset_id: str) -> str | None:
    """None when a consent the step relies on grants this AI use of the asset."""
    use = consents.Use(asset_id, AI_INPUT_USE, step.show, step.episode, step.event_time)
    reasons = []
    for ref in step.consent_refs:
        grant = view.consent(ref)
        reason = consents.check_use(grant, use, view.revocations(ref))
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(reasons) if reasons else "the AI action cites no consent meeting it"


def _input_finding(step: Step, key: str, source: Step, problem: str) -> Finding:
    return Finding(
        rule=AI_INPUT_NOT_ALLOWED.id,
        severity=AI_INPUT_NOT_ALLOWED.severity,
        asset=step.key,
        summary=f"input {key} is not cleared for AI use",
        explanation=(
            f"{step.key} was made by the AI model "
            f"{step.model.label if step.model else step.actor.name} with {key} as an input, "
            f"but {problem}."
        ),
        evidence=(
            _step_evidence(step, "the AI action using the input"),
            _step_evidence(source, "the input's record, with its training-and-mining terms"),
        ),
    )


AI_INPUT_NOT_ALLOWED = Rule(
    "ai-input-not-allowed",
    "high",
    "An input not cleared for AI inference used by an AI action",
    check_ai_inputs,
)


# --- likeness-without-consent ----------------------------------------------------------------


def check_likeness(view: LedgerView, step: Step) -> list[Finding]:
    findings = []
    for u in step.likeness:
        use = consents.Use(u.performer_id, u.use, step.show, step.episode, step.event_time)
        if u.consent_ref is None:
            reason = "the event cites no consent"
            grant = None
        else:
            grant = view.consent(u.consent_ref)
            reason = consents.check_use(grant, use, view.revocations(u.consent_ref)) or ""
        if reason:
            findings.append(_likeness_finding(view, step, u.performer_id, u.use, reason, grant))
    return findings


def _likeness_finding(
    view: LedgerView,
    step: Step,
    performer: str,
    use: str,
    reason: str,
    grant: consents.Consent | None,
) -> Finding:
    evidence = [_step_evidence(step, f"the {use} use of {performer}")]
    if grant is not None:
        entry = view.store.entry_by_event_id(grant.event_id)
        if entry is not None:
            evidence.append(Evidence(grant.event_id, entry.seq, "the consent cited"))
    return Finding(
        rule=LIKENESS_WITHOUT_CONSENT.id,
        severity=LIKENESS_WITHOUT_CONSENT.severity,
        asset=step.key,
        summary=f"{use} of {performer} without matching consent",
        explanation=(
            f"{step.key} uses the likeness of {performer} ({use}), which needs the performer's "
            "informed consent for this specific use, unexpired and covering this production; "
            f"here {reason}."
        ),
        evidence=tuple(evidence),
    )


LIKENESS_WITHOUT_CONSENT = Rule(
    "likeness-without-consent",
    "critical",
    "Likeness or digital-replica use without a matching, unexpired, in-scope consent",
    check_likeness,
)


# --- ingredient-unrecorded and content-hash-mismatch -----------------------------------------


def check_unrecorded(view: LedgerView, step: Step) -> list[Finding]:
    findings = []
    for ing in step.ingredients:
        if not view.recorded(ing.key):
            findings.append(
                Finding(
                    rule=INGREDIENT_UNRECORDED.id,
                    severity=INGREDIENT_UNRECORDED.severity,
                    asset=step.key,
                    summary=f"ingredient {ing.key} has no provenance in the ledger",
                    explanation=(
                        f"{step.key} uses {ing.key} ({ing.relationship}), but no entry in the "
                        "ledger records where that version came from, who made it or under "
                        "what rights."
                    ),
                    evidence=(_step_evidence(step, "the step that used the ingredient"),),
                )
            )
    return findings


INGREDIENT_UNRECORDED = Rule(
    "ingredient-unrecorded",
    "high",
    "An ingredient never recorded in the ledger (unknown provenance)",
    check_unrecorded,
)


def check_hashes(view: LedgerView, step: Step) -> list[Finding]:
    findings = []
    for ing in step.ingredients:
        recorded = view.recorded(ing.key)
        if ing.content_sha256 == UNKNOWN_SHA256:
            continue  # ingredient-hash-unknown says so
        if recorded and all(r.content_sha256 != ing.content_sha256 for r in recorded):
            findings.append(_mismatch_finding(step, ing.key, ing.content_sha256, recorded))
    return findings


def _mismatch_finding(step: Step, key: str, used: str, recorded: Sequence[Step]) -> Finding:
    return Finding(
        rule=CONTENT_HASH_MISMATCH.id,
        severity=CONTENT_HASH_MISMATCH.severity,
        asset=step.key,
        summary=f"ingredient {key} does not match the ledger's record of it",
        explanation=(
            f"{step.key} says it used {key} with content SHA-256 {used}, but the ledger "
            f"records that version as {', '.join(sorted({r.content_sha256 for r in recorded}))}. "
            "The bytes used are not the bytes whose provenance is recorded."
        ),
        evidence=(
            _step_evidence(step, "the step that used the ingredient"),
            *(_step_evidence(r, "the ledger's record of that version") for r in recorded),
        ),
    )


CONTENT_HASH_MISMATCH = Rule(
    "content-hash-mismatch",
    "high",
    "An ingredient whose content hash differs from the ledger's record of that version",
    check_hashes,
)


def check_unknown_hashes(view: LedgerView, step: Step) -> list[Finding]:
    return [
        Finding(
            rule=INGREDIENT_HASH_UNKNOWN.id,
            severity=INGREDIENT_HASH_UNKNOWN.severity,
            asset=step.key,
            summary=f"ingredient {ing.key} is used without a content hash",
            explanation=(
                f"{step.key} uses {ing.key} ({ing.relationship}), but its event states no "
                "SHA-256 of the bytes used (an import from C2PA where neither the files given, "
                "the ingredient's manifest nor a whole-file hard binding said it), so nobody can "
                "tell whether the recorded version is what was used."
            ),
            evidence=(_step_evidence(step, "the step that used the ingredient"),),
        )
        for ing in step.ingredients
        if ing.content_sha256 == UNKNOWN_SHA256
    ]


INGREDIENT_HASH_UNKNOWN = Rule(
    "ingredient-hash-unknown",
    "medium",
    "An ingredient used without a stated content hash (C2PA import)",
    check_unknown_hashes,
)


# --- signer-not-trusted (pluggable: seq -> verdict) -------------------------------------------


@dataclass(frozen=True)
class SignerVerdict:
    """Was the key that signed an entry trusted, unrevoked and in scope at the event's time?"""

    ok: bool
    reason: str = ""  # plain words when not ok, e.g. "key revoked on 2025-03-01"


SignerVerdicts = Callable[[int], SignerVerdict]


def signer_rule(verdicts: SignerVerdicts) -> Rule:
    """The key-verdict rule over a function from ledger sequence number to verdict."""

    def check(view: LedgerView, step: Step) -> list[Finding]:
        verdict = verdicts(step.seq)
        if verdict.ok:
            return []
        return [
            Finding(
                rule=SIGNER_NOT_TRUSTED_ID,
                severity="critical",
                asset=step.key,
                summary=f"signed by key {step.signer_keyid[:16]}… that was not valid for it",
                explanation=(
                    f"The event recording {step.key} is signed by key {step.signer_keyid}, "
                    f"which {verdict.reason or 'was not trusted for this event'}. Its content "
                    "cannot be relied on as the tool's own statement."
                ),
                evidence=(_step_evidence(step, "the event and its signature"),),
            )
        ]

    return Rule(SIGNER_NOT_TRUSTED_ID, "critical", SIGNER_NOT_TRUSTED_TITLE, check)


SIGNER_NOT_TRUSTED_ID = "signer-not-trusted"
SIGNER_NOT_TRUSTED_TITLE = "An event signed by a key untrusted, revoked or out of scope at the time"

STEP_RULES: tuple[Rule, ...] = (
    AI_MODEL_UNDECLARED,
    AI_INPUT_NOT_ALLOWED,
    LIKENESS_WITHOUT_CONSENT,
    INGREDIENT_UNRECORDED,
    CONTENT_HASH_MISMATCH,
    INGREDIENT_HASH_UNKNOWN,
)


# --- deliverable-unresolved ------------------------------------------------------------------

DELIVERABLE_UNRESOLVED_ID = "deliverable-unresolved"
DELIVERABLE_UNRESOLVED_TITLE = (
    "A published deliverable whose lineage holds unresolved findings or broken links"
)


def is_deliverable(step: Step) -> bool:
    return step.action == "c2pa.published"


def deliverable_findings(
    step: Step, lineage: Lineage, findings: Iterable[Finding]
) -> list[Finding]:
    """One finding for a published asset whose lineage is not clean."""
    inside = [f for f in findings if f.asset in lineage.nodes]
    broken_statuses = (EDGE_MISSING, EDGE_HASH_MISMATCH, EDGE_HASH_UNKNOWN)
    broken = [e for e in lineage.edges if e.status in broken_statuses]
    if not inside and not broken:
        return []
    severity = max((f.severity for f in inside), key=severity_rank, default="high")
    rules = sorted({f"{f.rule} ({f.asset})" for f in inside})
    evidence: dict[str, Evidence] = {step.event_id: _step_evidence(step, "the publication")}
    for f in inside:
        for e in f.evidence:
            evidence.setdefault(e.event_id, e)
    return [
        Finding(
            rule=DELIVERABLE_UNRESOLVED_ID,
            severity=severity,
            asset=step.key,
            summary=f"published with {len(inside)} unresolved finding(s) in its lineage",
            explanation=(
                f"{step.key} was published, but its lineage of {len(lineage.nodes)} asset "
                "versions holds unresolved findings: " + "; ".join(rules) + ". It should not "
                "ship until each is resolved or waived by counsel."
            ),
            evidence=tuple(sorted(evidence.values(), key=lambda e: e.seq)),
        )
    ]


@dataclass
class RuleSet:
    step_rules: list[Rule] = field(default_factory=lambda: list(STEP_RULES))

    def with_signer_verdicts(self, verdicts: SignerVerdicts | None) -> RuleSet:
        if verdicts is None:
            return self
        return RuleSet([*self.step_rules, signer_rule(verdicts)])

    def catalog(self) -> list[dict[str, str]]:
        rows = [{"rule": r.id, "severity": r.severity, "title": r.title} for r in self.step_rules]
        rows.append(
            {
                "rule": DELIVERABLE_UNRESOLVED_ID,
                "severity": "highest found",
                "title": DELIVERABLE_UNRESOLVED_TITLE,
            }
        )
        return rows
