"""The documents: the credit report and the audit report a lawyer reads.

Every document states the tree it was computed at (signed checkpoint, or head size and Merkle
root) and the SHA-256 of its content: the canonical JSON of the report body (sorted keys, no
spaces, UTF-8), which ``--format json`` prints next to the body, so anyone can recompute it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.audit.credits import CreditReport, credit_report, directors_names, job_title
from ledger.audit.ip import AuditResult, Scope, audit_json, run_audit
from ledger.audit.judge import consent_record_json, model_use
from ledger.audit.lineage import lineage_json
from ledger.audit.model import LedgerView, Step, TreeState, content_digest
from ledger.audit.production import production_view
from ledger.audit.rules import RuleSet, SignerVerdicts
from ledger.events.base import format_time
from ledger.events.consent import Consent
from ledger.events.licence import Licence, LicensedUse, use_problem
from ledger.reports.document import Block, Code, Document, Figure, Heading, Para, table
from ledger.reports.picture import layout, to_svg

Progress = Callable[[str], None]


MAX_DETAILED_FINDINGS = 100
"""Findings given their own section (explanation, evidence table) in an HTML or PDF audit
report; the findings table lists the others (up to ``MAX_TABLE_ROWS``), the JSON all."""

MAX_PICTURE_NODES = 150
"""Asset versions in one lineage picture; a bigger lineage is described, not drawn."""


def tree_sentence(state: TreeState) -> str:
    kind = "signed checkpoint" if state.signed else "ledger head (no signed checkpoint yet)"
    return f"Computed at the {kind}: tree size {state.size}, Merkle root {state.root_hash.hex()}."


def verify_blocks(state: TreeState, command: str) -> list[Block]:
    """How a reader checks the report without trusting whoever sent it."""
    steps = [
        "1. Verify the ledger itself: assetledger verify --ledger LEDGER --trusted-keys KEYS "
        "recomputes every leaf hash, the hash chain, every signature and checkpoint.",
        f"2. Check the tree: the Merkle root of the first {state.size} entries must be "
        f"{state.root_hash.hex()}"
        + (" and match the signed checkpoint below." if state.signed else "."),
        f"3. Recompute the report: {command} --format json gives the same body; its "
        "content_sha256 is the SHA-256 of the body's canonical JSON (sorted keys, separators "
        "',' and ':', UTF-8), and must equal the hash stated here.",
        "4. Check any piece of evidence on its own: each cited event id is a ledger entry; "
        "where a receipt is given (c2sp.org/tlog-proof@v1), assetledger verify-receipt checks "
        "it offline against the log's public key.",
    ]
    blocks: list[Block] = [Heading("How to verify this report independently")]
    blocks += [Para(s) for s in steps]
    if state.note:
        blocks.append(Code(state.note))
    return blocks


def hash_para(digest: str) -> Para:
    return Para(f"Content SHA-256 (canonical JSON of the report data): {digest}", "note")


# --- credits ---------------------------------------------------------------------------------


def credits_document(report: CreditReport) -> Document:
    where = report.production + (f", episode {report.episode}" if report.episode else "")
    command = f"assetledger credits --production '{report.production}'" + (
        f" --episode {report.episode}" if report.episode else ""
    )
    blocks: list[Block] = [
        Para(tree_sentence(report.state)),
        Para(report.body()["policy"], "note"),
        Heading("End credits"),
        *_end_credit_blocks(report),
        Heading("AI disclosure for the end credits", 3),
        *[Para(line) for line in report.ai_disclosure()],
        Heading("Credit lines (human-authored work)"),
        _credit_lines_table(report),
        *_sources_blocks(report),
        Heading("Contributions by person, asset and shot", 3),
        _contributions_table(report),
        *_ai_blocks(report),
        Heading("Likeness consent and AI-input permissions"),
        _consent_table(report),
        *verify_blocks(report.state, command),
        hash_para(report.to_json()["content_sha256"]),
    ]
    return Document(
        f"Credits: {where}", "Contributions and credits from the provenance ledger", tuple(blocks)
    )


def _end_credit_blocks(report: CreditReport) -> list[Block]:
    blocks: list[Block] = []
    for group in report.end_credits():
        blocks.append(Heading(f"{group['department']} — episode {group['episode']}", 3))
        blocks += [Para(line) for line in group["lines"]]
    for w in report.writer_material:
        blocks.append(
            Para(
                f"{w.credit} {w.writer}: AI-generated material {w.material} was given to the "
                f"writer on {w.given_at}; it is not source material and does not reduce the "
                "writer's credit (WGA 2023 MBA Art. 72).",
                "note",
            )
        )
    return blocks


def _credit_lines_table(report: CreditReport) -> Any:
    """One row per person and role, with the job title and department the end credits print."""
    rows = [
        (
            report.shown_name(line),
            job_title(line),
            line.department,
            ", ".join(line.assets("created")) or "-",
            ", ".join(line.assets("altered")) or "-",
            ", ".join(line.assets("published")) or "-",
            ", ".join(line.shots),
        )
        for line in report.lines
        if line.kind == "human"
    ]
    columns = ("person", "job title", "department", "created", "altered", "published", "shots")
    return table(columns, rows, (1.2, 1.1, 0.9, 3, 2, 2.2, 1))


def _sources_blocks(report: CreditReport) -> list[Block]:
    """Organisations and software that recorded material: listed, never as human authors."""
    rows = [
        (report.shown_name(line), line.kind,
         ", ".join(sorted({c.asset for c in line.contributions})), ", ".join(line.shots))
        for line in report.lines
        if line.kind != "human"
    ]  # fmt: skip
    if not rows:
        return []
    return [
        Heading("Organisations and other sources (not human-authored work)", 3),
        table(("source", "kind", "material", "shots"), rows, (1.2, 0.8, 3.5, 1)),
    ]


def _contributions_table(report: CreditReport) -> Any:
    rows = [
        (
            report.shown_name(line),
            job_title(line),
            c.kind,
            c.asset,
            c.shot,
            c.episode,
            "includes disclosed generative-AI elements" if c.contains_ai else "",
            c.event_id,
        )
        for line in report.lines
        for c in line.contributions
    ]
    columns = ("person", "job title", "contribution", "asset", "shot", "episode", "note", "event")
    return table(columns, rows, (1.2, 1, 0.9, 3.2, 0.6, 0.6, 1.6, 2.2))


def _ai_blocks(report: CreditReport) -> list[Block]:
    outputs = [
        (
            o.asset,
            o.model,
            o.source_type,
            ", ".join(o.directed_by) or "-",
            o.licence_shown,
            o.training_data or "UNDECLARED",
            o.disclosure,
        )
        for o in report.ai_outputs
    ]
    models = [
        (
            m["model"],
            m["licence"] or "UNDECLARED",
            m["training_data"] or "UNDECLARED",
            ", ".join(m["directed_by"]) or "-",
            len(m["outputs"]),
        )
        for m in report.models()
    ]
    return [
        Heading("Generative-AI output (listed apart, not credited to any person)"),
        Para(
            "Listed for disclosure. The humans who directed each model are named; directing a "
            "model does not make its output part of their credit line, and the output does not "
            "reduce anyone's credit.",
            "note",
        ),
        table(
            (
                "asset",
                "model",
                "source type",
                "directed by",
                "licence",
                "training data",
                "disclosure",
            ),
            outputs,
            (2.6, 1.6, 1.4, 1, 1.8, 2, 1.2),
        ),
        Heading("AI models used", 3),
        table(
            ("model", "licence", "training data", "directed by", "outputs"),
            models,
            (1.6, 2, 2.4, 1.4, 0.6),
        ),
    ]


def _consent_table(report: CreditReport) -> Any:
    rows = [(c.asset, c.party_label, c.use, c.consent_ref or "-", c.status) for c in report.consent]
    return table(
        ("asset", "performer / input", "use", "consent cited", "status"),
        rows,
        (2.6, 2.4, 1.4, 2, 3),
    )


# --- audit report ----------------------------------------------------------------------------


@dataclass
class AuditReport:
    result: AuditResult
    credits: CreditReport
    consents: list[Consent]

    @property
    def view(self) -> LedgerView:
        return self.result.view


def build_audit_report(
    view: LedgerView,
    production: str,
    episode: str | None = None,
    *,
    signer_verdicts: SignerVerdicts | None = None,
    progress: Progress | None = None,
    as_of: datetime | None = None,
) -> AuditReport:
    scope = Scope(production=production, episode=episode)
    result = run_audit(
        view,
        scope,
        rules=RuleSet(),
        signer_verdicts=signer_verdicts,
        progress=progress,
        as_of=as_of,
    )
    credits = credit_report(view, production, episode, progress, as_of=result.as_of)
    consents = production_consents(view, production)
    return AuditReport(result, credits, consents)


def production_consents(view: LedgerView, production: str) -> list[Consent]:
    """The consent events that count for a production (:mod:`ledger.audit.production`)."""
    scoped = production_view(view, production)
    return sorted(scoped.consents_for("show", production), key=lambda c: c.event_id)


def licence_records(view: LedgerView, steps: list[Step], as_of: datetime) -> list[dict[str, Any]]:
    """The licence records ``steps`` cite, each with its terms, the uses citing it and a status.

    Status: ``not in the ledger`` (cited, never recorded), ``not covering`` (a use citing it is
    outside its terms: model, commercial use, territory, term; the ``licence-not-covering`` and
    ``ai-model-undeclared`` rules judge the same uses), else ``expired`` or ``not yet in
    force`` at ``as_of``, else ``in force``.
    """
    uses: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        if s.model is not None and s.model.licence_ref is not None:
            use = model_use(s, s.model)
            uses.setdefault(s.model.licence_ref, []).append(
                _licence_use(view, s, s.model.licence_ref, use, f"AI model {s.model.label}")
            )
        if s.licence_ref is not None:
            use = LicensedUse(s.event_time, asset=s.asset_id)
            uses.setdefault(s.licence_ref, []).append(
                _licence_use(view, s, s.licence_ref, use, "held under it")
            )
    return [licence_record_json(ref, view.licence(ref), uses[ref], as_of) for ref in sorted(uses)]


def _licence_use(
    view: LedgerView, s: Step, ref: str, use: LicensedUse, what: str
) -> dict[str, Any]:
    problem = use_problem(view.licence(ref), use)
    return {"asset": s.key, "event_id": s.event_id, "use": what, "problem": problem}


def licence_record_json(
    ref: str, licence: Licence | None, uses: list[dict[str, Any]], as_of: datetime
) -> dict[str, Any]:
    if licence is None:
        return {"event_id": ref, "status": "not in the ledger", "uses": uses}
    until = licence.valid_until
    status = (
        "not covering"
        if any(u["problem"] for u in uses)
        else "expired"
        if until is not None and until <= as_of
        else "not yet in force"
        if licence.valid_from > as_of
        else "in force"
    )
    return {
        "event_id": ref,
        "status": status,
        "licensor": licence.licensor,
        "licensor_name": licence.licensor_name,
        "subject": licence.subject,
        "models": [{"name": n, "version": v, "provider": p} for n, v, p in licence.models],
        "assets": list(licence.assets),
        "licence_id": licence.licence_id,
        "url": licence.url,
        "commercial_use": licence.commercial_use,
        "territories": list(licence.territories),
        "valid_from": format_time(licence.valid_from),
        "valid_until": None if until is None else format_time(until),
        "ai_terms": [
            {"use_kind": t.use_kind, "use": t.use, "constraint_info": t.constraint_info}
            for t in licence.ai_terms
        ],
        "document_sha256": licence.document_sha256,
        "uses": uses,
    }


def _lineage_json(report: AuditReport, key: str) -> dict[str, Any]:
    lineage = report.result.lineage(key, report.credits.production)
    assert lineage is not None, key  # the report's deliverables are its audit's
    return lineage_json(lineage, directors_names(report.view, lineage.steps()))


def audit_report_json(report: AuditReport) -> dict[str, Any]:
    ip = audit_json(report.result)
    credits = report.credits.body()
    body = {
        "report": "assetledger audit report",
        "production": report.credits.production,
        "episode": report.credits.episode,
        "checkpoint": report.view.state.to_json(),
        "as_of": ip["as_of"],
        "summary": {
            "events_audited": ip["events_audited"],
            "deliverables": ip["deliverables"],
            "open_findings_by_severity": ip["counts"],
            "disposed_findings": ip["disposed"],
            "clear_to_ship": all(d["clear_to_ship"] for d in ip["deliverables"])
            and not ip["counts"],
        },
        "findings": ip["findings"],
        "dangling_dispositions": ip["dangling_dispositions"],
        "rules": RuleSet().catalog(),
        "lineages": [_lineage_json(report, d["asset"]) for d in ip["deliverables"]],
        "ai_usage": credits["generative_ai_output"],
        "ai_models": credits["ai_models"],
        "consent_uses": credits["consent_and_permissions"],
        "consent_records": [
            consent_record_json(c, [r.event_id for r in report.view.revocations(c.event_id)])
            for c in report.consents
        ],
        "credit_lines": credits["credit_lines"],
    }
    return {**body, "content_sha256": content_digest(body)}


def audit_document(report: AuditReport, data: dict[str, Any] | None = None) -> Document:
    data = data or audit_report_json(report)
    where = data["production"] + (f", episode {data['episode']}" if data["episode"] else "")
    command = f"assetledger audit report --production '{data['production']}'" + (
        f" --episode {data['episode']}" if data["episode"] else ""
    )
    blocks: list[Block] = [
        Heading("Summary"),
        *_summary_blocks(report, data),
        Heading("Findings by severity"),
        *_findings_blocks(data),
        *_dangling_blocks(data),
        Heading("Lineage of the deliverables"),
        *_lineage_figures(report),
        Heading("AI usage"),
        *_ai_blocks(report.credits)[2:3],
        Heading("Consent"),
        Heading("Uses that need consent or AI-input permission", 3),
        _consent_table(report.credits),
        Heading("Consent records in the ledger", 3),
        _consent_records_table(data),
        Heading("Rules applied"),
        table(
            ("rule", "severity", "what it looks for"),
            [tuple(r.values()) for r in data["rules"]],
            (1.4, 0.8, 5),
        ),
        *verify_blocks(report.view.state, command),
        hash_para(data["content_sha256"]),
    ]
    return Document(
        f"IP and provenance audit: {where}",
        "Findings with evidence from the provenance ledger",
        tuple(blocks),
    )


def _summary_blocks(report: AuditReport, data: dict[str, Any]) -> list[Block]:
    summary = data["summary"]
    counts = summary["open_findings_by_severity"]
    shown = ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"
    disposed = summary["disposed_findings"]
    verdict = (
        Para(
            "No open findings: every deliverable's lineage is recorded, consistent and cleared"
            + (f" ({disposed} finding(s) disposed by counsel)." if disposed else "."),
            "ok",
        )
        if summary["clear_to_ship"]
        else Para(
            f"NOT CLEAR TO SHIP: {sum(counts.values())} open finding(s) ({shown}), {disposed} "
            "disposed by counsel. Deliverables with open findings in their lineage are listed "
            "under deliverable-unresolved.",
            "alert",
        )
    )
    ships = [
        Para(
            f"{d['asset']}: " + ("clear to ship" if d["clear_to_ship"] else "NOT clear to ship"),
            "ok" if d["clear_to_ship"] else "alert",
        )
        for d in summary["deliverables"]
    ]
    return [
        verdict,
        *ships,
        Para(tree_sentence(report.view.state) + f" Waivers judged as of {data['as_of']}."),
        Para(
            f"{summary['events_audited']} provenance events audited, "
            f"{len(summary['deliverables'])} published deliverable(s)."
        ),
    ]


def _findings_blocks(data: dict[str, Any]) -> list[Block]:
    if not data["findings"]:
        return [Para("No findings.", "ok")]
    blocks: list[Block] = [
        table(
            ("severity", "status", "rule", "asset", "what is wrong"),
            [
                (f["severity"], f["status"], f["rule"], f["asset"], f["summary"])
                for f in data["findings"]
            ],
            (0.7, 0.8, 1.4, 3, 3.4),
        )
    ]
    findings = data["findings"]
    for i, f in enumerate(findings[:MAX_DETAILED_FINDINGS], start=1):
        blocks.append(
            Heading(f"{i}. {f['rule']} ({f['severity']}, {f['status']}): {f['asset']}", 3)
        )
        blocks.append(Para(f"Finding id {f['id']}."))
        blocks.append(Para(f["explanation"]))
        blocks += [Para(_decision_sentence(d)) for d in _decisions(f)]
        rows = [
            (e["event_id"], e["seq"], e["what"], "yes" if e.get("receipt") else "no")
            for e in f["evidence"]
        ]
        blocks.append(
            table(
                ("evidence event", "ledger seq", "what it shows", "receipt"),
                rows,
                (2.4, 0.7, 3.6, 0.6),
            )
        )
    if len(findings) > MAX_DETAILED_FINDINGS:
        blocks.append(
            Para(
                f"The first {MAX_DETAILED_FINDINGS} of {len(findings)} findings are detailed"
                " above; every finding, with its evidence and receipts, is in the JSON"
                " output (assetledger audit ip --format json).",
                "note",
            )
        )
    return blocks


def _dangling_blocks(data: dict[str, Any]) -> list[Block]:
    """Counsel's signed decisions that name no finding of this audit: who, when, what."""
    dangling = data["dangling_dispositions"]
    if not dangling:
        return []
    return [
        Heading("Decisions that name no finding", 3),
        Para(
            f"{len(dangling)} signed disposition(s) name a finding this audit does not have."
            " None of them decides any finding here.",
            "alert",
        ),
        table(
            ("decided", "by", "at", "names finding id", "rule", "asset", "why it applies to none"),
            [
                (
                    d["decision"],
                    f"{d['by']} ({d['by_id']})",
                    d["at"],
                    d["finding_id"],
                    d["rule"],
                    d["asset"],
                    d["note"],
                )
                for d in dangling
            ],
            (0.8, 1.4, 1.2, 2.2, 1.2, 1.8, 2.6),
        ),
    ]


