"""Performers' pages, revocation impact and the guild's replica usage register.

A ``performer`` account sees the uses of its own likeness and voice, across every production
that recorded one; an ``agent`` account the uses of the performers it represents.  Their pages
follow a party id (``/performers/{party}``), never a production, and another performer's URLs
answer 404.  Counsel and guild representatives get the impact of revoked or expiring consents
(``/p/{production}/impacts``; a guild representative only their members' open ones) and the
replica usage register (``/p/{production}/register``, as CSV, PDF, HTML and JSON).

Every view names one action and calls the portal's one permission check (``Site.guard``) before
it reads the ledger; every page has its JSON twin under ``/api/v1``.  What each page says about
consent and shipping is the audit's own answer (:mod:`ledger.audit.performers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from ledger.audit.ip import start_of_today
from ledger.audit.model import LedgerView
from ledger.audit.performers import (
    EXPIRY_WINDOW_DAYS,
    REGISTER_COLUMNS,
    Audits,
    Impact,
    PerformerUse,
    Timecodes,
    one_name,
    party_impacts,
    party_name,
    party_register_rows,
    performer_uses,
    production_impacts,
    production_names,
    production_uses,
    register_json,
    register_rows,
)
from ledger.audit.text import csv_text
from ledger.errors import AssetLedgerError
from ledger.events.base import format_time
from ledger.reports.register import register_document
from portal.accounts import AccountStore
from portal.data import NotFound, PortalLedger, safe_error
from portal.permissions import Resource
from portal.security import download

TIMECODES: Timecodes | None = None
"""Where record timecodes in the cut come from.  None: no delivery packet feeds the portal yet
(packets are built by ``assetledger packet``, issue 22), so each deliverable's timecode column
says "no delivery packet".  Set it to a function (deliverable key, asset key) -> ranges."""

PROOF_KEYS = {"uses": "performer", "consents": "party"}
"""The authenticated index's keys a performer's completeness proofs are about: ``performer:ID``
(every event recording a use of their likeness) and ``party:ID`` (every consent, revocation
and licence they gave)."""

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
}


class Site(Protocol):
    """What these views use of :class:`portal.app.Portal` (which imports this module)."""

    ledger: PortalLedger
    accounts: AccountStore

    def guard(
        self, request: Request, action: str, resource: Resource = ..., what: str = ""
    ) -> Any: ...

    def page(self, request: Request, template: str, data: dict[str, Any], who: Any) -> Response: ...

    def production(self, request: Request) -> str: ...

    def existing(self, production: str) -> str: ...


# --- what the pages show (computed once per tree size and day) -------------------------------


def _audits(ledger: PortalLedger) -> Audits:
    return lambda production: ledger.audit(production)[0].result


def _day() -> str:
    """Audits judge waivers at the start of today: the day is part of every cache key."""
    return format_time(start_of_today())


def _party_data(ledger: PortalLedger, party: str) -> dict[str, Any]:
    def make(view: LedgerView) -> dict[str, Any]:
        audits = _audits(ledger)
        uses = performer_uses(view, party, audits, TIMECODES)
        impacts = party_impacts(view, party, audits, as_of=start_of_today(), timecodes=TIMECODES)
        # each production's own consents name the performer there (never another show's)
        names = production_names(view, party, (u.step.show for u in uses))
        return {
            "name": one_name(names),
            "names": names,
            "checkpoint": view.state.to_json(),
            "uses": uses,
            "impacts": impacts,
            "view": view,
            "proof": _proof_check(ledger, party, uses),
        }

    return ledger.cached(("performer-uses", party, _day()), make)


def _proof_check(ledger: PortalLedger, party: str, uses: list[PerformerUse]) -> dict[str, Any]:
    """What the uses proof proves, checked against the page: the same events at one tree."""
    from ledger.index import prove_about, verify_about
    from ledger.log import operator

    try:
        text = prove_about(ledger.store, f"{PROOF_KEYS['uses']}:{party}")
        identity = operator.log_identity(ledger.store)
        assert identity is not None  # prove_about needs it too
        verdict = verify_about(text, identity.vkey)
    except AssetLedgerError as exc:
        return {"available": False, "problem": safe_error(exc)}
    proven = sorted(e for e in verdict.event_ids if e)
    listed = sorted({u.step.event_id for u in uses})
    return {
        "available": True,
        "tree_size": verdict.size,
        "events": len(proven),
        "matches_page": proven == listed,
    }


def _production_data(ledger: PortalLedger, production: str, days: int) -> dict[str, Any]:
    def make(view: LedgerView) -> dict[str, Any]:
        audits = _audits(ledger)
        uses = production_uses(view, production, audits, TIMECODES)
        names = {u.party: party_name(view, u.party, production) for u in uses}
        impacts = production_impacts(
            view,
            production,
            audits,
            as_of=start_of_today(),
            window_days=days,
            timecodes=TIMECODES,
        )
        return {"uses": uses, "names": names, "impacts": impacts, "view": view}

    return ledger.cached(("production-uses", production, _day(), str(days)), make)


def _party(request: Request) -> str:
    """The performer named in the path: one segment, percent-decoded (as a production is)."""
    party = unquote(str(request.path_params["party"]))
    if len(party) > 200:
        raise NotFound("no such performer")
    return party


def _format(request: Request) -> str:
    fmt = str(request.path_params["fmt"])
    if fmt not in FORMATS:
        raise NotFound("no such format")
    return fmt


def _days(request: Request) -> int:
    raw = request.query_params.get("days", str(EXPIRY_WINDOW_DAYS))
    # ASCII digits only, and few: "²".isdigit() holds but int() refuses it, and int() refuses
    # a string of more than 4300 digits; either would be a 500
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or int(raw) > 3650:
        raise NotFound("days is a whole number of days, 0 to 3650")
    return int(raw)


def _summary(uses: list[PerformerUse]) -> dict[str, Any]:
    return {
        "uses": len(uses),
        "productions": sorted({u.step.show for u in uses}),
        "not_covered": sum(not u.covered for u in uses),
        # one finding, one count: uses of one asset version share its findings (issue 19 §3)
        "open_findings": len({f.finding_id for u in uses for f in u.findings if f.is_open}),
        "deliverables": len({p.deliverable for u in uses for p in u.placements}),
    }


# --- a performer's own pages -----------------------------------------------------------------


def performer_page(p: Site, request: Request) -> Response:
    party = _party(request)
    who = p.guard(request, "performer_uses.view", Resource(party=party))
    found = _party_data(p.ledger, party)
    uses: list[PerformerUse] = found["uses"]
    impacts: list[Impact] = found["impacts"]
    data = {
        "party": party,
        "name": found["name"],
        "names": [{"production": show, "name": name} for show, name in found["names"].items()],
        "checkpoint": found["checkpoint"],
        "as_of": _day(),
        "summary": _summary(uses),
        "uses": [u.to_json() for u in uses],
        "impacts": [i.to_json() for i in impacts],
        "timecodes": "delivery packets" if TIMECODES is not None else None,
        "completeness_proof": found["proof"]
        | {
            kind: f"/performers/{quote(party, safe='')}/proofs/{kind}"
            for kind in PROOF_KEYS
            if found["proof"]["available"]
        },
    }
    return p.page(request, "performer.html", data, who)


def performer_register(p: Site, request: Request) -> Response:
    party = _party(request)
    p.guard(request, "performer_uses.download", Resource(party=party))
    fmt = _format(request)
    found = _party_data(p.ledger, party)
    rows = party_register_rows(found["uses"], party, found["names"])
    title = f"Uses of {found['name'] or party}'s likeness and voice"
    return _register_file(found["view"], title, rows, fmt, f"uses-{party}.{fmt}")


def performer_proof(p: Site, request: Request) -> Response:
    """A completeness proof from the authenticated index: every event about the performer's
    uses (``uses``) or consents (``consents``) at the latest signed checkpoint, or none;
    ``assetledger verify-receipt FILE --log-key VKEY`` checks it offline."""
    from ledger.index import prove_about

    party = _party(request)
    p.guard(request, "performer_uses.download", Resource(party=party))
    what = str(request.path_params["what"])
    if what not in PROOF_KEYS:
        raise NotFound("no such proof")
    with p.ledger.lock:
        text = prove_about(p.ledger.store, f"{PROOF_KEYS[what]}:{party}")
    return download(text, f"complete-{what}-{party}.proof", "text/plain; charset=utf-8")


# --- counsel and the guild: impact and the register -------------------------------------------


def guild_roster(p: Site, who: Any) -> frozenset[str] | None:
    """A guild representative's roster; None for counsel (every performer)."""
    if who.account.role != "guild":
        return None
    return p.accounts.members(who.account.guild or "")


