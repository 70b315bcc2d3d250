"""Counsel's list of findings: every finding of the audit, filtered and sorted on request.

Filters: rule, severity, shot and status (``open``, ``disposed``, or a decision); sort by
severity (the default: most severe first), rule, asset, shot, status or id.  The rows are the
audit's own findings (ids, statuses, dispositions), so the list never disagrees with the report.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from ledger.audit.rules import SEVERITIES, severity_rank
from ledger.events.disposition import DECISIONS
from portal import query
from portal.permissions import Resource
from portal.site import Site

STATUSES = ("open", "disposed", *DECISIONS)
SORTS = ("severity", "rule", "asset", "shot", "status", "id")
FILTERS = ("rule", "severity", "shot", "status")


def _row(f: dict[str, Any], shots: dict[str, str | None]) -> dict[str, Any]:
    keep = ("id", "severity", "status", "rule", "asset", "summary", "disposition")
    return {k: f[k] for k in keep if k in f} | {"shot": shots.get(f["asset"])}


def _matches(row: dict[str, Any], wanted: dict[str, str]) -> bool:
    for key, value in wanted.items():
        if key == "status" and value == "disposed":
            if row["status"] == "open":
                return False
        elif (row.get(key) or "") != value:
            return False
    return True


def _sort_key(sort: str) -> Any:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        by_severity = (-severity_rank(row["severity"]), row["rule"], row["asset"], row["id"])
        if sort == "severity":
            return by_severity
        return (row.get(sort) or "", *by_severity)

    return key


def findings_page(p: Site, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "findings.view", Resource(prod))
    report, audit = p.ledger.audit(p.existing(prod))
    wanted = {
        "rule": query.text(request, "rule"),
        "severity": query.choice(request, "severity", SEVERITIES),
        "shot": query.text(request, "shot"),
        "status": query.choice(request, "status", STATUSES),
    }
    chosen = {k: v for k, v in wanted.items() if v is not None}
    sort = query.choice(request, "sort", SORTS) or "severity"
    shots = {s.key: s.shot for s in report.result.steps}
    rows = [_row(f, shots) for f in audit["findings"]]
    shown = sorted((r for r in rows if _matches(r, chosen)), key=_sort_key(sort))
    data = {
        "production": prod,
        "as_of": audit["as_of"],
        "filter": chosen,
        "sort": sort,
        "total": len(rows),
        "findings": shown,
        "people": p.ledger.names(prod),
        "choices": {
            "rule": sorted({r["rule"] for r in rows}),
            "severity": [s for s in reversed(SEVERITIES) if any(r["severity"] == s for r in rows)],
            "shot": sorted({r["shot"] for r in rows if r["shot"]}),
            "status": list(STATUSES),
        },
        "sort_links": {
            s: query.here(request) + "?" + urlencode({**chosen, "sort": s}) for s in SORTS
        },
    }
    return p.page(request, "findings.html", data, who)


def record_links(p: Site, prod: str, evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each evidence event with a link to where the portal shows its record: a consent or
    licence record on the consents page, an asset version's lineage, a decision on this page."""
    report, audit = p.ledger.audit(prod)
    steps = {s.event_id: s.key for s in report.result.steps}
    licences = {rec["event_id"] for rec in p.ledger.licences(prod)}
    consent_ids = {c["event_id"] for c in audit["consent_records"]}
    base = "/p/" + quote(prod, safe="")
    out = []
    for e in evidence:
        event_id = e["event_id"]
        link: str | None = None
        if event_id in licences:
            link = f"{base}/consents#licence-{event_id}"
        elif event_id in consent_ids:
            link = f"{base}/consents#consent-{event_id}"
        elif event_id in steps:
            link = f"{base}/lineage.svg?asset={quote(steps[event_id], safe='')}"
        out.append(e | {"record": link, "asset": steps.get(event_id)})
    return out


def with_decisions(
    records: list[dict[str, Any]], findings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Licence records, each with counsel's decisions on the findings that cite it as evidence
    (a record *not covering* a use that counsel cleared shows that clearance beside it)."""
    cited: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f.get("disposition") is None:
            continue
        decision = {k: f[k] for k in ("id", "rule", "asset", "status", "disposition")}
        for e in f["evidence"]:
            cited.setdefault(e["event_id"], []).append(decision)
    return [r | {"decisions": cited.get(r["event_id"], [])} for r in records]
