from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.audit.model import LedgerView
from ledger.store import LedgerStore
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import demo_signers, demo_store


@pytest.fixture(scope="session")
def signers() -> dict[str, KeyPair]:
    return demo_signers()


@pytest.fixture
def demo_ledger(tmp_path: Path, signers: dict[str, KeyPair]) -> Iterator[LedgerStore]:
    store = demo_store(tmp_path / "demo.db", signers)
    yield store
    store.close()


@pytest.fixture
def view(demo_ledger: LedgerStore) -> LedgerView:
    return LedgerView.open(demo_ledger)
