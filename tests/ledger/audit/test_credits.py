"""Credits for the demo production, checked by hand against demo/story.py."""

from __future__ import annotations

import unicodedata
from html import escape as html_escape
from pathlib import Path

import pytest

from demo import story
from ledger.audit.credits import CreditReport, credit_report, flat_rows, summary_rows
from ledger.audit.model import LedgerView
from ledger.errors import ConfigurationError
from ledger.reports.render import to_html
from ledger.reports.report import credits_document
from tests.ledger.audit.audit_factory import Item, build_store, provenance

D = "fallen-tower/ep101/sq040"


def lines(view: LedgerView) -> dict[tuple[str, str], dict[str, list[str]]]:
    report = credit_report(view, story.SHOW, "101")
    return {
        (line.name, line.title): {
            kind: line.assets(kind)
            for kind in ("created", "altered", "published", "directed")
            if line.assets(kind)
        }
        for line in report.lines
    }


def test_credit_lines_per_person_and_job_title(view: LedgerView) -> None:
    assert lines(view) == {
        ("Ana Ruiz", "Digital Imaging Technician"): {
            "created": [f"{D}/sh010/plate@v001", f"{D}/sh020/plate@v001", f"{D}/sh030/plate@v001"],
        },
        ("Mira Keller", "Roto Artist"): {
            "created": [f"{D}/sh010/roto@v001", f"{D}/sh030/roto@v001"],
        },
        ("Mira Keller", "Paint Artist"): {"altered": [f"{D}/sh010/plate@v002"]},
        ("Mira Keller", "AI Direction"): {
            "directed": [f"{D}/sh020/plate@v002", f"{D}/sh030/sky@v001"],
        },
        ("Jonah Okafor", "Compositor"): {
            "created": [f"{D}/sh010/comp@v001", f"{D}/sh020/comp@v001", f"{D}/sh030/comp@v001"],
        },
        ("Jonah Okafor", "AI Direction"): {
            "directed": [
                f"{D}/sh010/fx_debris@v001",
                f"{D}/sh010/fx_dust@v001",
                f"{D}/sh030/crowd_replica@v001",
                f"{D}/sh030/stunt_face@v001",
            ],
        },
        ("Lee Tanaka", "Online Editor"): {
            "published": [
                f"{D}/sh010/final@v001",
                f"{D}/sh020/final@v001",
                f"{D}/sh030/final@v001",
            ],
        },
        ("Vista Stock", "cawg.contributor"): {"created": ["stock/vista/skyline-dusk-0456@v001"]},
    }


def test_job_titles_keep_the_cawg_role_beside_them(view: LedgerView) -> None:
    report = credit_report(view, story.SHOW, "101")
    paint = next(line for line in report.lines if line.title == "Paint Artist")
    assert paint.role == "cawg.editor" and paint.department == "Visual Effects"


def test_end_credits_are_grouped_by_department_and_episode(view: LedgerView) -> None:
    groups = credit_report(view, story.SHOW).end_credits()
    assert [(g["department"], g["episode"]) for g in groups] == [
        ("Camera", "101"),
        ("Editorial", "101"),
        ("Visual Effects", "101"),
        ("AI Direction", "101"),
    ]
    vfx = next(g for g in groups if g["department"] == "Visual Effects")
    assert vfx["lines"] == [
        "Compositor: Jonah Okafor",
        "Paint Artist: Mira Keller",
        "Roto Artist: Mira Keller",
    ]


def test_ai_output_never_enters_a_credit_line(view: LedgerView) -> None:
    report = credit_report(view, story.SHOW)
    credited = {
        c.asset for line in report.lines for c in line.contributions if c.kind != "directed"
    }
    ai = {o.asset for o in report.ai_outputs}
    assert ai == {
        f"{D}/sh010/fx_debris@v001",
        f"{D}/sh010/fx_dust@v001",
        f"{D}/sh020/plate@v002",
        f"{D}/sh030/sky@v001",
        f"{D}/sh030/stunt_face@v001",
        f"{D}/sh030/crowd_replica@v001",
    }
    assert not credited & ai
    # Directing AI work is credited as direction, never as authorship of the output.
    directed = {
        c.asset for line in report.lines for c in line.contributions if c.kind == "directed"
    }
    assert directed == ai
    assert {line.role for line in report.lines if directed & set(line.assets("directed"))} == {
        "AI Direction"
    }
    assert {line.kind for line in report.lines} == {"human", "organisation"}


