"""``assetledger log`` and ``verify``: reading the ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cli import common
from ledger.events.base import format_time
from ledger.events.encoding import SingleObjectFraming, reader_framing
from ledger.log.verify import VerifyReport, verify_ledger
from ledger.store import Entry
from ledger.trust import keys as keyfiles
from ledger.trust.dsse import Envelope


def entry_row(e: Entry, framing: SingleObjectFraming) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": e.seq,
        "event_id": e.event_id,
        "kind": e.kind,
        "event_time": format_time(e.event_time),
        "signer": e.signer_keyid[:16],
        "leaf_hash": e.leaf_hash.hex(),
        "kafka": f"{e.origin.topic}/{e.origin.partition}@{e.origin.offset}",
    }
    try:
        _, event = framing.decode(Envelope.decode(e.envelope, framing).payload)
    except Exception:  # a damaged entry is still listed; verify says what is wrong
        return row
    if e.kind == "provenance_event":
        row["asset"] = f"{event['asset']['asset_id']}@{event['asset']['version']}"
        row["action"] = event["action"]
        row["actor"] = event["actor"]["display_name"]
    return row


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Show at most this many entries."
)
@click.option(
    "--start",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="First sequence number.",
)
@common.format_option("table", "json", "csv")
@common.ledger_option
def log(limit: int | None, start: int, fmt: str, ledger_url: str) -> None:
    """List ledger entries in order."""
    framing = reader_framing()
    with common.existing_store(ledger_url) as store:
        stop = None if limit is None else start + limit
        rows = [entry_row(e, framing) for e in store.entries(start, stop)]
    columns = ["seq", "event_time", "kind", "asset", "action", "actor", "signer", "event_id"]
    common.emit_rows(rows, fmt, columns if fmt != "csv" else [*columns, "leaf_hash", "kafka"])


def report_dict(report: VerifyReport) -> dict[str, Any]:
    first = report.first
    return {
        "ok": report.ok,
        "size": report.size,
        "entries_checked": report.checked,
        "signatures_checked": report.signatures_checked,
        "checkpoints_checked": report.checkpoints_checked,
        "index_roots_checked": report.index_roots_checked,
        "verdicts": report.verdicts.__dict__,
        "first_damage": None if first is None else first.__dict__,
        "damage": [d.__dict__ for d in report.damage],
    }


@click.command()
@common.trusted_keys_option(
    "The signers' *.pub files. Without it, the ledger's key registry is replayed and checked too."
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Signature-checking processes (default: one per CPU; 0 or 1: check in this process).",
)
@common.format_option("text", "json", default="text")
@common.ledger_option
def verify(trusted_keys: Path | None, workers: int | None, fmt: str, ledger_url: str) -> None:
    """Recompute hashes, chain and every signature; exit 1 on any damage."""
    lookup = keyfiles.load_trusted_dir(trusted_keys).get if trusted_keys else None
    with common.existing_store(ledger_url) as store:
        size = store.head().size
        with click.progressbar(length=size, label="verifying", file=sys.stderr) as bar:
            report = verify_ledger(store, lookup, workers=workers, progress=bar.update)
    if fmt == "json":
        click.echo(json.dumps(report_dict(report), indent=2))
    else:
        _print_report(report)
    sys.exit(0 if report.ok else 1)


def _print_report(report: VerifyReport) -> None:
    if report.ok:
        click.echo(
            f"ledger intact: {report.checked} entries, {report.signatures_checked} signatures,"
            f" {report.checkpoints_checked} checkpoints verified,"
            f" {report.index_roots_checked} index roots replayed"
        )
    else:
        first = report.first
        assert first is not None
        where = f"entry {first.seq}" if first.seq is not None else "the ledger"
        click.echo(f"DAMAGED: {where}: {first.kind}: {common.printable(first.detail)}")
        for d in report.damage[1:20]:
            click.echo(f"  also: entry {d.seq}: {d.kind}: {common.printable(d.detail)}")
        if len(report.damage) > 20:
            click.echo(f"  … and {len(report.damage) - 20} more")
    _print_verdicts(report)


def _print_verdicts(report: VerifyReport) -> None:
    v, n = report.verdicts, report.checked

    def count(value: int | None) -> str:
        return "not judged (no key registry used)" if value is None else f"{value}/{n}"

    click.echo("verdicts, per entry:")
    click.echo(f"  (a) signature valid:                        {count(v.signature_valid)}")
    click.echo(f"  (b) signer enrolled and trusted:            {count(v.signer_trusted)}")
    click.echo(f"  (c) key valid at event time and in scope:   {count(v.key_valid)}")
    click.echo(f"  (d) anchored in a signed checkpoint:        {count(v.anchored)}")
