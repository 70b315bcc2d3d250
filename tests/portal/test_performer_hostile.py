"""Performers' pages under attack: URL tricks, a second account, shared findings (review)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from demo import story
from ledger.store import open_store
from portal.accounts import AccountStore
from tests.ledger.audit.audit_factory import fixed, ingredient, provenance
from tests.portal.portal_factory import PASSWORD, PortalSite, append, make_site

DANA = "performer:dana-whitfield"
OMAR = "performer:omar-haddad"
API = "/api/v1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    made = make_site(tmp_path_factory.mktemp("hostile-performers"))
    with AccountStore(made.accounts) as store:
        store.add("dana", "performer", [], PASSWORD, parties=[DANA])
    return made


TRICKS = [
    "/performers/" + quote(OMAR, safe=""),
    "/performers/" + OMAR,
    "/performers/" + quote(quote(OMAR, safe=""), safe=""),  # double encoding
    "/performers/" + OMAR.upper(),
    "/performers/" + OMAR + "/",
    "/performers/" + OMAR.replace(":", "\uff1a"),  # fullwidth colon (NFKC folds it to ':')
    "/performers/" + quote(DANA, safe="") + "%2F..%2F" + quote(OMAR, safe=""),
    "/performers/" + quote(DANA, safe="") + "/../" + quote(OMAR, safe=""),
    "/performers/" + quote(DANA + "/../" + OMAR, safe=""),
    "/performers/" + OMAR + "/register.csv",
    "/performers/" + OMAR + "/register.json",
    "/performers/" + OMAR + "/proofs/uses",
    "/performers/" + OMAR + "/proofs/consents",
]


@pytest.mark.parametrize("url", TRICKS)
def test_no_url_trick_opens_another_performers_uses(site: PortalSite, url: str) -> None:
    client = site.login("dana")
    for path in (url, API + url):
        response = client.get(path, follow_redirects=True)
        assert response.status_code in (404, 405), (path, response.status_code)
        assert "omar" not in response.text.lower(), path


def test_a_finding_shared_by_two_uses_is_counted_once(tmp_path: Path) -> None:
    """One asset version using Dana's likeness twice (replica and voice) with one missing
    ingredient: one ``ingredient-unrecorded`` finding, counted once on her page."""
    made = make_site(tmp_path)
    with AccountStore(made.accounts) as store:
        store.add("dana", "performer", [], PASSWORD, parties=[DANA])
    twice = provenance(
        "ft/dana-twice",
        ai=True,
        ingredients=[ingredient("never/recorded", "v001")],
        likeness=[
            {"performer_id": DANA, "use": "digital_replica", "consent_ref": story.CONSENT_DANA},
            {"performer_id": DANA, "use": "voice", "consent_ref": story.CONSENT_DANA},
        ],
    )
    with open_store(made.url) as store:
        append(store, fixed([twice]), made.signers)
    data = made.login("dana").get(API + "/performers/" + quote(DANA, safe="")).json()
    mine = [u for u in data["uses"] if u["asset"] == "ft/dana-twice@v001"]
    assert len(mine) == 2
    ids = {f["id"] for u in data["uses"] for f in u["findings"] if f["status"] == "open"}
    assert data["summary"]["open_findings"] == len(ids)


@pytest.mark.parametrize("party", ["performer:山田-taro", "performer:zoë", "performer:a\u202eb"])
def test_a_non_latin_party_id_downloads_its_register(site: PortalSite, party: str) -> None:
    """Header values are Latin-1: a file name made of the party id must not break the download."""
    with AccountStore(site.accounts) as store:
        store.add(f"p{abs(hash(party))}", "performer", [], PASSWORD, parties=[party])
    client = site.login(f"p{abs(hash(party))}")
    for fmt in ("csv", "json"):
        response = client.get("/performers/" + quote(party, safe="") + f"/register.{fmt}")
        assert response.status_code == 200, (fmt, response.status_code)
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment; filename=") and "\u202e" not in disposition
        assert disposition.isascii()
    if "山田" in party:  # the name in its own script, for clients that read RFC 8187
        assert "filename*=UTF-8''uses-performer_%E5%B1%B1%E7%94%B0-taro.json" in disposition


@pytest.mark.parametrize("days", ["²", "9" * 5000, "-1", "1e3", " 30", "٣٠"])
def test_a_strange_expiry_window_is_a_clear_404_not_a_500(site: PortalSite, days: str) -> None:
    client = site.login("counsel")
    response = client.get("/api/v1/p/Fallen%20Tower/impacts", params={"days": days})
    assert response.status_code == 404, (days, response.status_code)


@pytest.mark.parametrize("page", ["²", "¹²", "0", "x"])
def test_a_strange_access_log_page_is_a_400_not_a_500(site: PortalSite, page: str) -> None:
    response = site.login("admin").get("/api/v1/admin/access-log", params={"page": page})
    assert response.status_code == 400, (page, response.status_code)
    assert "page must be a whole number" in response.json()["error"]
