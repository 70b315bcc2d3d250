"""Counsel's findings list (filters and sort), a finding's links, and decisions beside licences."""

from __future__ import annotations

import re
from urllib.parse import quote

from portal.app import API
from tests.portal.portal_factory import FALLEN, PortalSite

FT = quote(FALLEN, safe="")


def listed(site: PortalSite, **params: str) -> list[dict[str, object]]:
    response = site.login("counsel").get(f"{API}/p/{FT}/findings", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["findings"]
    return rows


def test_the_list_holds_every_finding_of_the_audit_most_severe_first(site: PortalSite) -> None:
    counsel = site.login("counsel")
    report = counsel.get(f"/p/{FT}/report.json").json()
    rows = listed(site)
    assert sorted(r["id"] for r in rows) == sorted(f["id"] for f in report["findings"])
    assert [r["severity"] for r in rows] == sorted(
        (r["severity"] for r in rows), key=["critical", "high", "medium", "low", "info"].index
    )
    assert {r["status"] for r in rows} == {"open", "cleared", "remediated"}


def test_filters_by_rule_severity_shot_and_status(site: PortalSite) -> None:
    assert {r["status"] for r in listed(site, status="disposed")} == {"cleared", "remediated"}
    assert {r["status"] for r in listed(site, status="open")} == {"open"}
    critical = listed(site, severity="critical")
    assert critical and {r["severity"] for r in critical} == {"critical"}
    sh030 = listed(site, shot="sh030")
    assert sh030 and all("/sh030/" in str(r["asset"]) for r in sh030)
    assert len(sh030) < len(listed(site))
    rule = listed(site, rule="licence-not-covering")
    assert [r["rule"] for r in rule] == ["licence-not-covering"]
    assert listed(site, shot="sh030", status="disposed") == []


def test_sorts_by_rule_asset_shot_and_status(site: PortalSite) -> None:
    for key in ("rule", "asset", "status"):
        rows = listed(site, sort=key)
        assert [r[key] for r in rows] == sorted(str(r[key]) for r in rows), key
    shots = [r["shot"] or "" for r in listed(site, sort="shot")]
    assert shots == sorted(shots)


def test_a_value_the_list_cannot_use_is_refused_with_its_reason(site: PortalSite) -> None:
    client = site.login("counsel")
    response = client.get(f"{API}/p/{FT}/findings", params={"severity": "urgent"})
    assert response.status_code == 400
    assert "severity must be one of" in response.json()["error"]
    assert client.get(f"/p/{FT}/findings", params={"sort": "x"}).status_code == 400
    assert site.login("guild-rep").get(f"/p/{FT}/findings").status_code == 403
    assert site.login("harbor-counsel").get(f"/p/{FT}/findings").status_code == 404


def test_html_shows_short_ids_on_one_line_and_readable_times(site: PortalSite) -> None:
    client = site.login("counsel")
    rows = listed(site, status="disposed")
    html = client.get(f"/p/{FT}/findings", params={"status": "disposed"}).text
    for r in rows:
        fid = str(r["id"])
        assert f'<code class="id" title="{fid}">{fid[:12]}…</code>' in html
    at = rows[0]["disposition"]["at"]  # type: ignore[index]
    assert at.endswith("Z") and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", at)  # JSON: exact
    assert f'<time datetime="{at}"' in html and " UTC</time>" in html
    dashboard = client.get(f"/p/{FT}").text
    assert f'<time datetime="{at}"' in dashboard and at not in dashboard.replace(
        f'datetime="{at}"', ""
    )


def test_a_finding_links_its_records_decisions_and_replacing_version(site: PortalSite) -> None:
    client = site.login("counsel")
    rows = {r["rule"]: r for r in listed(site, status="disposed")}
    covering = rows["licence-not-covering"]
    detail = client.get(f"{API}/p/{FT}/findings/{covering['id']}").json()["finding"]
    links = {e["what"]: e["record"] for e in detail["evidence"]}
    licence_link = links["the licence record cited"]
    licence_id = licence_link.rsplit("#licence-", 1)[1]
    assert f'id="licence-{licence_id}"' in client.get(licence_link.split("#")[0]).text
    assert links["the AI action, as signed by its tool"].startswith(f"/p/{FT}/lineage.svg?")
    html = client.get(f"/p/{FT}/findings/{covering['id']}").text
    decision = detail["disposition"]["event_id"]
    assert f'href="/p/{FT}/findings/{covering["id"]}#event-{decision}"' in html
    assert f'id="event-{decision}"' in html
    remediated = rows["ai-model-undeclared"]
    html = client.get(f"/p/{FT}/findings/{remediated['id']}").text
    replaced = remediated["disposition"]["replaced_by"]  # type: ignore[index]
    link = f"/p/{FT}/lineage.svg?asset={quote(replaced, safe='')}"
    assert f'href="{link}"' in html
    assert client.get(link).text.startswith("<svg")


def test_a_cleared_licence_shows_the_decision_beside_not_covering(site: PortalSite) -> None:
    client = site.login("counsel")
    records = client.get(f"{API}/p/{FT}/consents").json()["licence_records"]
    not_covering = [r for r in records if r["status"] == "not covering"]
    assert len(not_covering) == 1
    (decision,) = not_covering[0]["decisions"]
    assert decision["rule"] == "licence-not-covering" and decision["status"] == "cleared"
    assert decision["disposition"]["by"] == "Hana Sato"
    assert all(r["decisions"] == [] for r in records if r["status"] == "in force")
    html = client.get(f"/p/{FT}/consents").text
    row = html.split(f'id="licence-{not_covering[0]["event_id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "not covering" in row and "cleared</span> by Hana Sato" in row


def test_people_by_name_with_their_id_on_hover(site: PortalSite) -> None:
    guild = site.login("guild-rep")
    uses = guild.get(f"{API}/p/{FT}/members").json()["uses"]
    assert {(u["party"], u["party_name"]) for u in uses} == {
        ("performer:dana-whitfield", "Dana Whitfield"),
        ("performer:omar-haddad", "Omar Haddad"),
    }
    html = guild.get(f"/p/{FT}/members").text
    assert '<span class="person" title="performer:omar-haddad">Omar Haddad</span>' in html
    assert "<td>performer:omar-haddad</td>" not in html
    consents = site.login("counsel").get(f"/p/{FT}/consents").text
    assert '<span class="person" title="performer:dana-whitfield">Dana Whitfield</span>' in consents


def test_counsels_pages_name_the_people_the_audit_text_gives_by_id(site: PortalSite) -> None:
    client = site.login("counsel")
    data = client.get(f"{API}/p/{FT}").json()
    likeness = next(f for f in data["open_findings"] if f["rule"] == "likeness-without-consent")
    assert "performer:omar-haddad" in likeness["summary"]  # the audit's words, kept in JSON
    span = '<span class="person" title="performer:omar-haddad">Omar Haddad</span>'
    for page in (f"/p/{FT}", f"/p/{FT}/findings", f"/p/{FT}/findings/{likeness['id']}"):
        html = client.get(page).text
        assert span in html, page
        assert ">performer:omar-haddad" not in html and " performer:omar-haddad" not in html, page
