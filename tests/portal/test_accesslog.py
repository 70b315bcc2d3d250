"""The admin's access log: filters by account, action, outcome and date, paging, refusals marked."""

from __future__ import annotations

import time
from urllib.parse import quote

from portal.accesslog import PER_PAGE
from portal.accounts import AccessRecord, AccountStore
from portal.app import API
from tests.portal.portal_factory import FALLEN, OTHER, PortalSite

FT, QH = quote(FALLEN, safe=""), quote(OTHER, safe="")
DAY = 86400


def log_page(site: PortalSite, **params: str) -> dict[str, object]:
    response = site.login("admin").get(f"{API}/admin/access-log", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def test_filters_by_account_action_and_outcome(fresh_site: PortalSite) -> None:
    guild = fresh_site.login("guild-rep")
    guild.get(f"/p/{FT}/credits")
    guild.get(f"/p/{QH}/credits")  # another production: denied
    guild.get(f"/p/{FT}")  # counsel's page: denied
    data = log_page(fresh_site, account="guild-rep", outcome="denied")
    records = data["access_log"]
    assert isinstance(records, list) and len(records) == 2 == data["total"]
    assert all(r["actor"] == "guild-rep" and r["refused"] for r in records)
    views = log_page(fresh_site, account="guild-rep", action="credits.view")["access_log"]
    assert [r["outcome"] for r in views] == ["denied", "allowed"]  # type: ignore[union-attr]
    refused = log_page(fresh_site, outcome="refused")["access_log"]
    assert {r["outcome"] for r in refused} == {"denied"}  # type: ignore[union-attr]
    html = fresh_site.login("admin").get("/admin/access-log", params={"outcome": "denied"}).text
    assert html.count('<tr class="refused">') == 2 and '<span class="pill refused">denied' in html


def test_filters_by_date_and_pages_newest_first(fresh_site: PortalSite) -> None:
    now = int(time.time())
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    old = time.strftime("%Y-%m-%d", time.gmtime(now - 10 * DAY))
    with AccountStore(fresh_site.accounts) as store:
        for i in range(PER_PAGE + 5):
            store.log_access(AccessRecord(now - 10 * DAY, "counsel", "credits.view", f"/x{i}",
                                          "allowed", "10.0.0.1"))  # fmt: skip
    on_day = log_page(fresh_site, **{"from": old, "to": old})
    assert on_day["total"] == PER_PAGE + 5 and on_day["pages"] == 2
    first = on_day["access_log"]
    assert isinstance(first, list) and len(first) == PER_PAGE
    assert first[0]["resource"] == f"/x{PER_PAGE + 4}"  # newest first
    second = log_page(fresh_site, **{"from": old, "to": old, "page": "2"})
    assert [r["resource"] for r in second["access_log"]] == [f"/x{i}" for i in range(4, -1, -1)]  # type: ignore[union-attr]
    assert second["previous"] and not second["next"]
    assert "page=1" in str(second["previous"]) and f"from={old}" in str(second["previous"])
    recent = log_page(fresh_site, **{"from": today})
    assert all(r["at"] >= now - DAY for r in recent["access_log"])  # type: ignore[union-attr]


def test_a_filter_it_cannot_use_is_refused_with_its_reason(site: PortalSite) -> None:
    admin = site.login("admin")
    for params, reason in (
        ({"from": "07/12/2026"}, "from must be a date as YYYY-MM-DD"),
        ({"from": "2026-12-07", "to": "2026-12-01"}, "is before from"),
        ({"outcome": "maybe"}, "outcome must be one of"),
        ({"action": "drop.table"}, "action must be one of"),
        ({"page": "0"}, "page must be a whole number"),
    ):
        response = admin.get(f"{API}/admin/access-log", params=params)
        assert response.status_code == 400 and reason in response.json()["error"], params
    assert site.login("counsel").get("/admin/access-log").status_code == 403


def test_the_log_page_fits_long_resources(site: PortalSite) -> None:
    site.login("counsel").get(f"/p/{FT}/lineage.svg", params={"asset": "x" * 300})
    html = site.login("admin").get("/admin/access-log").text
    assert '<div class="scroll-x">' in html and '<td class="what">' in html
