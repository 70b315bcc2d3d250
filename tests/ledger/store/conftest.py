"""The ``store`` fixture: every backend runs the same storage tests.

``store_url`` is the URL the store was opened with, so a test can open more connections to
the same ledger (concurrent appenders, reopening).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.store import LedgerStore, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    dsn: str = request.getfixturevalue("pg_schema_dsn")
    return dsn


@pytest.fixture
def store(store_url: str) -> Iterator[LedgerStore]:
    s = open_store(store_url)
    yield s
    s.close()
