"""The guild's credit page: one line per person and role, job titles, no organisation among
human-authored work; the CSV download with job title and department columns."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

from tests.portal.portal_factory import FALLEN, PortalSite

FT = quote(FALLEN, safe="")


def table(html: str, css_class: str) -> str:
    return html.split(f'<table class="{css_class}">', 1)[1].split("</table>", 1)[0]


def test_human_credit_lines_show_job_titles_and_no_organisation(site: PortalSite) -> None:
    client = site.login("guild-rep")
    data = client.get(f"/api/v1/p/{FT}/credits").json()
    organisations = {x["name"] for x in data["credit_lines"] if x["kind"] != "human"}
    assert organisations == {"Vista Stock"}
    html = client.get(f"/p/{FT}/credits").text
    human = table(html, "credit-lines")
    assert "Vista Stock" not in human and "cawg." not in human
    assert human.count("<tr>") == 1 + sum(x["kind"] == "human" for x in data["credit_lines"])
    assert "Roto Artist" in human and "Digital Imaging Technician" in human
    assert "Vista Stock" in table(html, "sources")


def test_the_csv_has_job_title_and_department_one_row_per_person_and_role(
    site: PortalSite,
) -> None:
    raw = site.login("guild-rep").get(f"/p/{FT}/credits.csv").text
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    credit = [r for r in rows if r["section"] == "credit"]
    pairs = [(r["name"], r["job_title"]) for r in credit]
    assert len(pairs) == len(set(pairs)) and ("Mira Keller", "Roto Artist") in pairs
    assert {r["department"] for r in credit} >= {"Camera", "Visual Effects", "AI Direction"}
    assert "Vista Stock" not in {r["name"] for r in credit}
    assert [r["section"] for r in rows if r["name"] == "Vista Stock"] == ["organisation"]


def test_the_credits_show_counsels_decisions_as_the_audit_does(site: PortalSite) -> None:
    """Counsel reads the licence flags counsel disposed of as disposed: the licence's words stay,
    with who decided, the decision and its event id, as the audit shows them.  Counsel's
    findings and decisions are privileged: the guild reads the same licence words without them."""
    counsel = site.login("counsel")
    audit = counsel.get(f"/api/v1/p/{FT}/findings").json()
    disposed = {
        f["asset"]: f["disposition"]
        for f in audit["findings"]
        if f["rule"] in ("ai-model-undeclared", "licence-not-covering") and f["status"] != "open"
    }
    assert len(disposed) == 2  # the ClearScale licence cleared, fx_dust remediated
    outputs = counsel.get(f"/api/v1/p/{FT}/credits").json()["generative_ai_output"]
    html = counsel.get(f"/p/{FT}/credits").text
    for o in outputs:
        d = disposed.get(o["asset"])
        if d is None:
            assert o["counsel"] is None
            continue
        assert o["licence_finding"]["disposition"]["event_id"] == d["event_id"]
        assert o["counsel"].startswith(f"{d['decision']} by {d['by']}")
        assert d["event_id"] in o["counsel"] and d["event_id"] in html
    assert "does not cover this use" in html  # the fact is kept, with counsel's decision
    guild = site.login("guild-rep")
    seen = guild.get(f"/api/v1/p/{FT}/credits").json()["generative_ai_output"]
    assert [o["licence"] for o in seen] == [o["licence"] for o in outputs]
    assert all(o["counsel"] is None and o["licence_finding"] is None for o in seen)
    guild_html = guild.get(f"/p/{FT}/credits").text
    assert "does not cover this use" in guild_html
    assert not any(d["event_id"] in guild_html for d in disposed.values())
