"""End to end in a real browser: ``assetledger demo`` through the broker, ``assetledger serve
--demo-accounts``, and Debian's chromium driven by Playwright, signing in as each role.

Set ASSETLEDGER_SCREENSHOTS=docs/img to refresh the screenshots in the README and docs.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Download, Page, expect

CHROMIUM = Path("/usr/bin/chromium")
FT = quote("Fallen Tower", safe="")

pytestmark = [pytest.mark.broker, pytest.mark.browser]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium (no browser download is possible or wanted)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM)}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "accept_downloads": True,
        "viewport": {"width": 1280, "height": 900},
    }


@dataclass
class Server:
    url: str
    passwords: dict[str, str]
    work: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int, proc: subprocess.Popen[str], timeout: float = 120.0) -> bool:
    """Until the portal answers on ``port`` (True), or ``proc`` has exited (False).

    Only the portal's own login page counts: the port was free when picked, but until
    ``serve`` binds it another process may take it; then ``serve`` exits (address in use).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
                if 'name="csrf"' in page.read().decode("utf-8", "replace"):
                    return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise AssertionError(f"assetledger serve did not listen within {timeout} s")


def _serve(ledger: Path, attempts: int = 5) -> tuple[subprocess.Popen[str], int, dict[str, str]]:
    """``serve --demo-accounts`` on a free port (another one if that was taken meanwhile).

    Its stderr (a JSON access-log line per page and API call) goes to ``serve.log`` beside the
    ledger: a pipe nobody reads fills at 64 KiB, and then the server blocks mid-request.
    """
    log = ledger.parent / "serve.log"
    for _ in range(attempts):
        port = _free_port()
        with log.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "serve", "--ledger", str(ledger),
                 "--demo-accounts", "--port", str(port)],
                stdout=subprocess.PIPE, stderr=stderr, text=True,
            )  # fmt: skip
        passwords = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.match(r"\s+(\S+)\s+(\S+)\s+(counsel|guild|auditor|admin|performer)", line)
            if found:
                passwords[found.group(1)] = found.group(2)
            if line.startswith("open "):
                break
        assert set(passwords) == {"counsel", "guild-rep", "auditor", "admin", "performer"}
        if _listening(port, proc):
            return proc, port, passwords
        proc.communicate(timeout=60)
        said = log.read_text()
        assert "address already in use" in said.lower(), f"serve exited: {said[-2000:]}"
    raise AssertionError(f"every port picked for serve was taken first ({attempts} tries)")


