"""The audit commands end to end on a real signed SQLite ledger (no broker needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.audit import COMMANDS
from cli.common import LedgerGroup
from demo import story
from ledger.store import open_store
from tests.ledger.audit.audit_factory import demo_signers, demo_store
from tests.ledger.index.index_factory import count_decodings, fill, init

D = "fallen-tower/ep101/sq040"
VENDOR = Path(__file__).parents[2] / "examples" / "c2pa" / "vendor-delivery.json"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "ledger.db"
    demo_store(path, demo_signers()).close()
    return str(path)


def run(*args: str) -> tuple[int, str, str]:
    group = LedgerGroup()
    for command in COMMANDS:
        group.add_command(command)
    result = CliRunner().invoke(group, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_audit_ip_exits_1_on_findings_at_or_above_fail_on(ledger: str) -> None:
    code, out, err = run("audit", "ip", "--ledger", ledger, "--production", "Fallen Tower")
    assert code == 1
    assert "likeness-without-consent" in out and "content-sha256:" in out
    assert "9 open finding(s) at or above low" in err
    code, out, _ = run(
        "audit", "ip", "--ledger", ledger, "--production", "Fallen Tower", "--fail-on", "never"
    )
    assert code == 0 and "ai-model-undeclared" in out


def test_audit_ip_clean_asset_exits_0(ledger: str) -> None:
    code, out, _ = run(
        "audit", "ip", "--ledger", ledger, "--asset", f"{D}/sh010/fx_debris", "--fail-on", "info"
    )
    assert code == 0
    assert out.startswith("no findings")


def test_audit_ip_json_and_csv(ledger: str) -> None:
    args = ("audit", "ip", "--ledger", ledger, "--production", "Fallen Tower", "--fail-on", "never")
    code, out, _ = run(*args, "--format", "json")
    data = json.loads(out)
    assert code == 0 and len(data["findings"]) == 9
    assert data["checkpoint"]["tree_size"] == 26
    code, out, _ = run(*args, "--format", "csv")
    assert out.splitlines()[0] == "id,severity,status,rule,asset,summary,evidence"
    assert len(out.splitlines()) == 10


def test_usage_errors_exit_2(ledger: str, tmp_path: Path) -> None:
    code, _, err = run("audit", "ip", "--ledger", ledger, "--episode", "101")
    assert code == 2 and "--episode needs --production" in err
    code, _, err = run("audit", "lineage", "--ledger", str(tmp_path / "none.db"), "x")
    assert code == 2 and "no ledger" in err
    code, _, err = run("audit", "lineage", "--ledger", ledger, "no/such/asset")
    assert code == 2 and "not in the ledger" in err


def test_lineage_formats(ledger: str) -> None:
    code, out, err = run("audit", "lineage", "--ledger", ledger, f"{D}/sh030/final")
    assert code == 0 and "[MISSING: never recorded in the ledger]" in out
    assert "2 missing link(s)" in err
    code, out, _ = run(
        "audit", "lineage", "--ledger", ledger, f"{D}/sh030/final", "--format", "json"
    )
    assert json.loads(out)["root"] == f"{D}/sh030/final@v001"
    code, out, _ = run(
        "audit", "lineage", "--ledger", ledger, f"{D}/sh030/final", "--format", "svg"
    )
    assert out.startswith("<svg")
    code, out, _ = run(
        "audit", "lineage", "--ledger", ledger, f"{D}/sh010/plate@v002", "--descendants"
    )
    assert f"{D}/sh020/final@v001" in out


def test_credits_formats(ledger: str, tmp_path: Path) -> None:
    code, out, _ = run(
        "credits", "--ledger", ledger, "--production", "Fallen Tower", "--episode", "101"
    )
    assert code == 0
    mira = [line.split() for line in out.splitlines() if line.startswith("Mira Keller")]
    assert ["Mira", "Keller", "Roto", "Artist", "Visual", "Effects", "2", "0", "0", "0"] in [
        m[:10] for m in mira
    ]
    assert "GENERATIVE-AI OUTPUT" in out
    assert "Visual Effects, episode 101: Compositor: Jonah Okafor; Paint Artist: Mira Keller" in out
    assert "AI DISCLOSURE (for the end credits)" in out
    assert "This production contains material created or altered with generative AI" in out
    code, out, _ = run(
        "credits", "--ledger", ledger, "--production", "Fallen Tower", "--format", "csv"
    )
    header = "section,name,job_title,department,role,kind,asset,shot,detail,event_id,party"
    assert out.splitlines()[0] == header
    code, out, _ = run(
        "credits", "--ledger", ledger, "--production", "Fallen Tower", "--format", "json"
    )
    digest = json.loads(out)["content_sha256"]
    pdf = tmp_path / "credits.pdf"
    code, _, err = run(
        "credits",
        "--ledger",
        ledger,
        "--production",
        "Fallen Tower",
        "--format",
        "pdf",
        "-o",
        str(pdf),
    )
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF")
    assert f"content-sha256: {digest}" in err


def test_audit_report_html_pdf_json(ledger: str, tmp_path: Path) -> None:
    base = (
        "audit",
        "report",
        "--ledger",
        ledger,
        "--production",
        "Fallen Tower",
        "--fail-on",
        "never",
    )
    code, html, _ = run(*base)
    assert code == 0 and html.count("<svg") == 3
    code, again, _ = run(*base)
    assert again == html
    code, out, _ = run(*base, "--format", "json")
    assert json.loads(out)["content_sha256"] in html
    code, _, _ = run(*base, "--format", "pdf", "--output", str(tmp_path / "r.pdf"))
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    code, _, _ = run(
        "audit",
        "report",
        "--ledger",
        ledger,
        "--production",
        "Fallen Tower",
        "--fail-on",
        "critical",
    )
    assert code == 1


def test_c2pa_export_and_dry_run_import(ledger: str, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    code, _, err = run(
        "c2pa", "export", "--ledger", ledger, f"{D}/sh020/final", "-o", str(manifest)
    )
    assert code == 0 and "7 manifest(s)" in err
    code, out, err = run("c2pa", "import", str(manifest), "--dry-run")
    assert code == 2 and out == "" and "--log-key" in err  # no signed checkpoint, no receipts
    code, out, _ = run(
        "c2pa", "export", "--ledger", ledger, f"{D}/sh020/final", "--definition-only"
    )
    assert json.loads(out)["title"] == f"{D}/sh020/final@v001"


def test_c2pa_import_of_a_vendor_manifest(tmp_path: Path) -> None:
    code, out, _ = run(
        "c2pa",
        "import",
        str(VENDOR),
        "--dry-run",
        "--production",
        "Fallen Tower/101",
        "--asset",
        f"{D}/sh020/fx_smoke@v003",
    )
    assert code == 0
    [event] = [json.loads(line) for line in out.splitlines()]
    assert event["model"]["name"] == "SmokeSynth"
    code, _, err = run("c2pa", "import", str(VENDOR), "--production", "Fallen Tower")
    assert code == 2 and "--key is required" in err


def test_lineage_of_one_production_walks_only_its_records(tmp_path: Path) -> None:
    """Another show recorded the demo's stock photo: its record is not Fallen Tower's."""
    from tests.ledger.audit.audit_factory import build_store, demo_items
    from tests.ledger.audit.test_production_scope import other_show_intakes

    path = tmp_path / "shared.db"
    build_store(path, demo_items() + other_show_intakes(("Quiet Harbor",)), demo_signers()).close()
    sky = f"{D}/sh030/sky@v001"
    args = ("audit", "lineage", "--ledger", str(path), sky, "--format", "json")
    _, out, _ = run(*args)
    everyone = {s["event_id"] for n in json.loads(out)["nodes"] for s in n["steps"]}
    _, out, _ = run(*args, "--production", "Fallen Tower")
    own = {s["event_id"] for n in json.loads(out)["nodes"] for s in n["steps"]}
    harbor = story.fixed_id("intake:Quiet Harbor")
    assert harbor in everyone and harbor not in own and own < everyone


def test_a_lineage_tree_says_when_a_version_has_records_it_does_not_show(tmp_path: Path) -> None:
    """Fallen Tower and Quiet Harbor both recorded the stock photo's id.  The tree showed one
    record's line as the whole truth of the version (another record may name another actor or
    model); it now says how many records there are and whose, and the JSON names each
    record's production."""
    from tests.ledger.audit.audit_factory import build_store, demo_items
    from tests.ledger.audit.test_production_scope import STOCK, other_show_intakes

    path = tmp_path / "shared.db"
    build_store(path, demo_items() + other_show_intakes(("Quiet Harbor",)), demo_signers()).close()
    args = ("audit", "lineage", "--ledger", str(path), STOCK)
    _, out, _ = run(*args)
    [line] = out.splitlines()
    assert "[recorded 2 times, by Fallen Tower, Quiet Harbor: the first record is shown;" in line
    _, out, _ = run(*args, "--production", "Quiet Harbor")
    assert "recorded" not in out.splitlines()[0]
    _, out, _ = run(*args, "--format", "json")
    [node] = json.loads(out)["nodes"]
    assert [s["production"] for s in node["steps"]] == ["Fallen Tower", "Quiet Harbor"]


