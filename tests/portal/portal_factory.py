"""A real signed ledger with two productions, and portal accounts for every role.

Fallen Tower is the demo production; Quiet Harbor is a second, small one with names in
Cyrillic, Greek and CJK, so that tests can prove that grants keep productions apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from demo import story
from ledger.events.provenance import PROVENANCE
from ledger.store import Batch, open_store
from portal.accounts import AccountStore
from portal.app import PortalConfig, create_app
from tests.ledger.audit.audit_factory import Item, demo_items, demo_signers, fixed, pending

OTHER = "Quiet Harbor"
FALLEN = story.SHOW
PASSWORD = "correct horse battery staple"
OTHER_NAMES = ("Зоя Ковалёва", "Ελένη Παππά", "山田太郎", "김민준")


def _other_event(
    asset: str, actor: dict[str, Any], action: str, ingredients: list[dict[str, Any]]
) -> Item:
    return (
        "onset-dit",
        PROVENANCE,
        {
            "production": {"show": OTHER, "episode": "201", "sequence": "sq010", "shot": "sh001"},
            "asset": {
                "asset_id": f"quiet-harbor/{asset}",
                "version": "v001",
                "content_sha256": story.content_hash(f"quiet-harbor/{asset}", "v001"),
                "media_type": "image/x-exr",
                "location": None,
            },
            "actor": actor,
            "action": action,
            "digital_source_type": "digitalCapture" if not ingredients else "composite",
            "ingredients": ingredients,
            "rights": {"licence": None},
        },
    )


def other_items() -> list[Item]:
    people = [
        {"actor_id": f"person:qh{i}", "kind": "human", "display_name": n, "role": "cawg.creator"}
        for i, n in enumerate(OTHER_NAMES)
    ]
    plate = _other_event("sh001/plate", people[0], "c2pa.created", [])
    ingredient = {
        "asset_id": "quiet-harbor/sh001/plate",
        "version": "v001",
        "content_sha256": story.content_hash("quiet-harbor/sh001/plate", "v001"),
        "relationship": "parentOf",
    }
    comp = _other_event("sh001/comp", people[1], "c2pa.edited", [ingredient])
    comp_hash = story.content_hash("quiet-harbor/sh001/comp", "v001")
    final_in = {**ingredient, "asset_id": "quiet-harbor/sh001/comp", "content_sha256": comp_hash}
    roto = _other_event("sh001/roto", people[2], "c2pa.created", [])
    final = _other_event("sh001/final", people[3], "c2pa.published", [final_in])
    return [plate, comp, roto, final]


@dataclass
class PortalSite:
    ledger: Path
    accounts: Path
    client: TestClient

    def login(self, name: str, password: str = PASSWORD) -> TestClient:
        """A fresh client signed in as ``name`` (through the login form, with its CSRF token)."""
        client = TestClient(self.client.app, base_url="https://testserver")
        form = client.get("/login")
        token = csrf(form.text)
        response = client.post(
            "/login", data={"name": name, "password": password, "csrf": token, "next": "/"}
        )
        assert response.status_code == 200 and response.url.path == "/", response.text[:300]
        return client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the form"
    return found.group(1)


ACCOUNTS = [
    # name, role, productions, guild
    ("counsel", "counsel", [FALLEN], None),
    ("guild-rep", "guild", [FALLEN], "SAG-AFTRA"),
    ("auditor", "auditor", [], None),
    ("admin", "admin", [], None),
    ("harbor-counsel", "counsel", [OTHER], None),
    ("harbor-guild", "guild", [OTHER], "WGA"),
]


def build_ledger(url: str) -> None:
    """Both productions, signed and inspected as the consumer would, in one batch."""
    entries = pending(fixed(demo_items() + other_items()), demo_signers())
    with open_store(url) as store:
        store.append(Batch(entries, [], {("events", 0): len(entries)}, "test"))


def make_site(tmp: Path, ledger_url: str | None = None, **config: Any) -> PortalSite:
    tmp.mkdir(parents=True, exist_ok=True)
    ledger = tmp / "ledger.db"
    url = ledger_url or str(ledger)
    build_ledger(url)
    accounts = tmp / "accounts.db"
    with AccountStore(accounts) as store:
        for name, role, productions, guild in ACCOUNTS:
            store.add(name, role, productions, PASSWORD, guild)
        store.add_members("SAG-AFTRA", ["performer:dana-whitfield", "performer:omar-haddad"])
    app = create_app(PortalConfig(url, accounts, **config))
    return PortalSite(ledger, accounts, TestClient(app, base_url="https://testserver"))
