"""IP rules: each looks at one provenance step and returns findings with evidence.

A finding names its rule, a severity, the asset version it is about, a plain-language
explanation a lawyer can read, and the ledger entries (event ids, with receipts when a signed
checkpoint covers them) that prove it.  The deliverable rule runs last, over the lineage of
each published asset and the findings of the other rules.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.audit.judge import (
    ConsentVerdict,
    judge_consent,
    judge_likeness,
    judge_model_licence,
    party_label,
    performer_name,
    step_use,
)
from ledger.audit.lineage import EDGE_HASH_MISMATCH, EDGE_HASH_UNKNOWN, EDGE_MISSING, Lineage
from ledger.audit.model import (
    LICENCE_RECORDS_SINCE,
    UNKNOWN_SHA256,
    LedgerView,
    Model,
    Step,
)
from ledger.events import approval as approvals
from ledger.events import vocab
from ledger.events.base import format_time
from ledger.events.licence import LicensedUse, use_problem

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
class Decision:
    """A disposition as an audit shows it: who decided what, when and why."""

    decision: str  # cleared | waived | remediated | reopened
    by: str  # display name
    by_id: str  # actor id
    role: str
    at: str  # RFC 3339
    reason: str
    event_id: str
    seq: int
    document_sha256: str | None = None
    approver: str | None = None
    expires: str | None = None
    replaced_by: str | None = None
    note: str = ""  # why it no longer applies (lapsed) or was not applied

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": self.decision,
            "by": self.by,
            "by_id": self.by_id,
            "role": self.role,
            "at": self.at,
            "reason": self.reason,
            "event_id": self.event_id,
        }
        for name in ("document_sha256", "approver", "expires", "replaced_by"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.note:
            out["note"] = self.note
        return out


OPEN = "open"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    asset: str  # the asset version ("id@version") the finding is about
    summary: str
    explanation: str
    evidence: tuple[Evidence, ...]
    finding_id: str = ""  # stable: rule, asset version and evidence (see finding_id())
    status: str = OPEN  # open, or the decision of the disposition in force
    disposition: Decision | None = None
    lapsed: tuple[Decision, ...] = ()  # dispositions that no longer apply, and why
    path: tuple[str, ...] = ()  # ai-input-not-allowed: the AI input … up to the restricted one
    parts: tuple[str, ...] = ()  # the faults it stands for, when several share its id
    production: str | None = None  # the show whose records it was found in (set by the audit;
    # audit_json states it, to_json leaves it out: a packet's disclosure is fixed bytes)

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.finding_id,
            "rule": self.rule,
            "severity": self.severity,
            "asset": self.asset,
            "status": self.status,
            "summary": self.summary,
            "explanation": self.explanation,
            "evidence": [e.to_json() for e in self.evidence],
        }
        if self.disposition is not None:
            out["disposition"] = self.disposition.to_json()
        if self.lapsed:
            out["lapsed_dispositions"] = [d.to_json() for d in self.lapsed]
        if self.path:
            out["path"] = list(self.path)
        if self.parts:
            out["parts"] = list(self.parts)
        return out


def finding_id(rule: str, asset: str, evidence_ids: Iterable[str]) -> str:
    """The stable id of a finding: SHA-256 over its rule, asset version and evidence entries.

    The same facts give the same id in every audit; a new fact (another event on that asset
    version, another consent or licence relied on) gives another id, so a disposition of the
    old id no longer applies.
    """
    lines = ["assetledger finding v1", rule, asset, *sorted(set(evidence_ids))]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _step_evidence(step: Step, what: str) -> Evidence:
    return Evidence(step.event_id, step.seq, what)


def _event_evidence(view: LedgerView, event_id: str, what: str) -> tuple[Evidence, ...]:
    """The entry of ``event_id`` as evidence; none when the ledger below the view's size does
    not hold it."""
    seq = view.seq_of(event_id)
    return () if seq is None else (Evidence(event_id, seq, what),)


@dataclass(frozen=True)
class Rule:
    """A named check over one step."""

    id: str
    severity: str
    title: str
    check: Callable[[LedgerView, Step], list[Finding]]


@dataclass(frozen=True)
class RuleInfo:
    """A rule reported by another rule's check (which reads the evidence once)."""

    id: str
    severity: str
    title: str


def _finding(
    rule: Rule | RuleInfo,
    step: Step,
    what: str,
    summary: str,
    explanation: str,
    more: Iterable[Evidence] = (),
    path: tuple[str, ...] = (),
) -> Finding:
    """A finding of ``rule`` on the asset version ``step`` records: its first evidence is the
    step itself (``what`` it shows), then ``more``, each entry once, in the order given."""
    evidence = dict.fromkeys((_step_evidence(step, what), *more))
    return Finding(
        rule=rule.id,
        severity=rule.severity,
        asset=step.key,
        summary=summary,
        explanation=explanation,
        evidence=tuple(evidence),
        path=path,
    )


# --- ai-model-undeclared and licence-not-covering ---------------------------------------------

OLD_RULE_NOTE = (
    " This event was written before licence records (provenance schema v{v}), so it is judged"
    " by the old rule: a free-text licence and training-data declaration."
)
AI_ACTION = "the AI action, as signed by its tool"
WITHOUT_LICENCE = (
    "Without a licence in force for this use nobody can show the studio had the right to use"
    " the model's output."
)
WITHOUT_TRAINING_DATA = (
    "Without a training-data declaration nobody can show that the model was not trained on"
    " material it had no right to use."
)


