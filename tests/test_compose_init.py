"""docker-compose.yml's one-shot ``init`` script, as written there, on PostgreSQL and a broker.

No Docker engine runs here, so the test runs the script itself with ``/bin/sh -ec`` (the
service's entrypoint) against a fresh PostgreSQL schema and the test broker: ``assetledger``
and ``python`` come from this virtualenv, the service's environment points to the local
services, and ``/keys`` (the ``ledger-keys`` volume) is a temporary folder.  It must succeed on
a fresh database and again, unchanged, on the database it initialised (issue 19 §7).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from kafka import KafkaConsumer

ROOT = Path(__file__).parents[1]
SERVICE_ENV = (
    "ASSETLEDGER_BOOTSTRAP_SERVERS",
    "ASSETLEDGER_TOPIC",
    "ASSETLEDGER_LEDGER",
    "PGPASSWORD",
    "ASSETLEDGER_ORIGIN",
    "EVENTS_PARTITIONS",
)


def compose_service_block(compose: str, service: str) -> list[str]:
    """The lines of one service under ``services:`` (indented by 4 or more, or blank)."""
    lines = compose.splitlines()
    start = lines.index(f"  {service}:") + 1
    block: list[str] = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    return block


def init_script(compose: str) -> str:
    """The ``init`` service's ``command`` block scalar, as the shell receives it.

    YAML's literal block (``- |``) is dedented by its first line's indentation; Compose then
    turns ``$$`` into ``$`` (its escape for a dollar the shell should see).
    """
    block = compose_service_block(compose, "init")
    assert '    entrypoint: ["/bin/sh", "-ec"]' in block, (
        "init no longer runs its command with sh -ec"
    )
    start = block.index("    command:") + 1
    assert block[start].strip() == "- |", "init's command is no longer one literal block"
    body: list[str] = []
    for line in block[start + 1 :]:
        if line.strip() and not line.startswith("        "):
            break
        body.append(line)
    script = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
    assert not re.search(r"(?<!\$)\$\{", script), "the script uses Compose interpolation"
    return script.replace("$$", "$")


def declared_environment(compose: str) -> set[str]:
    """Environment variable names the init service gets (its own and the shared anchor)."""
    names = set(re.findall(r"^  (ASSETLEDGER_\w+|PGPASSWORD):", compose, re.MULTILINE))
    block = "\n".join(compose_service_block(compose, "init"))
    names |= set(re.findall(r"^      (\w+):", block, re.MULTILINE))
    return names


def run_init(script: str, env: dict[str, str], keys: Path) -> subprocess.CompletedProcess[str]:
    local = script.replace("/keys", str(keys))
    return subprocess.run(
        ["/bin/sh", "-ec", local],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return {t: len(consumer.partitions_for_topic(t) or ()) for t in topics}
    finally:
        consumer.close()


def test_the_compose_init_script_sets_up_a_fresh_database_and_keeps_an_existing_one(
    tmp_path: Path, kafka_bootstrap: str, pg_schema_dsn: str
) -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    script = init_script(compose)
    topic = f"t-{uuid.uuid4().hex[:8]}"
    origin = "compose.test/ledger"
    values = {
        "ASSETLEDGER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ASSETLEDGER_TOPIC": topic,
        "ASSETLEDGER_LEDGER": pg_schema_dsn,
        "PGPASSWORD": "unused-with-trust-auth",
        "ASSETLEDGER_ORIGIN": origin,
        "EVENTS_PARTITIONS": "2",
    }
    assert set(SERVICE_ENV) <= declared_environment(compose)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        **values,
    }
    keys = tmp_path / "keys"

    fresh = run_init(script, env, keys)
    assert fresh.returncode == 0, fresh.stderr
    vkey = fresh.stdout.strip().splitlines()[-1]
    assert vkey.startswith(origin + "+")
    assert (keys / "log.key").is_file() and (keys / "log.pub").is_file()
    names = [topic, f"{topic}.dlt", f"{topic}.checkpoints", f"{topic}.keys"]
    assert partitions(kafka_bootstrap, names) == {
        topic: 2,
        f"{topic}.dlt": 1,
        f"{topic}.checkpoints": 1,
        f"{topic}.keys": 1,
    }

    again = run_init(script, env, keys)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == vkey
    assert "already initialised; keeping its origin and log key" in again.stderr
    for name in names:
        assert f"topic {name} exists; left as it is" in again.stdout

    info = subprocess.run(
        ["assetledger", "info", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    state = json.loads(info.stdout)
    assert (state["origin"], state["log_vkey"], state["size"]) == (origin, vkey, 0)


def test_the_compose_init_script_stops_on_a_ledger_whose_key_folder_was_lost(
    tmp_path: Path, kafka_bootstrap: str, pg_schema_dsn: str
) -> None:
    """The ledger kept, its key volume gone: stop with a reason rather than start unsigned."""
    script = init_script((ROOT / "docker-compose.yml").read_text())
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "ASSETLEDGER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ASSETLEDGER_TOPIC": f"t-{uuid.uuid4().hex[:8]}",
        "ASSETLEDGER_LEDGER": pg_schema_dsn,
        "ASSETLEDGER_ORIGIN": "compose.test/ledger",
        "EVENTS_PARTITIONS": "1",
    }
    assert run_init(script, env, tmp_path / "keys").returncode == 0
    lost = run_init(script, env, tmp_path / "new-empty-keys")
    assert lost.returncode == 2
    assert "holds no log key" in lost.stderr
    assert not (tmp_path / "new-empty-keys" / "log.key").exists()


def test_info_on_a_postgres_database_without_a_ledger_says_so(pg_schema_dsn: str) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    result = CliRunner().invoke(cli, ["info", "--format", "json", "--ledger", pg_schema_dsn])
    assert result.exit_code == 2, result.output
    assert "error: no ledger at postgresql://" in result.output
    assert "relation" not in result.output