def impacts_page(p: Site, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "impacts.view", Resource(prod))
    days = _days(request)
    found = _production_data(p.ledger, p.existing(prod), days)
    impacts: list[Impact] = found["impacts"]
    roster = guild_roster(p, who)
    if roster is not None:  # the guild sees its members' open impacts
        impacts = [i for i in impacts if i.consent.party_id in roster and i.is_open]
    data = {
        "production": prod,
        "as_of": _day(),
        "expiry_window_days": days,
        "members_only": roster is not None,
        "impacts": [i.to_json() for i in impacts],
    }
    return p.page(request, "performer_impacts.html", data, who)


def _register_for(p: Site, request: Request, action: str) -> tuple[Any, str, dict[str, Any]]:
    prod = p.production(request)
    who = p.guard(request, action, Resource(prod))
    found = _production_data(p.ledger, p.existing(prod), EXPIRY_WINDOW_DAYS)
    uses: list[PerformerUse] = found["uses"]
    roster = guild_roster(p, who)
    if roster is not None:
        uses = [u for u in uses if u.party in roster]
    found = found | {"rows": register_rows(uses, found["names"])}
    return who, prod, found


def register_page(p: Site, request: Request) -> Response:
    who, prod, found = _register_for(p, request, "replica_register.view")
    data = {
        "production": prod,
        "members_only": who.account.role == "guild",
        "columns": list(REGISTER_COLUMNS),
        "uses": found["rows"],
    }
    return p.page(request, "performer_register.html", data, who)


