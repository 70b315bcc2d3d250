"""A guild representative's credits show consent rows of its own members only (red team, issue 19).

The members page, impacts and register limit consent status to the guild's roster; the credits page
and its CSV, JSON, HTML and PDF downloads must do the same, while counsel still sees every row and
the likeness statement still judges every use of the production.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from portal.accounts import AccountStore
from tests.ledger.reports.pdf_text import pdf_text
from tests.portal.portal_factory import FALLEN, PASSWORD, PortalSite

FT = quote(FALLEN, safe="")
DANA = "performer:dana-whitfield"
OMAR = "performer:omar-haddad"


@pytest.fixture
def small_guild(fresh_site: PortalSite) -> PortalSite:
    """A second guild with the production grant whose roster holds Dana Whitfield only."""
    with AccountStore(fresh_site.accounts) as store:
        store.add("small-guild", "guild", [FALLEN], PASSWORD, "Small Guild")
        store.add_members("Small Guild", [DANA])
    return fresh_site


def likeness_parties(rows: list[dict[str, str]]) -> set[str]:
    return {r["party"] for r in rows if r["party"].startswith("performer:")}


def test_counsel_sees_every_performer_on_credits(small_guild: PortalSite) -> None:
    data = small_guild.login("counsel").get(f"/api/v1/p/{FT}/credits").json()
    assert likeness_parties(data["consent_and_permissions"]) == {DANA, OMAR}


def test_guild_credits_page_and_api_show_members_only(small_guild: PortalSite) -> None:
    client = small_guild.login("small-guild")
    full = small_guild.login("counsel").get(f"/api/v1/p/{FT}/credits").json()
    data = client.get(f"/api/v1/p/{FT}/credits").json()
    assert likeness_parties(data["consent_and_permissions"]) == {DANA}
    assert data["ai_disclosure"] == full["ai_disclosure"]  # the statement judges every use
    html = client.get(f"/p/{FT}/credits").text
    assert OMAR not in html and "Omar Haddad" not in html


@pytest.mark.parametrize("fmt", ["json", "csv", "html", "pdf"])
def test_guild_credits_downloads_show_members_only(
    small_guild: PortalSite, fmt: str, tmp_path: Path
) -> None:
    response = small_guild.login("small-guild").get(f"/p/{FT}/credits.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        rows = json.loads(response.content)["consent_and_permissions"]
        assert likeness_parties(rows) == {DANA}
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
        parties = {r.get("party") or r.get("name") for r in rows if r["section"] == "consent"}
        assert DANA in parties and OMAR not in parties, parties
    elif fmt == "html":
        assert DANA in response.text and OMAR not in response.text
    else:
        text = pdf_text(response.content, tmp_path).replace("\n", " ")
        assert "dana-whitfield" in text and "omar-haddad" not in text
