"""The portal in-process (Starlette TestClient): every access rule, by link, guessed URL and API."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from demo import story
from ledger.audit.keys import registry_verdicts
from ledger.audit.model import LedgerView
from ledger.errors import StoreError
from ledger.events.disposition import DISPOSITION, disposition_event
from ledger.events.licence import Licence
from ledger.reports.report import audit_report_json, build_audit_report, licence_record_json
from ledger.store import Batch, open_store
from portal.accounts import AccountStore
from portal.app import API, FILES, PAGES, Portal, PortalConfig, create_app, wrappable_path
from tests.ledger.audit.audit_factory import BASE_TIME, demo_store, fixed, licence_item
from tests.portal.portal_factory import (
    DECIDED_AT,
    FALLEN,
    OTHER,
    PASSWORD,
    PortalSite,
    append,
    csrf,
    make_site,
    other_items,
)

FT = quote(FALLEN, safe="")
QH = quote(OTHER, safe="")
SHOTS = "fallen-tower/ep101/sq040"


def production_urls(production: str, event_id: str, fid: str, asset: str) -> list[str]:
    """Every page, twin and download that takes a production, filled in."""
    fills = {
        "{production}": quote(production, safe=""),
        "{fid}": fid,
        "{event_id}": event_id,
    }
    urls = []
    for html, api, _ in PAGES:
        for path in (html, API + api):
            if "{production}" in path:
                urls.append(path)
    for path, _ in FILES:
        if "{production}" not in path:
            continue
        for prefix in ("", API):
            if "{fmt}" in path:
                urls += [prefix + path.replace("{fmt}", f) for f in ("html", "pdf", "json", "csv")]
            elif path.endswith("lineage.svg"):
                urls.append(prefix + path + "?asset=" + quote(asset, safe=""))
            else:
                urls.append(prefix + path)
    for key, value in fills.items():
        urls = [u.replace(key, value) for u in urls]
    return urls


def ledger_urls() -> list[str]:
    paths = [h for h, _, _ in PAGES if "{" not in h and h != "/"]
    paths += [API + a for h, a, _ in PAGES if "{" not in a and h != "/"]
    paths += [
        p.replace("{event_id}", "x").replace("{old}", "1")
        for p, _ in FILES
        if "{production}" not in p
    ]
    return paths


def harbor_targets(site: PortalSite) -> list[str]:
    client = site.login("harbor-counsel")
    report = client.get(f"{API}/p/{QH}").json()
    credits = client.get(f"{API}/p/{QH}/credits").json()
    event_id = credits["credit_lines"][0]["contributions"][0]["event_id"]
    return production_urls(OTHER, event_id, "0" * 64, report["deliverables"][0]["asset"])


# --- signing in ----------------------------------------------------------------------------


def test_every_route_needs_a_session_or_token(site: PortalSite) -> None:
    anonymous = TestClient(site.client.app, base_url="https://testserver", follow_redirects=False)
    for url in [*production_urls(FALLEN, "e", "f", "a"), *ledger_urls(), "/"]:
        response = anonymous.get(url)
        if url.startswith(API):
            assert response.status_code == 401, url
            assert response.json()["error"]
        else:
            assert response.status_code == 303, url
            assert response.headers["location"].startswith("/login?next=")


def test_session_cookie_is_secure_httponly_samesite(site: PortalSite) -> None:
    client = TestClient(site.client.app, base_url="https://testserver", follow_redirects=False)
    form = client.get("/login")
    login_cookie = form.headers["set-cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in login_cookie.lower()
    response = client.post(
        "/login", data={"name": "counsel", "password": PASSWORD, "csrf": csrf(form.text)}
    )
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if "session" in c)
    assert cookie.startswith("__Host-assetledger-session=")
    for flag in ("secure", "httponly", "samesite=strict", "path=/"):
        assert flag in cookie.lower()


def test_login_form_needs_its_csrf_token(fresh_site: PortalSite) -> None:
    client = TestClient(fresh_site.client.app, base_url="https://testserver")
    client.get("/login")
    for token in ("", "forged"):
        response = client.post(
            "/login", data={"name": "counsel", "password": PASSWORD, "csrf": token}
        )
        assert response.status_code == 400
        assert "expired" in response.text
    bare = TestClient(fresh_site.client.app, base_url="https://testserver")  # no login cookie
    response = bare.post("/login", data={"name": "counsel", "password": PASSWORD, "csrf": "x"})
    assert response.status_code == 400


def test_huge_or_chunked_forms_are_refused_unread(site: PortalSite) -> None:
    client = TestClient(site.client.app, base_url="https://testserver")
    form = client.get("/login")
    data = {"name": "counsel", "password": "x" * 100_000, "csrf": csrf(form.text)}
    assert client.post("/login", data=data).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b"name=counsel&password=x"

    chunked = client.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert chunked.status_code == 413


def test_logout_needs_the_session_csrf_token(fresh_site: PortalSite) -> None:
    client = fresh_site.login("counsel")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get(f"/p/{FT}").status_code == 200  # still signed in
    token = csrf(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}).url.path == "/login"
    assert client.get(f"{API}/p/{FT}").status_code == 401


def test_failed_logins_are_rate_limited(fresh_site: PortalSite) -> None:
    client = TestClient(fresh_site.client.app, base_url="https://testserver")
    for _ in range(5):
        form = client.get("/login")
        r = client.post(
            "/login",
            data={"name": "counsel", "password": "wrong password!", "csrf": csrf(form.text)},
        )
        assert r.status_code == 401
        assert "Wrong name or password" in r.text
    form = client.get("/login")
    blocked = client.post(
        "/login", data={"name": "counsel", "password": PASSWORD, "csrf": csrf(form.text)}
    )
    assert blocked.status_code == 429  # even the right password waits
    assert int(blocked.headers["retry-after"]) > 0
    other = fresh_site.login("guild-rep")  # another account is not locked out by it
    assert other.get("/").status_code == 200


def test_parallel_guesses_cannot_outrun_the_rate_limit(fresh_site: PortalSite) -> None:
    """Guesses sent at once all pass a check made before any of them has failed, unless the
    check also counts the attempt: at most the limit reach the password check."""
    import threading
    import time

    portal: Portal = fresh_site.client.app.state.portal  # type: ignore[attr-defined]
    checked: list[str] = []

    def slow_wrong(name: str, password: str) -> None:  # a slow Argon2, always wrong
        checked.append(name)
        time.sleep(0.3)

    portal.accounts.authenticate = slow_wrong  # type: ignore[method-assign]
    guesses = 12
    start = threading.Barrier(guesses)
    statuses: list[int] = []

    def guess(i: int) -> None:
        client = TestClient(fresh_site.client.app, base_url="https://testserver")
        token = csrf(client.get("/login").text)
        start.wait(timeout=30)
        data = {"name": "counsel", "password": f"guess number {i}", "csrf": token}
        statuses.append(client.post("/login", data=data).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(guesses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(checked) == portal.config.login_limit == 5
    assert sorted(statuses) == [401] * 5 + [429] * (guesses - 5)


def test_unknown_and_disabled_accounts_cannot_sign_in(fresh_site: PortalSite) -> None:
    client = TestClient(fresh_site.client.app, base_url="https://testserver")
    form = client.get("/login")
    r = client.post(
        "/login", data={"name": "mallory", "password": PASSWORD, "csrf": csrf(form.text)}
    )
    assert r.status_code == 401
    signed_in = fresh_site.login("counsel")
    portal: Portal = fresh_site.client.app.state.portal  # type: ignore[attr-defined]
    portal.accounts.disable("counsel")
    assert signed_in.get(f"{API}/p/{FT}").status_code == 401  # the session died with it


def test_login_redirects_only_to_local_paths(fresh_site: PortalSite) -> None:
    client = TestClient(
        fresh_site.client.app, base_url="https://testserver", follow_redirects=False
    )
    cases = [
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        (f"/p/{FT}/credits", f"/p/{FT}/credits"),
    ]
    for target, expected in cases:
        form = client.get("/login")
        r = client.post(
            "/login",
            data={
                "name": "guild-rep",
                "password": PASSWORD,
                "csrf": csrf(form.text),
                "next": target,
            },
        )
        assert r.headers["location"] == expected
        client.cookies.clear()


# --- what each role sees -------------------------------------------------------------------


def test_counsel_sees_findings_evidence_lineage_and_reports(site: PortalSite) -> None:
    client = site.login("counsel")
    dashboard = client.get(f"/p/{FT}")
    assert dashboard.status_code == 200
    assert "NOT CLEAR TO SHIP" in dashboard.text
    data = client.get(f"{API}/p/{FT}").json()
    assert data["open_findings_by_severity"] == {"critical": 2, "high": 4}
    assert not data["clear_to_ship"]
    finding = data["open_findings"][0]
    page = client.get(f"/p/{FT}/findings/{finding['id']}")
    assert page.status_code == 200 and finding["summary"] in page.text
    detail = client.get(f"{API}/p/{FT}/findings/{finding['id']}").json()["finding"]
    assert detail["explanation"] and detail["evidence"]
    svg = client.get(f"/p/{FT}/lineage.svg", params={"asset": finding["asset"]})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "sandbox" in svg.headers["content-security-policy"]
    for page_path, needle in (("consents", "Dana Whitfield"), ("ai", "DustDiffusion")):
        assert needle in client.get(f"/p/{FT}/{page_path}").text
    report = client.get(f"/p/{FT}/report.json")
    assert "attachment" in report.headers["content-disposition"]
    body = report.json()
    assert body["findings"] and body["content_sha256"]
    assert body == audit_json_of(site)  # what assetledger audit report --format json prints
    assert client.get(f"/p/{FT}/report.pdf").content.startswith(b"%PDF-")
    assert "<svg" in client.get(f"/p/{FT}/report.html").text


def audit_json_of(site: PortalSite) -> dict[str, Any]:
    """The audit report as the library computes it for the CLI, on the same ledger."""
    with open_store(site.url, read_only=True) as store:
        view = LedgerView.open(store)
        report = build_audit_report(view, FALLEN, signer_verdicts=registry_verdicts(store))
        return audit_report_json(report)


def test_counsel_sees_clear_to_ship_per_deliverable_from_the_audit(site: PortalSite) -> None:
    client = site.login("counsel")
    data = client.get(f"{API}/p/{FT}").json()
    expected = {
        d["asset"]: d["clear_to_ship"] for d in audit_json_of(site)["summary"]["deliverables"]
    }
    assert {d["asset"]: d["clear_to_ship"] for d in data["deliverables"]} == expected
    assert expected == {
        f"{SHOTS}/sh010/final@v001": False,  # still holds the replaced dust
        f"{SHOTS}/sh010/final@v002": True,  # republished with the licensed dust
        f"{SHOTS}/sh020/final@v001": True,  # its one finding cleared by counsel
        f"{SHOTS}/sh030/final@v001": False,
    }
    blocked = next(d for d in data["deliverables"] if d["asset"].endswith("sh030/final@v001"))
    why = client.get(f"{API}/p/{FT}/findings/{blocked['finding']}").json()["finding"]
    assert why["rule"] == "deliverable-unresolved" and why["asset"] == blocked["asset"]
    html = client.get(f"/p/{FT}").text
    assert html.count("not clear to ship</span>") == 2
    assert html.count(">clear to ship</span>") == 2


def test_counsel_sees_disposed_findings_with_who_when_why(site: PortalSite) -> None:
    client = site.login("counsel")
    data = client.get(f"{API}/p/{FT}").json()
    disposed = {f["rule"]: f for f in data["disposed_findings"]}
    assert {f["status"] for f in data["open_findings"]} == {"open"}
    assert set(disposed) == {"licence-not-covering", "ai-model-undeclared"}
    cleared = disposed["licence-not-covering"]
    assert cleared["status"] == "cleared"
    assert cleared["disposition"]["by"] == "Hana Sato"
    assert cleared["disposition"]["document_sha256"] == story.SIDE_LETTER_SHA256
    remediated = disposed["ai-model-undeclared"]["disposition"]
    assert remediated["replaced_by"] == f"{SHOTS}/sh010/fx_dust@v003"
    html = client.get(f"/p/{FT}").text
    section = html[html.index("Disposed by counsel") :]
    replaced = wrappable_path(f"{SHOTS}/sh010/fx_dust@v003")
    for needle in ("Hana Sato", "production counsel", "side letter", story.SIDE_LETTER_SHA256,
                   cleared["disposition"]["at"], replaced):  # fmt: skip
        assert needle in section, needle
    page = client.get(f"/p/{FT}/findings/{cleared['id']}").text
    assert cleared["id"] in page and "cleared</span>" in page and "side letter" in page
    detail = client.get(f"{API}/p/{FT}/findings/{cleared['id']}").json()["finding"]
    assert "counsel's disposition" in {e["what"] for e in detail["evidence"]}
    assert re.fullmatch(r"[0-9a-f]{64}", cleared["id"])


def test_a_waiver_shows_its_expiry_and_lapses_when_it_expires(fresh_site: PortalSite) -> None:
    client = fresh_site.login("counsel")
    data = client.get(f"{API}/p/{FT}").json()
    mismatch = next(f for f in data["open_findings"] if f["rule"] == "content-hash-mismatch")
    unrecorded = next(f for f in data["open_findings"] if f["rule"] == "ingredient-unrecorded")
    waive(fresh_site, mismatch, "2099-01-01T00:00:00Z", 0)
    waive(fresh_site, unrecorded, "2025-06-01T00:00:00Z", 1)  # expired before today
    data = client.get(f"{API}/p/{FT}").json()
    held = next(f for f in data["disposed_findings"] if f["id"] == mismatch["id"])
    assert held["status"] == "waived"
    assert held["disposition"]["expires"].startswith("2099-01-01")
    assert held["disposition"]["approver"] == "Dana Price"
    assert 'expires <time datetime="2099-01-01' in client.get(f"/p/{FT}").text
    lapsed = next(f for f in data["open_findings"] if f["id"] == unrecorded["id"])
    assert "disposition" not in lapsed
    page = client.get(f"/p/{FT}/findings/{unrecorded['id']}").text
    assert "Decisions that no longer apply" in page and "the waiver expired" in page


def waive(site: PortalSite, f: dict[str, Any], expires: str, n: int) -> None:
    """Counsel's waiver, signed and appended beside the running portal (which reads it)."""
    event = disposition_event(
        "waived",
        finding_id=f["id"],
        rule=f["rule"],
        asset=f["asset"],
        show=FALLEN,
        actor=story.COUNSEL,
        reason=f"waiver {n} for the festival cut",
        approver="Dana Price",
        expires=expires,
        event_time=(DECIDED_AT + timedelta(days=1, minutes=n)).isoformat(),
    )
    with open_store(site.url) as store:
        append(store, [("counsel", DISPOSITION, event)], site.signers)


