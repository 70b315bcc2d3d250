"""Contributions and credits, per person and role, with generative-AI output kept apart.

Following the guild agreements (WGA 2023 Art. 72, SAG-AFTRA 2023, TAG 2024): a human's credit
line lists only what that human created, altered or published; output of an AI model is never
counted in anyone's credit line.  It is listed in its own section, disclosed as AI output, with
the model, its licence and training-data declarations, and the humans who directed it (who are
named there, not credited with authorship of the output).  Likeness uses are listed with their
consent status, and AI inputs with their training-and-mining terms.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ledger.audit.dispositions import (
    LegalCheck,
    disposed_note,
    finding_state,
    judged,
    registry_legal_check,
)
from ledger.audit.judge import (
    ConsentVerdict,
    judge_likeness,
    judge_model_licence,
    party_label,
    performer_name,
)
from ledger.audit.model import LICENCE_RECORDS_SINCE, LedgerView, Step, TreeState, content_digest
from ledger.audit.production import production_view
from ledger.audit.rules import (
    Finding,
    Restriction,
    check_model_declared,
    check_source_declared,
    input_restrictions,
)
from ledger.errors import AssetLedgerError, ConfigurationError
from ledger.events import vocab
from ledger.events.base import format_time

AI_DECLARING_TYPES = vocab.AI_DECLARING_SOURCE_TYPES


def contribution_kind(step: Step) -> str:
    """created | altered | published, from the action and the ingredients."""
    if step.action == "c2pa.published":
        return "published"
    if step.action == "c2pa.created":
        return "created"
    if any(i.relationship == "parentOf" for i in step.ingredients):
        return "altered"
    return "created"


@dataclass(frozen=True)
class Contribution:
    asset: str
    kind: str
    shot: str | None
    episode: str | None
    event_id: str
    contains_ai: bool  # the asset declares disclosed generative-AI elements

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "kind": self.kind,
            "shot": self.shot,
            "episode": self.episode,
            "event_id": self.event_id,
            "contains_disclosed_ai_elements": self.contains_ai,
        }


NO_LIKENESS_WITHOUT_CONSENT = "No performer's likeness was used without their recorded consent."
AI_DIRECTION = "AI Direction"  # the credit of people who prompt, select and curate AI output


@dataclass
class CreditLine:
    """One person in one role: what they made, never diluted by AI output."""

    person_id: str
    name: str
    kind: str  # human | organisation | software
    role: str  # the CAWG role (or AI Direction)
    contributions: list[Contribution] = field(default_factory=list)
    job_title: str | None = None  # from the production role vocabulary
    writing_credit: str | None = None  # "Teleplay by", … for a writer's material

    @property
    def title(self) -> str:
        """What end credits print: the writing credit, the job title, else the CAWG role."""
        return self.writing_credit or self.job_title or self.role

    @property
    def department(self) -> str:
        if self.role == AI_DIRECTION:
            return AI_DIRECTION
        if self.writing_credit:
            return "Writing"
        return vocab.JOB_TITLES.get(self.job_title or "", "Other")

    @property
    def episodes(self) -> list[str]:
        return sorted({c.episode for c in self.contributions if c.episode})

    def assets(self, kind: str) -> list[str]:
        return sorted({c.asset for c in self.contributions if c.kind == kind})

    @property
    def shots(self) -> list[str]:
        return sorted({c.shot for c in self.contributions if c.shot})

    def to_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "job_title": self.job_title,
            "writing_credit": self.writing_credit,
            "department": self.department,
            "created": self.assets("created"),
            "altered": self.assets("altered"),
            "published": self.assets("published"),
            "directed": self.assets("directed"),
            "shots": self.shots,
            "contributions": [c.to_json() for c in self.contributions],
        }


@dataclass(frozen=True)
class AiOutput:
    asset: str
    shot: str | None
    episode: str | None
    action: str
    source_type: str
    model: str
    licence: str | None  # what the licence column shows (None: UNDECLARED)
    training_data: str | None
    directed_by: tuple[str, ...]  # display names
    disclosure: str
    event_id: str
    licence_note: str | None = None  # the event's free-text licence note, if any
    licence_ref: str | None = None  # the licence record the event cites, if any
    licence_status: str | None = None  # that record judged against this use (as the audit)
    # the audit's finding on the model's licence (ai-model-undeclared, licence-not-covering),
    # with counsel's disposition as the audit judges it; None: the audit finds no fault
    licence_finding: Finding | None = None
    # the audit's ai-output-undeclared finding (its source type declares no AI), judged alike
    disclosure_finding: Finding | None = None

    @property
    def counsel(self) -> str | None:
        """Counsel's decision on the licence finding in words, None when none is in force."""
        return None if self.licence_finding is None else disposed_note(self.licence_finding)

    @property
    def licence_shown(self) -> str:
        """The licence column: what the licence says (UNDECLARED when nothing), then counsel's
        decision on the audit's finding about it, when one is in force."""
        shown = self.licence or "UNDECLARED"
        return shown if self.counsel is None else f"{shown}; counsel: {self.counsel}"

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "shot": self.shot,
            "episode": self.episode,
            "action": self.action,
            "digital_source_type": self.source_type,
            "model": self.model,
            "licence": self.licence,
            "licence_note": self.licence_note,
            "licence_record": None
            if self.licence_ref is None
            else {"event_id": self.licence_ref, "status": self.licence_status},
            "licence_finding": None
            if self.licence_finding is None
            else finding_state(self.licence_finding),
            "counsel": self.counsel,
            "training_data": self.training_data,
            "directed_by": list(self.directed_by),
            "disclosure": self.disclosure,
            "disclosure_finding": None
            if self.disclosure_finding is None
            else finding_state(self.disclosure_finding),
            "event_id": self.event_id,
        }


