"""``assetledger spool status|flush``: the emitter's durable local outbox."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from cli import common
from ledger.errors import BrokerError
from producers.emitter import Emitter
from producers.spool import SPOOL_FILE, Spool, SpoolStatus


@click.group()
def spool() -> None:
    """Events signed on this machine and waiting for the broker (see emit --spool)."""


def _age(since: float | None) -> str:
    if since is None:
        return "-"
    seconds = max(0, int(time.time() - since))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def status_dict(status: SpoolStatus) -> dict[str, object]:
    return {
        "spool": str(status.path),
        "waiting": status.waiting,
        "oldest_spooled_at": status.oldest,
        "newest_spooled_at": status.newest,
        "by_topic": status.topics,
        "damaged": status.damaged,
    }


@spool.command("status")
@common.spool_option(required=True)
@common.format_option("text", "json", default="text")
def status(spool_dir: Path, fmt: str) -> None:
    """Show how many signed events wait in the spool, and since when."""
    if not (spool_dir / SPOOL_FILE).exists():  # nothing spooled yet: create nothing
        common.err(f"note: no spool in {spool_dir} yet (emit --spool creates it)")
        info = SpoolStatus(spool_dir / SPOOL_FILE, 0, None, None, {})
    else:
        with Spool(spool_dir) as outbox:
            info = outbox.status()
    if fmt == "json":
        click.echo(json.dumps(status_dict(info), indent=2))
        return
    click.echo(f"spool    {info.path}")
    click.echo(f"waiting  {info.waiting} event(s)")
    if info.waiting:
        click.echo(f"oldest   spooled {_age(info.oldest)} ago")
        for topic, count in info.topics.items():
            click.echo(f"topic    {common.printable(topic)}: {count}")
    if info.damaged:
        click.echo(f"damaged  {info.damaged} unreadable record(s) set aside, never sent")


@spool.command("flush")
@common.spool_option(required=True)
@common.bootstrap_option
@common.connect_timeout_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the broker to acknowledge each batch.",
)
def flush(spool_dir: Path, bootstrap_servers: str, connect_timeout: float, timeout: float) -> None:
    """Send the spooled events in order; each leaves the spool once acknowledged."""
    with Emitter(
        bootstrap_servers, None, spool=spool_dir, connect_timeout=connect_timeout
    ) as emitter:
        outcome = emitter.flush_spool(timeout, wait=timeout)
    if outcome.error is not None:
        raise BrokerError(
            f"{outcome.sent} event(s) sent, {outcome.waiting} still waiting in {spool_dir}:"
            f" {outcome.error}",
            hint="run assetledger spool flush again once the broker is reachable",
        )
    common.err(f"{outcome.sent} event(s) sent to {bootstrap_servers}; spool {spool_dir} is empty")
    _warn_damaged(spool_dir)


def _warn_damaged(spool_dir: Path) -> None:
    with Spool(spool_dir) as outbox:
        damaged = outbox.damaged()
    if damaged:
        seqs = ", ".join(str(seq) for seq, _ in damaged[:10])
        common.err(
            f"warning: {len(damaged)} unreadable record(s) set aside in the spool's damaged"
            f" table, never sent (spool seq {seqs}{', …' if len(damaged) > 10 else ''}):"
            f" {common.printable(damaged[0][1])}; see the table damaged in spool.db"
        )
