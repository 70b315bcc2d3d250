"""Dispositions: counsel's signed decisions on audit findings.

A disposition names one finding by its stable id (:func:`ledger.audit.rules.finding_id`: rule,
asset version and evidence) and decides it: ``cleared`` (with a reason and the SHA-256 of the
supporting document), ``waived`` (approver, reason, expiry), ``remediated`` (the asset version
that replaces the one at fault) or ``reopened``.  Its ``action`` is
``assetledger.finding.<decision>``, which is what a legal key scope names: the audit applies a
disposition only when its signer's key was enrolled with a scope naming that action.

The kind is listed in :data:`ledger.events.kinds.KINDS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ledger.events.base import EventKind, Record, check_present, check_sha256

DECISIONS = ("cleared", "waived", "remediated", "reopened")
ACTION_PREFIX = "assetledger.finding."
LEGAL_ACTIONS = tuple(ACTION_PREFIX + d for d in DECISIONS)
_FINDING_ID = re.compile(r"[0-9a-f]{64}")  # fullmatch


def action_for(decision: str) -> str:
    return ACTION_PREFIX + decision


def disposition_problems(event: Record, writing: bool) -> list[str]:
    """Every rule a disposition breaks; empty when it is valid."""
    decision = event["decision"]
    if decision not in DECISIONS:
        return [f"decision {decision!r} is not one of " + ", ".join(DECISIONS)]
    problems = check_present("production.show", event["production"]["show"])
    problems += check_present("actor.actor_id", event["actor"]["actor_id"])
    problems += check_present("actor.display_name", event["actor"]["display_name"])
    if event["actor"]["kind"] != "human":
        problems.append("a disposition is decided by a person: actor.kind must be human")
    if event["action"] != action_for(decision):
        problems.append(f"action must be {action_for(decision)} for a {decision} disposition")
    if not _FINDING_ID.fullmatch(event["finding_id"]):
        problems.append("finding_id must be the 64 hex digits audit ip prints")
    problems += check_present("rule", event["rule"])
    problems += check_present("asset", event["asset"])
    problems += check_present("reason", event["reason"])
    return problems + _decision_problems(event, decision)


def _decision_problems(event: Record, decision: str) -> list[str]:
    given = {
        "document_sha256": event.get("document_sha256"),
        "approver": event.get("approver"),
        "expires": event.get("expires"),
        "replaced_by": event.get("replaced_by"),
    }
    needed = {
        "cleared": {"document_sha256"},
        "waived": {"approver", "expires"},
        "remediated": {"replaced_by"},
        "reopened": set(),
    }[decision]
    problems = [
        f"a {decision} disposition needs {name}" for name in sorted(needed) if not given[name]
    ]
    problems += [
        f"{name} belongs to a {_owner(name)} disposition, not a {decision} one"
        for name, value in given.items()
        if value is not None and name not in needed
    ]
    if given["document_sha256"]:
        problems += check_sha256("document_sha256", str(given["document_sha256"]))
    if given["approver"] is not None:
        problems += check_present("approver", given["approver"])
    expires = given["expires"]
    if isinstance(expires, datetime) and expires <= event["event_time"]:
        problems.append("a waiver must expire after it is granted")
    replaced = given["replaced_by"]
    if isinstance(replaced, dict):
        problems += check_present("replaced_by.asset_id", replaced["asset_id"])
        problems += check_present("replaced_by.version", replaced["version"])
    return problems


def _owner(name: str) -> str:
    return {
        "document_sha256": "cleared",
        "approver": "waived",
        "expires": "waived",
        "replaced_by": "remediated",
    }[name]


def disposition_refs(event: Record) -> list[tuple[str, str]]:
    """Index rows: the finding decided, its asset version, the show, who decided."""
    rows = [
        ("finding", str(event["finding_id"])),
        ("disposition_asset", str(event["asset"])),
        ("show", str(event["production"]["show"])),
        ("actor", str(event["actor"]["actor_id"])),
    ]
    replaced = event.get("replaced_by")
    if replaced:
        rows.append(("replacement", f"{replaced['asset_id']}@{replaced['version']}"))
    return rows


DISPOSITION = EventKind(
    record="disposition_event",
    payload_type="application/vnd.assetledger.disposition-event+avro",
    ce_type="io.assetledger.disposition.v1",
    subject=lambda e: str(e["finding_id"]),
    problems=disposition_problems,
    shows=lambda e: [("production.show", e["production"]["show"])],
    refs=disposition_refs,
)


@dataclass(frozen=True)
class Disposition:
    """One decoded disposition, with where it sits in the ledger."""

    seq: int
    event_id: str
    event_time: datetime
    signer_keyid: str
    finding_id: str
    rule: str
    asset: str
    decision: str
    reason: str
    actor_id: str
    actor_name: str
    actor_role: str
    document_sha256: str | None
    approver: str | None
    expires: datetime | None
    replaced_by: str | None  # "id@version"
    show: str = ""  # the production it was made for (its key's scope was checked against it)

    @classmethod
    def from_record(cls, seq: int, signer_keyid: str, event: Record) -> Disposition:
        replaced = event.get("replaced_by")
        return cls(
            seq=seq,
            event_id=event["event_id"],
            event_time=event["event_time"],
            signer_keyid=signer_keyid,
            finding_id=event["finding_id"],
            rule=event["rule"],
            asset=event["asset"],
            decision=event["decision"],
            reason=event["reason"],
            actor_id=event["actor"]["actor_id"],
            actor_name=event["actor"]["display_name"],
            actor_role=event["actor"]["role"],
            document_sha256=event.get("document_sha256"),
            approver=event.get("approver"),
            expires=event.get("expires"),
            replaced_by=None if not replaced else f"{replaced['asset_id']}@{replaced['version']}",
            show=str((event.get("production") or {}).get("show") or ""),
        )


def disposition_event(
    decision: str,
    *,
    finding_id: str,
    rule: str,
    asset: str,
    show: str,
    actor: Record,
    reason: str,
    document_sha256: str | None = None,
    approver: str | None = None,
    expires: datetime | str | None = None,
    replaced_by: tuple[str, str] | None = None,
    event_time: datetime | str | None = None,
) -> Record:
    """The JSON-shaped disposition event (for :class:`producers.emitter.Emitter`)."""
    event: Record = {
        "production": {"show": show, "episode": None},
        "actor": dict(actor),
        "action": action_for(decision),
        "finding_id": finding_id,
        "rule": rule,
        "asset": asset,
        "decision": decision,
        "reason": reason,
        "document_sha256": document_sha256,
        "approver": approver,
        "expires": expires,
        "replaced_by": None
        if replaced_by is None
        else {"asset_id": replaced_by[0], "version": replaced_by[1]},
    }
    if event_time is not None:
        event["event_time"] = event_time
    return event
