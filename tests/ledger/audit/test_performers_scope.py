"""Performers' uses, impacts and the register keep productions apart as the audit does.

Found by an outside review (issues 19 and 23): the performers' outputs judged a use through the
whole ledger, while the audit judges it through the production's own records
(:func:`ledger.audit.production.production_view`), so a production's register could state the
terms of a consent recorded for another production, and its impact list another production's
revoked consents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from demo import story
from ledger.audit.ip import AuditResult, Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.performers import (
    Audits,
    performer_uses,
    production_impacts,
    production_uses,
    register_rows,
)
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import Item, build_store, fixed, provenance
from tests.ledger.audit.test_contracts import old_message
from tests.ledger.audit.test_production_scope import _named, append_messages, old_consent

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "Fallen Tower/Secret"
P0 = "performer:p0"


def audits(view: LedgerView) -> Audits:
    cache: dict[str, AuditResult] = {}

    def audit_of(production: str) -> AuditResult:
        if production not in cache:
            cache[production] = run_audit(view, Scope(production), as_of=NOW)
        return cache[production]

    return audit_of


def _borrowed(consent_id: str) -> list[Item]:
    """Fallen Tower's replica of p0 citing the consent p0 gave another production."""
    thief = provenance(
        "ft/replica",
        ai=True,
        likeness=[{"performer_id": P0, "use": "digital_replica", "consent_ref": consent_id}],
    )
    thief[2]["production"] = {
        "show": "Fallen Tower",
        "episode": "1",
        "sequence": None,
        "shot": None,
    }
    return [thief]


def test_a_register_states_no_terms_of_another_productions_consent(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    secret = _named(SECRET, 0)
    consent_id = secret[0][2]["event_id"]
    store = build_store(tmp_path / "l.db", [*secret, *_borrowed(consent_id)], signers)
    view = LedgerView.open(store, at_head=True)
    audit_of = audits(view)
    [use] = production_uses(view, "Fallen Tower", audit_of)
    [finding] = [
        f for f in audit_of("Fallen Tower").findings if f.rule == "likeness-without-consent"
    ]
    assert not use.covered and use.finding == finding
    # the reason is the audit's own, word for word, and no other production's terms show
    assert use.reason is not None and use.reason in finding.explanation
    assert use.consent is None and use.consent_record is None
    [row] = register_rows([use], {P0: None})
    assert "payroll ref" not in row["compensation_ref"] and "Secret" not in str(row)
    # the performer's own page says the same as the audit of each production
    mine = {u.step.show: u for u in performer_uses(view, P0, audit_of)}
    assert mine["Fallen Tower"].reason == use.reason
    assert mine[SECRET].covered and mine[SECRET].compensation_ref == f"payroll ref for {SECRET}"


def test_an_old_slash_named_consents_revocation_is_not_another_shows_impact(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """An old consent string "Fallen Tower/Secret" (filed under "Fallen Tower" by the old
    split), revoked: the impact belongs to that show, never to Fallen Tower's counsel."""
    grant = old_consent("old:secret", [SECRET])
    revoke = old_consent("old:secret-revoked", [SECRET])
    revoke[2].update(
        status="revoked",
        revokes=story.fixed_id("old:secret"),
        valid_from="2025-02-01T00:00:00Z",
        expires=None,
    )
    shows = fixed([provenance("ft/plate"), *_named(SECRET, 3)[1:]])
    store = build_store(tmp_path / "l.db", shows, signers)
    signed = [old_message(dict(e), k, signers[s]) for s, k, e in fixed([grant, revoke])]
    append_messages(store, signed, signers)
    view = LedgerView.open(store, at_head=True)
    assert production_impacts(view, "Fallen Tower", audits(view), as_of=NOW) == []
    [impact] = production_impacts(view, SECRET, audits(view), as_of=NOW)
    assert impact.consent.event_id == story.fixed_id("old:secret")


def test_a_register_names_performers_from_its_own_productions_consents(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Another production's consent naming Dana differently (a later one, by any signer that
    may record consents) does not rename her in Fallen Tower's register."""
    from ledger.audit.performers import party_name
    from tests.ledger.audit.audit_factory import consent_item, demo_items

    dana = "performer:dana-whitfield"
    renamed = consent_item(
        event_id=story.fixed_id("evil-consent"),
        grantor={"party_id": dana, "kind": "performer", "display_name": "=Someone Else"},
        coverage=[{"show": "Evil Show", "episode": None}],
    )
    store = build_store(tmp_path / "l.db", [*demo_items(), renamed], signers)
    view = LedgerView.open(store, at_head=True)
    assert party_name(view, dana, story.SHOW) == "Dana Whitfield"
    assert party_name(view, dana, "Evil Show") == "=Someone Else"
    uses = production_uses(view, story.SHOW, audits(view))
    names = {u.party: party_name(view, u.party, story.SHOW) for u in uses}
    assert register_rows(uses, names)[0]["performer_name"] == "Dana Whitfield"