CONSENT_VALID = "consent valid"
NO_VALID_CONSENT = "NO VALID CONSENT: "


@dataclass(frozen=True)
class ConsentRow:
    asset: str
    party: str  # performer id or input asset version
    use: str
    consent_ref: str | None
    status: str
    likeness: bool = False  # a likeness use, judged by judge_likeness (else an AI input's terms)
    covered: bool = False  # for a likeness use: its consent covers it
    party_name: str | None = None  # the performer's name on record (None: unnamed, or an input)

    @classmethod
    def judged(cls, asset: str, verdict: ConsentVerdict, name: str | None = None) -> ConsentRow:
        """A likeness use as :func:`ledger.audit.judge.judge_likeness` judged it."""
        status = CONSENT_VALID if verdict.reason is None else NO_VALID_CONSENT + verdict.reason
        use = verdict.use
        return cls(
            asset, use.party_id, use.use, verdict.consent_ref, status, True, verdict.covered, name
        )

    @property
    def party_label(self) -> str:
        """The party as outputs print it: the name with the id to check it by, else the id."""
        return party_label(self.party_name, self.party)

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "party": self.party,
            "party_name": self.party_name,
            "use": self.use,
            "consent_ref": self.consent_ref,
            "status": self.status,
        }


@dataclass(frozen=True)
class WriterMaterial:
    """AI-generated material given to a writer: disclosed, never source material."""

    writer: str
    credit: str
    material: str
    given_at: str
    event_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "writer": self.writer,
            "credit": self.credit,
            "ai_material": self.material,
            "given_at": self.given_at,
            "event_id": self.event_id,
            "note": "AI-generated material given to the writer: not source material, and it "
            "does not reduce the writer's credit (WGA 2023 MBA Art. 72)",
        }


