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