def test_consents_and_licences_show_their_terms_and_status(site: PortalSite) -> None:
    client = site.login("counsel")
    data = client.get(f"{API}/p/{FT}/consents").json()
    omar = next(c for c in data["consent_records"] if c["party"] == "performer:omar-haddad")
    assert omar["territories"] == ["US", "CA", "GB"] and omar["media"] == ["streaming", "trailer"]
    assert omar["expires"].startswith("2031-01-01") and re.fullmatch(
        "[0-9a-f]{64}", omar["document_sha256"]
    )
    licences = {
        tuple(m["name"] for m in r["models"]) or tuple(r["assets"]): r
        for r in data["licence_records"]
    }
    clearscale = licences[("ClearScale",)]
    assert clearscale["status"] == "not covering"
    assert "not GB" in clearscale["uses"][0]["problem"]
    assert licences[("DebrisGen",)]["status"] == "in force"
    vista = licences[("stock/vista/skyline-dusk-0456",)]
    assert {(t["use_kind"], t["use"]) for t in vista["ai_terms"]} >= {
        ("cawg.ai_inference", "notAllowed")
    }
    html = client.get(f"/p/{FT}/consents").text
    for needle in ("US, CA, GB", "streaming, trailer", omar["document_sha256"], "not covering",
                   "in force", "covers US, CA, not GB", "cawg.ai_inference: notAllowed",
                   clearscale["document_sha256"]):  # fmt: skip
        assert needle in html, needle


