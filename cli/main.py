"""``assetledger``: the command line over the asset-ledger library.

Exit codes: 0 ok; 1 a verification or audit failure was found; 2 usage or environment error.

Each subcommand's module is imported only when that command is looked up (click's lazy-group
pattern), so ``assetledger packet verify`` or ``verify-receipt`` on a machine without a broker
loads neither the Kafka client nor the web stack; ``--help`` still lists every command.
"""

from __future__ import annotations

import importlib

import click

from cli import common

EXIT_CODES = (
    "Exit codes: 0 ok; 1 a verification or audit failure was found (the output names it);"
    " 2 a usage or environment error (the message says what was wrong and what to do)."
)

# command name -> "module:attribute" of its click command (listed sorted, as click lists them)
COMMANDS: dict[str, str] = {
    "audit": "cli.main:_audit_with_performers",
    "c2pa": "cli.audit:c2pa_group",
    "checkpoint": "cli.proofs:checkpoint",
    "consistency": "cli.proofs:consistency",
    "consume": "cli.ingest:consume",
    "credits": "cli.audit:credits_command",
    "demo": "cli.demo:demo",
    "emit": "cli.ingest:emit",
    "finding": "cli.finding:finding",
    "info": "cli.proofs:info",
    "init": "cli.proofs:init",
    "keys": "cli.keys:keys",
    "log": "cli.read:log",
    "migrate-index": "cli.proofs:migrate_index",
    "monitor": "cli.proofs:monitor",
    "packet": "cli.packet:packet",
    "prove": "cli.proofs:prove",
    "quarantine": "cli.ingest:quarantine",
    "serve": "cli.portal:serve",
    "show": "cli.show:show",
    "spool": "cli.spool:spool",
    "users": "cli.portal:users",
    "verify": "cli.read:verify",
    "verify-receipt": "cli.proofs:verify_receipt_command",
    "witness": "cli.witness:witness",
}


def _audit_with_performers() -> click.Command:
    """``audit`` with ``audit uses|impact|register`` (cli.performers) added to it."""
    from cli.audit import audit
    from cli.performers import COMMANDS as performer_commands

    for performer_command in performer_commands:
        if performer_command.name not in audit.commands:
            audit.add_command(performer_command)
    return audit


class LazyLedgerGroup(common.LedgerGroup):
    """The top-level group: its subcommands' modules are imported on first lookup."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module_name, _, attribute = COMMANDS[cmd_name].partition(":")
            found = getattr(importlib.import_module(module_name), attribute)
            command = found if isinstance(found, click.Command) else found()
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in COMMANDS:  # a typo: click suggests from the loaded commands
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


@click.group(
    cls=LazyLedgerGroup,
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


def main() -> None:
    cli(prog_name="assetledger")
