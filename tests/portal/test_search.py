"""Search by asset id, person, model, SHA-256 or event id, never beyond what a role may see."""

from __future__ import annotations

from urllib.parse import quote

from starlette.testclient import TestClient

from demo import story
from portal.app import API
from tests.portal.portal_factory import FALLEN, OTHER, PortalSite

FT = quote(FALLEN, safe="")
SHOTS = "fallen-tower/ep101/sq040"


def hits(client: TestClient, q: str) -> list[dict[str, object]]:
    response = client.get(f"{API}/search", params={"q": q})
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()["hits"]
    return found


def counsel_secrets(site: PortalSite) -> dict[str, str]:
    """Things of Fallen Tower only counsel may see, by the kind of search that would find them."""
    counsel = site.login("counsel")
    dashboard = counsel.get(f"{API}/p/{FT}").json()
    consents = counsel.get(f"{API}/p/{FT}/consents").json()
    finding = dashboard["disposed_findings"][0]
    return {
        "finding id": finding["id"],
        "side letter SHA-256": story.SIDE_LETTER_SHA256,
        "consent document SHA-256": consents["consent_records"][0]["document_sha256"],
        "licence document SHA-256": consents["licence_records"][0]["document_sha256"],
    }


def test_counsel_finds_by_asset_id_person_model_and_sha256(site: PortalSite) -> None:
    client = site.login("counsel")
    by_asset = hits(client, f"{SHOTS}/sh030/crowd_replica@v001")
    assert {"finding", "asset version", "AI output"} <= {h["section"] for h in by_asset}
    assert any(h["matched"] == "person" for h in hits(client, "Mira Keller"))
    assert any(h["matched"] == "model" for h in hits(client, "clearscale"))  # any case
    recorded = client.get(f"{API}/p/{FT}/credits").json()["credit_lines"][0]
    event_id = recorded["contributions"][0]["event_id"]
    found = hits(client, event_id)
    assert found and all(h["production"] == FALLEN for h in found)
    secret = counsel_secrets(site)["side letter SHA-256"]
    assert not hits(client, secret)  # a decision's document is on the finding, not searched
    consent_sha = counsel_secrets(site)["consent document SHA-256"]
    assert [h["section"] for h in hits(client, consent_sha)] == ["consent"]


def test_every_hit_opens_for_the_account_that_found_it(site: PortalSite) -> None:
    needles = ["fallen-tower", "Omar", "Dana Whitfield", "DebrisGen", "sh030", "Vista", "a"]
    for name in ("counsel", "guild-rep", "auditor", "admin", "harbor-counsel", "harbor-guild"):
        client = site.login(name)
        for q in needles:
            response = client.get("/search", params={"q": q})
            if len(q) < 2:
                assert response.status_code == 400 and "at least 2" in response.text
                continue
            assert response.status_code == 200
            for h in hits(client, q):
                url = str(h["url"]).split("#")[0]
                assert client.get(url).status_code == 200, (name, q, url)


def test_a_guild_rep_finds_credits_and_members_but_nothing_of_counsels(site: PortalSite) -> None:
    client = site.login("guild-rep")
    found = hits(client, "Omar Haddad")
    assert {h["section"] for h in found} == {"member's use"}
    assert hits(client, "Jonah Okafor")[0]["section"] == "credit"
    for what, secret in counsel_secrets(site).items():
        response = client.get(f"{API}/search", params={"q": secret})
        assert response.json()["hits"] == [], what
    searched = client.get(f"{API}/search").json()["searched"]
    assert {s["what"] for s in searched} == {"credits and AI output", "members' likeness uses"}


def test_another_productions_accounts_find_nothing_of_fallen_tower(site: PortalSite) -> None:
    needles = [f"{SHOTS}/sh010/plate", "Mira Keller", "DebrisGen", "Dana", "fallen"]
    needles += list(counsel_secrets(site).values())
    for name in ("harbor-counsel", "harbor-guild"):
        client = site.login(name)
        for q in needles:
            assert all(h["production"] == OTHER for h in hits(client, q)), (name, q)
            assert not hits(client, q), (name, q)


def test_the_auditor_finds_an_entry_by_event_id_and_nothing_of_a_production(
    site: PortalSite,
) -> None:
    counsel = site.login("counsel")
    line = counsel.get(f"{API}/p/{FT}/credits").json()["credit_lines"][0]
    event_id = line["contributions"][0]["event_id"]
    client = site.login("auditor")
    found = hits(client, event_id)
    assert [(h["section"], h["title"]) for h in found] == [("ledger entry", event_id)]
    assert found[0]["url"] == f"/health/receipts/{event_id}"  # the receipt form's download
    assert hits(client, "Mira Keller") == [] and hits(client, event_id[:8]) == []


def test_the_admin_finds_accounts_not_ledger_content(site: PortalSite) -> None:
    client = site.login("admin")
    assert {h["title"] for h in hits(client, "harbor")} == {"harbor-counsel", "harbor-guild"}
    assert hits(client, "Mira Keller") == []


def test_searches_are_in_the_access_log_and_bad_queries_say_why(fresh_site: PortalSite) -> None:
    client = fresh_site.login("counsel")
    client.get("/search", params={"q": "Omar Haddad"})
    admin = fresh_site.login("admin")
    log = admin.get(f"{API}/admin/access-log", params={"action": "search.view"}).json()
    assert [r["resource"] for r in log["access_log"]] == ["/search?q=Omar Haddad"]
    bad = client.get(f"{API}/search", params={"q": "x\x01y"})
    assert bad.status_code == 400 and "control characters" in bad.json()["error"]
    anonymous = TestClient(fresh_site.client.app, base_url="https://testserver")
    assert anonymous.get(f"{API}/search", params={"q": "Omar"}).status_code == 401


def test_every_page_has_the_search_box(site: PortalSite) -> None:
    for name, page in (("counsel", f"/p/{FT}"), ("guild-rep", f"/p/{FT}/credits"),
                       ("auditor", "/health"), ("admin", "/admin/accounts")):  # fmt: skip
        html = site.login(name).get(page).text
        assert 'action="/search"' in html and 'name="q"' in html, name