def test_licence_status_expired_and_not_in_the_ledger() -> None:
    lic = Licence.from_record(licence_item(valid_until="2025-06-01T00:00:00Z")[2] | {
        "event_id": "l1", "event_time": BASE_TIME, "valid_from": BASE_TIME,
        "valid_until": BASE_TIME + timedelta(days=30)})  # fmt: skip
    later = BASE_TIME + timedelta(days=60)
    assert licence_record_json("l1", lic, [], later)["status"] == "expired"
    assert licence_record_json("l1", lic, [], BASE_TIME)["status"] == "in force"
    assert (
        licence_record_json("l1", lic, [], BASE_TIME - timedelta(days=1))["status"]
        == "not yet in force"
    )
    assert licence_record_json("gone", None, [], later)["status"] == "not in the ledger"


def test_counsel_receipts_only_for_the_granted_production(site: PortalSite) -> None:
    client = site.login("counsel")
    credits = client.get(f"{API}/p/{FT}/credits").json()
    event_id = credits["credit_lines"][0]["contributions"][0]["event_id"]
    response = client.get(f"/p/{FT}/receipts/{event_id}")
    # the factory's ledger has no signed checkpoint: the refusal says so, plainly
    assert response.status_code == 409
    assert "no signed checkpoint" in response.text or "not yet covered" in response.text
    harbor_event = site.login("harbor-counsel").get(f"{API}/p/{QH}/credits").json()
    other_id = harbor_event["credit_lines"][0]["contributions"][0]["event_id"]
    assert client.get(f"/p/{FT}/receipts/{other_id}").status_code == 404  # not Fallen Tower's
    assert client.get(f"/p/{FT}/receipts/no-such-event").status_code == 404