def check_model_declared(view: LedgerView, step: Step) -> list[Finding]:
    """AI output whose model has no licence record in force (old events: no free-text one)."""
    if not step.is_ai:
        return []
    if step.model is None:
        why = (
            "its event names no model (name, version and provider), so no licence can be"
            f" checked. {WITHOUT_LICENCE}"
        )
        return [_undeclared(step, f"{step.actor.name} has no declared model name", why, ())]
    if step.schema_version and step.schema_version < LICENCE_RECORDS_SINCE:
        return _old_model_rule(step, step.model)
    return _licence_rule(view, step, step.model)


def _old_model_rule(step: Step, model: Model) -> list[Finding]:
    missing = [
        (what, consequence)
        for what, value, consequence in (
            ("licence", model.licence, WITHOUT_LICENCE),
            ("training-data declaration", model.training_data, WITHOUT_TRAINING_DATA),
        )
        if not value
    ]
    if not missing:
        return []
    names = [what for what, _ in missing]
    why = (
        f"the event declares no {' and no '.join(names)} for that model. "
        + " ".join(consequence for _, consequence in missing)
        + OLD_RULE_NOTE.format(v=step.schema_version)
    )
    return [_undeclared(step, f"{model.label} has no declared {' or '.join(names)}", why, ())]


def _licence_rule(view: LedgerView, step: Step, model: Model) -> list[Finding]:
    verdict = judge_model_licence(view, step, model)
    if verdict is None:
        text = f" (it names {model.licence!r} as free text, which is not a record)"
        why = "the event cites no licence record for that model" + (text if model.licence else "")
        summary = f"{model.label} cites no licence record"
        return [_undeclared(step, summary, f"{why}. {WITHOUT_LICENCE}", ())]
    cited = _event_evidence(view, verdict.ref, "the licence record cited")
    if verdict.problem is not None and not verdict.in_force:
        summary = f"{model.label} has no licence record in force"
        return [_undeclared(step, summary, f"{verdict.problem}. {WITHOUT_LICENCE}", cited)]
    if verdict.problem is not None:
        return [_not_covering(step, model, verdict.problem, cited)]
    if not model.training_data:
        why = f"the event declares no training data for that model. {WITHOUT_TRAINING_DATA}"
        return [_undeclared(step, f"{model.label} has no training-data declaration", why, cited)]
    return []


def _undeclared(step: Step, summary: str, why: str, cited: tuple[Evidence, ...]) -> Finding:
    """``why`` states the reason and what follows from it (one reason per finding)."""
    label = step.model.label if step.model else step.actor.name
    explanation = f"{step.key} was made by the AI model {label} ({step.source_type}), but {why}"
    return _finding(AI_MODEL_UNDECLARED, step, AI_ACTION, summary, explanation, cited)


def _not_covering(step: Step, model: Model, problem: str, cited: tuple[Evidence, ...]) -> Finding:
    return _finding(
        LICENCE_NOT_COVERING,
        step,
        AI_ACTION,
        f"the licence cited for {model.label} does not cover this use",
        f"{step.key} was made by the AI model {model.label} under the licence record "
        f"{model.licence_ref}, but {problem}.",
        cited,
    )


AI_MODEL_UNDECLARED = Rule(
    "ai-model-undeclared",
    "high",
    "AI output from a model with no licence record in force (old events: no declared licence)",
    check_model_declared,
)


LICENCE_NOT_COVERING = RuleInfo(
    "licence-not-covering",
    "high",
    "AI output under a licence record that does not cover the use (model, commercial use,"
    " territory); reported by the ai-model-undeclared check",
)


LICENCE_RULES = frozenset({AI_MODEL_UNDECLARED.id, LICENCE_NOT_COVERING.id})
"""The rules judging an AI output's model licence (the credits' licence column shows them)."""


# --- ai-output-undeclared (the declared source type contradicts the event) --------------------


def check_source_declared(view: LedgerView, step: Step) -> list[Finding]:
    """An event whose declared digitalSourceType says no AI took part while the same event
    records an AI model (or AI actor), or says a capture while an input is AI output."""
    declared = step.source_type
    if step.is_ai:
        if declared in vocab.AI_DECLARING_SOURCE_TYPES:
            return []
        made_by = f"the AI model {step.model.label}" if step.model else f"the AI {step.actor.name}"
        summary = f"made by {made_by} but declared {declared}, not AI output"
        why = (
            f"its event records {made_by} yet declares the digital source type {declared},"
            " which says no AI took part"
        )
        return [_undeclared_ai(step, summary, why, ())]
    if declared not in vocab.CAPTURE_SOURCE_TYPES:
        return []
    for ing in step.ingredients:
        made = [r for r in view.recorded(ing.key) if r.is_ai or r.is_generative]
        if made:
            summary = f"declared {declared} but made from the AI output {ing.key}"
            why = (
                f"its event declares the digital source type {declared}, a capture, yet its"
                f" input {ing.key} is AI output (recorded by {made[0].actor.name},"
                f" {made[0].source_type})"
            )
            more = tuple(_step_evidence(r, "the AI output used as input") for r in made)
            return [_undeclared_ai(step, summary, why, more)]
    return []


