"""Counsel's decisions as events: find a finding by its id, check the legal scope, build the
disposition (``assetledger finding clear|waive|remediate|reopen``)."""

from __future__ import annotations

import re
from typing import Any

from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.rules import DELIVERABLE_UNRESOLVED_ID, Finding
from ledger.errors import ConfigurationError
from ledger.events.base import Record
from ledger.events.disposition import action_for, disposition_event
from ledger.trust.replay import registry_from_ledger

_HEX64 = re.compile(r"[0-9a-f]{64}")  # fullmatch


def find_finding(view: LedgerView, wanted: str) -> Finding:
    """The finding with id ``wanted`` in an audit of the whole ledger (at the view's size)."""
    if not _HEX64.fullmatch(wanted):
        raise ConfigurationError(
            f"{wanted!r} is not a finding id (64 lowercase hex digits)",
            hint="copy the id from assetledger audit ip --format json (field id)",
        )
    for f in run_audit(view, Scope()).findings:
        if f.finding_id == wanted:
            return f
    raise ConfigurationError(
        f"no finding {wanted[:16]}… in an audit of {view.store.url} at tree size {view.state.size}",
        hint="its evidence may have changed since (the id changes with it): audit again",
    )


def decide(
    view: LedgerView,
    signer_keyid: str,
    decision: str,
    wanted: str,
    *,
    reason: str,
    role: str,
    **terms: Any,
) -> Record:
    """A disposition event for finding ``wanted``, refused up front if it would not count.

    The signer must be enrolled in the ledger's key registry with a legal scope naming the
    decision's action; ``terms`` are the decision's own fields (``document_sha256``,
    ``approver`` and ``expires``, ``replaced_by``).
    """
    finding = find_finding(view, wanted)
    if finding.rule == DELIVERABLE_UNRESOLVED_ID:
        raise ConfigurationError(
            "a deliverable-unresolved finding follows from the findings in its lineage",
            hint="decide those findings; the deliverable is clear to ship once none is open",
        )
    registry = registry_from_ledger(view.store)
    key = registry.key_for(signer_keyid)
    action = action_for(decision)
    if key is None or action not in key.scope.actions:
        raise ConfigurationError(
            f"key {signer_keyid[:16]}… is not enrolled with a legal scope naming {action},"
            " so the audit would not apply this disposition",
            hint="enrol counsel's key with --action assetledger.finding.<decision> for each"
            " decision they may make (assetledger keys enroll)",
        )
    actor = registry.actors[key.actor_id]
    show = next(iter(view.recorded(finding.asset)), None)
    return disposition_event(
        decision,
        finding_id=finding.finding_id,
        rule=finding.rule,
        asset=finding.asset,
        show=show.show if show else "",
        actor={
            "actor_id": key.actor_id,
            "kind": actor.kind,
            "display_name": actor.display_name,
            "role": role,
        },
        reason=reason,
        **terms,
    )