def test_a_show_whose_name_starts_with_anothers_is_another_production(
    fresh_site: PortalSite,
) -> None:
    """'Fallen Tower/Secret' is not 'Fallen Tower': its events' receipts are not counsel's."""
    item = other_items()[0]
    event = dict(item[2]) | {"production": {"show": f"{FALLEN}/Secret", "episode": None}}
    event["event_id"] = story.fixed_id("secret-show-plate")
    with open_store(fresh_site.url) as store:
        append(store, fixed([(item[0], item[1], event)]), fresh_site.signers)
    client = fresh_site.login("counsel")
    assert client.get(f"/p/{FT}/receipts/{event['event_id']}").status_code == 404


def test_guild_rep_sees_credits_disclosures_and_members_consents(site: PortalSite) -> None:
    client = site.login("guild-rep")
    credits = client.get(f"/p/{FT}/credits")
    assert credits.status_code == 200
    assert "Jonah Okafor" in credits.text and "AI disclosures" in credits.text
    episode = client.get(f"{API}/p/{FT}/credits", params={"episode": "101"}).json()
    assert episode["episode"] == "101"
    assert client.get(f"/p/{FT}/credits", params={"episode": "999"}).status_code == 404
    raw = client.get(f"/p/{FT}/credits.csv").text
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert rows and "Jonah Okafor" in {r["name"] for r in rows}
    # the library's CSV, as the CLI writes it: CRLF, every field quoted (formulas neutralised)
    assert raw.split("\r\n")[1].startswith('"') and '"Jonah Okafor"' in raw
    assert client.get(f"/p/{FT}/credits.pdf").content.startswith(b"%PDF-")
    members = client.get(f"{API}/p/{FT}/members").json()
    assert members["guild"] == "SAG-AFTRA"
    assert {u["party"] for u in members["uses"]} <= set(members["members"])
    assert {u["party"] for u in members["uses"]} == {
        "performer:dana-whitfield",
        "performer:omar-haddad",
    }
    assert members["consent_records"]


