"""The performer's page, consent impact and the replica register in a real browser, at desktop
(1280 px) and phone (390 px) widths: ``assetledger demo``, ``serve --demo-accounts``, chromium.

Set ASSETLEDGER_SCREENSHOTS=docs/img to refresh the performer's screenshot in the README.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.portal.test_browser import (  # the portal's browser set-up: demo, serve, chromium
    Server,
    browser_context_args,
    browser_type_launch_args,
    downloaded,
    login,
    server,
    shot,
)

pytestmark = [pytest.mark.broker, pytest.mark.browser]
__all__ = ["browser_context_args", "browser_type_launch_args", "server"]

FT = quote("Fallen Tower", safe="")
DANA = "/performers/" + quote("performer:dana-whitfield", safe="")
OMAR = "/performers/" + quote("performer:omar-haddad", safe="")
WIDTHS = (1280, 390)

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('article, table, dl, h1, p')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.scroll-x'))
    .map(e => e.tagName + '.' + e.className);
}"""


def verify_offline(server: Server, name: str, proof: bytes) -> dict[str, Any]:
    """``assetledger verify-receipt`` on a downloaded proof, with the log's public key only."""
    path = server.work / f"{uuid.uuid4().hex[:8]}-{name}"
    path.write_bytes(proof)
    checked = subprocess.run(
        [sys.executable, "-m", "cli", "verify-receipt", str(path),
         "--log-key", str(server.work / "log.vkey"), "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return json.loads(checked.stdout)  # type: ignore[no-any-return]


def fits(page: Page, width: int) -> None:
    assert page.evaluate(OVERFLOW) == [], f"overflows at {width}px: {page.url}"


@pytest.mark.parametrize("width", WIDTHS)
def test_performer_sees_dana_whitfields_uses(page: Page, server: Server, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    login(page, server, "performer")
    page.get_by_role("link", name="performer:dana-whitfield").click()
    expect(
        page.get_by_role("heading", name="Uses of Dana Whitfield's likeness and voice")
    ).to_be_visible()
    use = page.locator("article.use")
    expect(use).to_have_count(1)
    expect(use.get_by_text("covered by consent")).to_be_visible()
    expect(use.get_by_text("SAG-AFTRA replica fee, payroll ref dana-whitfield")).to_be_visible()
    expect(use.get_by_text("not clear to ship")).to_be_visible()  # sh030's final, per the audit
    expect(use.get_by_text("no delivery packet")).to_be_visible()
    fits(page, width)
    if width == 1280:
        shot(page, "performer", full_page=True)
    name, raw = downloaded(page, "CSV")
    [row] = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert name.endswith(".csv") and row["performer_name"] == "Dana Whitfield"
    _, pdf = downloaded(page, "PDF")
    assert pdf.startswith(b"%PDF-")
    if width == 1280:  # Dana's completeness proof checks offline with the log's key alone
        name, proof = downloaded(page, "Proof of every use")
        data = verify_offline(server, name, proof)
        assert data["key"] == "performer:performer:dana-whitfield"
        assert data["event_ids"] == [row["event_id"]]
        name, proof = downloaded(page, "Proof of every consent given")
        assert verify_offline(server, name, proof)["key"] == "party:performer:dana-whitfield"
    for path in (OMAR, "/api/v1" + OMAR, OMAR + "/register.csv", f"/p/{FT}"):
        assert page.request.get(server.url + path).status == 404, path
    page.goto(server.url + OMAR)
    expect(page.get_by_text("Not found.")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_guild_rep_sees_impacts_and_the_register(page: Page, server: Server, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    login(page, server, "guild-rep")
    page.get_by_role("link", name="Replica usage register").click()
    expect(page.get_by_role("heading", name="Fallen Tower: replica usage register")).to_be_visible()
    expect(page.get_by_text("Omar Haddad").first).to_be_visible()
    fits(page, width)
    _, raw = downloaded(page, "CSV")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert [r["performer_name"] for r in rows] == ["Dana Whitfield", "Omar Haddad"]
    page.get_by_role("link", name="Consent impact").click()
    expect(page.get_by_text("No open impact")).to_be_visible()
    fits(page, width)
    assert page.request.get(server.url + DANA).status == 404


def test_counsel_sees_the_impact_page(page: Page, server: Server) -> None:
    login(page, server, "counsel")
    page.get_by_role("link", name="Revoked and expiring consents: their impact").click()
    expect(
        page.get_by_role("heading", name="Fallen Tower: revoked and expiring consents")
    ).to_be_visible()
    expect(page.get_by_text("No impact: no consent is revoked")).to_be_visible()
    assert page.request.get(server.url + DANA).status == 404