@dataclass
class CreditReport:
    production: str
    episode: str | None
    state: TreeState
    lines: list[CreditLine]
    ai_outputs: list[AiOutput]
    consent: list[ConsentRow]
    writer_material: list[WriterMaterial] = field(default_factory=list)
    # every likeness use of the production, when ``consent`` lists only some (see for_members)
    all_consent: list[ConsentRow] | None = None

    def for_members(self, roster: frozenset[str]) -> CreditReport:
        """The report as a guild representative may read it: likeness rows of the guild's own
        members only (AI inputs' terms name no person and stay); the likeness statement still
        judges every use of the production, so it reads the same for every account.  Counsel's
        findings and decisions are privileged: the AI outputs keep what their licences say, without
        the audit's findings on them or counsel's decisions."""
        rows = [c for c in self.consent if not c.likeness or c.party in roster]
        outputs = [
            replace(o, licence_finding=None, disclosure_finding=None) for o in self.ai_outputs
        ]
        return replace(
            self, consent=rows, all_consent=self.all_consent or self.consent, ai_outputs=outputs
        )

    def shown_name(self, line: CreditLine) -> str:
        """A credit line's name as the tables print it: with the person's id beside a name
        another person's looks like (case, Unicode normalisation), as the end credits do."""
        return self._shown_names.get(line.person_id, line.name)

    @functools.cached_property
    def _shown_names(self) -> dict[str, str]:
        return dict(_labelled({(line.person_id, line.name) for line in self.lines}))

    def end_credits(self) -> list[dict[str, Any]]:
        """Credit lines as end credits group them: by department, then episode, then title.

        Each person once per title: two people of the same name are two lines, each with its
        id beside the name (so is a name that only looks the same: another case or Unicode
        normalisation), never one line standing for both."""
        groups: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
        for line in self.lines:
            if line.kind != "human":
                continue
            for episode in line.episodes or ["-"]:
                group = groups.setdefault((line.department, episode), {})
                group[(line.person_id, line.title)] = line.name
        return [
            {"department": dep, "episode": ep, "lines": _credited(people)}
            for (dep, ep), people in sorted(groups.items(), key=lambda kv: _department_order(kv[0]))
        ]

    def ai_disclosure(self) -> list[str]:
        """The AI-disclosure statement for end credits: what AI did in which shots, with which
        tools, and who directed it; the same ledger always gives the same words."""
        if not self.ai_outputs:
            return ["No generative-AI material appears in this production.", *self._likeness()]
        by_shot: dict[tuple[str, str], list[AiOutput]] = {}
        for o in self.ai_outputs:
            by_shot.setdefault((o.episode or "-", o.shot or "-"), []).append(o)
        lines = [
            "This production contains material created or altered with generative AI tools,"
            " each directed by the people named:"
        ]
        for (episode, shot), outputs in sorted(by_shot.items()):
            parts = sorted(
                {
                    f"{_what(o)} with {o.model}"
                    + (f", directed by {', '.join(o.directed_by)}" if o.directed_by else "")
                    for o in outputs
                }
            )
            lines.append(f"Episode {episode}, shot {shot}: " + "; ".join(parts) + ".")
        return lines + (self._likeness() or [NO_LIKENESS_WITHOUT_CONSENT])

    def _likeness(self) -> list[str]:
        """The statement on likeness: the audit's judgement of each use (none: no line)."""
        uses = [c for c in (self.all_consent or self.consent) if c.likeness]
        if not uses:
            return []
        if all(c.covered for c in uses):
            return [NO_LIKENESS_WITHOUT_CONSENT]
        return ["Some likeness uses lack a valid recorded consent: see the consent section."]

    def models(self) -> list[dict[str, Any]]:
        """Each AI model used, its declarations, outputs and the humans who directed it."""
        by_model: dict[str, dict[str, Any]] = {}
        licences: dict[str, set[str]] = {}
        for o in self.ai_outputs:
            row = by_model.setdefault(
                o.model,
                {
                    "model": o.model,
                    "licence": o.licence,
                    "training_data": o.training_data,
                    "outputs": [],
                    "directed_by": [],
                },
            )
            row["outputs"].append(o.asset)
            row["directed_by"] = sorted({*row["directed_by"], *o.directed_by})
            if o.licence is not None or o.counsel is not None:  # each use judged on its own
                licences.setdefault(o.model, set()).add(o.licence_shown)
        for model, shown in licences.items():
            by_model[model]["licence"] = "; ".join(sorted(shown))
        return [by_model[k] for k in sorted(by_model)]

    def body(self) -> dict[str, Any]:
        return {
            "report": "assetledger credits",
            "production": self.production,
            "episode": self.episode,
            "checkpoint": self.state.to_json(),
            "credit_lines": [line.to_json() for line in self.lines],
            "generative_ai_output": [o.to_json() for o in self.ai_outputs],
            "ai_models": self.models(),
            "consent_and_permissions": [c.to_json() for c in self.consent],
            "end_credits": self.end_credits(),
            "writers_ai_material": [w.to_json() for w in self.writer_material],
            "ai_disclosure": self.ai_disclosure(),
            "policy": (
                "Credit lines list human work only. Generative-AI output is listed separately, "
                "disclosed as such, and never counted in or against a person's credit line."
            ),
        }

    def to_json(self) -> dict[str, Any]:
        body = self.body()
        return {**body, "content_sha256": content_digest(body)}


Progress = Callable[[str], None]


