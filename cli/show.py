"""``assetledger show EVENT_ID``: one event and its four verdicts, never merged.

Exit codes: 0 when no verdict failed (not-applicable ones do not fail); 1 when any failed;
2 on usage errors (unknown event, no ledger).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cli import common
from ledger.errors import RejectedInput
from ledger.events.base import format_time, to_json
from ledger.log.operator import entry_for_event
from ledger.log.verdicts import EntryVerdicts, Status, VerdictContext, entry_verdicts
from ledger.store import Entry
from ledger.trust.replay import decode_entry

LABELS = {
    "signature": "(a) signature valid",
    "signer_trusted": "(b) signer enrolled and trusted",
    "key_valid": "(c) key valid at event time, in scope",
    "anchored": "(d) anchored in a signed checkpoint",
}


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "kind": entry.kind,
        "event_time": format_time(entry.event_time),
        "signer_keyid": entry.signer_keyid,
        "leaf_hash": entry.leaf_hash.hex(),
        "kafka": f"{entry.origin.topic}/{entry.origin.partition}@{entry.origin.offset}",
    }


def event_json(entry: Entry) -> Any:
    try:
        _, event = decode_entry(entry)
    except RejectedInput as exc:
        return {"undecodable": exc.message}
    return to_json(event)


@click.command()
@click.argument("event_id")
@common.format_option("text", "json", default="text")
@common.ledger_option
def show(event_id: str, fmt: str, ledger_url: str) -> None:
    """Print one event (decoded) and its four verdicts; exit 1 if any verdict failed."""
    with common.existing_store(ledger_url) as store:
        entry = entry_for_event(store, event_id)  # never another event under this id
        verdicts = entry_verdicts(VerdictContext(store), entry)
    if fmt == "json":
        data = {"entry": entry_json(entry), "event": event_json(entry), **verdicts.to_dict()}
        click.echo(json.dumps(data, indent=2))
    else:
        _print_text(entry, verdicts)
    sys.exit(0 if verdicts.ok else 1)


def _print_text(entry: Entry, verdicts: EntryVerdicts) -> None:
    where = entry_json(entry)
    click.echo(f"entry {where['seq']}  {where['kind']}  {where['event_id']}  ({where['kafka']})")
    signer = verdicts.signer or "unknown signer"
    click.echo(f"signed by {common.printable(signer)}, key {entry.signer_keyid}")
    click.echo(json.dumps(event_json(entry), indent=2))
    click.echo("")
    for name, verdict in verdicts.verdicts.items():
        status = verdict.status.upper() if verdict.status is Status.FAILED else verdict.status
        code = f" [{verdict.code}]" if verdict.code else ""
        click.echo(f"{LABELS[name]:<40} {status}{code}")
        click.echo(f"    {verdict.reason}")
    if verdicts.anchor is not None and verdicts.anchor.predates_revocation is not None:
        before = "before" if verdicts.anchor.predates_revocation else "after"
        click.echo(
            f"anchoring checkpoint (size {verdicts.anchor.checkpoint_size}) was signed {before}"
            " the signer's key was revoked in the log"
        )
    if verdicts.compromised is not None:
        click.echo(f"CITED: the signer's key {verdicts.compromised}")
