"""Performers' and agents' pages, consent impact and the replica register, in process."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from demo import story
from ledger.errors import ConfigurationError
from ledger.events.consent import CONSENT
from ledger.store import open_store
from portal.accounts import AccountStore
from tests.ledger.audit.audit_factory import fixed
from tests.portal.portal_factory import FALLEN, PASSWORD, PortalSite, append, make_site

DANA = "performer:dana-whitfield"
OMAR = "performer:omar-haddad"
FT = quote(FALLEN, safe="")
API = "/api/v1"


def me(party: str) -> str:
    return "/performers/" + quote(party, safe="")


def add_people(site: PortalSite) -> None:
    with AccountStore(site.accounts) as store:
        store.add("dana", "performer", [], PASSWORD, parties=[DANA])
        store.add("omar", "performer", [], PASSWORD, parties=[OMAR])
        store.add("agency", "agent", [], PASSWORD, parties=[DANA, OMAR])
        store.add("dana-agent", "agent", [], PASSWORD, parties=[DANA])


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    site = make_site(tmp_path_factory.mktemp("performers"))
    add_people(site)
    return site


def test_performer_sees_her_own_use_with_consent_and_compensation(people: PortalSite) -> None:
    client = people.login("dana")
    home = client.get("/")
    assert me(DANA).replace(":", "%3A") in home.text or me(DANA) in home.text
    page = client.get(me(DANA))
    assert page.status_code == 200
    assert "covered by consent" in page.text and "no delivery packet" in page.text
    data = client.get(API + me(DANA)).json()
    assert data["party"] == DANA and data["name"] == "Dana Whitfield"
    [use] = data["uses"]
    assert use["shot"] == "sh030" and use["kind"] == "replica" and use["covered"]
    assert use["compensation_ref"] == "SAG-AFTRA replica fee, payroll ref dana-whitfield"
    assert use["deliverables"][0]["clear_to_ship"] is False  # the audit's verdict on sh030
    assert data["summary"]["not_covered"] == 0


def test_another_performers_urls_answer_404(people: PortalSite) -> None:
    client = people.login("dana")
    for url in (me(OMAR), API + me(OMAR), me(OMAR) + "/register.csv", me("performer:x")):
        assert client.get(url).status_code == 404, url
    # and no production page is hers: no grant, so they do not exist for her either
    for url in (f"/p/{FT}", f"/p/{FT}/members", f"/p/{FT}/register", f"/p/{FT}/impacts"):
        assert client.get(url).status_code == 404, url


def test_other_roles_do_not_see_performers_pages(people: PortalSite) -> None:
    for name in ("counsel", "guild-rep", "auditor", "admin"):
        client = people.login(name)
        assert client.get(me(DANA)).status_code == 404, name
        assert client.get(API + me(DANA) + "/register.json").status_code == 404, name


def test_omar_sees_why_his_replica_is_not_covered(people: PortalSite) -> None:
    data = people.login("omar").get(API + me(OMAR)).json()
    [use] = data["uses"]
    assert use["covered"] is False and "not Fallen Tower, episode 101" in use["reason"]
    assert use["findings"][0]["rule"] == "likeness-without-consent"
    assert "evidence" not in use["findings"][0]
    # the finding is the one counsel's dashboard lists, by its id
    counsel = people.login("counsel").get(f"{API}/p/{FT}").json()
    assert use["findings"][0]["id"] in {f["id"] for f in counsel["open_findings"]}


def test_agent_sees_only_the_performers_represented(people: PortalSite) -> None:
    agency = people.login("agency")
    assert agency.get(API + me(DANA)).status_code == 200
    assert agency.get(API + me(OMAR)).status_code == 200
    only_dana = people.login("dana-agent")
    assert only_dana.get(API + me(DANA)).status_code == 200
    assert only_dana.get(API + me(OMAR)).status_code == 404


def test_a_performers_api_token_sees_only_her_own(people: PortalSite) -> None:
    with AccountStore(people.accounts) as store:
        token = store.new_token("dana", "script")
    headers = {"Authorization": f"Bearer {token}"}
    data = people.client.get(API + me(DANA), headers=headers).json()
    assert data["uses"][0]["party"] == DANA
    assert people.client.get(API + me(OMAR), headers=headers).status_code == 404
    assert people.client.get(f"{API}/p/{FT}/register", headers=headers).status_code == 404


def test_performer_register_downloads(people: PortalSite) -> None:
    client = people.login("dana")
    response = client.get(me(DANA) + "/register.csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["performer"] == DANA and row["consent_status"] == "covered"
    assert row["compensation_ref"] == "SAG-AFTRA replica fee, payroll ref dana-whitfield"
    assert client.get(me(DANA) + "/register.pdf").content.startswith(b"%PDF")
    body = client.get(me(DANA) + "/register.json").json()
    assert body["uses"][0]["event_id"] == row["event_id"] and body["content_sha256"]
    assert client.get(me(DANA) + "/register.exe").status_code == 404


def test_guild_register_lists_members_for_counsel_and_guild(people: PortalSite) -> None:
    guild = people.login("guild-rep")
    data = guild.get(f"{API}/p/{FT}/register").json()
    assert [r["performer"] for r in data["uses"]] == [DANA, OMAR]
    assert data["members_only"] is True
    text = guild.get(f"/p/{FT}/register.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["performer_name"] for r in rows} == {"Dana Whitfield", "Omar Haddad"}
    assert rows[1]["consent_status"].startswith("NOT COVERED")
    assert guild.get(f"/p/{FT}/register.pdf").content.startswith(b"%PDF")
    counsel = people.login("counsel").get(f"{API}/p/{FT}/register").json()
    assert len(counsel["uses"]) == 2 and counsel["members_only"] is False
    # another production's guild has no grant here
    assert people.login("harbor-guild").get(f"{API}/p/{FT}/register").status_code == 404


def test_no_revocation_no_impact(people: PortalSite) -> None:
    data = people.login("counsel").get(f"{API}/p/{FT}/impacts").json()
    assert data["impacts"] == [] and data["expiry_window_days"] == 30
    assert people.login("counsel").get(f"{API}/p/{FT}/impacts?days=x").status_code == 404


def revoke_danas_consent(site: PortalSite) -> None:
    """Dana's consent revoked from 2025-02-01: before her replica was made."""
    revoke = dict(story.consents()[0][1])
    revoke.update(
        event_id=story.fixed_id("portal-revoke-dana"),
        status="revoked",
        revokes=story.CONSENT_DANA,
        valid_from="2025-02-01T00:00:00Z",
        expires=None,
    )
    with open_store(site.url) as store:
        append(store, fixed([("clearances", CONSENT, revoke)]), site.signers)