def test_the_ai_disclosure_statement_is_generated_from_the_ledger(view: LedgerView) -> None:
    report = credit_report(view, story.SHOW)
    statement = report.ai_disclosure()
    assert statement == credit_report(view, story.SHOW).ai_disclosure()  # deterministic
    assert statement[0].startswith("This production contains material created or altered")
    sh010 = next(line for line in statement if "shot sh010" in line)
    assert sh010 == (
        "Episode 101, shot sh010: fx_debris generated with DebrisGen 2.1 (Kestrel AI), directed"
        " by Jonah Okafor; fx_dust generated with DustDiffusion 0.9 (open weights (unverified)),"
        " directed by Jonah Okafor."
    )
    assert statement[-1].startswith("Some likeness uses lack a valid recorded consent")


def test_ai_models_and_the_humans_who_directed_them(view: LedgerView) -> None:
    models = {m["model"]: m for m in credit_report(view, story.SHOW).models()}
    assert models["DebrisGen 2.1 (Kestrel AI)"]["directed_by"] == ["Jonah Okafor"]
    assert models["ClearScale 4.0 (Lumen Labs)"]["directed_by"] == ["Mira Keller"]
    dust = models["DustDiffusion 0.9 (open weights (unverified))"]
    assert dust["licence"] is None and dust["training_data"] is None
    assert models["ReplicaWorks 1.4 (Mirrorhouse)"]["outputs"] == [
        f"{D}/sh030/stunt_face@v001",
        f"{D}/sh030/crowd_replica@v001",
    ]
    report = credit_report(view, story.SHOW)
    assert {o.disclosure for o in report.ai_outputs} == {"disclosed as AI output"}


def test_composites_note_their_disclosed_ai_elements(view: LedgerView) -> None:
    report = credit_report(view, story.SHOW)
    jonah = next(line for line in report.lines if line.name == "Jonah Okafor")
    assert all(c.contains_ai for c in jonah.contributions)
    ana = next(line for line in report.lines if line.name == "Ana Ruiz")
    assert not any(c.contains_ai for c in ana.contributions)


def test_consent_status_of_likeness_uses(view: LedgerView) -> None:
    report = credit_report(view, story.SHOW)
    likeness = {c.party: c.status for c in report.consent if c.use == "digital_replica"}
    assert likeness["performer:dana-whitfield"] == "consent valid"
    assert likeness["performer:omar-haddad"].startswith("NO VALID CONSENT")
    inputs = {c.party: c.status for c in report.consent if c.asset == f"{D}/sh030/sky@v001"}
    assert inputs == {
        "stock/vista/skyline-dusk-0456@v001": "cawg.ai_inference: notAllowed; NOT CLEARED for"
        " AI use: its rights holder marked it notAllowed for cawg.ai_inference"
    }


def test_report_states_its_tree_and_content_hash(view: LedgerView) -> None:
    data = credit_report(view, story.SHOW, "101").to_json()
    assert data["checkpoint"] == {
        "tree_size": 26,
        "root_hash": view.store.tree(26).root().hex(),
        "signed_checkpoint": False,
    }
    assert len(data["content_sha256"]) == 64
    rows = flat_rows(credit_report(view, story.SHOW))
    assert {r["section"] for r in rows} == {"credit", "organisation", "ai_output", "consent"}


def test_unknown_production_or_episode_is_a_usage_error(view: LedgerView) -> None:
    with pytest.raises(ConfigurationError, match="no provenance events"):
        credit_report(view, "fallen tower")
    with pytest.raises(ConfigurationError):
        credit_report(view, story.SHOW, "999")


