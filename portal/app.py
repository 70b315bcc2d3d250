"""The portal's ASGI application: server-rendered pages, each with a JSON twin, and downloads.

Every view names one action and calls :func:`portal.permissions.permission_allowed` (through
:meth:`Portal.guard`) before it reads the ledger.  ``/api/v1/…`` gives the same data as JSON,
under the same rules, to a session or to an API token (``Authorization: Bearer alp_…``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ledger.audit.credits import CSV_COLUMNS, CreditReport, flat_rows, job_title
from ledger.audit.text import csv_text, visible
from ledger.errors import AssetLedgerError
from ledger.reports.report import credits_document
from portal import filters, openapi, packets, performer
from portal.accesslog import access_page
from portal.accounts import AccessRecord, Account, AccountStore
from portal.data import NotFound, PortalLedger, safe_error
from portal.findings import findings_page, record_links, with_decisions
from portal.people import named
from portal.permissions import LEDGER, RULES, Resource, permission_allowed
from portal.query import BadQuery
from portal.search import search_page
from portal.security import (
    DOWNLOAD_CSP,
    RateLimiter,
    SecurityHeaders,
    download,
    new_csrf,
    same,
)

log = logging.getLogger("assetledger.portal")
access_log = logging.getLogger("assetledger.portal.access")

HERE = Path(__file__).parent
SESSION_COOKIE = "__Host-assetledger-session"
LOGIN_CSRF_COOKIE = "__Host-assetledger-login"
API = "/api/v1"
MAX_FORM_BYTES = 4096


@dataclass(frozen=True)
class PortalConfig:
    ledger_url: str
    accounts_path: Path
    metrics_url: str | None = None
    trusted_keys: Path | None = None  # *.pub folder for verification (default: key registry)
    proxy_header: str | None = None  # e.g. X-Forwarded-User; None: off (the default)
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    login_limit: int = 5  # failed logins per account name (and 4x per address) ...
    login_window: float = 300.0  # ... in this many seconds


class Unauthenticated(Exception):
    pass


class Denied(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Who:
    account: Account
    via: str  # session | token | proxy
    csrf: str | None = None


@dataclass
class Portal:
    config: PortalConfig
    ledger: PortalLedger
    accounts: AccountStore
    templates: Jinja2Templates = field(init=False)
    by_name: RateLimiter = field(init=False)
    by_client: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        env.filters["q"] = lambda v: quote(str(v), safe="")
        env.filters["path"] = wrappable_path
        env.filters["utc"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(t)))
        filters.install(env)
        env.globals["allowed"] = permission_allowed
        env.globals["Resource"] = Resource
        self.templates = Jinja2Templates(env=env)
        self.by_name = RateLimiter(self.config.login_limit, self.config.login_window)
        self.by_client = RateLimiter(4 * self.config.login_limit, self.config.login_window)

    # --- who is asking --------------------------------------------------------------------
    def who(self, request: Request) -> Who | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            account = self.accounts.token_account(auth[7:].strip())
            return Who(account, "token") if account else None
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            session = self.accounts.session(sid)
            if session is not None:
                return Who(session.account, "session", session.csrf)
        return self._proxy_identity(request)

    def _proxy_identity(self, request: Request) -> Who | None:
        header = self.config.proxy_header
        if header is None or request.client is None:
            return None
        if request.client.host not in self.config.trusted_proxies:
            return None
        name = request.headers.get(header, "").strip().lower()
        account = self.accounts.get(name) if name else None
        return Who(account, "proxy") if account and not account.disabled else None

    def guard(
        self, request: Request, action: str, resource: Resource = LEDGER, what: str = ""
    ) -> Who:
        """Who is asking, if they may do ``action`` on ``resource``; logged either way."""
        who = self.who(request)
        if who is None:
            self.record(request, "-", action, what or str(request.url.path), "unauthenticated")
            raise Unauthenticated()
        allowed = permission_allowed(who.account, action, resource)
        self.record(
            request,
            who.account.name,
            action,
            what or request.url.path,
            "allowed" if allowed else "denied",
        )
        if not allowed:
            # Another production's pages do not exist for this account; its own, it may know.
            # A performer's pages, likewise, exist only for that performer (and their agent).
            own = resource.production is not None and resource.production in who.account.productions
            hidden = resource.production is not None or resource.party is not None
            raise Denied(403 if own or not hidden else 404)
        return who

    def record(self, request: Request, actor: str, action: str, what: str, outcome: str) -> None:
        client = request.client.host if request.client else "-"
        item = AccessRecord(int(time.time()), actor, action, what[:500], outcome, client)
        access_log.info(json.dumps(item.to_json(), ensure_ascii=False))
        try:
            self.accounts.log_access(item)
        except Exception:  # the log file is full or locked: the page still answers
            log.exception("could not write the access log")

    def production(self, request: Request) -> str:
        """The production named in the path: one segment, percent-decoded (see OneSegment)."""
        name = unquote(str(request.path_params["production"]))
        if len(name) > 200:
            raise NotFound("no such production")
        return name

    def existing(self, production: str) -> str:
        if not self.ledger.has_production(production):
            raise NotFound(f"no production {production!r} in the ledger")
        return production

    # --- answers --------------------------------------------------------------------------
    def page(
        self, request: Request, template: str, data: dict[str, Any], who: Who | None
    ) -> Response:
        if request.url.path.startswith(API):
            return JSONResponse(data)
        context = {"data": data, "who": who, "request": request, "api": API + _api_path(request)}
        return self.templates.TemplateResponse(request, template, context)


def wrappable_path(value: object) -> Markup:
    """An asset path, escaped, that may wrap after each ``/`` (never inside a word)."""
    return Markup(str(escape(visible(value))).replace("/", "/<wbr>"))


def _api_path(request: Request) -> str:
    path = _raw_path(request)
    query = request.url.query
    return (path if path != "/" else "/me") + (f"?{query}" if query else "")


def _raw_path(request: Request) -> str:
    """The path as the client sent it (still percent-encoded)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)