def test_revoking_a_consent_shows_its_impact_list(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    add_people(site)
    revoke_danas_consent(site)
    counsel = site.login("counsel")
    [impact] = counsel.get(f"{API}/p/{FT}/impacts").json()["impacts"]
    assert impact["event"] == "revoked" and impact["open"] is True
    assert impact["party"] == DANA and impact["consent"] == story.CONSENT_DANA
    [deliverable] = impact["deliverables"]
    assert deliverable["shots"] == ["sh030"] and deliverable["clear_to_ship"] is False
    [use] = impact["uses"]
    assert use["made_after"] and use["action"].startswith("remediate: ")
    page = counsel.get(f"/p/{FT}/impacts")
    assert "consent revoked from 2025-02-01" in page.text and "remediate:" in page.text
    # the guild representative sees the open impact for the member
    guild = site.login("guild-rep").get(f"{API}/p/{FT}/impacts").json()
    assert [i["party"] for i in guild["impacts"]] == [DANA] and guild["members_only"]
    # and the performer sees it on her own page, with her use now not covered
    dana = site.login("dana").get(API + me(DANA)).json()
    assert dana["impacts"][0]["consent"] == story.CONSENT_DANA
    assert dana["uses"][0]["covered"] is False and "revoked" in dana["uses"][0]["reason"]


def test_guild_sees_no_impact_for_non_members(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    with sqlite3.connect(site.accounts) as db:
        db.execute("DELETE FROM guild_members WHERE party_id = ?", (DANA,))
    revoke_danas_consent(site)
    assert site.login("guild-rep").get(f"{API}/p/{FT}/impacts").json()["impacts"] == []
    assert len(site.login("counsel").get(f"{API}/p/{FT}/impacts").json()["impacts"]) == 1


# --- accounts ----------------------------------------------------------------------------------


def test_performer_and_agent_accounts_need_their_parties(tmp_path: Path) -> None:
    with AccountStore(tmp_path / "a.db") as store:
        with pytest.raises(ConfigurationError, match="exactly one --party"):
            store.add("p1", "performer", [], PASSWORD)
        with pytest.raises(ConfigurationError, match="exactly one --party"):
            store.add("p2", "performer", [], PASSWORD, parties=[DANA, OMAR])
        with pytest.raises(ConfigurationError, match="no --production"):
            store.add("p3", "performer", [FALLEN], PASSWORD, parties=[DANA])
        with pytest.raises(ConfigurationError, match="at least one --party"):
            store.add("a1", "agent", [], PASSWORD)
        with pytest.raises(ConfigurationError, match="only for performer and agent"):
            store.add("c1", "counsel", [FALLEN], PASSWORD, parties=[DANA])
        made = store.add("a2", "agent", [], PASSWORD, parties=[OMAR, DANA, DANA])
        assert made.parties == (DANA, OMAR)
        assert store.get("a2") == made
        assert store.authenticate("a2", PASSWORD) == made


def test_an_accounts_file_from_before_performers_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE accounts (name TEXT PRIMARY KEY, role TEXT NOT NULL, productions TEXT"
            " NOT NULL, guild TEXT, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL"
            " DEFAULT 0, created_at INTEGER NOT NULL)"
        )
        db.execute("INSERT INTO accounts VALUES ('old', 'admin', '[]', NULL, 'x', 0, 0)")
    with AccountStore(path) as store:
        old = store.get("old")
        assert old is not None and old.parties == ()
        store.add("dana", "performer", [], PASSWORD, parties=[DANA])
        assert [a.name for a in store.all()] == ["dana", "old"]


# --- completeness proofs (the authenticated index) ------------------------------------------


def test_performer_downloads_a_completeness_proof_that_verifies(tmp_path: Path) -> None:
    """Dana's uses proof is the index's, verifies with the log's key alone, and names exactly
    the events her page lists; Omar's proof is not hers to download."""
    from starlette.testclient import TestClient

    from ledger.index import verify_about
    from ledger.log import operator
    from ledger.store.sqlite import SqliteStore
    from portal.app import PortalConfig, create_app
    from tests.ledger.index.index_factory import fill, init
    from tests.portal.portal_factory import csrf

    path = tmp_path / "ledger.db"
    store = SqliteStore(path)
    fill(store, init(store))
    vkey = operator.require_identity(store).vkey
    store.close()
    accounts = tmp_path / "accounts.db"
    with AccountStore(accounts) as people:
        people.add("dana", "performer", [], PASSWORD, parties=[DANA])
    client = TestClient(
        create_app(PortalConfig(str(path), accounts)), base_url="https://testserver"
    )
    token = csrf(client.get("/login").text)
    client.post("/login", data={"name": "dana", "password": PASSWORD, "csrf": token, "next": "/"})
    page = client.get(API + me(DANA)).json()
    proof = page["completeness_proof"]
    assert proof["available"] and proof["matches_page"] and proof["events"] == 1
    uses = client.get(proof["uses"])
    assert uses.status_code == 200 and "attachment" in uses.headers["content-disposition"]
    verdict = verify_about(uses.text, vkey)
    assert verdict.key == f"performer:{DANA}"
    assert list(verdict.event_ids) == [u["event_id"] for u in page["uses"]]
    consents = verify_about(client.get(proof["consents"]).text, vkey)
    assert consents.key == f"party:{DANA}" and len(consents.event_ids) == 1
    assert client.get(me(OMAR) + "/proofs/uses").status_code == 404
    assert client.get(me(DANA) + "/proofs/other").status_code == 404


def test_without_an_index_the_page_says_why(people: PortalSite) -> None:
    data = people.login("dana").get(API + me(DANA)).json()
    assert data["completeness_proof"]["available"] is False
    assert data["completeness_proof"]["problem"]
    response = people.login("dana").get(me(DANA) + "/proofs/uses")
    assert response.status_code == 409
