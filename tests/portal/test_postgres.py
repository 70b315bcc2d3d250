"""The portal over a PostgreSQL ledger: the same pages, and no way to write through it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from ledger.errors import StoreError
from ledger.store import Batch
from portal.app import Portal
from tests.portal.portal_factory import FALLEN, make_site

pytestmark = pytest.mark.postgres


def test_portal_reads_a_postgres_ledger_read_only(pg_schema_dsn: str, tmp_path: Path) -> None:
    site = make_site(tmp_path, ledger_url=pg_schema_dsn)
    counsel = site.login("counsel")
    data = counsel.get(f"/api/v1/p/{quote(FALLEN, safe='')}").json()
    assert data["open_findings_by_severity"] == {"critical": 2, "high": 4}
    assert {f["status"] for f in data["disposed_findings"]} == {"cleared", "remediated"}
    assert sum(d["clear_to_ship"] for d in data["deliverables"]) == 2
    guild = site.login("guild-rep")
    assert guild.get(f"/p/{quote(FALLEN, safe='')}").status_code == 403
    portal: Portal = site.client.app.state.portal  # type: ignore[attr-defined]
    size = portal.ledger.store.head().size
    assert size > 0
    with pytest.raises(StoreError, match="read-only transaction"):
        portal.ledger.store.append(Batch([], [], {("events", 0): 999}, "intruder"))
    assert portal.ledger.store.head().size == size