class OneSegment:
    """ASGI middleware: route on the path as sent, so that an encoded "/" stays in its segment.

    Servers decode ``%2F`` before routing, so ``/p/Love%2FHate`` would be routed as
    ``/p/Love/Hate`` and a show named "Love/Hate" (or "100%") could never be opened.  Here each
    segment of the raw path is decoded on its own and "%" and "/" are encoded again inside it;
    :meth:`Portal.production` decodes the production's segment.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw:
            text = raw.decode("ascii", "replace")
            segments = [unquote(s).replace("%", "%25").replace("/", "%2F") for s in text.split("/")]
            scope = dict(scope, path="/".join(segments))
        await self.app(scope, receive, send)


# --- views ---------------------------------------------------------------------------------

Handler = Callable[[Portal, Request], Response]


def home(p: Portal, request: Request) -> Response:
    who = p.who(request)
    if who is None:
        p.record(request, "-", "home.view", "/", "unauthenticated")
        raise Unauthenticated()
    p.record(request, who.account.name, "home.view", "/", "allowed")
    account = who.account
    productions = []
    for name in account.productions:
        actions = [
            a for a in RULES if permission_allowed(account, a, Resource(name, account.guild))
        ]
        productions.append(
            {"name": name, "in_ledger": p.ledger.has_production(name), "actions": actions}
        )
    ledger_actions = [a for a in RULES if permission_allowed(account, a, LEDGER)]
    data = {
        "account": account.to_json(),
        "signed_in_via": who.via,
        "productions": productions,
        "ledger_actions": ledger_actions,
    }
    return p.page(request, "home.html", data, who)


def dashboard(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "dashboard.view", Resource(prod))
    _, report = p.ledger.audit(p.existing(prod))
    summary = report["summary"]
    findings = report["findings"]
    data = {
        "production": prod,
        "checkpoint": report["checkpoint"],
        "as_of": report["as_of"],
        "events_audited": summary["events_audited"],
        "clear_to_ship": summary["clear_to_ship"],
        "deliverables": deliverables(summary["deliverables"], findings),
        "open_findings_by_severity": summary["open_findings_by_severity"],
        "open_findings": [_brief(f) for f in findings if f["status"] == "open"],
        "disposed_findings": [_brief(f) for f in findings if f["status"] != "open"],
        "dangling_dispositions": report["dangling_dispositions"],
        "people": p.ledger.names(prod),
        "content_sha256": report["content_sha256"],
    }
    return p.page(request, "dashboard.html", data, who)


BRIEF = ("id", "severity", "status", "rule", "asset", "summary", "disposition")


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f[k] for k in BRIEF if k in f}


def deliverables(
    shipped: list[dict[str, Any]], findings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each published deliverable with the audit's clear-to-ship verdict, and the finding
    that says why not (the audit's ``deliverable-unresolved`` finding on it)."""
    why = {f["asset"]: f for f in findings if f["rule"] == "deliverable-unresolved"}
    out = []
    for d in shipped:
        blocking = None if d["clear_to_ship"] else why.get(d["asset"])
        out.append(
            {
                "asset": d["asset"],
                "clear_to_ship": d["clear_to_ship"],
                "why_not": None if blocking is None else blocking["summary"],
                "finding": None if blocking is None else blocking["id"],
            }
        )
    return out


