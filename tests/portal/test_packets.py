"""Delivery packets in the portal: counsel's disclosure and .zip, the auditor's verdict, and the
one permission check keeping other roles and other productions out."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from demo import story
from ledger.errors import VerificationFailure
from ledger.packet.build import DISCLOSURE_HTML, build_packet
from ledger.store import open_store
from portal import packets
from portal.accounts import AccountStore
from portal.app import PortalConfig, create_app
from tests.ledger.packet.packet_factory import SH010_V2, SH020, build_ledger, timeline, write_cut
from tests.portal.portal_factory import FALLEN, OTHER, PASSWORD, csrf

ACCOUNTS = [
    ("counsel", "counsel", [FALLEN], None),
    ("harbor-counsel", "counsel", [OTHER], None),
    ("guild-rep", "guild", [FALLEN], "SAG-AFTRA"),
    ("auditor", "auditor", [], None),
    ("admin", "admin", [], None),
]


@dataclass
class PacketSite:
    app: object
    packet: packets.ServedPacket
    folder: Path
    zip_path: Path
    log_vkey: str

    def login(self, name: str) -> TestClient:
        client = TestClient(self.app, base_url="https://testserver")  # type: ignore[arg-type]
        token = csrf(client.get("/login").text)
        form = {"name": name, "password": PASSWORD, "csrf": token, "next": "/"}
        assert client.post("/login", data=form).status_code == 200
        return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PacketSite]:
    tmp = tmp_path_factory.mktemp("packets")
    ledger = build_ledger(tmp / "ledger.db")
    cut = write_cut(timeline([SH010_V2, SH020]), tmp / "cut.otio")
    with open_store(ledger.url) as store:
        result = build_packet(store, story.SHOW, story.EPISODE, cut, tmp / "ep101")
    accounts = tmp / "accounts.db"
    with AccountStore(accounts) as store:
        for name, role, productions, guild in ACCOUNTS:
            store.add(name, role, productions, PASSWORD, guild)
    saved = packets.PACKETS
    packets.PACKETS = packets.load_packets([result.zip_path], ledger.log_vkey)
    app = create_app(PortalConfig(ledger.url, accounts))
    yield PacketSite(app, packets.PACKETS[0], result.folder, result.zip_path, ledger.log_vkey)
    packets.PACKETS = saved


def base(site: PacketSite) -> str:
    return f"/p/{FALLEN.replace(' ', '%20')}/packets/{site.packet.packet_id}"


def test_counsel_sees_the_disclosure_and_downloads_the_very_zip(site: PacketSite) -> None:
    counsel = site.login("counsel")
    listing = counsel.get(f"/p/{FALLEN.replace(' ', '%20')}/packets")
    assert listing.status_code == 200 and site.packet.packet_id in listing.text
    page = counsel.get(base(site))
    assert page.status_code == 200 and "verifies" in page.text
    twin = counsel.get("/api/v1" + base(site)).json()
    assert twin["disclosure"] == json.loads((site.folder / "disclosure.json").read_text())
    assert twin["verdict"]["ok"] is True and twin["packet"]["episode"] == story.EPISODE
    html = counsel.get(base(site) + "/disclosure.html")
    assert html.status_code == 200
    assert html.content == (site.folder / DISCLOSURE_HTML).read_bytes()
    assert "sandbox" in html.headers["content-security-policy"]
    got = counsel.get(base(site) + "/packet.zip")
    assert got.status_code == 200 and got.content == site.zip_path.read_bytes()
    assert got.headers["content-type"] == "application/zip"
    assert site.packet.packet_id == hashlib.sha256(got.content).hexdigest()[:16]
    assert "disclosure.json" in zipfile.ZipFile(io.BytesIO(got.content)).namelist()


def test_the_auditor_sees_the_verification_and_downloads_the_zip(site: PacketSite) -> None:
    auditor = site.login("auditor")
    listing = auditor.get("/api/v1/packets").json()
    assert [k["id"] for k in listing["packets"]] == [site.packet.packet_id]
    assert listing["packets"][0]["verified"] is True
    page = auditor.get(f"/api/v1/packets/{site.packet.packet_id}").json()
    assert page["verdict"]["ok"] and page["verdict"]["checks"]["signatures"]
    assert "disclosure" not in page
    assert auditor.get(f"/packets/{site.packet.packet_id}").status_code == 200
    assert site.packet.packet_id in auditor.get("/packets").text
    got = auditor.get(f"/packets/{site.packet.packet_id}/packet.zip")
    assert got.status_code == 200 and got.content == site.zip_path.read_bytes()
    # the production's pages are counsel's: to the auditor they do not exist
    assert auditor.get(base(site)).status_code == 404
    assert auditor.get(base(site) + "/packet.zip").status_code == 404


@pytest.mark.parametrize("suffix", ["", "/disclosure.html", "/packet.zip"])
def test_a_second_productions_counsel_cannot_fetch_it(site: PacketSite, suffix: str) -> None:
    harbor = site.login("harbor-counsel")
    assert harbor.get(base(site) + suffix).status_code == 404
    assert harbor.get("/api/v1" + base(site) + suffix).status_code == 404
    # nor through its own production's path, nor the auditor's
    own = f"/p/{OTHER.replace(' ', '%20')}/packets/{site.packet.packet_id}{suffix}"
    assert harbor.get(own).status_code == 404
    assert harbor.get(f"/packets/{site.packet.packet_id}{suffix or '/packet.zip'}").status_code in (
        403,
        404,
    )


def test_other_roles_and_strangers_are_refused(site: PacketSite) -> None:
    guild = site.login("guild-rep")
    assert guild.get(base(site)).status_code == 403  # its production, not its role
    assert guild.get(base(site) + "/packet.zip").status_code == 403
    assert site.login("admin").get(f"/packets/{site.packet.packet_id}").status_code == 403
    assert site.login("counsel").get("/api/v1/packets").status_code == 403
    anonymous = TestClient(site.app, base_url="https://testserver")  # type: ignore[arg-type]
    assert anonymous.get("/api/v1" + base(site) + "/packet.zip").status_code == 401
    assert site.login("counsel").get(base(site)[:-4] + "0000").status_code == 404


def test_a_tampered_packet_is_never_served(site: PacketSite, tmp_path: Path) -> None:
    with zipfile.ZipFile(site.zip_path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files["disclosure.html"] = files["disclosure.html"].replace(b"</body>", b"<p>ok</p></body>")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    with pytest.raises(VerificationFailure, match="file_changed"):
        packets.load_packets([bad], site.log_vkey)


def test_a_folder_packet_is_served_as_its_deterministic_zip(site: PacketSite) -> None:
    [served] = packets.load_packets([site.folder], site.log_vkey)
    assert served.zip == site.zip_path.read_bytes()
    assert served.packet_id == site.packet.packet_id


def test_the_openapi_document_lists_the_packet_endpoints(site: PacketSite) -> None:
    paths = site.login("counsel").get("/api/v1/openapi.json").json()["paths"]
    for path in [
        "/p/{production}/packets",
        "/p/{production}/packets/{packet_id}",
        "/p/{production}/packets/{packet_id}/disclosure.html",
        "/p/{production}/packets/{packet_id}/packet.zip",
        "/packets",
        "/packets/{packet_id}",
        "/packets/{packet_id}/packet.zip",
    ]:
        assert "/api/v1" + path in paths
