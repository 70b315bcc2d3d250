"""``assetledger keys``: signing keys."""

from __future__ import annotations

from pathlib import Path

import click

from cli import common
from ledger import keys as keyfiles


@click.group()
def keys() -> None:
    """Create and inspect Ed25519 signing keys."""


@keys.command("generate")
@click.argument("name")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for NAME.key (mode 0600) and NAME.pub.",
)
@click.option("--encrypt", is_flag=True, help="Encrypt the private key (PKCS#8) with a passphrase.")
@common.passphrase_option
def generate(name: str, out_dir: Path, encrypt: bool, passphrase_file: Path | None) -> None:
    """Create a key pair NAME in --out and print its key id."""
    passphrase = common.read_passphrase(passphrase_file) if encrypt else None
    if encrypt and not passphrase:
        raise click.UsageError("--encrypt needs --passphrase-file or ASSETLEDGER_KEY_PASSPHRASE")
    pair = keyfiles.generate(name)
    private_path, public_path = keyfiles.write_key_pair(pair, out_dir, passphrase)
    common.err(f"wrote {private_path} (private, 0600) and {public_path}")
    click.echo(pair.key_id)
