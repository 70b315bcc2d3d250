"""Which production a record belongs to, and who may see it (issue 19 §4, §5, §6), in the portal.

One portal over the two-production ledger of the factory, grown with: a show named
"Fallen Tower/Secret" (its own consent, with a compensation reference), a show named
"fallen tower", Quiet Harbor's record of the demo's stock photo under a licence of its own,
and a signed checkpoint, so that receipts can be downloaded and checked.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

import pytest

from demo import story
from ledger.events.consent import CONSENT
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.receipt import LEAF_TAG, parse_receipt, verify_receipt
from ledger.store import open_store
from ledger.trust import keys
from portal.accounts import AccountStore
from tests.ledger.audit.audit_factory import Item, fixed, provenance
from tests.ledger.audit.test_contracts import old_message
from tests.ledger.audit.test_production_scope import (
    append_messages,
    old_consent,
    other_show_intakes,
)
from tests.portal.portal_factory import FALLEN, OTHER, PASSWORD, PortalSite, append, make_site
from tests.portal.test_app import production_urls

SECRET = f"{FALLEN}/Secret"
LOWER = FALLEN.lower()
PAYROLL = "SECRET-PAYROLL-77"
OLD_PAYROLL = "OLD-SECRET-PAYROLL-12"
SECRET_CONSENT = story.fixed_id("consent:secret")
API = "/api/v1"


def url(show: str) -> str:
    return "/p/" + quote(show, safe="")


def _show_items() -> list[Item]:
    consent = dict(
        story.consents()[0][1],
        event_id=SECRET_CONSENT,
        coverage=[{"show": SECRET, "episode": None}],
        compensation_ref=PAYROLL,
    )
    replica = provenance(
        "secret/replica",
        ai=True,
        likeness=[
            {
                "performer_id": "performer:dana-whitfield",
                "use": "digital_replica",
                "consent_ref": SECRET_CONSENT,
            }
        ],
        action="c2pa.published",
    )
    replica[2]["event_id"] = story.fixed_id("secret:replica")
    replica[2]["production"] = {"show": SECRET, "episode": "1", "sequence": None, "shot": None}
    lower = provenance("lower/plate")
    lower[2]["event_id"] = story.fixed_id("lower:plate")
    lower[2]["production"] = {"show": LOWER, "episode": "1", "sequence": None, "shot": None}
    return [("clearances", CONSENT, consent), replica, lower]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    site = make_site(tmp_path_factory.mktemp("scope"))
    with open_store(site.url) as store:
        append(store, fixed([*_show_items(), *other_show_intakes((OTHER,))]), site.signers)
        # written before consent schema v3: filed under "Fallen Tower" by the index
        _, kind, event = old_consent("old:secret", [SECRET])
        event.update(compensation_ref=OLD_PAYROLL, event_time="2025-03-03T09:00:00Z")
        append_messages(store, [old_message(event, kind, site.signers["clearances"])], site.signers)
        log_key = keys.generate("log")
        operator.init_ledger(store, "fallen-tower.example/ledger", log_key)
        assert operator.Checkpointer(store, log_key).checkpoint() is not None
    with AccountStore(site.accounts) as accounts:
        accounts.add("secret-counsel", "counsel", [SECRET], PASSWORD, None)
        accounts.add("lower-counsel", "counsel", [LOWER], PASSWORD, None)
    return site


def _log(site: PortalSite) -> tuple[str, Any]:
    with open_store(site.url) as store:
        return cp.parse_vkey(operator.require_identity(store).vkey)


# --- §4: a show named with "/", and names differing by case -----------------------------------


def test_every_page_of_a_show_named_with_a_slash_answers(site: PortalSite) -> None:
    client = site.login("secret-counsel")
    for path in ("", "/consents", "/ai", "/credits", "/report.json", "/report.html"):
        for prefix in ("", API):
            response = client.get(prefix + url(SECRET) + path)
            assert response.status_code == 200, (prefix, path, response.text[:200])
    consents = client.get(API + url(SECRET) + "/consents").json()["consent_records"]
    by_id = {c["event_id"]: c for c in consents}
    assert set(by_id) == {SECRET_CONSENT, story.fixed_id("old:secret")}
    assert by_id[SECRET_CONSENT]["coverage"] == [{"show": SECRET, "episode": None}]
    assert by_id[story.fixed_id("old:secret")]["productions"] == [SECRET]  # the old string
    home = client.get("/")
    assert f'href="{url(SECRET)}"' in home.text
    dashboard = client.get(API + url(SECRET)).json()
    assert dashboard["production"] == SECRET
    svg = client.get(url(SECRET) + "/lineage.svg", params={"asset": "secret/replica@v001"})
    assert svg.status_code == 200 and svg.text.startswith("<svg")


def test_the_sign_in_redirect_keeps_a_slash_in_a_name(site: PortalSite) -> None:
    response = site.client.get(url(SECRET) + "/consents", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + url(SECRET) + "/consents"


def test_no_data_crosses_shows_whose_names_differ_by_slash_or_case(site: PortalSite) -> None:
    counsel = site.login("counsel")
    for path in ("/consents", "/report.json", "/credits.json"):
        body = counsel.get(API + url(FALLEN) + path)
        assert body.status_code == 200 and PAYROLL not in body.text, path
        assert OLD_PAYROLL not in body.text, path
        assert SECRET_CONSENT not in body.text, path
    for consent in (SECRET_CONSENT, story.fixed_id("old:secret")):
        assert counsel.get(url(FALLEN) + f"/receipts/{consent}").status_code == 404
    secret = site.login("secret-counsel")
    receipt = secret.get(url(SECRET) + f"/receipts/{story.fixed_id('old:secret')}")
    assert receipt.status_code == 200
    assert counsel.get(url(SECRET)).status_code == 404  # not granted: does not exist for them
    assert counsel.get(url(LOWER)).status_code == 404
    members = site.login("guild-rep").get(API + url(FALLEN) + "/members").json()
    shown = {r["event_id"] for r in members["consent_records"]}
    assert not shown & {SECRET_CONSENT, story.fixed_id("old:secret")}
    assert story.CONSENT_DANA in shown  # the member's own Fallen Tower consent is there
    lower = site.login("lower-counsel")
    audit = lower.get(API + url(LOWER) + "/report.json").json()
    assert audit["summary"]["events_audited"] == 1
    assert lower.get(url(FALLEN)).status_code == 404


# --- §6: receipts, per role ------------------------------------------------------------------


def _cited(client: Any, show: str) -> list[dict[str, Any]]:
    dashboard = client.get(API + url(show)).json()
    evidence = []
    for brief in dashboard["open_findings"] + dashboard["disposed_findings"]:
        finding = client.get(API + url(show) + f"/findings/{brief['id']}").json()["finding"]
        evidence += finding["evidence"]
    return evidence


def test_every_receipt_counsel_is_shown_answers_and_proves_its_event(site: PortalSite) -> None:
    """The licence records cited and counsel's own decisions answered 404 before."""
    client = site.login("counsel")
    name, key = _log(site)
    evidence = _cited(client, FALLEN)
    whats = {e["what"] for e in evidence}
    assert {"the licence record cited", "counsel's disposition"} <= whats
    for event_id in sorted({e["event_id"] for e in evidence if e["receipt_available"]}):
        response = client.get(url(FALLEN) + f"/receipts/{event_id}")
        assert response.status_code == 200, event_id
        verdict = verify_receipt(response.text, name, key, event_id=event_id)
        assert not verdict.leaf_only