def finding(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "findings.view", Resource(prod))
    item = p.ledger.finding(p.existing(prod), str(request.path_params["fid"])[:100])
    evidence = [
        {k: v for k, v in e.items() if k != "receipt"}
        | {"receipt_available": bool(e.get("receipt"))}
        for e in item["evidence"]
    ]
    data = {
        "production": prod,
        "finding": item | {"evidence": record_links(p, prod, evidence)},
        "people": p.ledger.names(prod),
    }
    return p.page(request, "finding.html", data, who)


def consents(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "consents.view", Resource(prod))
    _, report = p.ledger.audit(p.existing(prod))
    data = {
        "production": prod,
        "as_of": report["as_of"],
        "consent_records": report["consent_records"],
        "consent_uses": named(report["consent_uses"], p.ledger.names(prod), "party"),
        "licence_records": with_decisions(p.ledger.licences(prod), report["findings"]),
        "ai_models": report["ai_models"],
    }
    return p.page(request, "consents.html", data, who)


def ai_register(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "ai_register.view", Resource(prod))
    _, report = p.ledger.audit(p.existing(prod))
    data = {"production": prod, "ai_usage": report["ai_usage"], "ai_models": report["ai_models"]}
    return p.page(request, "ai.html", data, who)


def _episode(request: Request) -> str | None:
    value = request.query_params.get("episode") or None
    if value is not None and len(value) > 100:
        raise NotFound("no such episode")
    return value


def credits(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "credits.view", Resource(prod))
    episode = _episode(request)
    report = _credits_for(p, who, prod, episode)
    data = report.to_json() | {
        "episodes": p.ledger.episodes(prod),
        # each credit line's title as the CLI, HTML and PDF credits print it
        "credit_titles": [job_title(line) for line in report.lines],
        # each name as the tables print it: the id beside a look-alike of another person's
        "credit_names": [report.shown_name(line) for line in report.lines],
    }
    return p.page(request, "credits.html", data, who)


