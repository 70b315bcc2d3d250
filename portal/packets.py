"""Delivery packets in the portal: counsel's disclosure and download, the auditor's verdict.

``assetledger serve --packet DIR`` verifies each packet offline at start
(:func:`load_packets`, the same :func:`ledger.packet.verify.verify_packet` as ``packet verify``)
and serves only packets that verify.  Counsel of the packet's production sees its disclosure
(``/p/{production}/packets/{id}``: the summary and the packet's own ``disclosure.html``, as the
packet holds it) and downloads the .zip; the auditor, ledger-wide, sees each packet's
verification result (``/packets/{id}``) and downloads the .zip.  A packet's id is the start of
the SHA-256 of its .zip.  Every view names one action and calls the portal's one permission check
(``Site.guard``) before it reads anything; another production's packets answer 404.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ledger.errors import VerificationFailure
from ledger.packet.build import DISCLOSURE_HTML, DISCLOSURE_JSON, PACKET_JSON
from ledger.packet.files import read_packet, sha256_hex, zip_bytes
from ledger.packet.verify import verify_packet
from portal.data import NotFound
from portal.performer import Site
from portal.permissions import LEDGER, Resource
from portal.security import DOWNLOAD_CSP, download

ID_HEX = 16


@dataclass(frozen=True)
class ServedPacket:
    """A verified packet, held in memory: what the pages show and the .zip they hand out."""

    packet_id: str
    production: str
    episode: str
    name: str
    zip: bytes
    disclosure: dict[str, Any]
    disclosure_html: bytes
    verdict: dict[str, Any]
    verified_at: int

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.packet_id,
            "production": self.production,
            "episode": self.episode,
            "name": self.name,
            "zip_sha256": sha256_hex(self.zip),
            "zip_bytes": len(self.zip),
            "verified": bool(self.verdict.get("ok")),
            "verified_at": self.verified_at,
            "checkpoint_size": self.verdict.get("checkpoint_size"),
            "disclosure_summary": self.disclosure.get("summary"),
        }


PACKETS: list[ServedPacket] = []
"""The packets the portal serves (set by ``assetledger serve --packet``); none by default."""


def load_packets(paths: Iterable[Path], log_vkey: str) -> list[ServedPacket]:
    """Each packet verified offline (without re-rendering its PDF); VerificationFailure names the
    first packet that fails and why, so the portal never offers an unverified disclosure."""
    served = []
    for path in paths:
        verdict = verify_packet(path, log_vkey, check_pdf=False)
        if not verdict.ok:
            first = verdict.problems[0]
            raise VerificationFailure(f"packet {path} fails: {first.code}: {first.detail}")
        files = read_packet(path)
        data = path.read_bytes() if path.is_file() else zip_bytes(files)
        header = json.loads(files[PACKET_JSON])
        served.append(
            ServedPacket(
                packet_id=sha256_hex(data)[:ID_HEX],
                production=str(header["production"]),
                episode=str(header["episode"]),
                name=(path.stem if path.is_file() else path.name) + ".zip",
                zip=data,
                disclosure=json.loads(files[DISCLOSURE_JSON]),
                disclosure_html=files[DISCLOSURE_HTML],
                verdict=verdict.to_json(),
                verified_at=int(time.time()),
            )
        )
    return served


def _find(request: Request, production: str | None = None) -> ServedPacket:
    wanted = str(request.path_params["packet_id"])
    for packet in PACKETS:
        if packet.packet_id == wanted and production in (None, packet.production):
            return packet
    raise NotFound("no such delivery packet")


def _zip(packet: ServedPacket) -> Response:
    return download(packet.zip, packet.name, "application/zip")


# --- counsel: the packets of a production, each disclosure, the .zip ----------------------


def packets_page(p: Site, request: Request) -> Response:
    production = p.production(request)
    who = p.guard(request, "packets.view", Resource(production))
    p.existing(production)
    found = [x.summary() for x in PACKETS if x.production == production]
    data = {"production": production, "packets": found, "auditor": False}
    return p.page(request, "packets.html", data, who)


def packet_page(p: Site, request: Request) -> Response:
    production = p.production(request)
    who = p.guard(request, "packets.view", Resource(production))
    packet = _find(request, production)
    data = {
        "production": production,
        "packet": packet.summary(),
        "disclosure": packet.disclosure,
        "verdict": packet.verdict,
    }
    return p.page(request, "packet.html", data, who)


def disclosure_file(p: Site, request: Request) -> Response:
    """The packet's own ``disclosure.html``, byte for byte, shown in a sandbox."""
    production = p.production(request)
    p.guard(request, "packets.view", Resource(production))
    packet = _find(request, production)
    return Response(
        packet.disclosure_html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DOWNLOAD_CSP},
    )


def packet_zip(p: Site, request: Request) -> Response:
    production = p.production(request)
    p.guard(request, "packet.download", Resource(production))
    return _zip(_find(request, production))


# --- the auditor: every packet and its verification result, the .zip ----------------------


def audit_packets_page(p: Site, request: Request) -> Response:
    who = p.guard(request, "packets.audit", LEDGER)
    found = [{**x.summary(), "problems": x.verdict.get("problems", [])} for x in PACKETS]
    data = {"production": None, "packets": found, "auditor": True}
    return p.page(request, "packets.html", data, who)


def audit_packet_page(p: Site, request: Request) -> Response:
    who = p.guard(request, "packets.audit", LEDGER)
    packet = _find(request)
    data = {"production": None, "packet": packet.summary(), "verdict": packet.verdict}
    return p.page(request, "packet.html", data, who)


def audit_packet_zip(p: Site, request: Request) -> Response:
    p.guard(request, "packets.audit_download", LEDGER)
    return _zip(_find(request))


View = Callable[[Site, Request], Response]

PAGES: list[tuple[str, str, View]] = [
    ("/p/{production}/packets", "/p/{production}/packets", packets_page),
    ("/p/{production}/packets/{packet_id}", "/p/{production}/packets/{packet_id}", packet_page),
    ("/packets", "/packets", audit_packets_page),
    ("/packets/{packet_id}", "/packets/{packet_id}", audit_packet_page),
]
"""(HTML path, JSON twin under /api/v1, view), as :data:`portal.app.PAGES`."""

FILES: list[tuple[str, View]] = [
    ("/p/{production}/packets/{packet_id}/disclosure.html", disclosure_file),
    ("/p/{production}/packets/{packet_id}/packet.zip", packet_zip),
    ("/packets/{packet_id}/packet.zip", audit_packet_zip),
]