def _undeclared_ai(step: Step, summary: str, why: str, more: tuple[Evidence, ...]) -> Finding:
    explanation = (
        f"{step.key} is AI output not disclosed as such: {why}. A deliverable holding it would"
        " be delivered as if no AI made it; record the version again with the source type that"
        " says what made it (trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia,"
        " algorithmicallyEnhanced, …), or have counsel dispose of this finding."
    )
    what = "the event's declaration"
    return _finding(AI_OUTPUT_UNDECLARED, step, what, summary, explanation, more)


AI_OUTPUT_UNDECLARED = Rule(
    "ai-output-undeclared",
    "high",
    "AI output declared as if no AI made it: an event recording an AI model or actor whose"
    " digitalSourceType declares no AI (digitalCapture, humanEdits, …), or one declaring a"
    " capture made from AI output",
    check_source_declared,
)
LATER_RULES = frozenset({AI_OUTPUT_UNDECLARED.id})
"""Rules added after delivery packets were first built: a disclosure's catalog lists one only
when one of its clips' findings is that rule's, so a packet built before it still verifies when
its evidence gives no such finding (docs/packet.md)."""


# --- ai-input-not-allowed (restrictions follow the material) ---------------------------------

AI_INPUT_USE = "cawg.ai_inference"


@dataclass(frozen=True)
class Restriction:
    asset: str  # the restricted asset version ("id@version")
    source: Step  # the step that recorded it (with its terms)
    problem: str
    path: tuple[Step, ...]  # recording steps from the AI input up to the restricted asset
    licence_ref: str | None = None


def check_ai_inputs(view: LedgerView, step: Step) -> list[Finding]:
    """An input, or anything it derives from, whose terms do not allow this AI use.

    Terms bind derivative works: a human edit does not lift an ancestor's ``notAllowed``.
    Counsel's clearance of such a finding clears that derivative for every AI use of it
    (:func:`ledger.audit.dispositions.apply_derivative_clearances`).
    """
    if not step.is_ai:
        return []
    findings = []
    for ing in step.ingredients:
        for r in input_restrictions(view, step, ing.key):
            findings.append(_input_finding(view, step, ing.key, r))
    return findings


def input_restrictions(view: LedgerView, step: Step, start: str) -> list[Restriction]:
    """What keeps the AI ``step`` from using input ``start``: its terms, or those of anything
    it derives from (the ``ai-input-not-allowed`` rule, and the credits' AI-input rows)."""
    found: list[Restriction] = []
    seen: set[str] = set()
    frontier: deque[tuple[str, tuple[Step, ...]]] = deque([(start, ())])
    while frontier:  # every ancestor, each once (a version reached twice, or a cycle, is skipped)
        key, path = frontier.popleft()
        if key in seen:
            continue
        seen.add(key)
        for source in view.recorded(key):
            here = (*path, source)
            problem, ref = _input_problem(view, step, source)
            if problem is not None:
                found.append(Restriction(key, source, problem, here, ref))
            frontier.extend((i.key, here) for i in source.ingredients)
    return found


def _input_problem(view: LedgerView, step: Step, source: Step) -> tuple[str | None, str | None]:
    for p in source.permissions:
        if p.use_kind != AI_INPUT_USE or p.use == "allowed":
            continue
        if p.use == "notAllowed":
            return f"its rights holder marked it notAllowed for {AI_INPUT_USE}", None
        why = _constraint_unmet(view, step, source.asset_id)
        if why is not None:
            info = f" ({p.constraint_info})" if p.constraint_info else ""
            return f"its use for {AI_INPUT_USE} is constrained{info} and {why}", None
    if source.licence_ref is not None:
        return _licence_input_problem(view, step, source, source.licence_ref), source.licence_ref
    if _third_party(source) and source.schema_version >= LICENCE_RECORDS_SINCE:
        return (
            f"it is third-party material (recorded by {source.actor.name}) that cites no licence"
            " record, so no licence is declared for its use"
        ), None
    return None, None


def _third_party(source: Step) -> bool:
    """Stock or library material: recorded by an organisation, not made by the production."""
    return source.actor.kind == "organisation"


def _licence_input_problem(view: LedgerView, step: Step, source: Step, ref: str) -> str | None:
    licence = view.licence(ref)
    if licence is None:
        return f"the licence record {ref} it is held under is not in the ledger"
    term = licence.term_for(AI_INPUT_USE)
    if term is None or term.use == "notAllowed":
        said = "does not license" if term is None else "marks notAllowed"
        return f"its licence record {ref} ({licence.label}) {said} {AI_INPUT_USE}"
    if term.use == "constrained":
        why = _constraint_unmet(view, step, source.asset_id)
        if why is not None:
            info = term.constraint_info
            return f"its licence record {ref} constrains {AI_INPUT_USE} ({info}) and {why}"
    return use_problem(licence, LicensedUse(step.event_time, asset=source.asset_id))


def _constraint_unmet(view: LedgerView, step: Step, asset_id: str) -> str | None:
    """None when a consent the step relies on grants this AI use of the asset."""
    use = step_use(step, asset_id, AI_INPUT_USE)
    reasons = []
    for ref in step.consent_refs:
        reason = judge_consent(view, ref, use).reason
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(reasons) if reasons else "the AI action cites no consent meeting it"


