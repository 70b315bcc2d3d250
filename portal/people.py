"""People by name: the display names the ledger itself records for the ids a page shows.

A name comes from the records that count for the production (``ledger.audit.production``): the
signed events' actor ``display_name`` and the consent records' party names; a person who directed
AI work and signed nothing of the production is named as the key registry enrolled them.  An id
that none of these names stays an id.  No name of another production's people is looked up.
"""

from __future__ import annotations

from typing import Any

from ledger.audit.credits import _enrolled_people
from ledger.audit.model import LedgerView
from ledger.audit.production import production_steps
from ledger.reports.report import production_consents


def production_names(view: LedgerView, production: str) -> dict[str, str]:
    """actor or party id → display name, for the ids of one production's records."""
    names: dict[str, str] = {}
    unnamed: set[str] = set()
    steps = production_steps(view, production)  # what counts for it (ledger.audit.production)
    for step in steps:
        if step.actor.name:
            names[step.actor.actor_id] = step.actor.name
        unnamed.update(step.directed_by)
        unnamed.update(u.performer_id for u in step.likeness)
    for consent in production_consents(view, production):
        if consent.party_name:
            names[consent.party_id] = consent.party_name
    unnamed -= set(names)
    if unnamed:
        enrolled = _enrolled_people(view)
        names.update({i: enrolled[i] for i in unnamed if i in enrolled})
    return names


def named(rows: list[dict[str, Any]], names: dict[str, str], key: str) -> list[dict[str, Any]]:
    """Rows with ``<key>_name``: the display name of the id in ``key`` (None when unnamed)."""
    return [r | {f"{key}_name": names.get(str(r.get(key)))} for r in rows]