def test_a_shared_stock_id_keeps_the_other_shows_records_off_this_ones_pages(
    site: PortalSite,
) -> None:
    client = site.login("counsel")
    licences = client.get(API + url(FALLEN) + "/consents").json()["licence_records"]
    assert story.fixed_id(f"licence:{OTHER}") not in {r["event_id"] for r in licences}
    findings = client.get(API + url(FALLEN)).json()["open_findings"]
    sky = [f for f in findings if f["rule"] == "ai-input-not-allowed" and "sky" in f["asset"]]
    assert len(sky) == 1
    harbor_intake = story.fixed_id(f"intake:{OTHER}")
    assert harbor_intake not in {e["event_id"] for e in _cited(client, FALLEN)}
    assert client.get(url(FALLEN) + f"/receipts/{harbor_intake}").status_code == 404
    harbor = site.login("harbor-counsel").get(API + url(OTHER) + "/consents").json()
    assert story.LICENCE_VISTA not in {r["event_id"] for r in harbor["licence_records"]}


def test_another_account_cannot_fetch_the_first_accounts_receipts(site: PortalSite) -> None:
    counsel = site.login("counsel")
    event_ids = sorted({e["event_id"] for e in _cited(counsel, FALLEN) if e["receipt_available"]})
    harbor = site.login("harbor-counsel")
    guild = site.login("guild-rep")
    secret = site.login("secret-counsel")
    for event_id in event_ids:
        path = url(FALLEN) + f"/receipts/{event_id}"
        assert harbor.get(path).status_code == 404  # another production: it does not exist
        assert secret.get(path).status_code == 404
        assert guild.get(path).status_code == 403  # its production, not its role
        assert harbor.get(url(OTHER) + f"/receipts/{event_id}").status_code == 404
        assert guild.get(f"/health/receipts/{event_id}").status_code == 403


