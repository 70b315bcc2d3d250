"""Every reading command works on a read-only ledger (an archived copy, a read-only mount).

Tests run as root here, and root writes through missing write bits, so ``chmod`` alone proves
nothing.  Two real situations are used instead, each skipped (with its reason) where the
machine cannot provide it:

* a read-only bind mount in a private mount namespace (``unshare -m``): writes fail with EROFS
  for everyone, root included;
* a folder and file without write bits, read by an unprivileged user (``setpriv`` to nobody
  when the tests run as root; the current user otherwise).

The commands run in a child process (the real console entry point), and the ledger's folder
must be byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.log import operator
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from tests.ledger.audit.audit_factory import demo_signers, demo_store

REPO = Path(__file__).parents[2]
D = "fallen-tower/ep101/sq040"

# Runs every reading command in one child process (one interpreter start-up, not twelve).
RUNNER = """
import json, sys
from click.testing import CliRunner
from cli.main import cli
results = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(cli, args)
    results.append({"args": args, "code": r.exit_code, "out": r.stdout[-400:],
                    "err": r.stderr[-400:]})
print(json.dumps(results))
"""


def _commands(ledger: str, event_id: str) -> list[list[str]]:
    at = ["--ledger", ledger]
    return [
        ["verify", "--trusted-keys", str(Path(ledger).parent / "keys"), *at],
        ["log", *at, "--limit", "3"],
        ["info", *at],
        ["show", event_id, *at],
        ["prove", event_id, *at],
        ["quarantine", *at],
        ["keys", "list", *at],
        ["audit", "lineage", f"{D}/sh010/final", *at],
        ["audit", "ip", "--production", "Fallen Tower", "--fail-on", "never", *at],
        ["audit", "report", "--production", "Fallen Tower", "--fail-on", "never", *at],
        ["credits", "--production", "Fallen Tower", *at],
    ]


def _mount_prefix(folder: Path) -> list[str] | None:
    """``unshare -m`` + a read-only bind mount of ``folder`` over itself, where possible."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return None
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount --bind -o ro '{folder}' '{folder}'"],
        capture_output=True,
    )
    if probe.returncode != 0:
        return None
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return [unshare, "-m", "sh", "-c", script, str(folder)]


def _unprivileged_prefix() -> tuple[list[str] | None, str]:
    """The command prefix that runs as an unprivileged user, or None and why not."""
    if os.geteuid() != 0:
        return [], ""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None, "running as root without setpriv: cannot drop write access"
    closed = _closed_to_others(REPO) or _closed_to_others(Path(sys.executable))
    if closed is not None:  # e.g. a checkout inside mktemp -d's 0700 folder
        return None, f"{closed} is closed to other users: the unprivileged user cannot run the CLI"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"], ""


def _closed_to_others(path: Path) -> Path | None:
    """The first folder above ``path`` that other users may not enter, if any."""
    for folder in path.absolute().parents:
        if not folder.stat().st_mode & 0o001:
            return folder
    return None


@pytest.fixture(scope="module")
def archive() -> Iterator[tuple[Path, str]]:
    """A signed ledger in a folder an unprivileged user can reach (not under 0700 tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="assetledger-ro-", dir="/tmp"))
    folder.chmod(0o755)
    path = folder / "ledger.db"
    signers = demo_signers()
    store = demo_store(path, signers)
    for signer in signers.values():
        keys.write_key_pair(signer, folder / "keys")
    root = keys.generate("root")
    set_roots(store, [RootKey("root", root.public)])
    log_key = keys.generate("log")
    operator.init_ledger(store, "archive.example/ledger", log_key)
    operator.Checkpointer(store, log_key).checkpoint()
    event_id = next(store.entries()).event_id
    store.close()
    yield folder, event_id
    folder.chmod(0o755)
    shutil.rmtree(folder)


def _snapshot(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _run(prefix: list[str], commands: list[list[str]]) -> list[dict[str, object]]:
    result = subprocess.run(
        [*prefix, sys.executable, "-c", RUNNER, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "HOME": "/tmp"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout))


def _assert_all_read(results: list[dict[str, object]]) -> None:
    """Each command read the ledger and printed its result (``show`` exits 1 here: the demo
    signers are not enrolled, a finding, not a failure to read)."""
    failed = [r for r in results if r["code"] not in (0, 1) or not r["out"]]
    assert not failed, json.dumps(failed, indent=1)


def test_readers_on_a_read_only_mount(archive: tuple[Path, str]) -> None:
    folder, event_id = archive
    prefix = _mount_prefix(folder)
    if prefix is None:
        pytest.skip("no read-only bind mount here (needs root and unshare -m)")
    before = _snapshot(folder)
    _assert_all_read(_run(prefix, _commands(str(folder / "ledger.db"), event_id)))
    assert _snapshot(folder) == before


def test_readers_need_no_write_permission(archive: tuple[Path, str]) -> None:
    folder, event_id = archive
    prefix, why_not = _unprivileged_prefix()
    if prefix is None:
        pytest.skip(why_not)
    before = _snapshot(folder)
    (folder / "ledger.db").chmod(0o444)
    folder.chmod(0o555)
    try:
        _assert_all_read(_run(prefix, _commands(str(folder / "ledger.db"), event_id)))
    finally:
        folder.chmod(0o755)
        (folder / "ledger.db").chmod(0o644)
    assert _snapshot(folder) == before


def test_consume_into_a_read_only_ledger_says_it_is_read_only(
    archive: tuple[Path, str],
) -> None:
    folder, _ = archive
    prefix = _mount_prefix(folder)
    if prefix is None:
        pytest.skip("no read-only bind mount here (needs root and unshare -m)")
    keys_dir = REPO / "examples"  # any folder: the ledger is refused before keys are read
    consume = [
        ["consume", "--ledger", str(folder / "ledger.db"), "--trusted-keys", str(keys_dir),
         "--bootstrap-servers", "127.0.0.1:1", "--until-idle", "1"]
    ]  # fmt: skip
    (result,) = _run(prefix, consume)
    assert result["code"] == 2, result
    assert "is read-only" in str(result["err"]), result


def test_a_live_write_ahead_log_is_read_on_a_read_only_mount(tmp_path: Path) -> None:
    """With ``-wal`` and ``-shm`` present (copied while a writer was open), nothing is missed."""
    folder = Path(tempfile.mkdtemp(prefix="assetledger-wal-", dir="/tmp"))
    try:
        path = folder / "ledger.db"
        writer = demo_store(path, demo_signers())
        assert isinstance(writer, SqliteStore)
        writer.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.db.execute("PRAGMA wal_autocheckpoint=0")
        writer.set_meta("written-after-checkpoint", "yes")  # lives only in the -wal
        size = writer.head().size
        copy = folder / "copy"
        copy.mkdir()
        for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
            shutil.copy(folder / name, copy / name)
        writer.close()
        prefix = _mount_prefix(copy)
        if prefix is None:
            pytest.skip("no read-only bind mount here (needs root and unshare -m)")
        probe = (
            "from ledger.store import open_store\n"
            f"s = open_store({str(copy / 'ledger.db')!r}, read_only=True)\n"
            "print(s.head().size, s.get_meta('written-after-checkpoint'))"
        )
        out = subprocess.run(
            [*prefix, sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO
        )
        assert out.stdout.split() == [str(size), "yes"], out.stderr
    finally:
        shutil.rmtree(folder)
