"""A consent recorded for another show never renames a performer on her own page (red team,
issue 23): the page names her as each production's own consents do."""

from __future__ import annotations

import copy
import csv
import io
import json
from urllib.parse import quote

import pytest

from demo import story
from ledger.events.consent import CONSENT
from ledger.store import open_store
from portal.accounts import AccountStore
from tests.ledger.audit.audit_factory import fixed
from tests.portal.portal_factory import (
    FALLEN,
    HARBOR_SIGNER,
    OTHER,
    PASSWORD,
    PortalSite,
    append,
    make_site,
)

DANA = "performer:dana-whitfield"
PAGE = "/performers/" + quote(DANA, safe="")
RENAMED = "Mallory Renamed"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    """The two-show ledger, then a consent 'by' Dana for the other show, naming her otherwise,
    signed by that show's pipeline key (which nothing stops from signing consents)."""
    site = make_site(tmp_path_factory.mktemp("names"))
    rename = copy.deepcopy(story.consents()[0][1])
    rename.update(event_id=story.fixed_id("rename-dana"), coverage=[{"show": OTHER}])
    rename["grantor"]["display_name"] = RENAMED
    with open_store(site.url) as store:
        append(store, fixed([(HARBOR_SIGNER, CONSENT, rename)]), site.signers)
    with AccountStore(site.accounts) as accounts:
        accounts.add("dana", "performer", [], PASSWORD, parties=[DANA])
    return site


def test_her_page_names_her_as_the_show_that_used_her_likeness(site: PortalSite) -> None:
    client = site.login("dana")
    data = client.get("/api/v1" + PAGE).json()
    assert data["name"] == "Dana Whitfield"
    assert data["names"] == [{"production": FALLEN, "name": "Dana Whitfield"}]
    page = client.get(PAGE).text
    assert "Uses of Dana Whitfield" in page and RENAMED not in page


def test_her_register_names_her_as_each_productions_consents_do(site: PortalSite) -> None:
    raw = site.login("dana").get(PAGE + "/register.csv").text
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert rows and {r["performer_name"] for r in rows} == {"Dana Whitfield"}


def test_the_cli_names_her_per_production(site: PortalSite) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    args = ["audit", "uses", "--party", DANA, "--format", "json", "--at-head", "--ledger", site.url]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "Dana Whitfield" and data["names"] == {FALLEN: "Dana Whitfield"}
    assert RENAMED not in result.output