@pytest.fixture(scope="module")
def server(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("demo")
    topic = f"t-{uuid.uuid4().hex[:8]}"
    demo = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--work-dir", str(work),
         "--bootstrap-servers", kafka_bootstrap, "--topic", topic],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-2000:]
    proc, port, passwords = _serve(work / "ledger.db")
    try:
        yield Server(f"http://localhost:{port}", passwords, work)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def shot(page: Page, name: str, full_page: bool = False) -> None:
    folder = os.environ.get("ASSETLEDGER_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"portal-{name}.png"), full_page=full_page)


def login(page: Page, server: Server, name: str) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("Account name").fill(name)
    page.get_by_label("Password").fill(server.passwords[name])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()


def downloaded(page: Page, link_name: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name, exact=True).first.click()
    download: Download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def assert_receipt_verifies(server: Server, receipt: bytes, *, leaf_only: bool = False) -> None:
    """A downloaded receipt checks offline with only the log's key and the signers' keys (a
    leaf-hash receipt, the auditor's, holds no entry: only the log's key)."""
    path = server.work / f"portal-{uuid.uuid4().hex[:8]}.receipt"
    path.write_bytes(receipt)
    assert receipt.startswith(b"c2sp.org/tlog-proof@v1\n")
    signers = [] if leaf_only else ["--trusted-keys", str(server.work / "keys")]
    checked = subprocess.run(
        [sys.executable, "-m", "cli", "verify-receipt", str(path),
         "--log-key", str(server.work / "log.vkey"), *signers],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ("a leaf-hash receipt" in checked.stdout) == leaf_only, checked.stdout


def test_counsel_clicks_through_findings_and_downloads_reports(page: Page, server: Server) -> None:
    page.goto(server.url + "/login")
    shot(page, "login")
    login(page, server, "counsel")
    page.get_by_role("link", name="Dashboard: ship status and findings").click()
    expect(page.locator("p.alert")).to_contain_text("NOT CLEAR TO SHIP")
    shot(page, "counsel-dashboard", full_page=True)

    name, pdf = downloaded(page, "PDF")
    assert name.endswith(".pdf") and pdf.startswith(b"%PDF-")
    name, raw = downloaded(page, "JSON")
    report = json.loads(raw)
    assert report["checkpoint"]["signed_checkpoint"] is True
    summary = report["summary"]
    open_findings = [f for f in report["findings"] if f["status"] == "open"]
    disposed = [f for f in report["findings"] if f["status"] != "open"]
    assert len(disposed) == summary["disposed_findings"] == 2  # the demo: cleared, remediated
    expect(page.locator("table.findings tbody tr")).to_have_count(len(open_findings))
    expect(page.locator("table.disposed tbody tr")).to_have_count(len(disposed))
    expect(page.locator("table.disposed").get_by_text("Hana Sato").first).to_be_visible()
    ships = page.locator("table.deliverables tbody tr")
    expect(ships).to_have_count(len(summary["deliverables"]))
    for d in summary["deliverables"]:  # each deliverable's verdict as the audit gives it
        row = ships.filter(has_text=d["asset"])
        verdict = "clear to ship" if d["clear_to_ship"] else "not clear to ship"
        expect(row.locator(".pill")).to_have_text(verdict)
    assert {d["clear_to_ship"] for d in summary["deliverables"]} == {True, False}
    name, html = downloaded(page, "HTML")
    (server.work / "portal-report.html").write_bytes(html)

    page.get_by_role("link", name="deliverable-unresolved").first.click()  # sh030: 1278 px wide
    expect(page.get_by_role("heading", name="Explanation")).to_be_visible()
    picture = page.locator("figure.lineage img")
    expect(picture).to_be_visible()
    fits = picture.evaluate(
        "i => i.naturalWidth > 0"
        " && i.getBoundingClientRect().width <= i.closest('figure').clientWidth"
    )
    assert fits, "the lineage picture overflows the page"
    shot(page, "counsel-finding")
    name, receipt = downloaded(page, "download")
    assert name.endswith(".receipt")
    assert_receipt_verifies(server, receipt)

    page.get_by_role("link", name="Consents", exact=True).click()
    expect(page.get_by_text("Dana Whitfield").first).to_be_visible()
    licences = page.locator("table.licences")
    expect(licences.get_by_text("not covering")).to_be_visible()
    page.get_by_role("heading", name="Licence records").evaluate("h => h.scrollIntoView()")
    shot(page, "counsel-consents")
    page.get_by_role("link", name="AI register").click()
    expect(page.get_by_role("heading", name="Generative-AI output")).to_be_visible()


def test_guild_rep_sees_credits_and_members_and_nothing_of_counsel(
    page: Page, server: Server
) -> None:
    login(page, server, "guild-rep")
    expect(page.get_by_role("link", name="Dashboard: ship status and findings")).to_have_count(0)
    page.get_by_role("link", name="Credit report and AI disclosures").click()
    expect(page.get_by_role("heading", name="Credit lines (human-authored work)")).to_be_visible()
    expect(page.get_by_text("Jonah Okafor").first).to_be_visible()
    shot(page, "guild-credits")
    name, raw = downloaded(page, "CSV")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert name.endswith(".csv") and "Mira Keller" in {r["name"] for r in rows}
    name, pdf = downloaded(page, "PDF")
    assert pdf.startswith(b"%PDF-")
    page.get_by_role("link", name="Members").click()
    expect(page.get_by_text("Omar Haddad").first).to_be_visible()  # people by name
    shot(page, "guild-members")
    for path in (f"/p/{FT}", f"/p/{FT}/report.pdf", f"/api/v1/p/{FT}", f"/p/{FT}/consents"):
        response = page.request.get(server.url + path)
        assert response.status == 403, path
    for path in ("/p/Another%20Show/credits", "/api/v1/p/Another%20Show/credits", "/health"):
        assert page.request.get(server.url + path).status in (403, 404), path
    page.goto(server.url + f"/p/{FT}")
    expect(page.get_by_text("Your account may not open this page.")).to_be_visible()


def test_auditor_sees_a_verified_ledger_and_downloads_a_checkpoint(
    page: Page, server: Server
) -> None:
    login(page, server, "auditor")
    page.get_by_role("link", name="Ledger health and verification").click()
    expect(page.get_by_text("Verified intact")).to_be_visible()
    expect(page.get_by_role("cell", name="key_revoked")).to_be_visible()
    shot(page, "auditor-health")
    _, note = downloaded(page, "Signed checkpoint")
    assert note.decode().startswith("fallen-tower.example/ledger\n")
    with page.expect_download() as info:
        page.locator("ul.downloads a").first.click()
    proof = Path(info.value.path()).read_text()
    assert proof.startswith("old ") and "fallen-tower.example/ledger" in proof
    event_id = json.loads(subprocess.run(
        [sys.executable, "-m", "cli", "log", "--ledger", str(server.work / "ledger.db"),
         "--format", "json"], capture_output=True, text=True, check=True,
    ).stdout)[0]["event_id"]  # fmt: skip
    page.get_by_label("Event id").fill(event_id)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download receipt").click()
    assert_receipt_verifies(server, Path(info.value.path()).read_bytes(), leaf_only=True)
    assert page.request.get(server.url + f"/p/{FT}/credits").status == 404


def test_admin_sees_who_viewed_and_downloaded_what(page: Page, server: Server) -> None:
    login(page, server, "admin")
    page.get_by_role("link", name="Access log").first.click()
    expect(page.get_by_role("cell", name="audit_report.download").first).to_be_visible()
    page.get_by_role("link", name="Accounts").first.click()
    expect(page.get_by_role("cell", name="guild-rep")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(server.url + "/admin/accounts")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def report_data(server: Server) -> dict[str, Any]:
    """The demo's audit report as JSON, from the CLI on the same ledger."""
    out = subprocess.run(
        [sys.executable, "-m", "cli", "audit", "report", "--production", "Fallen Tower",
         "--format", "json", "--fail-on", "never", "--ledger", str(server.work / "ledger.db")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


WORD_SPLIT = """() => {
  const split = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.closest('td, th')) continue;
    const re = /[\\p{L}\\p{N}_]+/gu; let m;
    while ((m = re.exec(node.data))) {
      const r = document.createRange();
      r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
      if (tops.size > 1) split.push(m[0]);
    }
  }
  return split;
}"""


def test_html_report_fits_pictures_and_wraps_between_words(page: Page, server: Server) -> None:
    report = server.work / "audit-report.html"
    deliverables = report_data(server)["summary"]["deliverables"]
    for width, media in ((1280, "screen"), (794, "print")):  # 794 px: A4 at 96 dpi
        page.set_viewport_size({"width": width, "height": 1000})
        page.emulate_media(media=media)  # type: ignore[arg-type]
        page.goto(report.as_uri())
        overflow = page.evaluate(
            "() => [...document.querySelectorAll('figure svg')].filter(s =>"
            " s.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length"
        )
        assert overflow == 0, f"{overflow} lineage picture(s) overflow at {width}px ({media})"
        wide = page.evaluate(
            "() => [...document.querySelectorAll('table')].filter(t =>"
            " t.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length"
        )
        assert wide == 0, f"{wide} table(s) overflow at {width}px ({media})"
        assert page.locator("figure svg").count() == len(deliverables) > 0
        assert page.evaluate(WORD_SPLIT) == [], media


# --- the portal for daily work, at desktop and phone widths ----------------------------------

WIDTHS = (1280, 390)
ROLE_PAGES = {
    "counsel": ["/", f"/p/{FT}", f"/p/{FT}/findings", f"/p/{FT}/findings?status=disposed&sort=shot",
                f"/p/{FT}/consents", f"/p/{FT}/ai", f"/p/{FT}/credits", "/search?q=Omar"],
    "guild-rep": ["/", f"/p/{FT}/credits", f"/p/{FT}/members", "/search?q=Mira"],
    "auditor": ["/", "/health", "/search?q=fallen"],
    "admin": ["/", "/admin/accounts", "/admin/access-log", "/admin/access-log?outcome=refused",
              "/search?q=guild"],
}  # fmt: skip


def fits(page: Page) -> int:
    """How far the page reaches past the viewport's right edge (0: nothing pushes it sideways)."""
    overflow: int = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    return overflow


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_every_page_fits_its_width_without_console_errors(
    page: Page, server: Server, role: str, width: int
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": width, "height": 900})
    login(page, server, role)
    long_asset = "fallen-tower/ep101/sq040/sh030/" + "crowd_replica_" * 20 + "@v001"
    page.request.get(server.url + f"/p/{FT}/lineage.svg?asset={long_asset}")  # a long log line
    for path in ROLE_PAGES[role]:
        response = page.goto(server.url + path)
        assert response is not None and response.status == 200, path
        assert fits(page) <= 0, f"{path} is {fits(page)} px wider than {width} px"
    assert errors == [], errors
    favicon = page.request.get(server.url + "/favicon.ico")
    assert favicon.status == 200 and favicon.body()[:4] == b"\x00\x00\x01\x00"  # an ICO


@pytest.mark.parametrize("width", WIDTHS)
def test_counsel_searches_filters_and_sorts_findings(
    page: Page, server: Server, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    login(page, server, "counsel")
    page.get_by_role("searchbox").fill("ClearScale")
    page.get_by_role("button", name="Search").click()
    hits = page.locator("table.search-hits tbody tr")
    expect(hits.filter(has_text="licence record")).to_have_count(1)
    if width == 1280:
        shot(page, "counsel-search")
    hits.filter(has_text="licence record").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/consents#licence-"))
    row = page.locator("table.licences tr", has_text="not covering")
    expect(row.locator(".beside")).to_contain_text("cleared")
    expect(row.locator(".beside")).to_contain_text("Hana Sato")
    page.goto(server.url + f"/p/{FT}/findings")
    page.get_by_label("Status", exact=True).select_option("disposed")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.findings tbody tr")
    expect(rows).to_have_count(2)
    if width == 390:
        shot(page, "counsel-findings-phone", full_page=True)
    ids = rows.locator("code.id")
    for i in range(2):  # short on one line, the full id on hover
        box = ids.nth(i).bounding_box()
        assert box is not None and box["height"] < 30
        assert len(ids.nth(i).get_attribute("title") or "") == 64
    expect(rows.first.locator("time")).to_have_attribute("title", re.compile(r"UTC$"))
    page.get_by_role("link", name="rule", exact=True).click()
    expect(page).to_have_url(re.compile(r"status=disposed&sort=rule"))
    assert rows.first.locator("td").nth(1).inner_text() == "ai-model-undeclared"
    rows.first.get_by_role("link").click()
    decision = page.locator("a", has_text=re.compile(r"fx_dust@v003"))
    expect(decision).to_have_attribute("href", re.compile(r"lineage\.svg\?asset="))
    assert fits(page) <= 0


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_filters_the_access_log_and_sees_refusals(
    page: Page, server: Server, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    assert page.request.get(server.url + "/admin/accounts").status in (401, 403, 200)
    login(page, server, "admin")
    page.goto(server.url + f"/p/{FT}/credits")  # an admin may not: a refusal in the log
    page.goto(server.url + "/admin/access-log")
    page.get_by_label("Outcome", exact=True).select_option("refused")
    page.get_by_label("Account", exact=True).select_option("admin")
    page.get_by_role("button", name="Filter").click()
    refused = page.locator("table.access-log tbody tr.refused")
    expect(refused.first).to_be_visible()
    expect(refused.first.locator(".pill.refused")).to_have_text(re.compile("denied"))
    assert page.locator("table.access-log tbody tr:not(.refused)").count() == 0
    if width == 1280:
        shot(page, "admin-access-log")
    assert fits(page) <= 0


def test_the_guild_rep_sees_one_line_per_person_and_role(page: Page, server: Server) -> None:
    login(page, server, "guild-rep")
    page.goto(server.url + f"/p/{FT}/credits")
    lines = page.locator("table.credit-lines tbody tr")
    pairs = [tuple(lines.nth(i).locator("td").all_inner_texts()[:2]) for i in range(lines.count())]
    assert len(pairs) == len(set(pairs)) > 3 and ("Mira Keller", "Roto Artist") in pairs
    assert not any("cawg." in title for _, title in pairs)
    expect(page.locator("table.credit-lines")).not_to_contain_text("Vista Stock")
    expect(page.locator("table.sources")).to_contain_text("Vista Stock")
    _, raw = downloaded(page, "CSV")
    header = raw.decode("utf-8").splitlines()[0]
    assert '"job_title"' in header or "job_title" in header
    assert "department" in header