def test_csv_rows_one_per_person_and_role_with_job_title_and_department(
    view: LedgerView,
) -> None:
    from ledger.audit.credits import CSV_COLUMNS

    assert {"job_title", "department"} <= set(CSV_COLUMNS)
    report = credit_report(view, story.SHOW, "101")
    credit = [r for r in flat_rows(report) if r["section"] == "credit"]
    people = [(r["name"], r["job_title"]) for r in credit]
    assert len(people) == len(set(people)) == len([x for x in report.lines if x.kind == "human"])
    rows = {(r["name"], r["job_title"]): r for r in credit}
    roto = rows[("Mira Keller", "Roto Artist")]
    assert roto["department"] == "Visual Effects" and roto["role"].startswith("cawg.")
    assert roto["asset"] == f"{D}/sh010/roto@v001; {D}/sh030/roto@v001"
    assert len(roto["event_id"].split()) == 2 and roto["detail"] == "created 2"
    assert rows[("Jonah Okafor", "AI Direction")]["department"] == "AI Direction"
    assert not any(r["job_title"].startswith("cawg.") for r in credit)
    others = [
        r for r in flat_rows(report) if r["section"] not in ("credit", "ai_output", "consent")
    ]
    assert all(r["name"] not in {n for n, _ in people} for r in others)


NFC, NFD = (unicodedata.normalize(form, "Zoë Park") for form in ("NFC", "NFD"))


def _zoes(tmp_path: Path) -> CreditReport:
    """person:zoe and person:Zoe named "Zoë Park", person:zoe2 a name that only looks the
    same (NFD), and Kim."""

    def by(asset: str, person: str, name: str) -> Item:
        actor = {"actor_id": person, "kind": "human", "display_name": name}
        return provenance(asset, actor={**actor, "role": "cawg.creator"})

    items = [by("a1", "person:zoe", NFC), by("a2", "person:zoe", NFD)]
    items += [
        by("a3", "person:Zoe", NFC),
        by("a4", "person:zoe2", NFD),
        by("a5", "person:kim", "Kim"),
    ]
    store = build_store(tmp_path / "l.db", items)
    return credit_report(LedgerView.open(store, at_head=True), story.SHOW)


def test_two_people_of_one_name_are_two_end_credits(tmp_path: Path) -> None:
    """person:zoe and person:Zoe (two ids: ids are exact) are two people named "Zoë Park";
    person:zoe2 is a third whose name only looks the same (NFD).  The end credits listed the
    first two as one line (one person vanished); now each is a line, with its id beside the
    name, as the credit lines count them."""
    report = _zoes(tmp_path)
    people = {line.person_id for line in report.lines if line.kind == "human"}
    [group] = report.end_credits()
    assert len(group["lines"]) == len(people) == 4
    assert group["lines"] == [
        "cawg.creator: Kim",
        f"cawg.creator: {NFD} (person:zoe2)",
        f"cawg.creator: {NFC} (person:Zoe)",
        f"cawg.creator: {NFC} (person:zoe)",
    ]


def test_credit_lines_tables_tell_look_alike_names_apart_by_id(tmp_path: Path) -> None:
    """The end credits showed the ids beside look-alike names, but the credit-lines tables (the
    terminal table, the CSV, the HTML/PDF report) printed "Zoë Park" three times, for three
    people: each now shows the id beside such a name, and only beside such a name."""
    report = _zoes(tmp_path)
    expected = {
        "person:zoe": f"{report_name(report, 'person:zoe')} (person:zoe)",
        "person:Zoe": f"{NFC} (person:Zoe)",
        "person:zoe2": f"{NFD} (person:zoe2)",
        "person:kim": "Kim",
    }
    humans = [line for line in report.lines if line.kind == "human"]
    assert {line.person_id: report.shown_name(line) for line in humans} == expected
    assert sorted(r["name"] for r in summary_rows(report) if r["kind"] == "human") == sorted(
        expected.values()
    )
    assert sorted(r["name"] for r in flat_rows(report) if r["section"] == "credit") == sorted(
        expected.values()
    )
    html = to_html(credits_document(report))
    for name in expected.values():
        assert html_escape(name) in html, name


def report_name(report: CreditReport, person: str) -> str:
    [name] = {line.name for line in report.lines if line.person_id == person}
    return name
