"""A performer's uses, revocation impact and the replica register (ledger.audit.performers)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from demo import story
from ledger.audit.ip import AuditResult, Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.performers import (
    REGISTER_COLUMNS,
    TIMECODES_NOT_READ,
    Audits,
    consent_impacts,
    party_impacts,
    performer_uses,
    production_impacts,
    register_rows,
)
from ledger.audit.text import csv_text
from ledger.store import LedgerStore
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import (
    Item,
    build_store,
    consent_item,
    demo_items,
    ingredient,
    licence_item,
    provenance,
)

DANA = "performer:dana-whitfield"
OMAR = "performer:omar-haddad"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def audits(view: LedgerView) -> Audits:
    cache: dict[str, AuditResult] = {}

    def audit_of(production: str) -> AuditResult:
        if production not in cache:
            cache[production] = run_audit(view, Scope(production), as_of=NOW)
        return cache[production]

    return audit_of


def revocation(valid_from: str) -> Item:
    return consent_item(
        event_id=story.fixed_id("revoke-dana"),
        status="revoked",
        revokes=story.CONSENT_DANA,
        valid_from=valid_from,
        expires=None,
    )


def test_dana_sees_her_one_use_covered_with_its_compensation(view: LedgerView) -> None:
    [use] = performer_uses(view, DANA, audits(view))
    data = use.to_json()
    assert data["asset"].endswith("sh030/stunt_face@v001")
    assert (data["production"], data["episode"], data["shot"]) == (story.SHOW, "101", "sh030")
    assert data["kind"] == "replica" and data["covered"] is True and data["reason"] is None
    assert data["consent_ref"] == story.CONSENT_DANA
    assert data["compensation_ref"] == "SAG-AFTRA replica fee, payroll ref dana-whitfield"
    # sh030's final holds the face; the audit says it is not clear to ship (other findings)
    [placed] = data["deliverables"]
    assert placed["deliverable"].endswith("sh030/final@v001")
    assert placed["clear_to_ship"] is False and placed["timecodes"] is None


def test_omar_sees_the_audits_reason_and_finding(view: LedgerView) -> None:
    result = audits(view)(story.SHOW)
    [use] = performer_uses(view, OMAR, lambda _: result)
    assert use.covered is False and use.reason is not None
    assert "covers Fallen Tower, episode 102, not Fallen Tower, episode 101" in use.reason
    # the very finding of the audit, with its id (so the page and the audit cannot disagree)
    assert use.finding in result.findings
    assert use.finding is not None and use.finding.rule == "likeness-without-consent"
    assert next(f["rule"] for f in use.to_json()["findings"]) == "likeness-without-consent"
    # one judgement: the reason the page gives is the one the audit's finding states
    assert f"here {use.reason}." in use.finding.explanation


def test_covered_exactly_when_the_audit_finds_nothing(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    with _with_revocation(tmp_path, signers, "2025-02-01T00:00:00Z") as store:
        view = LedgerView.open(store)
        uses = [u for p in (DANA, OMAR) for u in performer_uses(view, p, audits(view))]
    assert [u.covered for u in uses] == [False, False]
    assert all(u.covered == (u.finding is None) for u in uses)


def test_a_stranger_has_no_uses(view: LedgerView) -> None:
    assert performer_uses(view, "performer:nobody", audits(view)) == []


def test_anothers_consent_cited_shows_no_terms_or_compensation(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """A hostile producer cites Dana's consent for Omar's replica: Omar's page must not show
    Dana's consent terms or compensation reference, and the audit says it is not covered."""
    likeness = [{"performer_id": OMAR, "use": "voice", "consent_ref": story.CONSENT_DANA}]
    items = [consent_item(), provenance("omar-voice", ai=True, likeness=likeness)]
    with build_store(tmp_path / "l.db", items, signers) as store:
        view = LedgerView.open(store)
        [use] = performer_uses(view, OMAR, audits(view))
    assert use.consent is None and use.compensation_ref is None
    assert use.kind == "voice" and not use.covered
    assert "dana-whitfield" in (use.reason or "")


def _with_revocation(tmp_path: Path, signers: dict[str, KeyPair], valid_from: str) -> LedgerStore:
    return build_store(tmp_path / "r.db", [*demo_items(), revocation(valid_from)], signers)


