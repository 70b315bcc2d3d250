"""Approvals: a distributor's or counsel's signed written approval of a generative-AI use.

Distributors ask production partners for written approval before generative AI is used in
final deliverables, for talent likeness and digital replicas, for third-party material given
to an AI tool as input, and for personal data given to one.  An approval names the production
(and episode, or every episode), the category of use, the asset versions it covers (none: every
use of that category), the decision (``approved`` or ``refused``), its conditions, its expiry
and the SHA-256 of the signed letter.  Its ``action`` is ``assetledger.approval.<decision>``,
which a distributor or legal key scope names: the audit counts an approval only when its
signer's key was enrolled with a scope naming that action, for that production, and was valid
when it was signed (:func:`ledger.audit.rules.approval_findings`).

The kind is listed in :data:`ledger.events.kinds.KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger.events.base import EventKind, Record, check_present, check_sha256

# The categories distributors use (e.g. Netflix's guidance for production partners, 2025).
GENERATED_FINAL = "generated_final"
LIKENESS = "likeness"
THIRD_PARTY_INPUT = "third_party_input"
PERSONAL_DATA = "personal_data"
CATEGORIES = (GENERATED_FINAL, LIKENESS, THIRD_PARTY_INPUT, PERSONAL_DATA)
CATEGORY_TITLES = {
    GENERATED_FINAL: "Generated material in final deliverables",
    LIKENESS: "Talent likeness and digital replicas",
    THIRD_PARTY_INPUT: "Third-party material used as AI input",
    PERSONAL_DATA: "Personal data given to an AI tool",
}
DECISIONS = ("approved", "refused")
ACTION_PREFIX = "assetledger.approval."
APPROVAL_ACTIONS = tuple(ACTION_PREFIX + d for d in DECISIONS)


def action_for(decision: str) -> str:
    return ACTION_PREFIX + decision


def approval_problems(event: Record, writing: bool) -> list[str]:
    """Every rule an approval breaks; empty when it is valid."""
    problems = check_present("production.show", event["production"]["show"])
    problems += check_present("actor.actor_id", event["actor"]["actor_id"])
    problems += check_present("actor.display_name", event["actor"]["display_name"])
    problems += check_present("organisation", event["organisation"])
    problems += check_present("reason", event["reason"])
    if event["actor"]["kind"] != "human":
        problems.append("an approval is given by a person: actor.kind must be human")
    decision = event["decision"]
    if decision not in DECISIONS:
        problems.append(f"decision {decision!r} is not one of " + ", ".join(DECISIONS))
    elif event["action"] != action_for(decision):
        problems.append(f"action must be {action_for(decision)} for a {decision} approval")
    if event["category"] not in CATEGORIES:
        problems.append(f"category {event['category']!r} is not one of " + ", ".join(CATEGORIES))
    for i, asset in enumerate(event["assets"]):
        if "@" not in asset or not asset.rsplit("@", 1)[1]:
            problems.append(f"assets[{i}] {asset!r} is not an asset version (id@version)")
    problems += [
        p for i, c in enumerate(event["conditions"]) for p in check_present(f"conditions[{i}]", c)
    ]
    expires = event.get("expires")
    if isinstance(expires, datetime) and expires <= event["event_time"]:
        problems.append("an approval must expire after it is given")
    if event.get("document_sha256") is not None:
        problems += check_sha256("document_sha256", event["document_sha256"])
    return problems


def category_key(show: str, category: str) -> str:
    """The query index key of approvals of a whole category in a production: the category
    first (it holds no ``/``), so a show whose name holds ``/`` cannot pass for another."""
    return f"{category}/{show}"


def approval_refs(event: Record) -> list[tuple[str, str]]:
    """Index rows: each asset version approved, else the category, the show, who approved."""
    show = str(event["production"]["show"])
    rows = [("approval_asset", str(a)) for a in event["assets"]]
    if not event["assets"]:
        rows.append(("approval_category", category_key(show, str(event["category"]))))
    rows += [("show", show), ("actor", str(event["actor"]["actor_id"]))]
    return rows


APPROVAL = EventKind(
    record="approval_event",
    payload_type="application/vnd.assetledger.approval-event+avro",
    ce_type="io.assetledger.approval.v1",
    subject=lambda e: str(e["production"]["show"]),
    problems=approval_problems,
    shows=lambda e: [("production.show", e["production"]["show"])],
    refs=approval_refs,
)


@dataclass(frozen=True)
class Approval:
    """One decoded approval, with where it sits in the ledger."""

    seq: int
    event_id: str
    event_time: datetime
    signer_keyid: str
    show: str
    episode: str | None
    actor_id: str
    actor_name: str
    actor_role: str
    organisation: str
    category: str
    assets: tuple[str, ...]
    decision: str
    conditions: tuple[str, ...]
    expires: datetime | None
    document_sha256: str | None
    reason: str

    @classmethod
    def from_record(cls, seq: int, signer_keyid: str, event: Record) -> Approval:
        return cls(
            seq=seq,
            event_id=event["event_id"],
            event_time=event["event_time"],
            signer_keyid=signer_keyid,
            show=event["production"]["show"],
            episode=event["production"].get("episode"),
            actor_id=event["actor"]["actor_id"],
            actor_name=event["actor"]["display_name"],
            actor_role=event["actor"]["role"],
            organisation=event["organisation"],
            category=event["category"],
            assets=tuple(event["assets"]),
            decision=event["decision"],
            conditions=tuple(event["conditions"]),
            expires=event.get("expires"),
            document_sha256=event.get("document_sha256"),
            reason=event["reason"],
        )

    def covers(self, show: str, episode: str | None, category: str, asset: str) -> bool:
        """This approval is about that use: same show, episode (or all), category, asset."""
        return (
            self.show == show
            and (self.episode is None or self.episode == episode)
            and self.category == category
            and (not self.assets or asset in self.assets)
        )


def approval_event(
    decision: str,
    *,
    show: str,
    episode: str | None,
    category: str,
    actor: Record,
    organisation: str,
    reason: str,
    assets: list[str] | None = None,
    conditions: list[str] | None = None,
    expires: datetime | str | None = None,
    document_sha256: str | None = None,
    event_time: datetime | str | None = None,
) -> Record:
    """The JSON-shaped approval event (for :class:`producers.emitter.Emitter`)."""
    event: Record = {
        "production": {"show": show, "episode": episode},
        "actor": dict(actor),
        "organisation": organisation,
        "action": action_for(decision),
        "category": category,
        "assets": list(assets or []),
        "decision": decision,
        "conditions": list(conditions or []),
        "expires": expires,
        "document_sha256": document_sha256,
        "reason": reason,
    }
    if event_time is not None:
        event["event_time"] = event_time
    return event