def dangling_line(d: dict[str, Any]) -> str:
    """One dangling disposition in one line, for terminals and logs."""
    return (
        f"dangling disposition: {d['decision']} by {d['by']} ({d['by_id']}) at {d['at']}"
        f" names finding {d['finding_id']} ({d['rule']}, {d['asset']}), which is not a finding"
        f" of this audit (event {d['event_id']})"
    )


def _decisions(f: dict[str, Any]) -> list[dict[str, Any]]:
    shown = [f["disposition"]] if "disposition" in f else []
    return shown + list(f.get("lapsed_dispositions", []))


def _decision_sentence(d: dict[str, Any]) -> str:
    """Who decided what, when and why (and why it no longer applies)."""
    extra = [
        f"{label} {d[key]}"
        for key, label in (
            ("document_sha256", "supporting document SHA-256"),
            ("approver", "approved by"),
            ("expires", "expires"),
            ("replaced_by", "replaced by"),
        )
        if key in d
    ]
    text = f"{d['decision'].capitalize()} by {d['by']} ({d['role']}) at {d['at']}: {d['reason']}"
    text += (" — " + "; ".join(extra)) if extra else ""
    return text + (f". {d['note'].capitalize()}." if d.get("note") else ".")


def _lineage_figures(report: AuditReport) -> list[Block]:
    figures: list[Block] = []
    for (_, key), lineage in sorted(report.result.lineages.items(), key=lambda kv: kv[0]):
        if len(lineage.nodes) > MAX_PICTURE_NODES:
            figures.append(_lineage_too_big(key, len(lineage.nodes)))
            continue
        picture = layout(lineage)
        broken = len(lineage.missing) + len(lineage.mismatches)
        caption = f"Lineage of {key}: {len(lineage.nodes)} asset versions" + (
            f", {broken} missing link(s) in red." if broken else "."
        )
        figures.append(Figure(picture, caption, to_svg(picture, f"Lineage of {key}")))
    return figures or [Para("No published deliverables in scope.")]


def _lineage_too_big(key: str, nodes: int) -> Para:
    return Para(
        f"Lineage of {key}: {nodes} asset versions, more than the {MAX_PICTURE_NODES} a picture"
        f" can show legibly; see assetledger audit lineage {key} (a tree, or --format json).",
        "note",
    )


def _consent_records_table(data: dict[str, Any]) -> Any:
    rows = [
        (
            c["party_name"],
            ", ".join(c["uses"]),
            ", ".join(c["productions"]),
            c["valid_from"][:10] + " to " + (c["expires"][:10] if c["expires"] else "revocation"),
            c["status"]
            + (" (revoked by " + ", ".join(c["revoked_by"]) + ")" if c["revoked_by"] else ""),
            c["scope"],
            c["event_id"],
        )
        for c in data["consent_records"]
    ]
    return table(
        ("who", "uses", "productions", "valid", "status", "specific use consented to", "event"),
        rows,
        (1.1, 1, 1.1, 1.4, 1, 3.4, 2.2),
    )
