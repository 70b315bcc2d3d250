"""The portal says what the audit says (issue 19): members' consent status, dangling decisions."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from starlette.testclient import TestClient

from demo import story
from ledger.audit.judge import judge_likeness
from ledger.audit.model import LedgerView
from ledger.trust.keys import KeyPair
from portal.accounts import AccountStore
from portal.app import API, PortalConfig, create_app
from tests.ledger.audit.audit_factory import (
    FORGED_FINDING,
    Item,
    build_store,
    dangling_items,
    demo_signers,
    narrow_consent_items,
)
from tests.portal.portal_factory import PASSWORD, PortalSite

FT = quote(story.SHOW, safe="")
PERFORMERS = ["performer:ana-ar", "performer:bo-shot"]


def site_of(tmp_path: Path, items: list[Item], signers: dict[str, KeyPair]) -> PortalSite:
    url = str(tmp_path / "ledger.db")
    build_store(tmp_path / "ledger.db", items, signers).close()
    accounts = tmp_path / "accounts.db"
    with AccountStore(accounts) as store:
        store.add("guild-rep", "guild", [story.SHOW], PASSWORD, "SAG-AFTRA")
        store.add("counsel", "counsel", [story.SHOW], PASSWORD, None)
        store.add_members("SAG-AFTRA", PERFORMERS)
    client = TestClient(create_app(PortalConfig(url, accounts)), base_url="https://testserver")
    return PortalSite(tmp_path / "ledger.db", accounts, client, url, signers)


def test_members_page_says_not_covered_with_the_audits_reason(tmp_path: Path) -> None:
    signers = demo_signers()
    site = site_of(tmp_path, narrow_consent_items(), signers)
    with build_store(tmp_path / "check.db", narrow_consent_items(), signers) as store:
        view = LedgerView.open(store)
        expected = {
            s.key: f"NO VALID CONSENT: {judge_likeness(view, s, u).reason}"
            for s in view.steps("show", story.SHOW)
            for u in s.likeness
        }
    client = site.login("guild-rep")
    members = client.get(f"{API}/p/{FT}/members").json()
    assert {u["asset"]: u["status"] for u in members["uses"]} == expected
    assert all("covers" in status for status in expected.values())
    page = client.get(f"/p/{FT}/members").text
    assert "consent valid" not in page and page.count("NO VALID CONSENT") == 2


def test_counsels_dashboard_lists_a_dangling_disposition(tmp_path: Path) -> None:
    site = site_of(tmp_path, dangling_items(), demo_signers())
    client = site.login("counsel")
    data = client.get(f"{API}/p/{FT}").json()
    [dangling] = data["dangling_dispositions"]
    assert dangling["finding_id"] == FORGED_FINDING and dangling["by"] == "Hana Sato"
    assert all("disposition" not in f for f in data["open_findings"])
    page = client.get(f"/p/{FT}").text
    assert "Decisions that name no finding" in page and FORGED_FINDING[:12] in page