def _input_finding(view: LedgerView, step: Step, key: str, r: Restriction) -> Finding:
    model = step.model.label if step.model else step.actor.name
    inherited = r.asset != key
    chain = " ← ".join([key, *(s.key for s in r.path[1:])]) if inherited else key
    evidence = [
        _step_evidence(s, "a step of the path to the restricted input") for s in r.path[:-1]
    ]
    evidence.append(_step_evidence(r.source, "the restricted input's record, with its terms"))
    if r.licence_ref is not None:
        evidence += _event_evidence(view, r.licence_ref, "the licence record cited")
    how = (
        f"{key} derives from {r.asset} (path {chain}), and {r.asset} is restricted: {r.problem}."
        " Terms bind derivative works, so the human work in between does not lift them"
        if inherited
        else f"{r.problem}"
    )
    return _finding(
        AI_INPUT_NOT_ALLOWED,
        step,
        "the AI action using the input",
        f"input {key} derives from {r.asset}, not cleared for AI use"
        if inherited
        else f"input {key} is not cleared for AI use",
        f"{step.key} was made by the AI model {model} with {key} as an input, but {how}.",
        evidence,
        path=tuple(s.key for s in r.path),
    )


AI_INPUT_NOT_ALLOWED = Rule(
    "ai-input-not-allowed",
    "high",
    "An input (or what it derives from) not cleared for AI inference used by an AI action",
    check_ai_inputs,
)


# --- likeness-without-consent ----------------------------------------------------------------


def check_likeness(view: LedgerView, step: Step) -> list[Finding]:
    """Each likeness use whose cited consent does not cover it (:func:`judge_likeness`)."""
    findings = []
    for u in step.likeness:
        verdict = judge_likeness(view, step, u)
        if not verdict.covered:
            findings.append(_likeness_finding(view, step, verdict))
    return findings


def _likeness_finding(view: LedgerView, step: Step, verdict: ConsentVerdict) -> Finding:
    use = verdict.use.use
    performer = party_label(performer_name(view, verdict.use.party_id), verdict.use.party_id)
    evidence: list[Evidence] = []
    if verdict.grant is not None:
        evidence += _event_evidence(view, verdict.grant.event_id, "the consent cited")
    for r in verdict.revocations:
        evidence += _event_evidence(view, r.event_id, "the revocation of that consent")
    return _finding(
        LIKENESS_WITHOUT_CONSENT,
        step,
        f"the {use} use of {performer}",
        f"{use} of {performer} without matching consent",
        f"{step.key} uses the likeness of {performer} ({use}), which needs the performer's "
        "informed consent for this specific use, unexpired and covering this production; "
        f"here {verdict.reason}.",
        evidence,
    )


LIKENESS_WITHOUT_CONSENT = Rule(
    "likeness-without-consent",
    "critical",
    "Likeness or digital-replica use without a matching, unexpired, in-scope consent",
    check_likeness,
)


# --- ai-material-as-source (WGA 2023 MBA Art. 72) ----------------------------------------------


def check_writing(view: LedgerView, step: Step) -> list[Finding]:
    """A writer's literary material must not take AI output as source material, and AI material
    given to the writer must be disclosed in ``writing.ai_material``."""
    if step.writing is None:
        return []
    disclosed = {m.key for m in step.writing.ai_material}
    findings = []
    for ing in step.ingredients:
        made = [r for r in view.recorded(ing.key) if r.is_ai or r.is_generative]
        if not made:
            continue
        if ing.relationship in ("parentOf", "componentOf"):
            why = (
                f"it is recorded as {ing.relationship} of the writer's material, that is, as "
                "source material"
            )
        elif ing.key not in disclosed:
            why = "it is not disclosed in the writing record as AI material given to the writer"
        else:
            continue
        findings.append(_writing_finding(step, ing.key, made[0], why))
    return findings


def _writing_finding(step: Step, key: str, made: Step, why: str) -> Finding:
    return _finding(
        AI_MATERIAL_AS_SOURCE,
        step,
        "the writer's material, with its writing credit",
        f"AI material {key} treated as source material or undisclosed",
        f"{step.key} is literary material by {step.actor.name}, and {key} is AI output; "
        f"{why}. Under the WGA 2023 MBA (Art. 72) generative-AI material is never source "
        "material and never reduces the writer's credit, and material given to a writer "
        "must be disclosed.",
        (_step_evidence(made, "the AI action that made the material"),),
    )


AI_MATERIAL_AS_SOURCE = Rule(
    "ai-material-as-source",
    "high",
    "AI-generated material used as a writer's source material, or given to a writer undisclosed",
    check_writing,
)


# --- ingredient-unrecorded and content-hash-mismatch -----------------------------------------


USED_INGREDIENT = "the step that used the ingredient"


def check_unrecorded(view: LedgerView, step: Step) -> list[Finding]:
    return [
        _finding(
            INGREDIENT_UNRECORDED,
            step,
            USED_INGREDIENT,
            f"ingredient {ing.key} has no provenance in the ledger",
            f"{step.key} uses {ing.key} ({ing.relationship}), but no entry in the ledger records"
            " where that version came from, who made it or under what rights.",
        )
        for ing in step.ingredients
        if not view.recorded(ing.key)
    ]


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
    return _finding(
        CONTENT_HASH_MISMATCH,
        step,
        USED_INGREDIENT,
        f"ingredient {key} does not match the ledger's record of it",
        f"{step.key} says it used {key} with content SHA-256 {used}, but the ledger "
        f"records that version as {', '.join(sorted({r.content_sha256 for r in recorded}))}. "
        "The bytes used are not the bytes whose provenance is recorded.",
        (_step_evidence(r, "the ledger's record of that version") for r in recorded),
    )


