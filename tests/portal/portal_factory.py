"""A real signed ledger with two productions, and portal accounts for every role.

Fallen Tower is the demo production, as ``assetledger demo`` records it: a key registry
(counsel enrolled with a legal scope), consents and licence records, the production, the
remediation of sh010 and counsel's two decisions.  Quiet Harbor is a second, small one with
names in Cyrillic, Greek and CJK, so that tests can prove that grants keep productions apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from demo import story
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.events.disposition import DISPOSITION, LEGAL_ACTIONS, disposition_event
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.keyregistry import Scope as KeyScope
from ledger.events.provenance import PROVENANCE
from ledger.store import Batch, LedgerStore, open_store
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from portal.accounts import AccountStore
from portal.app import PortalConfig, create_app
from tests.ledger.audit.audit_factory import (
    BASE_TIME,
    Item,
    demo_items,
    demo_signers,
    fixed,
    pending,
)

OTHER = "Quiet Harbor"
FALLEN = story.SHOW
PASSWORD = "correct horse battery staple"
OTHER_NAMES = ("Зоя Ковалёва", "Ελένη Παππά", "山田太郎", "김민준")


HARBOR_SIGNER = "harbor-dit"
DECIDED_AT = BASE_TIME + timedelta(days=30)  # after every fixed() event


def _other_event(
    asset: str, actor: dict[str, Any], action: str, ingredients: list[dict[str, Any]]
) -> Item:
    return (
        HARBOR_SIGNER,
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
    url: str
    signers: dict[str, KeyPair]

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


def _enrolments(signers: dict[str, KeyPair]) -> list[Item]:
    """Every signer enrolled by the root a day before the story; counsel with a legal scope."""
    when = BASE_TIME - timedelta(days=1)
    items: list[Item] = []
    for name, pair in sorted(signers.items()):
        if name == "root":
            continue
        actor, kind, scope = f"service:{name}", "software", KeyScope()
        if name == "counsel":
            actor, kind = story.COUNSEL["actor_id"], "human"
            scope = KeyScope(productions=(story.SHOW,), actors=(actor,), actions=LEGAL_ACTIONS)
        event = enroll_event(actor, kind, name, pair.public, scope=scope, event_time=when)
        event["event_id"] = story.fixed_id(f"portal-enrol:{name}")
        items.append(("root", KEY_REGISTRY, event))
    return items


def decisions(store: LedgerStore) -> list[Item]:
    """Counsel's decisions of the demo, each naming the finding id the audit computes."""
    found = run_audit(LedgerView.open(store, at_head=True), Scope(story.SHOW)).findings
    by_key = {(f.rule, f.asset): f for f in found}
    items: list[Item] = []
    for i, d in enumerate(story.counsel_decisions()):
        f = by_key[(d["rule"], d["asset"])]
        event = disposition_event(
            d["decision"],
            finding_id=f.finding_id,
            rule=f.rule,
            asset=f.asset,
            show=story.SHOW,
            actor=story.COUNSEL,
            reason=d["reason"],
            document_sha256=d.get("document_sha256"),
            replaced_by=d.get("replaced_by"),
            event_time=(DECIDED_AT + timedelta(minutes=i)).isoformat(),
        )
        event["event_id"] = story.fixed_id(f"portal-decision:{i}")
        items.append(("counsel", DISPOSITION, event))
    return items


def signers() -> dict[str, KeyPair]:
    pairs = demo_signers()
    pairs.update(root=keys.generate("root"), **{HARBOR_SIGNER: keys.generate(HARBOR_SIGNER)})
    return pairs


def append(store: LedgerStore, items: list[Item], pairs: dict[str, KeyPair]) -> None:
    """Sign and append, as the consumer would (offsets continue from the ledger's)."""
    start = store.head().size
    entries = [
        replace(e, origin=replace(e.origin, offset=start + e.origin.offset))
        for e in pending(items, pairs)
    ]
    store.append(Batch(entries, [], {("events", 0): start + len(entries)}, "test"))


def build_ledger(url: str) -> dict[str, KeyPair]:
    """Both productions, signed and inspected as the consumer would, then counsel's decisions."""
    pairs = signers()
    remediation = [(s, PROVENANCE, dict(e)) for s, e in story.remediation()]
    items = _enrolments(pairs) + fixed(demo_items() + remediation + other_items())
    with open_store(url) as store:
        set_roots(store, [RootKey("root", pairs["root"].public)])
        append(store, items, pairs)
        append(store, decisions(store), pairs)
    return pairs


def make_site(tmp: Path, ledger_url: str | None = None, **config: Any) -> PortalSite:
    tmp.mkdir(parents=True, exist_ok=True)
    ledger = tmp / "ledger.db"
    url = ledger_url or str(ledger)
    pairs = build_ledger(url)
    accounts = tmp / "accounts.db"
    with AccountStore(accounts) as store:
        for name, role, productions, guild in ACCOUNTS:
            store.add(name, role, productions, PASSWORD, guild)
        store.add_members("SAG-AFTRA", ["performer:dana-whitfield", "performer:omar-haddad"])
    app = create_app(PortalConfig(url, accounts, **config))
    client = TestClient(app, base_url="https://testserver")
    return PortalSite(ledger, accounts, client, url, pairs)
