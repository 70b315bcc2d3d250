"""The audit tests' demo ledger, for the report tests."""

from __future__ import annotations

from tests.ledger.audit.conftest import demo_ledger, signers, view

__all__ = ["demo_ledger", "signers", "view"]