CONTENT_HASH_MISMATCH = Rule(
    "content-hash-mismatch",
    "high",
    "An ingredient whose content hash differs from the ledger's record of that version",
    check_hashes,
)


def check_unknown_hashes(view: LedgerView, step: Step) -> list[Finding]:
    return [
        _finding(
            INGREDIENT_HASH_UNKNOWN,
            step,
            USED_INGREDIENT,
            f"ingredient {ing.key} is used without a content hash",
            f"{step.key} uses {ing.key} ({ing.relationship}), but its event states no "
            "SHA-256 of the bytes used (an import from C2PA where neither the files given, "
            "the ingredient's manifest nor a whole-file hard binding said it), so nobody can "
            "tell whether the recorded version is what was used.",
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


# --- c2pa-signer-untrusted and c2pa-manifest-invalid (C2PA imports, schema v4) ----------------

C2PA_TRUSTED = "trusted"
C2PA_INVALID = "invalid"
C2PA_IMPORT = "the import of the C2PA delivery, with its verdict"


def _trusted_record(view: LedgerView, step: Step, label: str) -> bool:
    """A record of this asset version whose manifest ``label`` was validated here as trusted
    (the delivery imported again with its vendor's CA among the trust anchors)."""
    return any(
        r.c2pa is not None
        and r.c2pa.manifest_label == label
        and r.c2pa.state == C2PA_TRUSTED
        and r.c2pa.checked
        for r in view.recorded(step.key)
    )


def check_c2pa_signer(view: LedgerView, step: Step) -> list[Finding]:
    """A C2PA delivery whose signer nobody established as trusted: not on the trust anchors
    given, never checked against a trust list, unsigned, or trusted only as JSON claims."""
    c2pa = step.c2pa
    if c2pa is None or c2pa.state == C2PA_INVALID:  # c2pa-manifest-invalid reports those
        return []
    if c2pa.state == C2PA_TRUSTED and c2pa.checked:
        return []
    if _trusted_record(view, step, c2pa.manifest_label):
        return []
    made = f" (made by {c2pa.claim_generator})" if c2pa.claim_generator else ""
    manifest = f"The C2PA manifest {c2pa.manifest_label}{made} that {step.key} was imported from"
    why = {
        "untrusted_signer": f"is signed by {c2pa.signer}, whose certificate does not chain to any "
        "trust anchor the import was given",
        "valid": f"is signed by {c2pa.signer}, but its certificate was never checked against a "
        "trust list",
        "unsigned": "carries no signature at all (a bare manifest definition)",
        C2PA_TRUSTED: f"is said to be signed by the trusted {c2pa.signer}, but only by the Reader "
        "JSON given to the import, which anyone can write; the file itself was not validated",
    }.get(c2pa.state, f"has the C2PA state {c2pa.state!r}")
    todo = (
        "Ask the vendor for a signed delivery and import that file"
        if c2pa.state == "unsigned"
        else "Add the vendor's CA certificate to the trust anchors and import the delivered file "
        "again (assetledger c2pa import FILE --trust-anchors CAS.pem), which records it as trusted"
    )
    return [
        _finding(
            C2PA_SIGNER_UNTRUSTED,
            step,
            C2PA_IMPORT,
            f"C2PA delivery signed by {c2pa.signer} not trusted"
            if c2pa.state != "unsigned"
            else "C2PA delivery without a signature",
            f"{manifest} {why}, so nothing shows that the delivery comes from the vendor it "
            f"names. {todo}, or have counsel dispose of this finding (assetledger finding "
            "clear|waive) if the delivery's origin is established otherwise.",
        )
    ]


C2PA_SIGNER_UNTRUSTED = Rule(
    "c2pa-signer-untrusted",
    "medium",
    "A C2PA delivery whose signer was not trusted (no trust anchor for it, unchecked, unsigned)",
    check_c2pa_signer,
)


def check_c2pa_invalid(view: LedgerView, step: Step) -> list[Finding]:
    """A C2PA manifest that did not validate: the event's own, or its ingredients' manifests
    as recorded when they were added (one finding per event, naming each)."""
    c2pa = step.c2pa
    if c2pa is None:
        return []
    findings = []
    if c2pa.state == C2PA_INVALID:
        findings.append(
            _invalid_finding(
                step,
                f"C2PA manifest {c2pa.manifest_label} did not validate",
                f"the C2PA manifest {c2pa.manifest_label} it was recorded from did not validate "
                f"({', '.join(c2pa.status_codes) or 'no status codes given'})",
                (),
            )
        )
    bad = [i for i in c2pa.ingredients if i.state == C2PA_INVALID]
    if bad:
        named = "; ".join(
            f"{i.key} (manifest {i.manifest_label}: {', '.join(i.status_codes) or 'no codes'})"
            for i in bad
        )
        recorded = tuple(
            _step_evidence(r, "the ledger's record of that ingredient")
            for i in bad
            for r in view.recorded(i.key)
        )
        findings.append(
            _invalid_finding(
                step,
                f"{len(bad)} ingredient(s) with a C2PA manifest invalid when added",
                f"its C2PA manifest records that the manifest of {named} did not validate when "
                "the ingredient was added",
                recorded,
            )
        )
    return findings


def _invalid_finding(step: Step, summary: str, why: str, more: tuple[Evidence, ...]) -> Finding:
    return _finding(
        C2PA_MANIFEST_INVALID,
        step,
        C2PA_IMPORT,
        summary,
        f"{step.key}: {why}. A manifest that does not validate was altered after signing or "
        "signed wrongly, so what it says about the material's origin and rights cannot be "
        "relied on. Ask the vendor for material whose manifest validates, or have counsel "
        "dispose of this finding.",
        more,
    )


C2PA_MANIFEST_INVALID = Rule(
    "c2pa-manifest-invalid",
    "high",
    "A C2PA manifest that did not validate (the event's own, or an ingredient's when added)",
    check_c2pa_invalid,
)


# --- signer-not-trusted (pluggable: seq -> verdict) -------------------------------------------


@dataclass(frozen=True)
class SignerVerdict:
    """Was the key that signed an entry trusted, unrevoked and in scope at the event's time?"""

    ok: bool
    reason: str = ""  # plain words when not ok, e.g. "key revoked on 2025-03-01"
    # plain words when the key was later revoked for compromise and nothing shows the entry
    # existed before the compromise (it then may be the thief's, whatever time it claims)
    compromised: str | None = None


SignerVerdicts = Callable[[int], SignerVerdict]


def signer_rule(verdicts: SignerVerdicts) -> Rule:
    """The key-verdict rule over a function from ledger sequence number to verdict."""

    def check(view: LedgerView, step: Step) -> list[Finding]:
        verdict = verdicts(step.seq)
        if verdict.ok:
            return []
        return [
            _finding(
                SIGNER_NOT_TRUSTED,
                step,
                SIGNED_EVENT,
                f"signed by key {step.signer_keyid[:16]}… that was not valid for it",
                f"The event recording {step.key} is signed by key {step.signer_keyid}, "
                f"which {verdict.reason or 'was not trusted for this event'}. Its content "
                "cannot be relied on as the tool's own statement.",
            )
        ]

    return Rule(SIGNER_NOT_TRUSTED_ID, "critical", SIGNER_NOT_TRUSTED_TITLE, check)


SIGNER_NOT_TRUSTED_ID = "signer-not-trusted"
SIGNER_NOT_TRUSTED_TITLE = "An event signed by a key untrusted, revoked or out of scope at the time"
SIGNER_NOT_TRUSTED = RuleInfo(SIGNER_NOT_TRUSTED_ID, "critical", SIGNER_NOT_TRUSTED_TITLE)
SIGNED_EVENT = "the event and its signature"


def compromised_rule(verdicts: SignerVerdicts) -> Rule:
    """Cite every entry of a compromised key that is not anchored before the compromise."""

    def check(view: LedgerView, step: Step) -> list[Finding]:
        verdict = verdicts(step.seq)
        if not verdict.ok or verdict.compromised is None:
            return []  # an entry failing its key checks is cited by signer-not-trusted
        return [
            _finding(
                COMPROMISED_KEY,
                step,
                SIGNED_EVENT,
                f"signed by key {step.signer_keyid[:16]}…, later revoked as compromised,"
                " and not provably older than the compromise",
                f"The event recording {step.key} is signed by key {step.signer_keyid}, "
                f"which {verdict.compromised}. Confirm it with its maker before relying on it.",
            )
        ]

    return Rule(COMPROMISED_KEY_ID, "high", COMPROMISED_KEY_TITLE, check)


COMPROMISED_KEY_ID = "compromised-key-unanchored"
COMPROMISED_KEY_TITLE = (
    "An event signed by a key later revoked for compromise, not anchored before the compromise"
)
COMPROMISED_KEY = RuleInfo(COMPROMISED_KEY_ID, "high", COMPROMISED_KEY_TITLE)

STEP_RULES: tuple[Rule, ...] = (
    AI_MODEL_UNDECLARED,
    AI_INPUT_NOT_ALLOWED,
    LIKENESS_WITHOUT_CONSENT,
    INGREDIENT_UNRECORDED,
    CONTENT_HASH_MISMATCH,
    INGREDIENT_HASH_UNKNOWN,
    AI_MATERIAL_AS_SOURCE,
    C2PA_SIGNER_UNTRUSTED,
    C2PA_MANIFEST_INVALID,
    AI_OUTPUT_UNDECLARED,
)


# --- deliverable-unresolved ------------------------------------------------------------------

DELIVERABLE_UNRESOLVED_ID = "deliverable-unresolved"
DELIVERABLE_UNRESOLVED_TITLE = (
    "A published deliverable whose lineage holds unresolved findings or broken links"
)


def is_deliverable(step: Step) -> bool:
    return step.action == "c2pa.published"


class FindingLookup:
    """An audit's findings by asset version, built once for all its deliverables: the open
    findings of each asset version (in the audit's order) and the asset versions whose
    broken links a finding covers."""

    LINK_RULES = (INGREDIENT_UNRECORDED.id, CONTENT_HASH_MISMATCH.id, INGREDIENT_HASH_UNKNOWN.id)

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.open: dict[str, list[tuple[int, Finding]]] = {}
        self.covered: set[str] = set()
        for n, f in enumerate(findings):
            if f.is_open:
                self.open.setdefault(f.asset, []).append((n, f))
            if f.rule in self.LINK_RULES:
                self.covered.add(f.asset)

    def open_in(self, nodes: Iterable[str]) -> list[Finding]:
        """The open findings on these asset versions, in the audit's order."""
        found = [pair for key in nodes for pair in self.open.get(key, ())]
        return [f for _, f in sorted(found, key=lambda pair: pair[0])]


def deliverable_findings(
    step: Step,
    lineage: Lineage,
    findings: Iterable[Finding] | FindingLookup,
    replaced: Mapping[str, str] | None = None,
) -> list[Finding]:
    """One finding for a published asset whose lineage is not clean.

    Not clean: an open finding on an asset version of its lineage, a broken link no finding
    covers, or an asset version a remediation replaced (the deliverable still holds it).
    Pass a :class:`FindingLookup` when judging many deliverables over the same findings.
    """
    lookup = findings if isinstance(findings, FindingLookup) else FindingLookup(findings)
    inside = lookup.open_in(lineage.nodes)
    covered = lookup.covered
    broken_statuses = (EDGE_MISSING, EDGE_HASH_MISMATCH, EDGE_HASH_UNKNOWN)
    broken = [e for e in lineage.edges if e.status in broken_statuses and e.product not in covered]
    stale = sorted(
        f"{old} (replaced by {new})"
        for old, new in (replaced or {}).items()
        if old in lineage.nodes
    )
    if not inside and not broken and not stale:
        return []
    severity = max((f.severity for f in inside), key=severity_rank, default="high")
    problems = sorted({f"{f.rule} ({f.asset})" for f in inside})
    problems += [f"broken link {e.product} ← {e.ingredient}" for e in broken]
    problems += [f"holds {s}" for s in stale]
    evidence: dict[str, Evidence] = {step.event_id: _step_evidence(step, "the publication")}
    for f in inside:
        for e in f.evidence:
            evidence.setdefault(e.event_id, e)
    return [
        Finding(
            rule=DELIVERABLE_UNRESOLVED_ID,
            severity=severity,
            asset=step.key,
            summary=(
                f"published with {len(inside)} open finding(s) in its lineage"
                if inside
                else "published with a lineage that is not clean"
            ),
            explanation=(
                f"{step.key} was published, but its lineage of {len(lineage.nodes)} asset "
                "versions is not clean: " + "; ".join(problems) + ". It is not clear to ship "
                "until each finding is cleared, waived or remediated by counsel (assetledger "
                "finding clear|waive|remediate) and no replaced version remains in it."
            ),
            evidence=tuple(sorted(evidence.values(), key=lambda e: e.seq)),
        )
    ]


@dataclass
class RuleSet:
    step_rules: list[Rule] = field(default_factory=lambda: list(STEP_RULES))
    # approval-missing: the uses in published deliverables' lineages need a distributor's
    # written approval (delivery packets always; audit ip|report --require-approvals)
    approvals: bool = False
    signer_verdicts: SignerVerdicts | None = None

    def with_signer_verdicts(self, verdicts: SignerVerdicts | None) -> RuleSet:
        if verdicts is None:
            return self
        rules = [*self.step_rules, signer_rule(verdicts), compromised_rule(verdicts)]
        return RuleSet(rules, self.approvals, verdicts)

    def prefetch(self, steps: Sequence[Step]) -> None:
        """Ahead of the step rules: the signer verdicts' entries and inclusion proofs read in
        one batch (when the verdicts can do that)."""
        prefetch = getattr(self.signer_verdicts, "prefetch", None)
        if prefetch is not None:
            prefetch([s.seq for s in steps])

    def catalog(self, found: Iterable[str] | None = None) -> list[dict[str, str]]:
        """The rules applied; given the rule ids ``found``, a rule of :data:`LATER_RULES` is
        listed only when it is among them (a delivery disclosure's catalog)."""
        rules: list[Rule | RuleInfo] = [*self.step_rules, LICENCE_NOT_COVERING]
        if found is not None:
            fired = set(found)
            rules = [r for r in rules if r.id not in LATER_RULES or r.id in fired]
        rows = [{"rule": r.id, "severity": r.severity, "title": r.title} for r in rules]
        if self.approvals:
            rows.append(
                {"rule": APPROVAL_MISSING_ID, "severity": "high", "title": APPROVAL_MISSING_TITLE}
            )
        rows.append(
            {
                "rule": DELIVERABLE_UNRESOLVED_ID,
                "severity": "highest found",
                "title": DELIVERABLE_UNRESOLVED_TITLE,
            }
        )
        return rows


# --- approval-missing (distributor approval of AI uses in final deliverables) ------------------

APPROVAL_MISSING_ID = "approval-missing"
APPROVAL_MISSING_TITLE = (
    "A use of generative AI, likeness, third-party AI input or personal data in a published"
    " deliverable's lineage without a written approval in force (missing, expired, refused)"
)
APPROVED = "approved"


@dataclass(frozen=True)
class AiUse:
    """One use a distributor wants approved: its category, the step, and what it uses."""

    category: str  # ledger.events.approval.CATEGORIES
    step: Step
    subject: str  # the model, performer, input asset version or consent it concerns
    what: str  # plain words


def ai_uses(view: LedgerView, step: Step) -> list[AiUse]:
    """The uses of ``step`` that need a distributor's written approval, by category."""
    model = step.model.label if step.model else step.actor.name
    uses = []
    # generated material itself (a composite of it is listed through its AI ingredients)
    if step.is_generative and (step.is_ai or step.source_type == "trainedAlgorithmicMedia"):
        uses.append(
            AiUse(approvals.GENERATED_FINAL, step, model, f"{step.key} generated by {model}")
        )
    for u in step.likeness:
        who = party_label(performer_name(view, u.performer_id), u.performer_id)
        what = f"{u.use} of {who} in {step.key}"
        uses.append(AiUse(approvals.LIKENESS, step, u.performer_id, what))
    if step.is_ai:
        for ing in step.ingredients:
            made = next(
                (r for r in view.recorded(ing.key) if _third_party(r) or r.licence_ref), None
            )
            if made is not None:
                what = f"{ing.key} (third-party, recorded by {made.actor.name}) given to {model}"
                uses.append(AiUse(approvals.THIRD_PARTY_INPUT, step, ing.key, what))
        for ref in step.consent_refs:
            what = f"personal material under consent {ref} given to {model}"
            uses.append(AiUse(approvals.PERSONAL_DATA, step, ref, what))
    return uses


@dataclass(frozen=True)
class ApprovalStatus:
    """Where one use stands: approved, expired, refused or missing, with the approval relied on
    and the approvals that did not count (and why)."""

    status: str  # approved | expired | refused | missing
    approval: approvals.Approval | None
    not_counted: tuple[tuple[approvals.Approval, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == APPROVED


ApproverCheck = Callable[[approvals.Approval], "str | None"]


def approvals_for(
    view: LedgerView, show: str, category: str, asset: str
) -> list[approvals.Approval]:
    """Approval entries naming ``asset``, or the whole ``category`` of ``show``, ledger order."""
    seqs = set(view.seqs("approval_asset", asset))
    seqs |= set(view.seqs("approval_category", approvals.category_key(show, category)))
    out = []
    for seq in sorted(seqs):
        entry = view.entry(seq)
        if entry.kind == approvals.APPROVAL.record:
            out.append(approvals.Approval.from_record(seq, entry.signer_keyid, view.decode(entry)))
    return out


def approval_status(
    view: LedgerView, use: AiUse, check: ApproverCheck, as_of: datetime
) -> ApprovalStatus:
    """The latest counted approval covering ``use`` decides; an approval expired at ``as_of``
    no longer approves."""
    step = use.step
    found = approvals_for(view, step.show, use.category, step.key)
    about = [a for a in found if a.covers(step.show, step.episode, use.category, step.key)]
    not_counted = []
    latest: approvals.Approval | None = None
    for a in sorted(about, key=lambda a: (a.event_time, a.seq)):
        why_not = check(a)
        if why_not is not None:
            not_counted.append((a, why_not))
        else:
            latest = a
    rest = tuple(not_counted)
    if latest is None:
        return ApprovalStatus("missing", None, rest)
    if latest.decision != APPROVED:
        return ApprovalStatus("refused", latest, rest)
    if latest.expires is not None and latest.expires <= as_of:
        return ApprovalStatus("expired", latest, rest)
    return ApprovalStatus(APPROVED, latest, rest)


def approval_findings(
    view: LedgerView, steps: Iterable[Step], check: ApproverCheck, as_of: datetime
) -> list[Finding]:
    """One finding per step with a use that needs approval and has none in force."""
    findings = []
    for step in steps:
        lacking = []
        for use in ai_uses(view, step):
            status = approval_status(view, use, check, as_of)
            if not status.ok:
                lacking.append((use, status))
        if lacking:
            findings.append(_approval_finding(step, lacking))
    return findings


def _approval_finding(step: Step, lacking: list[tuple[AiUse, ApprovalStatus]]) -> Finding:
    parts = []
    evidence = [_step_evidence(step, "the use that needs approval")]
    for use, status in lacking:
        title = approvals.CATEGORY_TITLES[use.category].lower()
        a = status.approval
        if a is None:
            why = "no approval counts" if status.not_counted else "no approval is recorded"
            if status.not_counted:
                why += " (" + "; ".join(r for _, r in status.not_counted) + ")"
        elif status.status == "expired" and a.expires is not None:
            why = f"{a.organisation}'s approval expired on {format_time(a.expires)}"
        else:
            why = f"{a.organisation} refused it ({a.reason})"
        if a is not None:
            evidence.append(Evidence(a.event_id, a.seq, f"the approval relied on ({a.decision})"))
        parts.append(f"{title}: {use.what}: {why}")
    return Finding(
        rule=APPROVAL_MISSING_ID,
        severity="high",
        asset=step.key,
        summary=f"{len(lacking)} use(s) without a written approval in force",
        explanation=(
            f"{step.key} is in the lineage of a published deliverable and needs the"
            " distributor's written approval for: " + "; ".join(parts) + ". Record the approval"
            " (a signed approval event by a key enrolled with a distributor or legal scope), or"
            " have counsel dispose of this finding."
        ),
        evidence=tuple(dict.fromkeys(evidence)),
    )
