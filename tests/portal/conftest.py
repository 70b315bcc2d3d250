from __future__ import annotations

from pathlib import Path

import pytest

from tests.portal.portal_factory import PortalSite, make_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PortalSite:
    """One portal over one two-production ledger, shared by a module's read-only tests."""
    return make_site(tmp_path_factory.mktemp("portal"))


@pytest.fixture
def fresh_site(tmp_path: Path) -> PortalSite:
    """A portal of its own, for tests that change state (rate limits, accounts)."""
    return make_site(tmp_path)
