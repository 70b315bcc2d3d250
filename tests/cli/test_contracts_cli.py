"""Every event kind from JSON through a real broker, and counsel's ``finding clear`` end to end."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.trust import keys as keyfiles
from tests.conftest import FreshTopic

pytestmark = pytest.mark.broker

EXAMPLES = Path(__file__).parents[2] / "examples"
# Emission order: the registry first (counsel's enrolment), then what later events cite.
FOLDERS = ("registry", "consents", "licences", "events", "remediation", "dispositions")


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin"},
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def counsel_key(folder: Path) -> None:
    """The private half of the key examples/registry enrols (a seed fixed for the examples)."""
    seed = hashlib.sha256(b"asset-ledger example key: counsel").digest()
    pair = keyfiles.KeyPair("counsel", Ed25519PrivateKey.from_private_bytes(seed))
    keyfiles.write_key_pair(pair, folder)


def test_every_kind_is_emitted_from_json_and_counsel_clears_a_finding(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    keys_dir, ledger = tmp_path / "keys", str(tmp_path / "ledger.db")
    broker = ["--bootstrap-servers", fresh_topic.bootstrap, "--topic", fresh_topic.name]
    for name in ("root", "vendor"):
        run("keys", "generate", name, "--out", str(keys_dir))
    counsel_key(keys_dir)
    run("init", "--origin", "test.example/contracts", "--key-dir", str(tmp_path / "ops"),
        "--root-key", str(keys_dir / "root.pub"), "--ledger", ledger)  # fmt: skip

    # One mixed file: each event states its kind (or is provenance by default).
    lines = []
    for folder in FOLDERS[1:-1]:
        lines += (EXAMPLES / folder / "all.jsonl").read_text().splitlines()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines) + "\n")
    emitted = {
        "registry": run("emit", "--key", str(keys_dir / "root.key"), "--event",
                        str(EXAMPLES / "registry" / "all.jsonl"), *broker),
        "mixed": run("emit", "--key", str(keys_dir / "vendor.key"), "--event", str(mixed), *broker),
        "dispositions": run("emit", "--key", str(keys_dir / "counsel.key"), "--event",
                            str(EXAMPLES / "dispositions" / "all.jsonl"), *broker),
    }  # fmt: skip
    assert len(emitted["mixed"].stdout.split()) == len(lines)
    consume = ["consume", "--trusted-keys", str(keys_dir), "--until-caught-up", "--ledger", ledger]
    consume += ["--log-key", str(tmp_path / "ops" / "log.key"), *broker]
    run(*consume)
    with sqlite3.connect(ledger) as db:
        kinds = dict(db.execute("SELECT kind, count(*) FROM entries GROUP BY kind").fetchall())
    assert kinds == {
        "key_registry_event": 1,
        "consent_event": 2,
        "licence_event": 5,
        "provenance_event": 22,
        "disposition_event": 4,
    }

    # Signers judged against the folder (the vendor is not enrolled); counsel's legal scope
    # comes from the key registry all the same.
    audit_ip = ["audit", "ip", "--ledger", ledger, "--at-head", "--trusted-keys", str(keys_dir)]
    audit = run(*audit_ip, "--format", "json", ok=False)
    assert audit.returncode == 1  # open findings
    findings = json.loads(audit.stdout)["findings"]
    target = next(f for f in findings if f["rule"] == "licence-not-covering")
    assert target["status"] == "open"
    # The example dispositions name a stand-in id that no audit gives: each is reported as
    # dangling, never shown as a decision on a finding (issue 19).
    assert "lapsed_dispositions" not in target
    dangling = json.loads(audit.stdout)["dangling_dispositions"]
    assert len(dangling) == 4 and len({d["finding_id"] for d in dangling}) == 1
    assert {d["rule"] for d in dangling} >= {target["rule"]}

    letter = tmp_path / "side-letter.pdf"
    letter.write_bytes(b"%PDF side letter extending the ClearScale licence to the UK")
    refused = run("finding", "clear", target["id"], "--key", str(keys_dir / "vendor.key"),
                  "--reason", "x", "--document", str(letter), "--ledger", ledger, *broker,
                  ok=False)  # fmt: skip
    assert refused.returncode == 2 and "legal scope" in refused.stderr
    cleared = run("finding", "clear", target["id"], "--key", str(keys_dir / "counsel.key"),
                  "--reason", "side letter extends the licence to the UK", "--document",
                  str(letter), "--ledger", ledger, *broker)  # fmt: skip
    assert len(cleared.stdout.split()) == 1
    run(*consume)

    after = json.loads(run(*audit_ip, "--format", "json", ok=False).stdout)
    decided = next(f for f in after["findings"] if f["id"] == target["id"])
    assert decided["status"] == "cleared"
    assert decided["disposition"]["by"] == "Hana Sato"
    assert (
        decided["disposition"]["document_sha256"] == hashlib.sha256(letter.read_bytes()).hexdigest()
    )
    shipping = {d["asset"].rsplit("/", 2)[-2]: d["clear_to_ship"] for d in after["deliverables"]}
    assert shipping["sh020"] is True
    gate = run(*audit_ip, "--fail-on", "critical", ok=False)
    assert gate.returncode == 1 and "open finding(s) at or above critical" in gate.stderr


def test_emit_refuses_a_kind_it_does_not_know_and_a_kind_that_disagrees(tmp_path: Path) -> None:
    run("keys", "generate", "k", "--out", str(tmp_path))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"event_kind": "invoice"}))
    bad = run("emit", "--key", str(tmp_path / "k.key"), "--event", str(unknown), ok=False)
    assert bad.returncode == 2 and "'invoice' is not an event kind" in bad.stderr
    consent = EXAMPLES / "consents" / "01-dana-whitfield.json"
    clash = run("emit", "--key", str(tmp_path / "k.key"), "--event", str(consent),
                "--kind", "licence", ok=False)  # fmt: skip
    assert clash.returncode == 2 and "--kind says licence_event" in clash.stderr


def test_finding_commands_refuse_bad_terms_before_signing(tmp_path: Path) -> None:
    run("keys", "generate", "c", "--out", str(tmp_path))
    key = ["--key", str(tmp_path / "c.key"), "--reason", "r", "--ledger", str(tmp_path / "l.db")]
    bad_time = run("finding", "waive", "ab" * 32, *key, "--approver", "A", "--expires",
                   "next week", ok=False)  # fmt: skip
    assert (
        bad_time.returncode == 2 and "--expires 'next week' is not an ISO 8601" in bad_time.stderr
    )
    no_version = run("finding", "remediate", "ab" * 32, *key, "--replaced-by", "fx_dust",
                     ok=False)  # fmt: skip
    assert no_version.returncode == 2 and "needs a version" in no_version.stderr
    both = run("finding", "clear", "ab" * 32, *key, "--document-sha256", "cd" * 32,
               "--document", str(tmp_path / "c.pub"), ok=False)  # fmt: skip
    assert both.returncode == 2 and "exactly one of --document" in both.stderr
    no_ledger = run("finding", "clear", "ab" * 32, *key, "--document-sha256", "cd" * 32, ok=False)
    assert no_ledger.returncode == 2 and "no ledger" in no_ledger.stderr
