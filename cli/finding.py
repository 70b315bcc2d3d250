"""``assetledger finding clear|waive|remediate|reopen FINDING_ID``: counsel's signed decisions.

Each command finds the finding in an audit of the ledger (at its head), checks that the signing
key is enrolled with a legal scope for the decision, then signs a disposition event and sends it
through Kafka like any other event; it prints the disposition's event id.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from cli import common
from ledger.audit.decide import decide
from ledger.audit.lineage import split_target
from ledger.audit.model import LedgerView
from ledger.errors import ConfigurationError
from ledger.events.disposition import DISPOSITION
from ledger.trust import keys as keyfiles
from producers.emitter import Emitter

_common = common.stacked(
    click.argument("finding_id"),
    click.option(
        "--key",
        "key_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Counsel's private key (enrolled with a legal scope).",
    ),
    click.option("--reason", required=True, help="Why, in plain words (goes in the ledger)."),
    click.option(
        "--role",
        default="counsel",
        show_default=True,
        help="The decider's function, as the report shows it.",
    ),
    common.passphrase_option,
    common.ledger_option,
    common.bootstrap_option,
    common.topic_option,
    common.schema_registry_option,
)


@click.group()
def finding() -> None:
    """Counsel's decisions on audit findings, signed into the ledger."""


def _send(decision: str, options: dict[str, Any], **terms: Any) -> None:
    signer = keyfiles.load_private(
        options["key_path"], common.read_passphrase(options["passphrase_file"])
    )
    with common.existing_store(options["ledger_url"]) as store:
        view = LedgerView.open(store, at_head=True)
        event = decide(
            view,
            signer.key_id,
            decision,
            options["finding_id"],
            reason=options["reason"],
            role=options["role"],
            **terms,
        )
    with (
        common.broker_hint(),
        Emitter(
            options["bootstrap_servers"],
            signer,
            topic=options["topic"],
            source="/assetledger/cli/finding",
            schema_registry_url=options["schema_registry_url"],
        ) as emitter,
    ):
        event_id = emitter.emit(event, kind=DISPOSITION)
    click.echo(event_id)
    common.err(
        f"{decision}: finding {event['finding_id'][:16]}… ({event['rule']}, {event['asset']})"
    )


@finding.command("clear")
@_common
@click.option(
    "--document",
    "document",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The supporting document (a side letter, a late consent); its SHA-256 is recorded.",
)
@click.option("--document-sha256", default=None, help="Or the SHA-256 of that document (hex).")
def clear_command(document: Path | None, document_sha256: str | None, **options: Any) -> None:
    """Clear FINDING_ID: counsel holds a document that resolves it."""
    _send("cleared", options, document_sha256=_document_digest(document, document_sha256))


@finding.command("waive")
@_common
@click.option("--approver", required=True, help="Who approved the waiver.")
@click.option("--expires", required=True, help="When the waiver ends (ISO 8601 UTC).")
def waive_command(approver: str, expires: str, **options: Any) -> None:
    """Waive FINDING_ID until --expires (the finding is open again after that)."""
    _send("waived", options, approver=approver, expires=common.option_time(expires, "--expires"))


@finding.command("remediate")
@_common
@click.option("--replaced-by", required=True, help="ASSET@VERSION that replaces the one at fault.")
def remediate_command(replaced_by: str, **options: Any) -> None:
    """Record that FINDING_ID's asset version was replaced by a corrected one."""
    asset_id, version = split_target(replaced_by)
    if version is None:
        raise ConfigurationError(f"--replaced-by {replaced_by!r} needs a version: ASSET@VERSION")
    _send("remediated", options, replaced_by=(asset_id, version))


@finding.command("reopen")
@_common
def reopen_command(**options: Any) -> None:
    """Reopen FINDING_ID: an earlier decision no longer holds."""
    _send("reopened", options)


def _document_digest(document: Path | None, digest: str | None) -> str:
    if (document is None) == (digest is None):
        raise ConfigurationError("give exactly one of --document FILE or --document-sha256 HEX")
    if digest is not None:
        return digest
    assert document is not None
    sha = hashlib.sha256()
    try:
        with document.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {document}: {exc.strerror}") from None
    return sha.hexdigest()
