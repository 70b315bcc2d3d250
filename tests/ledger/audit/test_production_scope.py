"""Whose records count for a production (issue 19 §4, §5): ledger/audit/production.py.

Real signed ledgers: the demo production, plus other productions that record the same stock
asset id with licence records of their own, and productions whose names differ from "Fallen
Tower" only by "/", case or spaces.  No production's audit, lineage, licence list, consent list
or credits may use another production's records.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from demo import story
from ledger.audit.credits import credit_report
from ledger.audit.ip import Scope, audit_json, run_audit
from ledger.audit.model import LedgerView
from ledger.audit.production import counts_for, production_view, read_old
from ledger.events.consent import CONSENT, Coverage
from ledger.events.licence import LICENCE
from ledger.events.provenance import PROVENANCE
from ledger.reports.report import build_audit_report, licence_records, production_consents
from ledger.store import Batch, open_store
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import (
    Item,
    build_store,
    demo_items,
    fixed,
    ingredient,
    pending,
    provenance,
)
from tests.ledger.audit.test_contracts import old_message

STOCK = "stock/vista/skyline-dusk-0456"
SKY = f"fallen-tower/ep{story.EPISODE}/{story.SEQUENCE}/sh030/sky@v001"
OTHERS = ("Quiet Harbor", "Night Shift", "Blue Meridian")


def _intake() -> dict[str, Any]:
    """Fallen Tower's record of the stock photo (held under its Vista licence record)."""
    for _, event in story.production():
        if event["asset"]["asset_id"] == STOCK:
            return event
    raise AssertionError("the demo no longer records the stock photo")


def _licence() -> dict[str, Any]:
    for _, event in story.licences():
        if event["event_id"] == story.LICENCE_VISTA:
            return event
    raise AssertionError("the demo no longer has the Vista licence")


def other_show_intakes(shows: tuple[str, ...] = OTHERS) -> list[Item]:
    """Each other production records the same stock asset id under a licence of its own."""
    items: list[Item] = []
    for show in shows:
        licence = dict(_licence(), event_id=story.fixed_id(f"licence:{show}"))
        licence["licensee"] = f"{show} Productions"
        licence.pop("event_kind", None)
        intake = copy.deepcopy(_intake())
        intake.pop("event_kind", None)
        intake["event_id"] = story.fixed_id(f"intake:{show}")
        intake["production"] = {"show": show, "episode": "1", "sequence": None, "shot": None}
        intake["rights"]["licence_ref"] = licence["event_id"]
        items += [("clearances", LICENCE, licence), ("stock-intake", PROVENANCE, intake)]
    return items