def test_guild_rep_sees_job_titles_ai_direction_and_the_ai_disclosure(site: PortalSite) -> None:
    client = site.login("guild-rep")
    data = client.get(f"{API}/p/{FT}/credits").json()
    lines = {(line["name"], line["job_title"] or line["role"]) for line in data["credit_lines"]}
    assert {("Mira Keller", "Roto Artist"), ("Jonah Okafor", "Compositor"),
            ("Jonah Okafor", "AI Direction")} <= lines  # fmt: skip
    html = client.get(f"/p/{FT}/credits").text
    for needle in ("Roto Artist", "Compositor: Jonah Okafor", "AI Direction: Mira Keller",
                   "Visual Effects — episode 101", "AI disclosure for the end credits",
                   data["ai_disclosure"][1]):  # fmt: skip
        assert needle in html, needle


def test_credits_page_prints_each_title_as_the_cli_and_pdf_do(site: PortalSite) -> None:
    """One function (ledger.audit.credits.job_title) names each credit line's title for the
    page, the CLI table, the HTML and the PDF; the page's table shows people only."""
    client = site.login("guild-rep")
    data = client.get(f"{API}/p/{FT}/credits").json()
    html = client.get(f"/p/{FT}/credits").text
    lines, titles = data["credit_lines"], data["credit_titles"]
    assert len(lines) == len(titles) and "AI Direction" in titles and "Roto Artist" in titles
    for line, title in zip(lines, titles, strict=True):
        assert not title.startswith("cawg.")
        cells = f"<tr><td>{line['name']}</td><td>{title}</td><td>{line['department']}</td>"
        assert (cells in html) == (line["kind"] == "human"), cells


