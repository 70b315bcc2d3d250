"""``python -m bench --quick`` runs end to end and writes what it claims (no timing asserted).

The benchmark's numbers are only meaningful on a quiet machine; this test proves the harness
works: every stage ran on real data (a real broker, real consumer processes, real ledgers that
verify), the table is printed and the JSON is complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import postgres

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]


def test_quick_bench_runs_end_to_end(kafka_bootstrap: str, tmp_path: Path) -> None:
    dsn = os.environ.get("ASSETLEDGER_TEST_POSTGRES_DSN", postgres.DEFAULT_DSN)
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        *("--bootstrap-servers", kafka_bootstrap, "--postgres", dsn),
        *("--out-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work")),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    written = list((tmp_path / "results").glob("*.json"))
    assert len(written) == 1
    results = json.loads(written[0].read_text())
    raw = results["raw"]
    assert raw["verify_per_core"] > 0 and raw["ceiling"] == raw["cores"] * raw["verify_per_core"]
    assert results["broker"]["producer"]["events"] == 300

    runs = [r for r in results["broker"]["ingest"] if "skipped" not in r]
    assert {(r["backend"], r["workers_per_process"]) for r in runs} >= {("sqlite", 0)}
    for run in runs:
        assert run["ingested"] >= run["target"] == 2_000
        assert run["ledger_size"] >= 2_000 and run["quarantined"] == 0
        assert run["last_checkpoint_size"] > 0  # the consumer signed checkpoints
        assert all(mb > 0 for mb in run["peak_rss_main_mb"] + run["peak_pss_total_mb"])
    if postgres.reachable(dsn) is None:
        assert {r["processes"] for r in runs if r["backend"] == "postgresql"} == {1, 2}

    (ledger,) = results["ledgers"]
    assert ledger["size"] == 2_000
    registry = ledger["registry_entries"]  # the key registry, appended before the corpus
    assert registry > 0
    assert ledger["verify"]["signatures"] == 2_000 + registry  # verify_ledger found no damage
    assert ledger["recompute"]["entries"] == 2_000 + registry  # chain and root recomputed
    assert ledger["proofs"]["samples"] == 50  # every inclusion proof checked
    assert ledger["lineage"]["samples"] > 0 and ledger["credits"]["events"] > 0

    table = done.stdout
    assert "| measure" in table and "ceiling" in table and "inclusion proof" in table
    assert "results written to" in done.stderr
