"""``assetledger audit uses|impact|register`` and ``users add --role performer|agent``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from demo import story
from ledger.audit.performers import TIMECODES_NOT_READ
from ledger.store import open_store
from tests.ledger.audit.audit_factory import build_store, consent_item, demo_items, demo_signers
from tests.ledger.packet.packet_factory import SH030, build_ledger, episode_packet

DANA = "performer:dana-whitfield"
FALLEN = "Fallen Tower"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ledger(tmp_path: Path, revoked: bool = False) -> str:
    items = demo_items()
    if revoked:
        items.append(
            consent_item(
                event_id=story.fixed_id("cli-revoke"),
                status="revoked",
                revokes=story.CONSENT_DANA,
                valid_from="2025-02-01T00:00:00Z",
                expires=None,
            )
        )
    path = tmp_path / "ledger.db"
    build_store(path, items, demo_signers()).close()
    return str(path)


def test_audit_uses_lists_a_performers_uses(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    code, out, _ = run("audit", "uses", "--party", DANA, "--ledger", url, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["name"] == "Dana Whitfield"
    assert [u["covered"] for u in data["uses"]] == [True]
    code, out, _ = run("audit", "uses", "--party", DANA, "--ledger", url)
    assert code == 0 and "sh030" in out and "covered" in out
    code, out, _ = run("audit", "uses", "--party", "performer:nobody", "--ledger", url)
    assert code == 0 and "no uses of performer:nobody recorded" in out


def test_audit_impact_after_a_revocation_exits_1(tmp_path: Path) -> None:
    url = ledger(tmp_path, revoked=True)
    code, out, err = run("audit", "impact", "--party", DANA, "--ledger", url)
    assert code == 1 and "1 consent impact(s) still open" in err
    assert "revoked 2025-02-01" in out and "remediate:" in out and "NOT clear to ship" in out
    code, out, _ = run(
        "audit", "impact", "--production", FALLEN, "--ledger", url, "--format", "json",
        "--fail-on", "never",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["impacts"][0]["consent"] == story.CONSENT_DANA


def test_audit_impact_without_revocation_and_bad_usage(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    code, out, _ = run("audit", "impact", "--party", DANA, "--ledger", url)
    assert code == 0 and "no consent is revoked or about to expire" in out
    code, _, err = run("audit", "impact", "--ledger", url)
    assert code == 2 and "give --party or --production" in err
    # near expiry: the demo's consents expire on 2031-01-01
    code, out, _ = run(
        "audit", "impact", "--party", DANA, "--ledger", url, "--as-of", "2030-12-20T00:00:00Z",
        "--fail-on", "never",
    )  # fmt: skip
    assert code == 0 and "expires 2031-01-01" in out


def test_audit_impact_names_a_consent_no_use_cites(tmp_path: Path) -> None:
    """A consent about to expire that no use cites gets a row of its own saying so."""
    unused = consent_item(
        event_id=story.fixed_id("cli-unused-consent"),
        grantor={
            "party_id": "performer:ines-park",
            "kind": "performer",
            "display_name": "Ines Park",
        },
    )
    path = tmp_path / "ledger.db"
    build_store(path, [*demo_items(), unused], demo_signers()).close()
    code, out, _ = run(
        "audit", "impact", "--production", FALLEN, "--ledger", str(path),
        "--as-of", "2030-12-20T00:00:00Z", "--fail-on", "never",
    )  # fmt: skip
    [row] = [line.split("  ") for line in out.splitlines() if line.startswith("Ines Park")]
    cells = [c.strip() for c in row if c.strip()]
    assert code == 0 and cells == [
        "Ines Park", story.fixed_id("cli-unused-consent")[:12], "expires 2031-01-01",
        "-", "no use cites it", "-", "-",
    ]  # fmt: skip
    assert "Dana Whitfield" in out and "Omar Haddad" in out


def test_audit_register_csv_and_pdf(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    code, out, err = run("audit", "register", "--production", FALLEN, "--ledger", url)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["performer_name"] for r in rows] == ["Dana Whitfield", "Omar Haddad"]
    assert "2 use(s)" in err
    pdf = tmp_path / "register.pdf"
    code, _, _ = run(
        "audit", "register", "--production", FALLEN, "--ledger", url, "--format", "pdf",
        "-o", str(pdf), "--party", DANA,
    )  # fmt: skip
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF")


def test_users_add_performer_and_agent(tmp_path: Path) -> None:
    url = ledger(tmp_path)
    password = tmp_path / "pw"
    password.write_text("a long enough passphrase\n")
    pw = ("--password-file", str(password), "--ledger", url)
    code, _, err = run("users", "add", "dana", "--role", "performer", "--party", DANA, *pw)
    assert code == 0 and DANA in err
    code, _, err = run("users", "add", "nobody", "--role", "performer", *pw)
    assert code == 2 and "exactly one --party" in err
    code, _, _ = run(
        "users", "add", "agency", "--role", "agent", "--party", DANA,
        "--party", "performer:omar-haddad", *pw,
    )  # fmt: skip
    assert code == 0
    code, out, _ = run("users", "list", "--format", "json", "--ledger", url)
    parties = {a["name"]: a["parties"] for a in json.loads(out)}
    assert parties == {"dana": [DANA], "agency": [DANA, "performer:omar-haddad"]}


def test_audit_register_says_what_it_knows_of_record_timecodes(tmp_path: Path) -> None:
    """Without a delivery packet the register does not know the record timecodes, and says so
    (it said "no delivery packet" even when packets of the cut existed); given the packet
    (verified first) it prints them."""
    built = build_ledger(tmp_path / "ledger.db")
    with open_store(built.url) as store:
        packet = episode_packet(store, tmp_path).folder
    replica = f"{story.DELIVERY_PREFIX}/sh030/crowd_replica@v001"
    args = ("audit", "register", "--production", FALLEN, "--ledger", built.url)

    def placed(out: str) -> str:
        [row] = [r for r in csv.DictReader(io.StringIO(out)) if r["asset"] == replica]
        assert SH030 in row["deliverables"]
        return row["timecodes"]

    code, out, _ = run(*args)
    assert code == 0 and placed(out) == TIMECODES_NOT_READ
    code, out, err = run(*args, "--packet", str(packet))
    assert code == 0 and placed(out) == f"{SH030} 01:00:04:01-01:00:06:03"
    assert "1 verified delivery packet(s)" in err
    code, out, _ = run("audit", "uses", "--party", "performer:omar-haddad", "--ledger",
                       built.url, "--format", "csv", "--packet", str(packet))  # fmt: skip
    assert code == 0 and placed(out) == f"{SH030} 01:00:04:01-01:00:06:03"