def test_guild_rep_never_sees_counsels_findings_or_dispositions(site: PortalSite) -> None:
    audit = audit_json_of(site)
    secrets = {f["id"] for f in audit["findings"]}
    secrets |= {f["disposition"]["reason"] for f in audit["findings"] if "disposition" in f}
    secrets |= {story.SIDE_LETTER_SHA256, "Hana Sato"}
    assert len(secrets) > 10
    client = site.login("guild-rep")
    pages = [f"/p/{FT}/credits", f"/p/{FT}/members", f"/p/{FT}/credits?episode=101", "/"]
    files = [f"/p/{FT}/credits.{fmt}" for fmt in ("csv", "html", "json")]
    for url in pages + [API + u for u in pages if u != "/"] + [f"{API}/me"] + files:
        response = client.get(url)
        assert response.status_code == 200, url
        leaked = [s for s in secrets if s in response.text]
        assert not leaked and "disposition" not in response.text.lower(), (url, leaked)
    for url in (f"/p/{FT}/findings/{next(iter(secrets))}", f"{API}/p/{FT}"):
        assert client.get(url).status_code == 403


def test_guild_rep_gets_none_of_counsels_pages_of_its_own_production(site: PortalSite) -> None:
    client = site.login("guild-rep")
    for url in [f"/p/{FT}", f"/p/{FT}/consents", f"/p/{FT}/ai", f"/p/{FT}/report.pdf",
                f"/p/{FT}/report.json", f"{API}/p/{FT}", f"{API}/p/{FT}/findings/x",
                f"/p/{FT}/lineage.svg?asset=x", f"/p/{FT}/receipts/x"]:  # fmt: skip
        response = client.get(url)
        assert response.status_code == 403, url
        assert "finding" not in response.text.lower(), url
    home = client.get("/").text
    assert f"/p/{FT}/credits" in home and f'href="/p/{FT}"' not in home


def test_a_guild_rep_gets_nothing_of_another_production(site: PortalSite) -> None:
    targets = harbor_targets(site)
    assert len(targets) >= 30
    client = site.login("guild-rep")
    for url in targets:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Quiet Harbor" not in response.text and "quiet-harbor" not in response.text, url
    home = client.get(f"{API}/me").json()
    assert [p["name"] for p in home["productions"]] == [FALLEN]


def test_a_token_for_one_production_opens_nothing_of_another(site: PortalSite) -> None:
    portal: Portal = site.client.app.state.portal  # type: ignore[attr-defined]
    token = portal.accounts.new_token("guild-rep", "script")
    api = TestClient(site.client.app, base_url="https://testserver")
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get(f"{API}/p/{FT}/credits", headers=auth).json()["production"] == FALLEN
    for url in harbor_targets(site):
        assert api.get(url, headers=auth).status_code == 404, url
    assert (
        api.get(f"{API}/p/{FT}/credits", headers={"Authorization": "Bearer alp_forged"}).status_code
        == 401
    )