def members(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    who = p.guard(request, "member_consents.view", Resource(prod, None))
    guild = who.account.guild or ""
    roster = p.accounts.members(guild)
    report = p.ledger.credits(p.existing(prod), None)
    records = p.ledger.consent_records(prod)
    names = p.ledger.names(prod)
    data = {
        "production": prod,
        "guild": guild,
        "members": sorted(roster),
        "uses": named([c.to_json() for c in report.consent if c.party in roster], names, "party"),
        "consent_records": [r for r in records if r["party"] in roster],
    }
    return p.page(request, "members.html", data, who)


def health(p: Portal, request: Request) -> Response:
    who = p.guard(request, "health.view")
    return p.page(request, "health.html", p.ledger.health(), who)


def accounts_page(p: Portal, request: Request) -> Response:
    who = p.guard(request, "accounts.view")
    data = {"accounts": [a.to_json() for a in p.accounts.all()]}
    return p.page(request, "accounts.html", data, who)


# --- downloads -----------------------------------------------------------------------------


def lineage_picture(p: Portal, request: Request) -> Response:
    prod = p.production(request)
    asset = request.query_params.get("asset", "")
    p.guard(request, "lineage.view", Resource(prod), f"{request.url.path}?asset={asset}")
    svg = p.ledger.lineage_svg(p.existing(prod), asset[:500])
    return Response(
        svg, media_type="image/svg+xml", headers={"Content-Security-Policy": DOWNLOAD_CSP}
    )


def audit_report_file(p: Portal, request: Request) -> Response:
    from ledger.reports.render import to_html, to_pdf
    from ledger.reports.report import audit_document

    prod = p.production(request)
    p.guard(request, "audit_report.download", Resource(prod))
    fmt = str(request.path_params["fmt"])
    if fmt not in ("html", "pdf", "json"):
        raise NotFound("no such format")
    report, data = p.ledger.audit(p.existing(prod))
    name = f"audit-report-{prod}.{fmt}"
    if fmt == "json":  # what assetledger audit report --format json prints
        return download(_dumps(data), name, "application/json")
    document = audit_document(report, data)
    if fmt == "pdf":
        return download(to_pdf(document), name, "application/pdf")
    return download(to_html(document), name, "text/html; charset=utf-8")


def credits_file(p: Portal, request: Request) -> Response:
    from ledger.reports.render import to_html, to_pdf

    prod = p.production(request)
    who = p.guard(request, "credits.download", Resource(prod))
    fmt = str(request.path_params["fmt"])
    if fmt not in ("csv", "pdf", "html", "json"):
        raise NotFound("no such format")
    episode = _episode(request)
    report = _credits_for(p, who, prod, episode)
    name = f"credits-{prod}" + (f"-{episode}" if episode else "") + f".{fmt}"
    if fmt == "json":
        return download(_dumps(report.to_json()), name, "application/json")
    if fmt == "csv":
        return download(_credits_csv(report), name, "text/csv; charset=utf-8")
    if fmt == "pdf":
        return download(to_pdf(credits_document(report)), name, "application/pdf")
    return download(to_html(credits_document(report)), name, "text/html; charset=utf-8")


def _credits_for(p: Portal, who: Any, prod: str, episode: str | None) -> CreditReport:
    """The credit report as the account may read it: a guild representative sees the consent
    rows of its own members (the roster of the members page, impacts and register)."""
    report = p.ledger.credits(p.existing(prod), episode)
    roster = performer.guild_roster(p, who)
    return report if roster is None else report.for_members(roster)


def _credits_csv(report: CreditReport) -> str:
    """The CLI's credits CSV: every field quoted, formula-looking cells neutralised."""
    return csv_text(flat_rows(report), CSV_COLUMNS)


def receipt_file(p: Portal, request: Request) -> Response:
    """Counsel's receipt: the entry itself, for any record that counts for the production."""
    prod = p.production(request)
    event_id = str(request.path_params["event_id"])[:200]
    p.guard(request, "receipt.download", Resource(prod))
    text = p.ledger.receipt(p.existing(prod), event_id)
    return download(text, f"{event_id}.receipt", "text/plain; charset=utf-8")


def ledger_receipt_file(p: Portal, request: Request) -> Response:
    """``/health/receipts/{event_id}``, or ``/health/receipt?event_id=`` (the page's form).

    The auditor's receipt proves any entry by its leaf hash, without the entry's bytes: the
    auditor checks the log, not what productions recorded (docs/portal.md, receipts by role).
    """
    raw = request.path_params.get("event_id") or request.query_params.get("event_id", "")
    event_id = str(raw).strip()[:200]
    p.guard(request, "proof.download")
    return download(
        p.ledger.leaf_receipt(event_id), f"{event_id}.leaf.receipt", "text/plain; charset=utf-8"
    )


def checkpoint_file(p: Portal, request: Request) -> Response:
    p.guard(request, "proof.download")
    latest = p.ledger.health()["checkpoint"]
    if latest is None:
        raise NotFound("the ledger has no signed checkpoint yet")
    return download(
        latest["note"], f"checkpoint-{latest['tree_size']}.txt", "text/plain; charset=utf-8"
    )


def consistency_file(p: Portal, request: Request) -> Response:
    p.guard(request, "proof.download")
    try:
        old = int(str(request.path_params["old"]))
    except ValueError:
        raise NotFound("no such checkpoint") from None
    return download(
        p.ledger.consistency(old), f"consistency-{old}.txt", "text/plain; charset=utf-8"
    )


def favicon(request: Request) -> Response:
    """The portal's icon, public like the stylesheet (browsers ask for it on every page)."""
    return FileResponse(
        HERE / "static" / "favicon.ico",
        media_type="image/vnd.microsoft.icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def openapi_document(p: Portal, request: Request) -> Response:
    return JSONResponse(openapi.document(API))


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --- logging in and out --------------------------------------------------------------------


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def _next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value[:500]
    return "/"


def _small_form(request: Request) -> None:
    """Refuse a form body larger than a sign-in form can be (before parsing it)."""
    try:
        length = int(request.headers.get("content-length", "0"))
    except ValueError:
        raise HTTPException(400) from None
    if length > MAX_FORM_BYTES or "chunked" in request.headers.get("transfer-encoding", ""):
        raise HTTPException(413)


async def login(p: Portal, request: Request) -> Response:
    if request.method == "GET":
        if p.who(request) is not None:
            return RedirectResponse(_next(request.query_params.get("next")), 303)
        return _login_form(p, request, None, 200)
    _small_form(request)
    form = await request.form(max_files=0, max_fields=4, max_part_size=MAX_FORM_BYTES)
    name = str(form.get("name", ""))[:100].strip().lower()
    password = str(form.get("password", ""))[:1024]
    if not same(str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE)):
        p.record(request, name or "-", "login", "/login", "csrf-failed")
        return _login_form(p, request, "The form expired. Please sign in again.", 400)
    client = request.client.host if request.client else "-"
    by_name, by_client = "name:" + name, "ip:" + client
    wait = max(p.by_name.blocked_for(by_name), p.by_client.blocked_for(by_client))
    if wait:
        p.record(request, name or "-", "login", "/login", "rate-limited")
        response = _login_form(
            p, request, f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.", 429
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    # Counted as failed before the (slow) password check, with no await since the limits were
    # read: guesses sent at once cannot all pass the check before the first one has failed.
    p.by_name.failed(by_name)
    p.by_client.failed(by_client)
    account = await _run(p.accounts.authenticate, name, password)
    if account is None:
        p.record(request, name or "-", "login", "/login", "denied")
        return _login_form(p, request, "Wrong name or password.", 401)
    p.by_name.reset(by_name)
    p.by_client.forgive(by_client)
    sid, _ = p.accounts.new_session(account)
    p.record(request, account.name, "login", "/login", "allowed")
    response = RedirectResponse(_next(str(form.get("next", ""))), 303)
    _cookie(response, SESSION_COOKIE, sid, 8 * 3600)
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


async def _run(fn: Callable[..., Account | None], *args: str) -> Account | None:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def _login_form(p: Portal, request: Request, error: str | None, status: int) -> Response:
    token = new_csrf()
    context = {
        "request": request,
        "who": None,
        "csrf": token,
        "error": error,
        "next": _next(request.query_params.get("next")),
    }
    response = p.templates.TemplateResponse(request, "login.html", context, status_code=status)
    _cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


async def logout(p: Portal, request: Request) -> Response:
    _small_form(request)
    form = await request.form(max_files=0, max_fields=2, max_part_size=MAX_FORM_BYTES)
    sid = request.cookies.get(SESSION_COOKIE)
    session = p.accounts.session(sid) if sid else None
    if session is None or not same(str(form.get("csrf", "")), session.csrf):
        raise Denied(403)
    p.accounts.end_session(str(sid))
    p.record(request, session.account.name, "logout", "/logout", "allowed")
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


# --- errors --------------------------------------------------------------------------------

MESSAGES = {
    400: "Bad request.",
    401: "Please sign in.",
    403: "Your account may not open this page.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The form is too large.",
    500: "Something went wrong on our side. The error has been logged.",
}


def _error(p: Portal, request: Request, status: int, detail: str | None = None) -> Response:
    message = detail or MESSAGES.get(status, "Error.")
    if request.url.path.startswith(API) or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    if status == 401:
        return RedirectResponse("/login?next=" + quote(_raw_path(request), safe="/%"), 303)
    context = {"request": request, "who": None, "status": status, "message": message}
    return p.templates.TemplateResponse(request, "error.html", context, status_code=status)


def _handlers(p: Portal) -> dict[Any, Callable[..., Any]]:
    async def unauthenticated(request: Request, exc: Exception) -> Response:
        return _error(p, request, 401)

    async def denied(request: Request, exc: Exception) -> Response:
        return _error(p, request, exc.status if isinstance(exc, Denied) else 403)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(p, request, 404)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error(p, request, status)

    async def bad_query(request: Request, exc: Exception) -> Response:
        return _error(p, request, 400, str(exc))

    async def ledger_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AssetLedgerError)
        log.warning("ledger error on %s: %s", request.url.path, exc)
        return _error(p, request, 409, safe_error(exc))

    return {
        Unauthenticated: unauthenticated,
        Denied: denied,
        NotFound: not_found,
        HTTPException: http_error,
        AssetLedgerError: ledger_error,
        BadQuery: bad_query,
    }  # any other exception: a fixed 500 from SecurityHeaders, logged, never shown


# --- the application -----------------------------------------------------------------------


def _bind(p: Portal, handler: Callable[[Portal, Request], Any]) -> Callable[[Request], Any]:
    import inspect

    if inspect.iscoroutinefunction(handler):

        async def endpoint_async(request: Request) -> Response:
            return await handler(p, request)  # type: ignore[no-any-return]

        return endpoint_async

    def endpoint(request: Request) -> Response:
        return handler(p, request)  # type: ignore[no-any-return]

    return endpoint


PAGES: list[tuple[str, str, Handler]] = [
    ("/", "/me", home),
    ("/p/{production}", "/p/{production}", dashboard),
    ("/p/{production}/findings", "/p/{production}/findings", findings_page),
    ("/p/{production}/findings/{fid}", "/p/{production}/findings/{fid}", finding),
    ("/p/{production}/consents", "/p/{production}/consents", consents),
    ("/p/{production}/ai", "/p/{production}/ai", ai_register),
    ("/p/{production}/credits", "/p/{production}/credits", credits),
    ("/p/{production}/members", "/p/{production}/members", members),
    ("/health", "/health", health),
    ("/admin/accounts", "/admin/accounts", accounts_page),
    ("/admin/access-log", "/admin/access-log", access_page),
    ("/search", "/search", search_page),
]
"""(HTML path, JSON twin under /api/v1, view): each page and its twin run the same view."""

FILES: list[tuple[str, Handler]] = [
    ("/p/{production}/lineage.svg", lineage_picture),
    ("/p/{production}/report.{fmt}", audit_report_file),
    ("/p/{production}/credits.{fmt}", credits_file),
    ("/p/{production}/receipts/{event_id}", receipt_file),
    ("/health/checkpoint", checkpoint_file),
    ("/health/receipts/{event_id}", ledger_receipt_file),
    ("/health/receipt", ledger_receipt_file),
    ("/health/consistency/{old}", consistency_file),
]


PAGES += performer.PAGES  # performers', agents', and the impact and register pages
FILES += performer.FILES
PAGES += packets.PAGES  # delivery packets: counsel's disclosures, the auditor's verdicts
FILES += packets.FILES


def create_app(config: PortalConfig) -> Starlette:
    from ledger.trust import keys as keyfiles

    trusted = keyfiles.load_trusted_dir(config.trusted_keys) if config.trusted_keys else None
    ledger = PortalLedger.open(config.ledger_url, config.metrics_url, trusted)
    accounts = AccountStore(config.accounts_path)
    return build_app(Portal(config, ledger, accounts))


def build_app(p: Portal) -> Starlette:
    routes: list[BaseRoute] = [
        Route("/login", _bind(p, login), methods=["GET", "POST"]),
        Route("/logout", _bind(p, logout), methods=["POST"]),
        Route(API + "/openapi.json", _bind(p, openapi_document)),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    for html_path, api_path, view in PAGES:
        routes.append(Route(html_path, _bind(p, view)))
        routes.append(Route(API + api_path, _bind(p, view)))
    for path, view in FILES:
        routes.append(Route(path, _bind(p, view)))
        routes.append(Route(API + path, _bind(p, view)))
    app = Starlette(
        debug=False,
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(OneSegment)],
        exception_handlers=_handlers(p),
    )
    app.state.portal = p
    return app
