"""``assetledger``: the command line over the asset-ledger library.

Exit codes: 0 ok; 1 a verification or audit failure was found; 2 usage or environment error.
"""

from __future__ import annotations

import click

from cli import common
from cli.ingest import consume, emit, quarantine
from cli.keys import keys
from cli.proofs import (
    checkpoint,
    consistency,
    info,
    init,
    migrate_index,
    monitor,
    prove,
    verify_receipt_command,
)
from cli.read import log, verify
from cli.spool import spool

EXIT_CODES = (
    "Exit codes: 0 ok; 1 a verification or audit failure was found (the output names it);"
    " 2 a usage or environment error (the message says what was wrong and what to do)."
)


@click.group(
    cls=common.LedgerGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output on stderr (-v: Kafka's errors too, -vv: all of Kafka's log).",
)
@click.version_option(package_name="asset-ledger")
def cli(verbose: int) -> None:
    """Tamper-evident provenance ledger for film and VFX production."""
    common.setup_logging(verbose)


for command in (
    init,
    keys,
    emit,
    spool,
    consume,
    quarantine,
    log,
    verify,
    info,
    checkpoint,
    prove,
    monitor,
    migrate_index,
    verify_receipt_command,
    consistency,
):
    cli.add_command(command)


def _register_optional() -> None:
    from cli.audit import COMMANDS as audit_commands
    from cli.audit import audit as audit_group
    from cli.demo import demo
    from cli.finding import finding
    from cli.packet import packet
    from cli.performers import COMMANDS as performer_commands
    from cli.show import show
    from cli.witness import witness

    for audit_command in audit_commands:
        cli.add_command(audit_command)
    for performer_command in performer_commands:  # audit uses|impact|register
        audit_group.add_command(performer_command)

    cli.add_command(demo)
    cli.add_command(finding)
    cli.add_command(packet)
    cli.add_command(show)
    cli.add_command(witness)
    from cli.portal import COMMANDS as portal_commands

    for portal_command in portal_commands:
        cli.add_command(portal_command)


_register_optional()


def main() -> None:
    cli(prog_name="assetledger")
