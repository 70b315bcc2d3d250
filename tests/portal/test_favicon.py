"""Browsers ask every page for /favicon.ico: it is served (a 404 is a console error each time)."""

from __future__ import annotations

from tests.portal.portal_factory import PortalSite


def test_the_favicon_is_an_icon_for_anyone_and_every_page_links_it(site: PortalSite) -> None:
    response = site.client.get("/favicon.ico")  # no session needed, like the stylesheet
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/vnd.microsoft.icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # ICO header, two images
    assert response.content[4] == 2 and response.headers["x-content-type-options"] == "nosniff"
    for page in ("/login", "/"):
        html = site.login("counsel").get(page).text
        assert '<link rel="icon" href="/favicon.ico"' in html, page
