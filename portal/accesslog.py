"""The admin's access log: filtered by account, action, outcome and date, a page at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from portal import query
from portal.accounts import AccessFilter
from portal.permissions import RULES
from portal.site import Site

PER_PAGE = 50
OUTCOMES = ("allowed", "refused", "denied", "unauthenticated", "csrf-failed", "rate-limited")
OTHER_ACTIONS = ("home.view", "search.view", "login", "logout")


def _seconds(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def read_filter(request: Request) -> tuple[AccessFilter, dict[str, str]]:
    """The filter the query string asks for, and the query values to keep in paging links."""
    actions = sorted({*RULES, *OTHER_ACTIONS})
    start, end = query.day(request, "from"), query.day(request, "to")
    if start and end and end < start:
        raise query.BadQuery(f"to ({end}) is before from ({start})")
    match = AccessFilter(
        actor=query.text(request, "account"),
        action=query.choice(request, "action", actions),
        outcome=query.choice(request, "outcome", OUTCOMES),
        since=None if start is None else _seconds(start),
        before=None if end is None else _seconds(end + timedelta(days=1)),
    )
    kept = {
        k: v
        for k in ("account", "action", "outcome", "from", "to")
        if (v := request.query_params.get(k, "").strip())
    }
    return match, kept


def access_page(p: Site, request: Request) -> Response:
    who = p.guard(request, "access_log.view")
    match, kept = read_filter(request)
    number = query.page_number(request)
    found = p.accounts.access_records(match, (number - 1) * PER_PAGE, PER_PAGE)
    pages = max(1, -(-found.total // PER_PAGE))

    def link(n: int) -> str | None:
        if not 1 <= n <= pages or n == number:
            return None
        return query.here(request) + "?" + urlencode({**kept, "page": str(n)})

    data: dict[str, Any] = {
        "filter": kept,
        "page": number,
        "pages": pages,
        "per_page": PER_PAGE,
        "total": found.total,
        "previous": link(number - 1),
        "next": link(number + 1),
        "access_log": [r.to_json() | {"refused": r.outcome != "allowed"} for r in found.records],
        "choices": {
            "account": found.actors,
            "action": sorted({*RULES, *OTHER_ACTIONS}),
            "outcome": list(OUTCOMES),
        },
    }
    return p.page(request, "access_log.html", data, who)
