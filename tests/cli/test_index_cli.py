"""`prove --about`, `verify-receipt` on proofs about a key and `monitor`, as users run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ledger.index import smt
from ledger.log import operator
from ledger.store.sqlite import SqliteStore
from tests.ledger.index.index_factory import DANA, fill, init, set_rows, to_old_layout


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )


def _ledger(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "ledger.db"
    store = SqliteStore(path)
    fill(store, init(store))
    vkey = operator.require_identity(store).vkey
    store.close()
    return path, vkey


def test_prove_about_and_verify_offline(tmp_path: Path) -> None:
    path, vkey = _ledger(tmp_path)
    proof = tmp_path / "dana.index-proof"
    made = run("prove", "--about", DANA, "--out", str(proof), "--ledger", str(path))
    assert made.returncode == 0, made.stderr
    checked = run("verify-receipt", str(proof), "--log-key", vkey, "--format", "json")
    assert checked.returncode == 0, checked.stderr
    data = json.loads(checked.stdout)
    assert data["key"] == DANA and data["present"] is True
    assert len(data["indices"]) == len(data["event_ids"]) == 1
    assert data["tree_size"] > 0
    text = run("verify-receipt", str(proof), "--log-key", vkey)
    assert "proof valid" in text.stdout and DANA in text.stdout
    # one entry dropped from the proof: exit 1, the reason named
    lines = proof.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    n = int(lines[at].split(" ")[2])
    lines[at - 1] = "entries 0"
    del lines[at : at + 1 + n]
    proof.write_text("\n".join(lines))
    bad = run("verify-receipt", str(proof), "--log-key", vkey)
    assert bad.returncode == 1
    assert "map_mismatch" in bad.stderr


def test_monitor_names_an_index_row_deleted_in_the_database(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path)
    ok = run("monitor", "--ledger", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "index intact" in ok.stdout
    store = SqliteStore(path)
    set_rows(store, smt.key_hash(DANA), [])
    store.close()
    bad = run("monitor", "--ledger", str(path), "--format", "json")
    assert bad.returncode == 1
    (finding,) = json.loads(bad.stdout)["findings"]
    assert finding["kind"] == "index_row_mismatch" and DANA in finding["detail"]


def test_an_old_index_layout_is_named_and_migrate_index_converts_it(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path)
    store = SqliteStore(path)
    to_old_layout(store)
    store.close()
    refused = run("monitor", "--ledger", str(path))
    assert refused.returncode == 2
    assert "old table layout" in refused.stderr and "migrate-index" in refused.stderr
    migrated = run("migrate-index", "--ledger", str(path))
    assert migrated.returncode == 0, migrated.stderr
    ok = run("monitor", "--ledger", str(path))
    assert ok.returncode == 0 and "index intact" in ok.stdout
    assert run("migrate-index", "--ledger", str(tmp_path / "none.db")).returncode == 2


def test_prove_needs_an_event_or_a_key(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path)
    result = run("prove", "--ledger", str(path))
    assert result.returncode == 2 and "--about" in result.stderr


def test_info_shows_the_index_rule_and_the_index_state(tmp_path: Path) -> None:
    """``info`` names the ledger's index rule (meta ``index_rule``), how far the stored index
    reaches with its root, and the index root and rule the latest checkpoint commits to."""
    path, _ = _ledger(tmp_path)
    with SqliteStore(path) as store:
        size, root = store.index_tables().head()
    shown = run("info", "--ledger", str(path), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["index_rule"] == "v2"
    assert (data["index_size"], data["index_root"]) == (size, root.hex())
    assert data["index_size"] == data["latest_checkpoint_size"] == data["size"]
    assert data["checkpoint_index_rule"] == "v2"
    assert data["checkpoint_index_root"] == root.hex()
    text = run("info", "--ledger", str(path)).stdout
    assert (
        "index_rule               v2" in text and f"index_root               {root.hex()}" in text
    )