def test_audit_ip_names_a_dangling_disposition(tmp_path: Path) -> None:
    """A signed decision naming a finding id no audit gives: text and JSON say so."""
    from tests.ledger.audit.audit_factory import FORGED_FINDING, build_store, dangling_items

    path = str(tmp_path / "dangling.db")
    build_store(tmp_path / "dangling.db", dangling_items()).close()
    args = ("audit", "ip", "--ledger", path, "--production", "Fallen Tower", "--fail-on", "never")
    code, out, _ = run(*args)
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("dangling disposition:")]
    assert f"names finding {FORGED_FINDING}" in line and "Hana Sato" in line
    code, out, _ = run(*args, "--format", "json")
    assert [d["finding_id"] for d in json.loads(out)["dangling_dispositions"]] == [FORGED_FINDING]


def test_credits_table_shows_the_names_and_job_titles_the_html_credits_show(ledger: str) -> None:
    """The terminal's credit lines: people by name with the job title and department the HTML
    and PDF credits print (never a CAWG role id); an organisation apart, not as a person."""
    from ledger.audit.credits import credit_report, job_title
    from ledger.audit.model import LedgerView
    from ledger.store import open_store

    code, out, _ = run("credits", "--ledger", ledger, "--production", "Fallen Tower")
    assert code == 0
    people, sources = out.split("\n\n")[:2]
    assert people.splitlines()[1].split() == [
        "NAME", "TITLE", "DEPARTMENT", "CREATED", "ALTERED", "PUBLISHED", "DIRECTED", "SHOTS"
    ]  # fmt: skip
    assert "cawg." not in people + sources
    assert sources.startswith("ORGANISATIONS AND OTHER SOURCES")
    assert "Vista Stock  organisation" in sources and "Vista Stock" not in people
    with open_store(ledger, read_only=True) as store:
        report = credit_report(LedgerView.open(store), "Fallen Tower")
    humans = [line for line in report.lines if line.kind == "human"]
    rows = people.splitlines()[2:]
    assert len(rows) == len(humans) == 7
    for row, line in zip(rows, humans, strict=True):
        assert re.split(r"  +", row)[:3] == [line.name, job_title(line), line.department]