def test_revoking_a_consent_shows_its_impact_list(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """The revocation takes effect before the replica was made: remediate it, and sh030's
    final is named with the audit's verdict."""
    with _with_revocation(tmp_path, signers, "2025-02-01T00:00:00Z") as store:
        view = LedgerView.open(store)
        [impact] = party_impacts(view, DANA, audits(view), as_of=NOW)
        data = impact.to_json()
    assert data["event"] == "revoked" and data["consent"] == story.CONSENT_DANA
    assert data["revocation"] == story.fixed_id("revoke-dana")
    assert data["effective"].startswith("2025-02-01") and data["open"] is True
    [use] = data["uses"]
    assert use["made_after"] is True and use["covered"] is False
    assert use["action"].startswith("remediate: ") and "sh030/stunt_face@v001" in use["action"]
    [deliverable] = data["deliverables"]
    assert deliverable["deliverable"].endswith("sh030/final@v001")
    assert deliverable["clear_to_ship"] is False and deliverable["shots"] == ["sh030"]


def test_no_revocation_no_impact(view: LedgerView) -> None:
    assert party_impacts(view, DANA, audits(view), as_of=NOW) == []
    assert production_impacts(view, story.SHOW, audits(view), as_of=NOW) == []


def test_a_revocation_after_the_use_keeps_it_covered(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    with _with_revocation(tmp_path, signers, "2025-12-01T00:00:00Z") as store:
        view = LedgerView.open(store)
        [impact] = production_impacts(view, story.SHOW, audits(view), as_of=NOW)
    [use] = impact.uses
    assert use.after is False and use.use.covered
    # still listed: the deliverable holding it is not clear to ship (the audit's verdict)
    assert use.action.startswith("not clear to ship: ") and use.open


def test_a_consent_near_its_expiry_is_listed(view: LedgerView) -> None:
    soon = datetime(2030, 12, 15, tzinfo=UTC)  # the demo's consents expire on 2031-01-01
    grants = view.consents_for("consent_party", DANA)
    [impact] = consent_impacts(view, grants, audits(view), as_of=soon)
    assert impact.event == "expires" and impact.effective.year == 2031
    assert consent_impacts(view, grants, audits(view), as_of=soon, window_days=7) == []
    later = datetime(2031, 6, 1, tzinfo=UTC)
    assert [i.event for i in consent_impacts(view, grants, audits(view), as_of=later)] == [
        "expired"
    ]


def test_an_ending_term_is_open_for_a_deliverable_clear_to_ship(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    likeness = [{"performer_id": DANA, "use": "digital_replica", "consent_ref": story.CONSENT_DANA}]
    items = [
        licence_item(),
        consent_item(),
        provenance("face", ai=True, likeness=likeness),
        provenance(
            "final",
            action="c2pa.published",
            source_type="composite",
            ingredients=[ingredient("face", "v001", "parentOf")],
        ),
    ]
    with build_store(tmp_path / "t.db", items, signers) as store:
        view = LedgerView.open(store)
        grants = view.consents_for("consent_party", DANA)
        soon = datetime(2030, 12, 15, tzinfo=UTC)
        [impact] = consent_impacts(view, grants, audits(view), as_of=soon)
    [use] = impact.uses
    assert use.use.placements[0].clear_to_ship  # the audit finds nothing wrong with it
    assert use.open and use.action.startswith("renew the consent (term ends 2031-01-01)")
    assert "final@v001" in use.action and impact.is_open


def test_register_rows_as_csv(view: LedgerView) -> None:
    uses = [u for p in (DANA, OMAR) for u in performer_uses(view, p, audits(view))]
    rows = register_rows(uses, {DANA: "Dana Whitfield", OMAR: "=HYPERLINK(1)"})
    assert [r["performer"] for r in rows] == [DANA, OMAR]
    assert rows[0]["consent_status"] == "covered" and rows[0]["timecodes"] == TIMECODES_NOT_READ
    assert rows[1]["consent_status"].startswith("NOT COVERED: ")
    parsed = list(csv.DictReader(io.StringIO(csv_text(rows, REGISTER_COLUMNS))))
    assert parsed[0]["compensation_ref"] == "SAG-AFTRA replica fee, payroll ref dana-whitfield"
    assert parsed[1]["performer_name"] == "'=HYPERLINK(1)"  # the library's formula guard


def test_timecodes_come_from_an_optional_source(view: LedgerView) -> None:
    def packet(production: str, deliverable: str, asset: str) -> list[str]:
        ours = production == story.SHOW and asset.endswith("stunt_face@v001")
        return ["01:00:10:00-01:00:12:05"] if ours else []

    [use] = performer_uses(view, DANA, audits(view), timecodes=packet)
    assert use.placements[0].timecodes == ("01:00:10:00-01:00:12:05",)
    rows = register_rows([use], {})
    assert rows[0]["timecodes"].endswith("01:00:10:00-01:00:12:05")


def test_uses_across_productions(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    other = provenance(
        "other-face",
        ai=True,
        likeness=[{"performer_id": DANA, "use": "likeness_alteration", "consent_ref": None}],
    )
    other[2]["production"] = dict(other[2]["production"], show="Quiet Harbor")
    items = [*demo_items(), other, provenance("x", ingredients=[ingredient("plate", "v001")])]
    with build_store(tmp_path / "x.db", items, signers) as store:
        view = LedgerView.open(store)
        uses = performer_uses(view, DANA, audits(view))
    assert [(u.step.show, u.kind, u.covered) for u in uses] == [
        (story.SHOW, "replica", True),
        ("Quiet Harbor", "alteration", False),
    ]