def test_counsel_of_one_production_gets_nothing_of_another(site: PortalSite) -> None:
    client = site.login("counsel")
    for url in harbor_targets(site):
        assert client.get(url).status_code == 404, url


def test_auditor_sees_health_and_proofs_not_productions(site: PortalSite) -> None:
    client = site.login("auditor")
    health = client.get(f"{API}/health").json()
    assert health["verification"]["ok"] is True  # every signer is in the key registry
    assert health["verification"]["entries_checked"] == health["head_size"] > 0
    assert health["quarantine_by_reason"] == {}
    assert "Ledger health" in client.get("/health").text
    for url in production_urls(FALLEN, "e", "f", "a"):
        assert client.get(url).status_code == 404, url
    assert client.get("/admin/accounts").status_code == 403


def test_health_says_when_it_cannot_verify(tmp_path: Path) -> None:
    demo_store(tmp_path / "ledger.db").close()  # no key registry
    with AccountStore(tmp_path / "accounts.db") as accounts:
        accounts.add("auditor", "auditor", [], PASSWORD)
    app = create_app(PortalConfig(str(tmp_path / "ledger.db"), tmp_path / "accounts.db"))
    site = PortalSite(tmp_path / "ledger.db", tmp_path / "accounts.db", TestClient(app), "", {})
    health = site.login("auditor").get(f"{API}/health").json()
    # no key registry and the portal was given no keys: said, not guessed
    assert health["verification"]["ok"] is None
    assert "no key registry" in health["verification"]["problem"]


def test_admin_sees_accounts_and_the_access_log_only(site: PortalSite) -> None:
    counsel = site.login("counsel")
    counsel.get(f"/p/{FT}/report.pdf")
    client = site.login("admin")
    names = {a["name"] for a in client.get(f"{API}/admin/accounts").json()["accounts"]}
    assert {"counsel", "guild-rep", "auditor", "admin"} <= names
    log = client.get(f"{API}/admin/access-log").json()["access_log"]
    assert any(
        r["actor"] == "counsel"
        and r["action"] == "audit_report.download"
        and r["outcome"] == "allowed"
        for r in log
    )
    assert client.get("/health").status_code == 403
    assert client.get(f"/p/{FT}/credits").status_code == 404


def test_denials_are_in_the_access_log(fresh_site: PortalSite) -> None:
    client = fresh_site.login("guild-rep")
    client.get(f"/p/{QH}/credits.csv")
    portal: Portal = fresh_site.client.app.state.portal  # type: ignore[attr-defined]
    log = portal.accounts.access_log()
    assert any(
        r.actor == "guild-rep"
        and r.outcome == "denied"
        and (QH in r.resource or OTHER in r.resource)
        for r in log
    )


# --- headers, errors, escaping -------------------------------------------------------------


def test_security_headers_on_pages_errors_and_downloads(site: PortalSite) -> None:
    client = site.login("counsel")
    for url in ("/", "/login", "/nowhere", f"/p/{FT}/report.html", "/static/portal.css"):
        headers = client.get(url).headers
        assert headers["x-content-type-options"] == "nosniff", url
        assert headers["x-frame-options"] == "DENY", url
        assert headers["referrer-policy"] == "no-referrer", url
        assert "strict-transport-security" in headers, url
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp, url
        assert "script-src" not in csp and "unsafe-eval" not in csp, url
    page_csp = client.get("/").headers["content-security-policy"]
    assert "'unsafe-inline'" not in page_csp and "frame-ancestors 'none'" in page_csp


