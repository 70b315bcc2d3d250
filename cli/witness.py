"""``assetledger witness``: run a C2SP witness that cosigns this (or any C2SP) log."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import click

from cli import common
from ledger.errors import ConfigurationError
from ledger.witness.server import WitnessServer
from ledger.witness.witness import (
    STATE_FILE,
    Evidence,
    Witness,
    init_witness,
    load_witness,
    read_states,
)

DEFAULT_PORT = 7380

key_dir_option = click.option(
    "--key-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The witness's folder: witness.key, witness.vkey and (by default) its state.",
)
state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The witness state database (default: KEY_DIR/{STATE_FILE}).",
)


@click.group()
def witness() -> None:
    """Run a witness: cosign a log's checkpoints only while it stays append-only."""


@witness.command("init")
@click.option("--name", required=True, help="The witness's name, e.g. witness.guild.example/w1.")
@key_dir_option
@common.passphrase_option
def init_command(name: str, key_dir: Path, passphrase_file: Path | None) -> None:
    """Create the witness's Ed25519 key; print its verifier key (publish it)."""
    identity = init_witness(name, key_dir, common.read_passphrase(passphrase_file))
    common.err(f"created witness key {key_dir / 'witness.key'} (keep it private)")
    common.err("give this verifier key to the logs you witness and to those who check receipts:")
    click.echo(identity.key.vkey)


@witness.command()
@key_dir_option
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    help="A log's verifier key (name+keyid+key; the name is its origin), inline or in a"
    " file; repeatable.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port, printed).",
)
@state_option
@common.passphrase_option
def serve(
    key_dir: Path,
    logs: tuple[str, ...],
    host: str,
    port: int,
    state_path: Path | None,
    passphrase_file: Path | None,
) -> None:
    """Serve POST /add-checkpoint (c2sp.org/tlog-witness) until SIGTERM or SIGINT."""
    identity = load_witness(key_dir, common.read_passphrase(passphrase_file))
    log_keys = [common.log_vkey(value) for value in logs]
    core = Witness(identity, log_keys, state_path or key_dir / STATE_FILE)
    try:
        server = _bind(core, host, port)
    except BaseException:
        core.close()
        raise
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    common.err(f"witness {identity.name} listening on {server.url}")
    common.err(f"verifier key: {identity.key.vkey}")
    common.err("logs: " + ", ".join(sorted(core.logs)))
    try:
        stop.wait()
    finally:
        server.stop()
        core.close()
    common.err("witness stopped")


def _bind(core: Witness, host: str, port: int) -> WitnessServer:
    try:
        return WitnessServer(core, host, port)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="choose another --port, or stop what is using it",
        ) from None


@witness.command()
@key_dir_option
@state_option
@common.format_option("text", "json", default="text")
def status(key_dir: Path, state_path: Path | None, fmt: str) -> None:
    """Show the latest checkpoint cosigned per log and how much evidence was kept."""
    states, evidence = read_states(state_path or key_dir / STATE_FILE)
    rows = [
        {
            "origin": s.origin,
            "size": s.size,
            "root_hash": s.root_hash.hex(),
            "updated_at": _when(s.updated_at),
            "evidence": sum(1 for e in evidence if e.origin == s.origin),
        }
        for s in states
    ]
    common.emit_rows(rows, "json" if fmt == "json" else "table", list(rows[0]) if rows else [])
    if not rows and fmt == "text":
        common.err("this witness has not cosigned anything yet")


@witness.command("evidence")
@key_dir_option
@state_option
@common.format_option("text", "json", default="text")
def evidence_command(key_dir: Path, state_path: Path | None, fmt: str) -> None:
    """Print the signed checkpoints refused as inconsistent, kept as evidence.

    Exit status 1 when one proves a fork: the log key signed another root for a size this
    witness cosigned.  (A checkpoint sent with a failing proof is listed too, but proves
    nothing alone: anyone can send a bad proof.)
    """
    _, evidence = read_states(state_path or key_dir / STATE_FILE)
    if fmt == "json":
        click.echo(json.dumps([_evidence_json(e) for e in evidence], indent=2))
    else:
        for e in evidence:
            click.echo(
                f"# evidence {e.evidence_id}: {e.origin}: {e.reason}; cosigned size"
                f" {e.witness_size} root {(e.witness_root or b'').hex()}, refused size"
                f" {e.checkpoint_size} root {e.checkpoint_root.hex()}, at {_when(e.received_at)}"
            )
            click.echo(e.signed_checkpoint, nl=False)
        if not evidence:
            common.err("no evidence: no log has contradicted what this witness cosigned")
    if any(e.proves_fork for e in evidence):
        click.get_current_context().exit(1)


def _evidence_json(e: Evidence) -> dict[str, object]:
    return {
        "id": e.evidence_id,
        "origin": e.origin,
        "reason": e.reason,
        "witness_size": e.witness_size,
        "witness_root": (e.witness_root or b"").hex(),
        "checkpoint_size": e.checkpoint_size,
        "checkpoint_root": e.checkpoint_root.hex(),
        "received_at": _when(e.received_at),
        "request": e.request,
    }


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
