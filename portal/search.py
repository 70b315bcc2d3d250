"""Search by asset id, person, model, SHA-256 or event id, within what the account may see.

Each section of the search is the data of one page, searched only where
:func:`portal.permissions.permission_allowed` lets the account open that page (the same action,
the same production grant, the same guild roster), so a search never shows what the account's
pages would not.  A hit links to the page that shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from portal import query
from portal.accounts import Account
from portal.permissions import LEDGER, Resource, permission_allowed
from portal.site import Site

MIN_QUERY = 2
MAX_HITS = 200


@dataclass(frozen=True)
class Hit:
    section: str  # what was found: finding, asset, consent, licence, credit, ai output, …
    production: str | None
    title: str
    detail: str
    matched: str  # the field that matched: asset id, person, model, SHA-256, …
    url: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


Fields = Iterable[tuple[str, object]]


def first_match(needle: str, fields: Fields) -> str | None:
    """The name of the first field whose value holds ``needle`` (case-insensitive)."""
    for name, value in fields:
        values = value if isinstance(value, list | tuple) else [value]
        if any(v and needle in str(v).casefold() for v in values):
            return name
    return None


def _p(production: str) -> str:
    return "/p/" + quote(production, safe="")


# --- sections: each searches the data of one page ----------------------------------------------


def _findings(p: Site, account: Account, prod: str, needle: str) -> list[Hit]:
    hits = []
    for f in p.ledger.audit(prod)[1]["findings"]:
        fields = [("finding id", f["id"]), ("asset id", f["asset"]), ("summary", f["summary"])]
        if matched := first_match(needle, fields):
            title = f"{f['severity']} {f['rule']}: {f['asset']}"
            url = f"{_p(prod)}/findings/{f['id']}"
            hits.append(Hit("finding", prod, title, f"{f['status']}; {f['summary']}", matched, url))
    return hits


def _assets(p: Site, account: Account, prod: str, needle: str) -> list[Hit]:
    report, _ = p.ledger.audit(prod)
    names = p.ledger.names(prod)
    hits = []
    for s in report.result.steps:
        model = s.model.label if s.model else None
        directors = [names.get(d, d) for d in s.directed_by]
        fields = [
            ("asset id", s.key),
            ("SHA-256", s.content_sha256),
            ("person", [s.actor.name, s.actor.actor_id] if s.actor.kind != "ai_model" else []),
            (
                "likeness of",
                [n for u in s.likeness for n in (u.performer_id, names.get(u.performer_id))],
            ),
            ("model", model),
            ("directed by", [*directors, *s.directed_by]),
            ("event id", s.event_id),
        ]
        if matched := first_match(needle, fields):
            by = model or s.actor.name
            detail = f"{s.action} by {by}" + (f", shot {s.shot}" if s.shot else "")
            url = f"{_p(prod)}/lineage.svg?asset={quote(s.key, safe='')}"
            hits.append(Hit("asset version", prod, s.key, detail, matched, url))
    return hits


def _consents(p: Site, account: Account, prod: str, needle: str) -> list[Hit]:
    hits = []
    for c in p.ledger.audit(prod)[1]["consent_records"]:  # what the consents page lists
        fields = [
            ("person", [c["party_name"], c["party"]]),
            ("asset id", c["assets"]),
            ("SHA-256", c["document_sha256"]),
            ("event id", c["event_id"]),
        ]
        if matched := first_match(needle, fields):
            detail = f"{', '.join(c['uses'])}; {c['status']}"
            url = f"{_p(prod)}/consents#consent-{c['event_id']}"
            hits.append(Hit("consent", prod, c["party_name"], detail, matched, url))
    for rec in p.ledger.licences(prod):
        models = [f"{m['name']} {m['version'] or ''}".strip() for m in rec.get("models", [])]
        fields = [
            ("licensor", [rec.get("licensor_name"), rec.get("licensor")]),
            ("model", models),
            ("asset id", [*rec.get("assets", []), *(u["asset"] for u in rec["uses"])]),
            ("SHA-256", rec.get("document_sha256")),
            ("event id", rec["event_id"]),
        ]
        if matched := first_match(needle, fields):
            title = rec.get("licensor_name") or rec["event_id"]
            url = f"{_p(prod)}/consents#licence-{rec['event_id']}"
            hits.append(Hit("licence record", prod, title, rec["status"], matched, url))
    return hits


def _credits(p: Site, account: Account, prod: str, needle: str) -> list[Hit]:
    report = p.ledger.credits(prod, None)
    hits = []
    for line in report.lines:
        fields = [
            ("person", [line.name, line.person_id]),
            ("job title", line.title),
            ("asset id", [c.asset for c in line.contributions]),
        ]
        if matched := first_match(needle, fields):
            detail = f"{line.title}, {line.department}"
            hits.append(Hit("credit", prod, line.name, detail, matched, f"{_p(prod)}/credits"))
    for o in report.ai_outputs:
        fields = [("asset id", o.asset), ("model", o.model), ("directed by", o.directed_by)]
        if matched := first_match(needle, fields):
            detail = f"{o.model}" + (
                f", directed by {', '.join(o.directed_by)}" * bool(o.directed_by)
            )
            url = f"{_p(prod)}/credits"
            hits.append(Hit("AI output", prod, o.asset, detail, matched, url))
    return hits


def _members(p: Site, account: Account, prod: str, needle: str) -> list[Hit]:
    roster = p.accounts.members(account.guild or "")
    names = p.ledger.names(prod)
    hits = []
    for use in p.ledger.credits(prod, None).consent:
        if use.party not in roster:
            continue
        fields = [("person", [names.get(use.party), use.party]), ("asset id", use.asset)]
        if matched := first_match(needle, fields):
            title = names.get(use.party, use.party)
            detail = f"{use.use} in {use.asset}: {use.status}"
            hits.append(Hit("member's use", prod, title, detail, matched, f"{_p(prod)}/members"))
    return hits


def _events(p: Site, account: Account, text: str) -> list[Hit]:
    """The auditor's section: a ledger entry by its exact event id (as the receipt form)."""
    with p.ledger.lock:
        entry = p.ledger.store.entry_by_event_id(text)
    if entry is None:
        return []
    detail = f"ledger entry {entry.seq}, leaf hash {entry.leaf_hash.hex()}"  # no content
    url = f"/health/receipts/{quote(entry.event_id, safe='')}"
    return [Hit("ledger entry", None, entry.event_id, detail, "event id", url)]