def credit_report(
    view: LedgerView,
    production: str,
    episode: str | None = None,
    progress: Progress | None = None,
    *,
    as_of: datetime | None = None,
) -> CreditReport:
    """The credits of a production (or one episode).  Each AI output's licence shows the
    audit's finding on it with counsel's decision, judged as ``audit ip`` judges it at ``as_of``
    (default: the start of today, UTC, as the audit's)."""
    from ledger.audit.ip import start_of_today

    legal = registry_legal_check(view.store, view.state.size)
    when = as_of or start_of_today()
    view = production_view(view, production)  # only what counts for the production
    steps = view.production_steps(episode)
    if not steps:
        where = repr(production) + (f", episode {episode!r}" if episode else "")
        raise ConfigurationError(
            f"no provenance events for {where} at tree size {view.state.size}",
            hint="production names are case sensitive, e.g. 'Fallen Tower'",
        )
    if progress:
        progress(f"crediting {len(steps)} events at tree size {view.state.size}")
    names = _names(view, steps)
    return CreditReport(
        production=production,
        episode=episode,
        state=view.state,
        lines=_credit_lines(steps, names),
        ai_outputs=[_ai_output(view, s, names, legal, when) for s in steps if s.is_ai],
        consent=_consent_rows(view, steps),
        writer_material=_writer_material(steps),
    )


def _names(view: LedgerView, steps: list[Step]) -> dict[str, str]:
    """Display names of actors and of the people who directed AI work.

    A director's name is the one their own signed events carry, else the name the key registry
    enrolled them under; a director known by neither stays an id, marked as not enrolled.
    """
    known = directors_names(view, steps)
    return {
        **{s.actor.actor_id: s.actor.name for s in steps},
        **{
            p: known.get(p, f"{p} (not enrolled: no name on record)")
            for s in steps
            for p in s.directed_by
        },
    }


def directors_names(
    view: LedgerView, steps: list[Step], *, own_events: bool = True
) -> dict[str, str]:
    """actor id → display name of each person who directed AI work in ``steps``, as their own
    signed events name them (those among ``steps``, then, with ``own_events``, any of
    ``view``'s), else as the key registry enrolled them; a person known by none is left out."""
    names = {s.actor.actor_id: s.actor.name for s in steps}
    enrolled: dict[str, str] | None = None
    out: dict[str, str] = {}
    for person in sorted({p for s in steps for p in s.directed_by}):
        if person in names:
            out[person] = names[person]
        elif own_events and (own := view.steps("actor", person)):
            out[person] = own[0].actor.name
        else:
            enrolled = _enrolled_people(view) if enrolled is None else enrolled
            if person in enrolled:
                out[person] = enrolled[person]
    return out


def party_names(view: LedgerView, steps: list[Step]) -> dict[str, str]:
    """performer id → the name the performer gave on their latest consent record ``view`` holds
    (a production's view: only that production's records), else the key registry's name; a
    performer named by neither is left out (outputs then show the id)."""
    parties = sorted({u.performer_id for s in steps for u in s.likeness})
    out = {}
    enrolled: dict[str, str] | None = None
    for party in parties:
        if given := performer_name(view, party):
            out[party] = given
            continue
        enrolled = _enrolled_people(view) if enrolled is None else enrolled
        if party in enrolled:
            out[party] = enrolled[party]
    return out


def _enrolled_people(view: LedgerView) -> dict[str, str]:
    """actor id → display name of the humans enrolled in the key registry (none without one)."""
    from ledger.trust.replay import registry_from_ledger

    try:
        registry = registry_from_ledger(view.store, stop=view.state.size)
    except AssetLedgerError:
        return {}
    return {a.actor_id: a.display_name for a in registry.actors.values() if a.kind == "human"}


def _credited(people: dict[tuple[str, str], str]) -> list[str]:
    """``Title: Name`` per (person, title); a name another person's looks like gets its id."""
    shown = dict(_labelled({(person, name) for (person, _), name in people.items()}))
    return sorted({f"{title}: {shown[person]}" for person, title in people})


