"""The performers' pages, impact lists and registers keep shows apart (review of issues 19, 23).

The ledger of tests/portal/test_scope.py ("Fallen Tower/Secret" with a structured and an old
"Show/Name" consent), with the old consent revoked: Fallen Tower's counsel and guild see none
of it on the impact list or the register, and the performer sees it under its own show.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from demo import story
from ledger.log import operator
from ledger.store import open_store
from ledger.trust import keys
from portal.accounts import AccountStore
from tests.ledger.audit.audit_factory import fixed
from tests.ledger.audit.test_contracts import old_message
from tests.ledger.audit.test_production_scope import (
    append_messages,
    old_consent,
    other_show_intakes,
)
from tests.portal.portal_factory import FALLEN, OTHER, PASSWORD, PortalSite, append, make_site
from tests.portal.test_scope import (
    OLD_PAYROLL,
    PAYROLL,
    SECRET,
    SECRET_CONSENT,
    _show_items,
    url,
)

API = "/api/v1"
DANA = "performer:dana-whitfield"
OLD_SECRET = story.fixed_id("old:secret")
REVOKED = story.fixed_id("old:secret-revoked")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    """As tests/portal/test_scope.py builds it, with the old consent revoked before the
    checkpoint the portal reads at."""
    site = make_site(tmp_path_factory.mktemp("scope-performers"))
    clearances = site.signers["clearances"]
    with open_store(site.url) as store:
        append(store, fixed([*_show_items(), *other_show_intakes((OTHER,))]), site.signers)
        _, kind, grant = old_consent("old:secret", [SECRET])
        grant.update(compensation_ref=OLD_PAYROLL, event_time="2025-03-03T09:00:00Z")
        _, _, revoke = old_consent("old:secret-revoked", [SECRET])
        revoke.update(
            status="revoked", revokes=OLD_SECRET, valid_from="2025-02-01T00:00:00Z", expires=None
        )
        messages = [old_message(e, kind, clearances) for e in (grant, revoke)]
        append_messages(store, messages, site.signers)
        log_key = keys.generate("log")
        operator.init_ledger(store, "fallen-tower.example/ledger", log_key)
        assert operator.Checkpointer(store, log_key).checkpoint() is not None
    with AccountStore(site.accounts) as accounts:
        accounts.add("secret-counsel", "counsel", [SECRET], PASSWORD, None)
        accounts.add("dana-p", "performer", [], PASSWORD, parties=[DANA])
    return site


def test_another_shows_revoked_consent_is_not_on_this_shows_impact_list(
    site: PortalSite,
) -> None:
    for name in ("counsel", "guild-rep"):
        body = site.login(name).get(API + url(FALLEN) + "/impacts", params={"days": "0"})
        assert body.status_code == 200, name
        assert OLD_SECRET not in body.text and REVOKED not in body.text, name
    secret = site.login("secret-counsel").get(API + url(SECRET) + "/impacts").json()
    assert [i["consent"] for i in secret["impacts"]] == [OLD_SECRET]


@pytest.mark.parametrize("path", ["/register", "/register.csv", "/register.json"])
def test_this_shows_register_states_no_other_shows_terms(site: PortalSite, path: str) -> None:
    for name in ("counsel", "guild-rep"):
        prefix = API if "." not in path else ""
        body = site.login(name).get(prefix + url(FALLEN) + path)
        assert body.status_code == 200, (name, path)
        for secret in (PAYROLL, OLD_PAYROLL, SECRET_CONSENT, OLD_SECRET, "Secret"):
            assert secret not in body.text, (name, path, secret)


def test_the_performer_sees_each_use_under_its_own_show(site: PortalSite) -> None:
    data = site.login("dana-p").get(API + "/performers/" + quote(DANA, safe="")).json()
    by_show = {u["production"]: u for u in data["uses"]}
    assert by_show[SECRET]["covered"] and by_show[SECRET]["compensation_ref"] == PAYROLL
    assert by_show[FALLEN]["compensation_ref"] != PAYROLL
