"""Names that spoof on a page: a bidi override reverses the rest of a name, a zero-width space
makes two people's names look the same.  The portal shows them as visible escapes, as the HTML
and PDF reports and the terminal do; the JSON twin and the CSV keep the exact values."""

from __future__ import annotations

import json

import pytest
from markupsafe import Markup

from demo import story
from ledger.audit.text import printable, visible
from ledger.store import open_store
from portal.filters import shown
from tests.ledger.audit.audit_factory import fixed, provenance
from tests.portal.portal_factory import PortalSite, append, make_site

SPOOF = "Dana Whitfield\u202e dleifhtiW\u200b"
ESCAPED = "Dana Whitfield\\u202e dleifhtiW\\u200b"
ASSET = "fallen-tower/ep101/sq040/sh900/spoof"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    made = make_site(tmp_path_factory.mktemp("hostile-names"))
    actor = {"actor_id": "person:spoof", "kind": "human", "display_name": SPOOF}
    where = {"show": story.SHOW, "episode": "101", "sequence": "sq040", "shot": "sh900"}
    item = provenance(ASSET, actor={**actor, "role": "cawg.creator"}, production=where)
    with open_store(made.url) as store:
        append(store, fixed([item]), made.signers)
    return made


@pytest.mark.parametrize("who", ["counsel", "guild-rep"])
@pytest.mark.parametrize("page", ["/p/Fallen%20Tower/credits", "/search?q=spoof"])
def test_pages_show_a_spoofing_name_escaped(site: PortalSite, who: str, page: str) -> None:
    html = site.login(who).get(page).text
    assert ESCAPED in html, page
    assert "\u202e" not in html and "\u200b" not in html, page


def test_the_json_twin_and_the_csv_keep_the_exact_name(site: PortalSite) -> None:
    client = site.login("counsel")
    twin = client.get("/api/v1/p/Fallen%20Tower/credits")
    assert twin.status_code == 200 and SPOOF in json.dumps(twin.json(), ensure_ascii=False)
    assert SPOOF in client.get("/p/Fallen%20Tower/credits.csv").text


def test_zero_width_and_bidi_characters_are_escaped_but_joiners_kept() -> None:
    assert printable("Dana\u200bWhitfield") == "Dana\\u200bWhitfield"
    assert printable("a\u2060b\u2062c\u180ed") == "a\\u2060b\\u2062c\\u180ed"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # the non-joiner is in the word
    assert printable(persian) == persian and printable("👩\u200d💻") == "👩\u200d💻"


def test_a_page_keeps_line_breaks_and_the_markup_filters_build() -> None:
    assert visible("one\ntwo\tthree\u202e") == "one\ntwo\tthree\\u202e"
    assert visible("a\x1bb") == "a\\x1bb"
    built = Markup("<b>\u202e</b>")
    assert shown(built) is built and shown(7) == 7 and shown(None) is None
    assert shown("Зоя Ковалёва 山田太郎") == "Зоя Ковалёва 山田太郎"
