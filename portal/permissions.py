"""The one permission check of the portal: :func:`permission_allowed`.

Every view calls it before it reads anything (as in Datasette).  Deny by default: an action
not in :data:`RULES`, a role not listed for it, a disabled account, or a production (or guild)
outside the account's grants is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.accounts import Account


@dataclass(frozen=True)
class Resource:
    """What an action is about: a production (and for guild pages, a guild), a performer (a
    party id, for performers' and agents' pages), or the ledger."""

    production: str | None = None
    guild: str | None = None
    party: str | None = None


LEDGER = Resource()


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scoped: bool  # needs a production grant for Resource.production
    by_party: bool = False  # needs Resource.party among the account's parties (and no production)


def _rule(*roles: str, scoped: bool = True) -> Rule:
    return Rule(frozenset(roles), scoped)


def _party_rule(*roles: str) -> Rule:
    return Rule(frozenset(roles), False, by_party=True)


RULES: dict[str, Rule] = {
    # counsel: findings and everything behind them
    "dashboard.view": _rule("counsel"),
    "findings.view": _rule("counsel"),
    "lineage.view": _rule("counsel"),
    "consents.view": _rule("counsel"),
    "ai_register.view": _rule("counsel"),
    "audit_report.download": _rule("counsel"),
    "receipt.download": _rule("counsel"),
    # guild representatives (and counsel): credits, AI disclosures, members' consent status
    "credits.view": _rule("counsel", "guild"),
    "credits.download": _rule("counsel", "guild"),
    "member_consents.view": _rule("guild"),
    # revocation impact (guild representatives: their members' only) and the replica register
    "impacts.view": _rule("counsel", "guild"),
    "replica_register.view": _rule("counsel", "guild"),
    "replica_register.download": _rule("counsel", "guild"),
    # performers, and agents for the performers they represent: their own uses, every production
    "performer_uses.view": _party_rule("performer", "agent"),
    "performer_uses.download": _party_rule("performer", "agent"),
    # auditors: the ledger's health, ledger-wide
    "health.view": _rule("auditor", scoped=False),
    "proof.download": _rule("auditor", scoped=False),
    # delivery packets (portal.packets): counsel of the production sees the disclosure and
    # downloads the .zip; the auditor, ledger-wide, sees every packet's verification and its .zip
    "packets.view": _rule("counsel"),
    "packet.download": _rule("counsel"),
    "packets.audit": _rule("auditor", scoped=False),
    "packets.audit_download": _rule("auditor", scoped=False),
    # admins: accounts and the access log
    "accounts.view": _rule("admin", scoped=False),
    "access_log.view": _rule("admin", scoped=False),
    # every role: search within what its other rules let it see (portal.search)
    "search.view": _rule("counsel", "guild", "auditor", "admin", scoped=False),
}


def permission_allowed(actor: Account | None, action: str, resource: Resource = LEDGER) -> bool:
    """May ``actor`` do ``action`` on ``resource``?  False unless a rule says yes."""
    if actor is None or actor.disabled:
        return False
    rule = RULES.get(action)
    if rule is None or actor.role not in rule.roles:
        return False
    if rule.by_party:
        return resource.production is None and resource.party in actor.parties
    if not rule.scoped:
        return resource.production is None
    if resource.production is None or resource.production not in actor.productions:
        return False
    if actor.role == "guild":
        return resource.guild is None or resource.guild == actor.guild
    return True


def visible_productions(actor: Account, known: list[str]) -> list[str]:
    """The productions of the ledger this actor holds a grant for."""
    return [p for p in known if p in actor.productions]
