"""``assetledger demo`` end to end: registry, consents, rotation, revocation, audit outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.log.verdicts import verdicts_for_event
from ledger.store.sqlite import SqliteStore
from tests.conftest import FreshTopic

pytestmark = pytest.mark.broker

EXPECTED_FINDINGS = {
    ("deliverable-unresolved", "sh030/final@v001", "open"),
    ("deliverable-unresolved", "sh010/final@v001", "open"),  # holds the replaced dust
    ("likeness-without-consent", "sh030/crowd_replica@v001", "open"),
    ("ai-input-not-allowed", "sh030/sky@v001", "open"),
    ("ai-model-undeclared", "sh010/fx_dust@v001", "remediated by Hana Sato"),
    ("licence-not-covering", "sh020/plate@v002", "cleared by Hana Sato"),
    ("content-hash-mismatch", "sh030/comp@v001", "open"),
    ("ingredient-unrecorded", "sh030/comp@v001", "open"),
}
CLEAR_TO_SHIP = {
    "deliverable sh010/final@v001: NOT clear to ship",
    "deliverable sh010/final@v002: clear to ship",  # remediated and republished
    "deliverable sh020/final@v001: clear to ship",  # counsel cleared its one finding
    "deliverable sh030/final@v001: NOT clear to ship",
}


def _finding(line: str) -> tuple[str, str, str]:
    text, _, status = line.split("] ", 1)[1].partition(" — ")
    rule, asset = text.split(": ")
    return rule, asset, status or "open"


def _readme_shows_this_output(out: str) -> None:
    """The README's demo summary is what the demo prints: each line, in order ("…" skips)."""
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r"```\n(ledger      .*?)```", readme, re.S)
    assert block, "README.md no longer shows the demo's summary"
    lines = iter(out.splitlines())
    for shown in block.group(1).splitlines():
        if shown.strip() != "…":
            assert shown in lines, f"README shows {shown!r}, not printed here or not in this order"


def test_demo_tells_the_whole_story(fresh_topic: FreshTopic, tmp_path: Path) -> None:
    work = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--work-dir", str(work),
         "--bootstrap-servers", fresh_topic.bootstrap, "--topic", fresh_topic.name],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "verify      intact" in out
    assert "dead-letter 3 records refused (key_revoked: 1, not_enrolled: 1, undecodable: 1)" in out
    findings = {_finding(line) for line in out.splitlines() if line.startswith("  [")}
    assert findings == EXPECTED_FINDINGS
    assert {line for line in out.splitlines() if line.startswith("deliverable ")} == CLEAR_TO_SHIP
    assert "audit       6 open findings, 2 disposed by counsel" in out
    _readme_shows_this_output(out.replace(str(work), "demo-work"))
    for name in ("audit-report.html", "audit-report.pdf", "credits.html", "sh020-final.receipt"):
        assert (work / name).stat().st_size > 0
    assert (work / "audit-report.pdf").read_bytes().startswith(b"%PDF")

    with SqliteStore(work / "ledger.db") as store:
        dust = store.seqs_by_ref("asset_version", "fallen-tower/ep101/sq040/sh010/fx_dust@v001")
        assert len(dust) == 1
        refused = "fallen-tower/ep101/sq040/sh010/fx_dust@v002"  # signed after the revocation
        assert store.seqs_by_ref("asset_version", refused) == []
        entry = store.entry(dust[0])
        assert entry is not None
        verdicts = verdicts_for_event(store, entry.event_id)
        assert verdicts.signature.status == "ok" and verdicts.key_valid.status == "ok"
        assert verdicts.anchor is not None and verdicts.anchor.predates_revocation
        reasons = sorted(q.reason for q in store.quarantine())
        assert reasons == ["key_revoked", "not_enrolled", "undecodable"]

    receipt = subprocess.run(
        [sys.executable, "-m", "cli", "verify-receipt", str(work / "sh020-final.receipt"),
         "--log-key", str(work / "log.vkey"), "--trusted-keys", str(work / "keys")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert receipt.returncode == 0 and "producer signature: valid" in receipt.stdout

    # Dana Whitfield's consents, proven complete and checked offline with the log key alone
    assert "complete    1 consent record(s) by Dana Whitfield" in out
    proof = subprocess.run(
        [sys.executable, "-m", "cli", "verify-receipt",
         str(work / "dana-whitfield-consents.index-proof"), "--log-key", str(work / "log.vkey"),
         "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proof.returncode == 0, proof.stderr
    assert '"key": "party:performer:dana-whitfield"' in proof.stdout