def register_file(p: Site, request: Request) -> Response:
    _, prod, found = _register_for(p, request, "replica_register.download")
    fmt = _format(request)
    title = f"Replica usage register: {prod}"
    return _register_file(
        found["view"], title, found["rows"], fmt, f"replica-register-{prod}.{fmt}"
    )


def _register_file(
    view: LedgerView, title: str, rows: list[dict[str, Any]], fmt: str, name: str
) -> Response:
    from ledger.reports.render import to_html, to_pdf

    if fmt == "csv":
        return download(csv_text(rows, REGISTER_COLUMNS), name, FORMATS[fmt])
    data = register_json(view, title, rows)
    if fmt == "json":
        import json

        return download(json.dumps(data, indent=2, ensure_ascii=False) + "\n", name, FORMATS[fmt])
    document = register_document(view, data)
    if fmt == "pdf":
        return download(to_pdf(document), name, FORMATS[fmt])
    return download(to_html(document), name, FORMATS[fmt])


View = Callable[[Site, Request], Response]

PAGES: list[tuple[str, str, View]] = [
    ("/performers/{party}", "/performers/{party}", performer_page),
    ("/p/{production}/impacts", "/p/{production}/impacts", impacts_page),
    ("/p/{production}/register", "/p/{production}/register", register_page),
]
"""(HTML path, JSON twin under /api/v1, view), as :data:`portal.app.PAGES`."""

FILES: list[tuple[str, View]] = [
    ("/performers/{party}/register.{fmt}", performer_register),
    ("/performers/{party}/proofs/{what}", performer_proof),
    ("/p/{production}/register.{fmt}", register_file),
]
