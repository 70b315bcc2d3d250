"""Completeness evidence: that the packet holds *every* entry the log has about each asset,
performer, model and key the disclosure relied on, not only the ones the studio chose to include.

PENDING (issue 20, the authenticated index on branch ``index``): once the log commits an
authenticated index at its checkpoints, :func:`evidence` will write one completeness proof per
key and :func:`check` will verify each against the packet's checkpoint.  Until then the packet
lists the index keys its audit asked for (recomputed and compared by ``packet verify``, so the
list itself cannot be edited), and ``packet verify`` reports completeness as *not proven*,
never as checked.
"""

from __future__ import annotations

from typing import Any

from ledger.packet.store import PacketStore

STATUS_PENDING = "not proven: the authenticated index (issue 20) is not in this build"


def evidence(store: PacketStore) -> dict[str, Any]:
    """The completeness section of a packet: the index keys relied on, and their proofs."""
    return {
        "status": STATUS_PENDING,
        "keys": [{"ref": kind, "key": key} for kind, key in sorted(store.queried)],
        "proofs": [],
    }


def check(section: Any) -> tuple[str, list[str]]:
    """(status, problems) of a packet's completeness proofs; the proofs are pending."""
    if not isinstance(section, dict) or section.get("status") != STATUS_PENDING:
        return STATUS_PENDING, ["the completeness section is not one this build writes"]
    return STATUS_PENDING, []