def _accounts(p: Site, account: Account, text: str) -> list[Hit]:
    needle, hits = text.casefold(), []
    for a in p.accounts.all():
        fields = [("account", a.name), ("production", a.productions), ("guild", a.guild)]
        if matched := first_match(needle, fields):
            detail = f"{a.role}" + (" (disabled)" if a.disabled else "")
            url = f"/admin/access-log?account={quote(a.name, safe='')}"
            hits.append(Hit("account", None, a.name, detail, matched, url))
    return hits


ProductionSection = Callable[[Site, Account, str, str], list[Hit]]
LedgerSection = Callable[[Site, Account, str], list[Hit]]

PRODUCTION_SECTIONS: list[tuple[str, str, ProductionSection]] = [
    # (the page's action, what is searched, how)
    ("findings.view", "findings", _findings),
    ("lineage.view", "asset versions (id, SHA-256, people, models)", _assets),
    ("consents.view", "consent and licence records", _consents),
    ("credits.view", "credits and AI output", _credits),
    ("member_consents.view", "members' likeness uses", _members),
]
LEDGER_SECTIONS: list[tuple[str, str, LedgerSection]] = [
    ("proof.download", "ledger entries by event id", _events),
    ("accounts.view", "accounts", _accounts),
]


def searchable(p: Site, account: Account) -> list[tuple[str | None, str]]:
    """(production, what) for each section this account may search."""
    out: list[tuple[str | None, str]] = []
    for prod in account.productions:
        if not p.ledger.has_production(prod):
            continue
        out += [
            (prod, what)
            for action, what, _ in PRODUCTION_SECTIONS
            if permission_allowed(account, action, Resource(prod))
        ]
    out += [(None, w) for action, w, _ in LEDGER_SECTIONS if permission_allowed(account, action)]
    return out


def search_hits(p: Site, account: Account, text: str) -> list[Hit]:
    """Every hit for ``text`` in the sections the account may see (checked per section)."""
    needle = text.casefold()
    hits: list[Hit] = []
    for prod in account.productions:
        if not p.ledger.has_production(prod):
            continue
        for action, _, find in PRODUCTION_SECTIONS:
            if permission_allowed(account, action, Resource(prod)):
                hits += find(p, account, prod, needle)
    for action, _, find_ledger in LEDGER_SECTIONS:
        if permission_allowed(account, action, LEDGER):
            hits += find_ledger(p, account, text.strip())
    return hits


def search_page(p: Site, request: Request) -> Response:
    asked = request.query_params.get("q", "")[: query.MAX_VALUE]
    who = p.guard(request, "search.view", LEDGER, f"/search?q={asked}")  # who searched for what
    text = query.text(request, "q")
    if text is not None and len(text) < MIN_QUERY:
        raise query.BadQuery(f"q needs at least {MIN_QUERY} characters")
    hits = search_hits(p, who.account, text) if text else []
    data = {
        "q": text,
        "searched": [
            {"production": prod, "what": what} for prod, what in searchable(p, who.account)
        ],
        "total": len(hits),
        "truncated": len(hits) > MAX_HITS,
        "hits": [h.to_json() for h in hits[:MAX_HITS]],
    }
    return p.page(request, "search.html", data, who)