def test_no_stack_trace_reaches_a_browser(
    fresh_site: PortalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal: Portal = fresh_site.client.app.state.portal  # type: ignore[attr-defined]

    def explode(*args: object) -> None:
        raise RuntimeError("secret internals /srv/ledger.db line 42")

    monkeypatch.setattr(portal.ledger, "audit", explode)
    client = fresh_site.login("counsel")
    client = TestClient(
        client.app,
        base_url="https://testserver",
        raise_server_exceptions=False,
        cookies=client.cookies,
    )
    for url in (f"/p/{FT}", f"{API}/p/{FT}"):
        response = client.get(url)
        assert response.status_code == 500
        assert "secret internals" not in response.text and "Traceback" not in response.text
        assert "content-security-policy" in response.headers


def test_hostile_grants_and_urls_are_escaped(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    portal: Portal = site.client.app.state.portal  # type: ignore[attr-defined]
    portal.accounts.add("eve", "counsel", ["<script>alert(1)</script>"], PASSWORD)
    client = site.login("eve")
    home = client.get("/").text
    assert "<script>alert(1)" not in home and "&lt;script&gt;" in home
    for url in ("/p/%3Cscript%3E", "/p/" + "x" * 5000, "/p/%00", f"/p/{FT}/findings/%3Cimg%3E",
                f"/p/{FT}/report.exe"):  # fmt: skip
        response = client.get(url)
        assert response.status_code in (404, 403), url
        assert "<script>" not in response.text and "<img>" not in response.text


def test_the_portal_never_writes_the_ledger(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    before = hashlib.sha256(site.ledger.read_bytes()).hexdigest()
    for name in ("counsel", "guild-rep", "auditor"):
        client = site.login(name)
        client.get(f"/p/{FT}")
        client.get(f"/p/{FT}/credits.pdf")
        client.get("/health")
    assert hashlib.sha256(site.ledger.read_bytes()).hexdigest() == before
    portal: Portal = site.client.app.state.portal  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match=r"readonly"):
        portal.ledger.store.append(Batch([], [], {("events", 0): 999}, "intruder"))
    with pytest.raises(StoreError, match="no SQLite ledger"):
        open_store(str(tmp_path / "absent.db"), read_only=True)
    assert not (tmp_path / "absent.db").exists()


# --- API, OpenAPI and the proxy identity ---------------------------------------------------


def test_every_page_has_a_json_twin_and_the_openapi_document_lists_it(site: PortalSite) -> None:
    client = site.login("counsel")
    document = client.get(f"{API}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    api_routes = {
        r.path for r in site.client.app.routes if isinstance(r, Route) and r.path.startswith(API)
    } - {f"{API}/openapi.json"}
    assert api_routes == set(document["paths"])
    twin = client.get(f"{API}/p/{FT}/consents")
    assert twin.headers["content-type"] == "application/json"
    assert json.loads(twin.text)["consent_records"]
    page = client.get(f"/p/{FT}/consents").text
    assert f'href="{API}/p/{FT}/consents"' in page


def test_proxy_identity_is_off_by_default(site: PortalSite) -> None:
    anonymous = TestClient(site.client.app, base_url="https://testserver")
    response = anonymous.get(f"{API}/me", headers={"X-Forwarded-User": "counsel"})
    assert response.status_code == 401


def test_proxy_identity_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    trusted = make_site(
        tmp_path / "a", proxy_header="X-Forwarded-User", trusted_proxies=frozenset({"testclient"})
    )
    client = TestClient(trusted.client.app, base_url="https://testserver")
    me = client.get(f"{API}/me", headers={"X-Forwarded-User": "Counsel"})
    assert me.status_code == 200 and me.json()["account"]["name"] == "counsel"
    assert me.json()["signed_in_via"] == "proxy"
    assert client.get(f"{API}/me", headers={"X-Forwarded-User": "mallory"}).status_code == 401
    untrusted = make_site(tmp_path / "b", proxy_header="X-Forwarded-User")  # testclient not trusted
    client = TestClient(untrusted.client.app, base_url="https://testserver")
    assert client.get(f"{API}/me", headers={"X-Forwarded-User": "counsel"}).status_code == 401


def test_bearer_token_reads_the_api(site: PortalSite) -> None:
    portal: Portal = site.client.app.state.portal  # type: ignore[attr-defined]
    token = portal.accounts.new_token("auditor")
    api = TestClient(site.client.app, base_url="https://testserver")
    response = api.get(f"{API}/health", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["head_size"] > 0
    assert re.fullmatch(r"alp_[A-Za-z0-9_-]{43}", token)


def test_asset_paths_wrap_after_slashes_and_stay_escaped() -> None:
    assert str(wrappable_path("a/<b>&c")) == "a/<wbr>&lt;b&gt;&amp;c"
    assert str(wrappable_path("<script>alert(1)</script>")).count("<script>") == 0