def test_credits_table_judges_consent_as_the_audit_does(tmp_path: Path) -> None:
    """A consent for Argentina used worldwide, one for sh020 used in sh050: every format of
    the credits command says NO VALID CONSENT, with the reason audit ip gives."""
    from tests.ledger.audit.audit_factory import build_store, narrow_consent_items

    path = str(tmp_path / "narrow.db")
    build_store(tmp_path / "narrow.db", narrow_consent_items()).close()
    code, out, _ = run("audit", "ip", "--ledger", path, "--format", "json", "--fail-on", "never")
    reasons = [
        f["explanation"].rsplit("here ", 1)[1].rstrip(".")
        for f in json.loads(out)["findings"]
        if f["rule"] == "likeness-without-consent"
    ]
    assert code == 0 and len(reasons) == 2
    for fmt in ("table", "csv", "json", "html"):
        code, out, _ = run("credits", "--ledger", path, "--production", "Fallen Tower",
                           "--format", fmt)  # fmt: skip
        assert code == 0 and "consent valid" not in out, fmt
        for reason in reasons:
            assert f"NO VALID CONSENT: {reason}" in out, (fmt, reason)


def test_credits_never_head_an_undisclosed_ai_output_as_disclosed(tmp_path: Path) -> None:
    """An AI model's output whose event declares a camera capture: its row says NOT disclosed,
    and the heading above it said "(disclosed, …)" in the table and in the HTML."""
    from tests.ledger.audit.audit_factory import build_store, licence_item, provenance

    path = str(tmp_path / "hidden.db")
    items = [licence_item(), provenance("gen", ai=True, source_type="digitalCapture")]
    build_store(tmp_path / "hidden.db", items).close()
    for fmt in ("table", "html"):
        code, out, _ = run("credits", "--ledger", path, "--production", "Fallen Tower",
                           "--format", fmt, "--at-head")  # fmt: skip
        assert code == 0 and "NOT disclosed as AI output" in out, fmt
        assert "(disclosed," not in out and "listed apart, not credited" in out, fmt