def _labelled(people: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(person id, name as printed) per (person id, name): the id beside a name another
    person's looks like."""
    ids: dict[str, set[str]] = {}
    for person, name in people:
        ids.setdefault(_looks(name), set()).add(person)
    return [
        (person, name + (f" ({person})" if len(ids[_looks(name)]) > 1 else ""))
        for person, name in people
    ]


def _looks(name: str) -> str:
    """What a reader sees of a name: Unicode-normalised (NFKC), case folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _credit_lines(steps: list[Step], names: dict[str, str]) -> list[CreditLine]:
    lines: dict[tuple[str, str, str], CreditLine] = {}
    for s in steps:
        if s.is_ai:
            for person in s.directed_by:  # the direction is human work; the output is not
                line = lines.setdefault(
                    (person, AI_DIRECTION, ""),
                    CreditLine(person, names.get(person, person), "human", AI_DIRECTION),
                )
                line.contributions.append(_contribution(s, "directed"))
            continue  # AI output never enters a credit line
        credit = vocab.WRITING_CREDITS.get(s.writing.credit) if s.writing else None
        title = s.actor.job_title or ""
        line = lines.setdefault(
            (s.actor.actor_id, credit or title or s.actor.role, s.actor.role),
            CreditLine(
                s.actor.actor_id,
                s.actor.name,
                s.actor.kind,
                s.actor.role,
                job_title=s.actor.job_title,
                writing_credit=credit,
            ),
        )
        line.contributions.append(_contribution(s, contribution_kind(s)))
    return sorted(lines.values(), key=lambda c: (c.kind != "human", c.name, c.title))


def _contribution(s: Step, kind: str) -> Contribution:
    return Contribution(
        s.key, kind, s.shot, s.episode, s.event_id, s.source_type in AI_DECLARING_TYPES
    )


def _writer_material(steps: list[Step]) -> list[WriterMaterial]:
    out = []
    for s in steps:
        if s.writing is None:
            continue
        credit = vocab.WRITING_CREDITS.get(s.writing.credit, s.writing.credit)
        out += [
            WriterMaterial(s.actor.name, credit, m.key, format_time(m.given_at), s.event_id)
            for m in s.writing.ai_material
        ]
    return sorted(out, key=lambda w: (w.writer, w.given_at, w.material))


def _what(o: AiOutput) -> str:
    asset = o.asset.split("@")[0].rsplit("/", 1)[-1]
    verb = {
        "c2pa.created": "generated",
        "c2pa.enhanced": "enhanced",
        "c2pa.edited": "altered",
    }.get(o.action, o.action)
    return f"{asset} {verb}"


_DEPARTMENTS = (
    "Writing",
    "Direction",
    "Camera",
    "Editorial",
    "Visual Effects",
    AI_DIRECTION,
    "Post-production",
    "Legal and Clearances",
    "Other",
)


def _department_order(key: tuple[str, str]) -> tuple[int, str, str]:
    department, episode = key
    rank = _DEPARTMENTS.index(department) if department in _DEPARTMENTS else len(_DEPARTMENTS)
    return (rank, department, episode)


def _ai_output(
    view: LedgerView, s: Step, names: dict[str, str], legal: LegalCheck, as_of: datetime
) -> AiOutput:
    model = s.model
    found = judged(view, check_model_declared(view, s), legal, as_of)
    undeclared = judged(view, check_source_declared(view, s), legal, as_of)
    disclosed = s.source_type in AI_DECLARING_TYPES
    verdict = None if model is None else judge_model_licence(view, s, model)
    note = model.licence if model else None
    return AiOutput(
        asset=s.key,
        shot=s.shot,
        episode=s.episode,
        action=s.action,
        source_type=s.source_type,
        model=model.label if model else s.actor.name,
        licence=verdict.label if verdict is not None else _licence_note_shown(s, note),
        training_data=model.training_data if model else None,
        directed_by=tuple(names.get(p, p) for p in s.directed_by),
        disclosure="disclosed as AI output" if disclosed else "NOT disclosed as AI output",
        event_id=s.event_id,
        licence_note=note,
        licence_ref=None if verdict is None else verdict.ref,
        licence_status=None if verdict is None else verdict.status,
        licence_finding=found[0] if found else None,
        disclosure_finding=undeclared[0] if undeclared else None,
    )


def _licence_note_shown(s: Step, note: str | None) -> str | None:
    """A free-text licence note without a licence record: a declaration only for events
    written before licence records (the audit's old rule), else shown as not a record."""
    if note is None:
        return None
    if s.schema_version and s.schema_version < LICENCE_RECORDS_SINCE:
        return note
    return f"UNDECLARED: no licence record cited (free-text note {note!r})"


def _consent_rows(view: LedgerView, steps: list[Step]) -> list[ConsentRow]:
    rows = []
    names = party_names(view, steps)
    for s in steps:
        rows += [
            ConsentRow.judged(s.key, judge_likeness(view, s, u), names.get(u.performer_id))
            for u in s.likeness
        ]
        if s.is_ai:
            rows += _input_rows(view, s)
    return rows


def _input_rows(view: LedgerView, s: Step) -> list[ConsentRow]:
    rows = []
    for ing in s.ingredients:
        recorded = view.recorded(ing.key)
        terms = sorted(
            {
                f"{p.use_kind}: {p.use}"
                for r in recorded
                for p in r.permissions
                if p.use_kind == "cawg.ai_inference"
            }
        )
        status = "; ".join(terms) or (
            "no training-and-mining terms declared" if recorded else "input not in the ledger"
        )
        status += "; " + _input_verdict(input_restrictions(view, s, ing.key))
        refs = ", ".join(s.consent_refs) or None
        rows.append(ConsentRow(s.key, ing.key, "AI input (cawg.ai_inference)", refs, status))
    return rows


def _input_verdict(restrictions: list[Restriction]) -> str:
    """The audit's verdict on one AI input (``ai-input-not-allowed``), in one phrase."""
    if not restrictions:
        return "the audit finds no restriction on this AI use"
    first = restrictions[0]
    where = "" if len(first.path) == 1 else f"it derives from {first.asset}, where "
    more = f" (and {len(restrictions) - 1} more)" if len(restrictions) > 1 else ""
    return f"NOT CLEARED for AI use: {where}{first.problem}{more}"


# --- flat rows for table and CSV -------------------------------------------------------------

CSV_COLUMNS = [
    "section",
    "name",
    "job_title",
    "department",
    "role",
    "kind",
    "asset",
    "shot",
    "detail",
    "event_id",
    "party",
]
"""A credit is one row per person and role (section ``credit`` for people; ``organisation`` or
``software`` for credit lines that are not a person's, never among human-authored work), with the
job title and department the end credits print; its assets and event ids are listed in the row.
A ``consent`` row's ``name`` is the performer's name on record with their id (else the id or the
input asset), and ``party`` the bare id or asset version, for machines."""


def job_title(line: CreditLine) -> str:
    """The title a credit line prints: the writing credit or job title; a line with neither
    reads as its role in plain words, never as a CAWG id."""
    if line.title in vocab.CAWG_ROLES:
        return line.title.removeprefix("cawg.").capitalize() + " (no job title recorded)"
    return line.title


def _line_row(line: CreditLine, name: str) -> dict[str, Any]:
    counts = {k: len(line.assets(k)) for k in ("created", "altered", "published", "directed")}
    ai = sum(c.contains_ai for c in line.contributions)
    detail = ", ".join(f"{k} {n}" for k, n in counts.items() if n)
    return {
        "section": "credit" if line.kind == "human" else line.kind,
        "name": name,
        "job_title": "" if line.title in vocab.CAWG_ROLES else line.title,
        "department": line.department,
        "role": line.role,
        "kind": ", ".join(sorted({c.kind for c in line.contributions})),
        "asset": "; ".join(sorted({c.asset for c in line.contributions})),
        "shot": ", ".join(line.shots),
        "detail": detail + (f"; {ai} with disclosed AI elements" if ai else ""),
        "event_id": " ".join(c.event_id for c in line.contributions),
    }


def flat_rows(report: CreditReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [_line_row(line, report.shown_name(line)) for line in report.lines]
    for o in report.ai_outputs:
        rows.append(
            {
                "section": "ai_output",
                "name": o.model,
                "role": "directed by " + ", ".join(o.directed_by) if o.directed_by else "",
                "kind": o.source_type,
                "asset": o.asset,
                "shot": o.shot or "",
                "detail": f"{o.disclosure}; licence: {o.licence_shown}; "
                f"training data: {o.training_data or 'UNDECLARED'}",
                "event_id": o.event_id,
            }
        )
    for r in report.consent:
        rows.append(
            {
                "section": "consent",
                "name": r.party_label,
                "role": r.use,
                "kind": "",
                "asset": r.asset,
                "shot": "",
                "detail": r.status,
                "event_id": r.consent_ref or "",
                "party": r.party,
            }
        )
    return rows


def summary_rows(report: CreditReport) -> list[dict[str, str]]:
    """One row per credit line, for the terminal table: the name and the job title the HTML
    and PDF credits print (:func:`job_title`, never a bare CAWG role id)."""
    return [
        {
            "name": report.shown_name(line),
            "title": job_title(line),
            "kind": line.kind,
            "role": line.role,
            "department": line.department,
            "created": str(len(line.assets("created"))),
            "altered": str(len(line.assets("altered"))),
            "published": str(len(line.assets("published"))),
            "directed": str(len(line.assets("directed"))),
            "shots": ", ".join(line.shots),
        }
        for line in report.lines
    ]
