"""The one permission check: every role against every action, deny by default."""

from __future__ import annotations

import pytest

from portal.accounts import Account
from portal.permissions import LEDGER, RULES, Resource, permission_allowed

FT = "Fallen Tower"
counsel = Account("c", "counsel", (FT,), None, False)
guild = Account("g", "guild", (FT,), "SAG-AFTRA", False)
auditor = Account("a", "auditor", (), None, False)
admin = Account("x", "admin", (), None, False)
DANA, OMAR = "performer:dana-whitfield", "performer:omar-haddad"
performer = Account("d", "performer", (), None, False, (DANA,))
agent = Account("ag", "agent", (), None, False, (DANA, OMAR))

EXPECTED = {
    counsel: {
        "dashboard.view", "findings.view", "lineage.view", "consents.view",
        "ai_register.view", "audit_report.download", "receipt.download", "credits.view",
        "credits.download", "impacts.view", "replica_register.view", "replica_register.download",
        "packets.view", "packet.download",
    },
    guild: {
        "credits.view", "credits.download", "member_consents.view", "impacts.view",
        "replica_register.view", "replica_register.download",
    },
    auditor: {
        "health.view", "proof.download", "search.view", "packets.audit", "packets.audit_download",
    },
    admin: {"accounts.view", "access_log.view", "search.view"},
    performer: {"performer_uses.view", "performer_uses.download"},
    agent: {"performer_uses.view", "performer_uses.download"},
}  # fmt: skip


@pytest.mark.parametrize("actor", list(EXPECTED), ids=lambda a: a.role)
def test_each_role_gets_exactly_its_actions(actor: Account) -> None:
    resource = Resource(FT) if actor.productions else LEDGER
    if actor.parties:
        resource = Resource(party=DANA)
    allowed = {a for a in RULES if permission_allowed(actor, a, resource)}
    assert allowed == EXPECTED[actor]


def test_every_role_may_search_and_only_ledger_wide() -> None:
    """Every role but performer and agent: their one page is their whole view."""
    for actor in EXPECTED:
        searches = actor.role not in ("performer", "agent")
        assert permission_allowed(actor, "search.view", LEDGER) is searches, actor.role
        assert not permission_allowed(actor, "search.view", Resource(FT)), actor.role
    assert not permission_allowed(Account("d", "admin", (), None, True), "search.view", LEDGER)


@pytest.mark.parametrize("actor", [counsel, guild], ids=lambda a: a.role)
def test_no_action_on_a_production_outside_the_grant(actor: Account) -> None:
    for action in RULES:
        assert not permission_allowed(actor, action, Resource("Quiet Harbor")), action
        assert not permission_allowed(actor, action, Resource("fallen tower")), action  # exact


def test_production_actions_need_a_production_and_ledger_actions_refuse_one() -> None:
    assert not permission_allowed(counsel, "dashboard.view", LEDGER)
    assert not permission_allowed(auditor, "health.view", Resource(FT))


def test_guild_grant_is_checked_when_the_resource_names_a_guild() -> None:
    assert permission_allowed(guild, "credits.view", Resource(FT, "SAG-AFTRA"))
    assert not permission_allowed(guild, "credits.view", Resource(FT, "WGA"))


def test_deny_by_default() -> None:
    assert not permission_allowed(None, "credits.view", Resource(FT))
    assert not permission_allowed(counsel, "no.such.action", Resource(FT))
    assert not permission_allowed(counsel, "", Resource(FT))
    disabled = Account("c", "counsel", (FT,), None, True)
    assert not any(permission_allowed(disabled, a, Resource(FT)) for a in RULES)
    stranger = Account("s", "superuser", (FT,), None, False)
    assert not any(permission_allowed(stranger, a, Resource(FT)) for a in RULES)
    assert not any(permission_allowed(stranger, a, LEDGER) for a in RULES)


def test_performer_pages_follow_the_party_and_nothing_else() -> None:
    for action in ("performer_uses.view", "performer_uses.download"):
        assert permission_allowed(performer, action, Resource(party=DANA))
        assert not permission_allowed(performer, action, Resource(party=OMAR))
        assert not permission_allowed(performer, action, Resource(party=None))
        assert not permission_allowed(performer, action, Resource(FT, party=DANA))
        assert permission_allowed(agent, action, Resource(party=OMAR))
        for other in (counsel, guild, auditor, admin):
            assert not permission_allowed(other, action, Resource(party=DANA)), other.role
    for action in RULES:  # no production page, no ledger page for a performer
        assert not permission_allowed(performer, action, Resource(FT)), action
        assert not permission_allowed(performer, action, LEDGER), action