def test_a_shared_stock_asset_id_gives_one_finding_with_this_productions_evidence(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Four productions record the same stock id: Fallen Tower's AI sky gets one finding, on
    its own intake and licence, never another production's (it got four before)."""
    store = build_store(tmp_path / "l.db", demo_items() + other_show_intakes(), signers)
    view = LedgerView.open(store, at_head=True)
    result = run_audit(view, Scope(story.SHOW))
    sky = [f for f in result.findings if f.rule == "ai-input-not-allowed" and f.asset == SKY]
    assert len(sky) == 1
    own = production_view(view, story.SHOW)
    for f in result.findings:
        for e in f.evidence:
            assert own.counts(e.seq), (f.rule, e.what, e.event_id)
    assert _intake_id(view) in {e.event_id for e in sky[0].evidence}
    assert {s.show for s in result.steps} == {story.SHOW}
    for lineage in result.lineages.values():
        assert {s.show for s in lineage.steps()} <= {story.SHOW}
    cited = {r["event_id"] for r in licence_records(result.view, result.steps, result.as_of)}
    assert not cited & {story.fixed_id(f"licence:{s}") for s in OTHERS}
    assert story.LICENCE_VISTA in cited


def _intake_id(view: LedgerView) -> str:
    [mine] = [s for s in view.recorded(f"{STOCK}@v001") if s.show == story.SHOW]
    return mine.event_id


def test_the_whole_ledger_audit_keeps_productions_apart_too(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Without --production every step is judged on its own production's records."""
    store = build_store(tmp_path / "l.db", demo_items() + other_show_intakes(), signers)
    view = LedgerView.open(store, at_head=True)
    result = run_audit(view, Scope())
    sky = [f for f in result.findings if f.rule == "ai-input-not-allowed" and f.asset == SKY]
    assert len(sky) == 1
    assert all(counts_for(view, story.SHOW, e.seq) for e in sky[0].evidence)


def test_another_productions_record_of_an_ingredient_is_not_this_ones(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Quiet Harbor recorded the stock photo; a show that uses it without recording it has no
    provenance for it (ingredient-unrecorded), and Quiet Harbor's records stay out."""
    harbor = other_show_intakes(("Quiet Harbor",))
    user = provenance(
        "ink/comp",
        ingredients=[
            {
                "asset_id": STOCK,
                "version": "v001",
                "content_sha256": _intake()["asset"]["content_sha256"],
                "relationship": "componentOf",
            }
        ],
    )
    user[2]["production"] = {"show": "Ink", "episode": "1", "sequence": None, "shot": None}
    store = build_store(tmp_path / "l.db", [*harbor, user], signers)
    result = run_audit(LedgerView.open(store, at_head=True), Scope("Ink"))
    assert [f.rule for f in result.findings] == ["ingredient-unrecorded"]
    assert {s.show for s in result.steps} == {"Ink"}


# --- names that differ only by "/", case or spaces ----------------------------------------

NAMES = ("Fallen Tower", "fallen tower", "Fallen  Tower", "Fallen Tower/Secret")


def _named(show: str, i: int) -> list[Item]:
    """A small production: a performer's replica under a consent covering it (structured)."""
    performer = f"performer:p{i}"
    consent = dict(
        story.consents()[0][1],
        event_id=story.fixed_id(f"consent:{show}"),
        grantor={"party_id": performer, "kind": "performer", "display_name": f"P{i}"},
        coverage=[{"show": show, "episode": None}],
        compensation_ref=f"payroll ref for {show}",
    )
    replica = provenance(
        f"named{i}/replica",
        ai=True,
        likeness=[
            {
                "performer_id": performer,
                "use": "digital_replica",
                "consent_ref": consent["event_id"],
            }
        ],
    )
    replica[2]["production"] = {"show": show, "episode": "1", "sequence": None, "shot": None}
    return [("clearances", CONSENT, consent), replica]


def test_names_differing_by_slash_case_or_spaces_are_distinct_productions(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    _names_stay_apart(build_store(tmp_path / "l.db", _all_named(), signers))


@pytest.mark.postgres
def test_names_stay_apart_in_postgresql_too(
    pg_schema_dsn: str, signers: dict[str, KeyPair]
) -> None:
    """The index compares keys as PostgreSQL's text equality does: case and spaces count."""
    entries = pending(fixed(_all_named()), signers)
    with open_store(pg_schema_dsn) as store:
        assert store.url.startswith("postgresql")
        store.append(Batch(entries, [], {("events", 0): len(entries)}, "test"))
        _names_stay_apart(store)


def _all_named() -> list[Item]:
    return [item for i, show in enumerate(NAMES) for item in _named(show, i)]


def _names_stay_apart(store: Any) -> None:
    view = LedgerView.open(store, at_head=True)
    for i, show in enumerate(NAMES):
        result = run_audit(view, Scope(show))
        assert {s.show for s in result.steps} == {show}, show
        assert not [f for f in result.findings if f.rule == "likeness-without-consent"], show
        consents = production_consents(view, show)
        assert [c.event_id for c in consents] == [story.fixed_id(f"consent:{show}")], show
        credits = credit_report(view, show)
        assert {r.party for r in credits.consent} == {f"performer:p{i}"}, show
        report = build_audit_report(view, show)
        assert [c.compensation_ref for c in report.consents] == [f"payroll ref for {show}"]


def test_a_consent_of_another_production_is_not_this_ones_evidence(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Fallen Tower's event citing the consent of "Fallen Tower/Secret": not covered, and that
    production's consent (its terms, its compensation reference) is not cited as evidence."""
    secret = _named("Fallen Tower/Secret", 0)
    consent_id = secret[0][2]["event_id"]
    thief = provenance(
        "ft/replica",
        ai=True,
        likeness=[
            {"performer_id": "performer:p0", "use": "digital_replica", "consent_ref": consent_id}
        ],
    )
    thief[2]["production"] = {
        "show": "Fallen Tower",
        "episode": None,
        "sequence": None,
        "shot": None,
    }
    store = build_store(tmp_path / "l.db", [*secret, thief], signers)
    view = LedgerView.open(store, at_head=True)
    result = run_audit(view, Scope("Fallen Tower"))
    [f] = [f for f in result.findings if f.rule == "likeness-without-consent"]
    assert consent_id not in {e.event_id for e in f.evidence}
    assert "Secret" not in f.explanation
    assert "not one recorded for this production" in f.explanation
    assert production_consents(view, "Fallen Tower") == []


# --- consents written in the old string form (consent schema v2) ---------------------------


def old_consent(name: str, productions: list[str]) -> Item:
    event = dict(story.consents()[0][1], event_id=story.fixed_id(name), productions=productions)
    event.pop("coverage")
    event["_writer"] = "consent_event.v2"
    return ("clearances", CONSENT, event)


def test_an_old_show_slash_name_consent_belongs_to_the_show_of_that_whole_name(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Written before v3, "Fallen Tower/Secret" was filed under "Fallen Tower" (split at the
    first "/"): its terms went to Fallen Tower's counsel.  Read now: the ledger records a
    production of that whole name, so the consent is that production's, not Fallen Tower's;
    an old "Fallen Tower/101" still reads as episode 101 of Fallen Tower."""
    own = old_consent("old:secret", ["Fallen Tower/Secret"])
    episode = old_consent("old:ep101", ["Fallen Tower/101"])
    shows = [provenance("ft/plate"), *_named("Fallen Tower/Secret", 3)[1:]]
    items = fixed([*shows])
    signed = [old_message(dict(e), k, signers[s]) for s, k, e in fixed([own, episode])]
    store = build_store(tmp_path / "l.db", items, signers)
    append_messages(store, signed, signers)
    view = LedgerView.open(store, at_head=True)
    secret_ids = [c.event_id for c in production_consents(view, "Fallen Tower/Secret")]
    tower_ids = [c.event_id for c in production_consents(view, "Fallen Tower")]
    assert secret_ids == [story.fixed_id("old:secret")]
    assert tower_ids == [story.fixed_id("old:ep101")]


def append_messages(store: Any, messages: list[Any], signers: dict[str, KeyPair]) -> None:
    from consumers.inspect import RawRecord, inspect
    from ledger.events.encoding import SingleObjectFraming
    from ledger.store import PendingEntry
    from ledger.trust.policy import FolderTrust

    trust = FolderTrust({k.key_id: k.public for k in signers.values()})
    start = store.head().size
    entries = []
    for i, m in enumerate(messages):
        raw = RawRecord("events", 0, start + i, m.key, m.value, tuple(m.headers))
        outcome = inspect(raw, trust, SingleObjectFraming())
        assert isinstance(outcome, PendingEntry), outcome
        entries.append(outcome)
    store.append(Batch(entries, [], {("events", 0): start + len(entries)}, "test"))


def test_old_strings_are_read_whole_first_then_at_a_known_show() -> None:
    known = {"Fallen Tower", "Fallen Tower/Secret", "A/B"}.__contains__
    assert read_old("Fallen Tower", known) == Coverage("Fallen Tower")
    assert read_old("Fallen Tower/Secret", known) == Coverage("Fallen Tower/Secret")
    assert read_old("Fallen Tower/101", known) == Coverage("Fallen Tower", "101")
    assert read_old("A/B/7", known) == Coverage("A/B", "7")
    assert read_old("Ghost/9", known) == Coverage("Ghost", "9")  # as the old code read it


def test_credits_state_only_this_productions_terms_for_a_shared_input(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """Another show recorded the same stock id as allowed for AI: Fallen Tower's credit
    report still states Fallen Tower's own terms (notAllowed), not a mix of both."""
    harbor = other_show_intakes(("Quiet Harbor",))
    intake = harbor[1][2]
    intake["rights"]["training_mining"] = [
        {"use_kind": "cawg.ai_inference", "use": "allowed", "constraint_info": None}
    ]
    store = build_store(tmp_path / "l.db", demo_items() + harbor, signers)
    view = LedgerView.open(store, at_head=True)
    rows = [r for r in credit_report(view, story.SHOW).consent if r.party == f"{STOCK}@v001"]
    [status] = [r.status for r in rows]
    assert status.startswith("cawg.ai_inference: notAllowed")
    assert "cawg.ai_inference: allowed" not in status and "more)" not in status


# --- one asset id published by two productions -----------------------------------------------


def _trailers() -> list[Item]:
    """Quiet Harbor publishes trailer/final@v001 from a recorded plate (clear to ship); Fallen
    Tower publishes an asset of the same id from an unrecorded ingredient (not clear)."""

    def at(show: str, item: Item) -> Item:
        item[2]["production"] = {"show": show, "episode": "1", "sequence": None, "shot": None}
        return item

    plate = ingredient("trailer/plate", "v001")
    published = provenance("trailer/final", action="c2pa.published", ingredients=[plate])
    return [
        at("Quiet Harbor", provenance("trailer/plate")),
        at("Quiet Harbor", published),
        at(
            story.SHOW,
            provenance(
                "trailer/final",
                action="c2pa.published",
                ingredients=[ingredient("never/recorded", "v001")],
            ),
        ),
    ]


def test_the_whole_ledger_audit_judges_each_productions_deliverable_of_one_id_apart(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """The audit of the whole ledger said "trailer/final@v001: NOT clear to ship" once, for
    both productions, while Quiet Harbor's own audit says its trailer is clear: each
    deliverable and finding now names its production, and the verdicts agree."""
    store = build_store(tmp_path / "l.db", _trailers(), signers)
    view = LedgerView.open(store, at_head=True)
    whole = audit_json(run_audit(view, Scope()))
    verdicts = {(d["production"], d["asset"]): d["clear_to_ship"] for d in whole["deliverables"]}
    for show in ("Quiet Harbor", story.SHOW):
        own = audit_json(run_audit(view, Scope(show)))
        [mine] = own["deliverables"]
        assert mine["production"] == show
        assert verdicts[(show, "trailer/final@v001")] == mine["clear_to_ship"]
        assert {f["production"] for f in own["findings"]} <= {show}
    assert verdicts == {
        ("Quiet Harbor", "trailer/final@v001"): True,
        (story.SHOW, "trailer/final@v001"): False,
    }
    assert {f["production"] for f in whole["findings"]} == {story.SHOW}
    # a finding's own JSON (what a packet's disclosure holds, fixed bytes) stays as it was
    assert all("production" not in f.to_json() for f in run_audit(view, Scope()).findings)
    code, out, _ = _cli("audit", "ip", "--ledger", str(tmp_path / "l.db"), "--at-head")
    assert code == 1  # Fallen Tower's findings are open (the default --fail-on low)
    assert "deliverable trailer/final@v001 (Quiet Harbor): clear to ship" in out, out
    assert "deliverable trailer/final@v001 (Fallen Tower): NOT clear to ship" in out, out


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_the_whole_ledger_audit_keeps_each_productions_lineage_of_one_id(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    """The whole ledger's lineages were keyed by asset version, so Fallen Tower's lineage of
    trailer/final@v001 replaced Quiet Harbor's: the result showed the unrecorded ingredient in
    Quiet Harbor's clear trailer. Each is kept, keyed by production and asset version."""
    store = build_store(tmp_path / "l.db", _trailers(), signers)
    view = LedgerView.open(store, at_head=True)
    whole = run_audit(view, Scope())
    key = "trailer/final@v001"
    assert set(whole.lineages) == {("Quiet Harbor", key), (story.SHOW, key)}
    for show, ingredient_key in (
        ("Quiet Harbor", "trailer/plate@v001"),
        (story.SHOW, "never/recorded@v001"),
    ):
        lineage = whole.lineage(key, show)
        assert lineage is not None and ingredient_key in lineage.nodes, show
        own = run_audit(view, Scope(show)).lineage(key)
        assert own is not None and own.nodes == lineage.nodes
    assert whole.lineage(key) is None  # two productions published it: name one
