"""The offline verifiers load only what they need: ``packet verify`` and ``verify-receipt`` are
run by outsiders with no broker, so a fresh interpreter running them never imports the Kafka
client, the web stack or (with --skip-pdf) reportlab.  Each command's module is imported when
the command is looked up (cli.main.LazyLedgerGroup); ``--help`` still lists them all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from cli.main import cli
from demo import story
from ledger.log.checkpoint import vkey
from tests.ledger.log.test_receipt import LOG_NAME, SIZE, event_log
from tests.ledger.packet.packet_factory import SH010_V2, SH030, build_ledger, timeline, write_cut

ROOT = Path(__file__).parents[2]
NOT_LOADED = ("kafka", "starlette", "jinja2", "reportlab", "uvicorn", "consumers")

# runs the CLI with argv[1:] in this fresh interpreter, then writes the top-level packages it
# imported to the file named by the environment variable
RUN_CLI = """
import json, os, sys
from cli.main import main
sys.argv = ["assetledger", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = sorted({name.split(".")[0] for name in sys.modules})
with open(os.environ["LOADED_TO"], "w") as out:
    json.dump({"code": code, "loaded": loaded}, out)
"""


def loaded_by(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """(exit code, top-level modules imported, stderr) of ``assetledger ARGS`` run afresh."""
    report = tmp_path / "loaded.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args],
        cwd=ROOT,
        env={"LOADED_TO": str(report), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    data = json.loads(report.read_text(encoding="utf-8"))
    return data["code"], set(data["loaded"]), done.stderr


def test_packet_verify_loads_neither_kafka_nor_the_web_stack_nor_reportlab(
    tmp_path: Path,
) -> None:
    ledger = build_ledger(tmp_path / "ledger.db", approvals=[])
    cut = write_cut(timeline([SH010_V2, SH030]), tmp_path / "cut.edl")
    build = [
        "packet", "build", "--ledger", ledger.url, "--production", story.SHOW,
        "--episode", story.EPISODE, "--cut", str(cut), "-o", str(tmp_path / "pkt"),
    ]  # fmt: skip
    built = CliRunner().invoke(cli, build, catch_exceptions=False)
    assert built.exit_code == 0, built.stderr
    key = tmp_path / "log.vkey"
    key.write_text(ledger.log_vkey + "\n", encoding="utf-8")
    verify = ["packet", "verify", str(tmp_path / "pkt.zip"), "--log-key", str(key), "--skip-pdf"]
    code, loaded, err = loaded_by(tmp_path, *verify)
    assert code == 0, err
    assert "ledger" in loaded and "cli" in loaded  # it did run
    assert loaded.isdisjoint(NOT_LOADED), sorted(loaded.intersection(NOT_LOADED))


def test_verify_receipt_loads_neither_kafka_nor_the_web_stack(tmp_path: Path) -> None:
    log, _ = event_log()
    receipt = tmp_path / "entry.tlog-proof"
    receipt.write_text(log.receipt(SIZE + 2), encoding="utf-8")
    key = vkey(LOG_NAME, log.log_public)
    code, loaded, err = loaded_by(tmp_path, "verify-receipt", str(receipt), "--log-key", key)
    assert code == 0, err
    assert loaded.isdisjoint(NOT_LOADED), sorted(loaded.intersection(NOT_LOADED))


def test_help_lists_every_command_and_each_name_finds_its_command() -> None:
    from cli.main import COMMANDS

    listed = CliRunner().invoke(cli, ["--help"], catch_exceptions=False).stdout
    block = listed.split("Commands:\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in block.splitlines()] == sorted(COMMANDS)
    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name
    audit = cli.get_command(context, "audit")
    assert isinstance(audit, click.Group) and {"uses", "impact", "register"} <= set(audit.commands)
    typo = CliRunner().invoke(cli, ["verfy"])
    assert typo.exit_code == 2 and "Did you mean 'verify'?" in typo.stderr