def test_lineage_names_the_people_who_directed_ai_work(ledger: str) -> None:
    """The tree shows a director by the name the ledger records (not ``person:…``); the JSON
    keeps the id to check by and gives the name beside it."""
    _, out, _ = run("audit", "lineage", "--ledger", ledger, f"{D}/sh030/final")
    directed = [line for line in out.splitlines() if "directed by" in line]
    assert directed and all("person:" not in line for line in directed)
    assert any("directed by Jonah Okafor ·" in line for line in directed)
    _, out, _ = run("audit", "lineage", "--ledger", ledger, f"{D}/sh030/final", "--format", "json")
    steps = [s for n in json.loads(out)["nodes"] for s in n["steps"] if s["directed_by"]]
    assert {"id": "person:mira-keller", "name": "Mira Keller"} in steps[0]["directors"] + [
        d for s in steps for d in s["directors"]
    ]
    assert all(d["name"] for s in steps for d in s["directors"])


def test_credits_consent_rows_name_the_performer_with_the_id(ledger: str) -> None:
    """A likeness row names the performer as their consent record does, with the party id
    to check it by, in every format; an AI input's row still shows the input asset."""
    args = ("credits", "--ledger", ledger, "--production", "Fallen Tower")
    _, out, _ = run(*args)
    consent = out.split("LIKENESS CONSENT AND AI-INPUT PERMISSIONS", 1)[1]
    assert "Omar Haddad (performer:omar-haddad)" in consent
    assert "Dana Whitfield (performer:dana-whitfield)" in consent
    _, out, _ = run(*args, "--format", "csv")
    rows = [r for r in out.splitlines() if r.startswith('"consent"') or r.startswith("consent")]
    assert any("Omar Haddad (performer:omar-haddad)" in r for r in rows)
    _, out, _ = run(*args, "--format", "json")
    parties = {
        c["party"]: c["party_name"]
        for c in json.loads(out)["consent_and_permissions"]
        if c["party"].startswith("performer:")
    }
    assert parties == {
        "performer:omar-haddad": "Omar Haddad",
        "performer:dana-whitfield": "Dana Whitfield",
    }
    _, out, _ = run(*args, "--format", "html")
    assert "Omar Haddad (performer:omar-haddad)" in out


def test_audit_ip_decodes_each_event_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the index (an indexed, signed ledger), the check of each entry read, from the
    production's existence check on, hands its decoding to the rules and signer verdicts."""
    path = tmp_path / "indexed.db"
    store = open_store(str(path))
    fill(store, init(store))
    store.close()
    seen = count_decodings(monkeypatch)
    code, out, _ = run(
        "audit", "ip", "--ledger", str(path), "--production", story.SHOW,
        "--episode", story.EPISODE, "--format", "json", "--fail-on", "never",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["events_audited"] > 5
    assert seen and max(seen.values()) == 1