def test_the_auditor_proves_any_event_without_reading_it(site: PortalSite) -> None:
    """A consent's receipt carried its terms to the auditor; now it carries its leaf hash."""
    auditor = site.login("auditor")
    name, key = _log(site)
    with open_store(site.url) as store:
        entry = store.entry_by_event_id(SECRET_CONSENT)
    assert entry is not None
    for path in (
        f"/health/receipts/{SECRET_CONSENT}",
        f"/health/receipt?event_id={SECRET_CONSENT}",
    ):
        response = auditor.get(path)
        assert response.status_code == 200, path
        receipt = parse_receipt(response.text)
        assert receipt.entry == b"" and receipt.leaf is not None
        extra = base64.b64decode(response.text.splitlines()[1].removeprefix("extra "))
        assert extra.startswith(LEAF_TAG) and PAYROLL.encode() not in extra
        assert base64.b64encode(entry.envelope).decode() not in response.text
        verdict = verify_receipt(response.text, name, key)
        assert verdict.leaf_only and verdict.index == entry.seq
    assert auditor.get(url(FALLEN) + f"/receipts/{SECRET_CONSENT}").status_code == 404
    assert auditor.get("/health/receipts/no-such-event").status_code == 404


def test_download_names_say_what_a_receipt_holds(site: PortalSite) -> None:
    response = site.login("auditor").get(f"/health/receipts/{SECRET_CONSENT}")
    disposition = response.headers["content-disposition"]
    assert re.search(r'filename="[^"]+\.leaf\.receipt"', disposition), disposition


def test_other_accounts_cannot_open_any_url_of_the_slash_named_show(site: PortalSite) -> None:
    """Every page, twin and download of "Fallen Tower/Secret", tried by accounts without its
    grant (Fallen Tower's counsel and guild rep, the auditor): it does not exist for them."""
    fid = site.login("secret-counsel").get(API + url(SECRET)).json()["open_findings"][0]["id"]
    urls = production_urls(SECRET, SECRET_CONSENT, fid, "secret/replica@v001")
    assert len(urls) > 20
    for name in ("counsel", "guild-rep", "auditor", "lower-counsel"):
        client = site.login(name)
        for path in urls:
            assert client.get(path).status_code == 404, (name, path)
