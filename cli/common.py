"""Shared options, output formats and error handling for the click commands."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.audit import text
from ledger.errors import (
    AssetLedgerError,
    BrokerError,
    ConfigurationError,
    InvalidEventError,
    KeyFileError,
    StoreError,
)
from ledger.events import kafka as k
from ledger.events.base import parse_time
from ledger.log import checkpoint as cp
from ledger.store import LedgerStore, open_store
from ledger.trust import keys as keyfiles

F = TypeVar("F", bound=Callable[..., Any])


def stacked(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Options to apply together, listed in --help in the order given (click lists the
    decorator applied last first)."""

    def wrap(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return wrap


def bootstrap_option(f: F) -> F:
    return click.option(
        "--bootstrap-servers",
        envvar="ASSETLEDGER_BOOTSTRAP_SERVERS",
        default="127.0.0.1:9092",
        show_default=True,
        help="Kafka bootstrap servers (env ASSETLEDGER_BOOTSTRAP_SERVERS).",
    )(f)


def connect_timeout_option(f: F) -> F:
    return click.option(
        "--connect-timeout",
        envvar="ASSETLEDGER_CONNECT_TIMEOUT",
        type=click.FloatRange(min=0.1),
        default=k.DEFAULT_CONNECT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Give up connecting to Kafka after this long (env ASSETLEDGER_CONNECT_TIMEOUT).",
    )(f)


def spool_option(required: bool = False) -> Callable[[F], F]:
    """``--spool DIR`` (env ASSETLEDGER_SPOOL): the emitter's durable local outbox."""

    def wrap(f: F) -> F:
        return click.option(
            "--spool",
            "spool_dir",
            envvar="ASSETLEDGER_SPOOL",
            required=required,
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Folder of the local outbox (env ASSETLEDGER_SPOOL): events the broker did"
            " not acknowledge wait there, signed, until sent with the next emit or"
            " assetledger spool flush.",
        )(f)

    return wrap


def topic_option(f: F) -> F:
    return click.option(
        "--topic",
        envvar="ASSETLEDGER_TOPIC",
        default=k.DEFAULT_TOPIC,
        show_default=True,
        help="Events topic (env ASSETLEDGER_TOPIC); dead letters go to TOPIC.dlt.",
    )(f)


def schema_registry_option(f: F) -> F:
    return click.option(
        "--schema-registry",
        "schema_registry_url",
        envvar="ASSETLEDGER_SCHEMA_REGISTRY_URL",
        default=None,
        metavar="URL",
        help="Confluent Schema Registry (env ASSETLEDGER_SCHEMA_REGISTRY_URL): emit writes the"
        " Confluent wire format with its schema ids, consume reads that format as well as"
        " single-object encoding. Credentials may be given as https://USER:SECRET@HOST.",
    )(f)


def ledger_option(f: F) -> F:
    return click.option(
        "--ledger",
        "ledger_url",
        envvar="ASSETLEDGER_LEDGER",
        default="./ledger.db",
        show_default=True,
        help="SQLite file or postgresql:// DSN (env ASSETLEDGER_LEDGER).",
    )(f)


def format_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    def wrap(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(list(choices)),
            default=default,
            show_default=True,
            help="Output format; only results go to stdout.",
        )(f)

    return wrap


def trusted_keys_option(help_text: str) -> Callable[[F], F]:
    """``--trusted-keys DIR`` (env ASSETLEDGER_TRUSTED_KEYS); absent means the key registry."""

    def wrap(f: F) -> F:
        return click.option(
            "--trusted-keys",
            envvar="ASSETLEDGER_TRUSTED_KEYS",
            type=click.Path(file_okay=False, exists=True, path_type=Path),
            default=None,
            help=help_text + " (env ASSETLEDGER_TRUSTED_KEYS)",
        )(f)

    return wrap


def refuse_binary_to_terminal(fmt: str, output: Path | None) -> None:
    """A PDF written to a terminal is garbage: ask for a file instead."""
    if fmt == "pdf" and output is None and sys.stdout.isatty():
        raise ConfigurationError("a PDF is binary: pass --output FILE.pdf or redirect stdout")


def option_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 UTC time given as ``option`` (None when not given); a bad one exits 2."""
    if value is None:
        return None
    try:
        return parse_time(value, option)
    except InvalidEventError as exc:
        raise ConfigurationError(exc.message, hint=f"e.g. {option} 2026-03-01T00:00:00Z") from None


def passphrase_option(f: F) -> F:
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File holding the private key's passphrase (or env ASSETLEDGER_KEY_PASSPHRASE).",
    )(f)


def read_passphrase(path: Path | None) -> bytes | None:
    import os

    if path is not None:
        return keyfiles.read_bounded(path, "passphrase").rstrip(b"\r\n")
    value = os.environ.get("ASSETLEDGER_KEY_PASSPHRASE")
    return value.encode() if value else None


# --- keys and certificate chains given on the command line ----------------------------------


def read_text_file(path: Path, what: str, limit: int | None = None) -> str:
    """A text file given on the command line (a key, a PEM chain, a receipt): at most
    ``limit`` bytes (default :data:`MAX_TEXT_FILE_BYTES`), UTF-8, read as bytes (no newline
    translation), clear errors (exit 2).  ``-`` is standard input."""
    limit = MAX_TEXT_FILE_BYTES if limit is None else limit
    if str(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise KeyFileError(f"{what} on standard input is larger than {limit} bytes")
    else:
        data = keyfiles.read_bounded(path, what, limit)
    return utf8_text(data, f"{what} file {path}", what)


def utf8_text(data: bytes, where: str, what: str) -> str:
    """``data`` as UTF-8 text; a binary file given by mistake is a clear error (exit 2)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyFileError(
            f"{where} is not UTF-8 text (byte {exc.start})", hint=f"pass the {what} file itself"
        ) from None


MAX_TEXT_FILE_BYTES = 1 << 20
"""A PEM chain of trust anchors holds a few certificates; a verifier key is one line."""


VKEY_HINT = (
    "give the log's verifier key NAME+KEYID+KEY (assetledger info prints it as log_vkey)"
    " or a file holding it, e.g. log.vkey"
)


def read_vkey(value: str) -> str:
    """A C2SP verifier key given inline or as a file holding it (checked, stripped)."""
    path = Path(value)
    if path.is_dir():
        raise KeyFileError(f"verifier key {value} is a folder", hint=VKEY_HINT)
    is_file = path.is_file()
    text = read_text_file(path, "verifier key").strip() if is_file else value.strip()
    try:
        cp.parse_vkey(text)
    except KeyFileError as exc:
        where = f" (in {path})" if is_file else ""
        raise KeyFileError(exc.message + where, hint=exc.hint or VKEY_HINT) from None
    return text


def log_vkey(value: str) -> tuple[str, Ed25519PublicKey]:
    """A log's verifier key (``--log-key``), inline or in a file: its name and public key."""
    return cp.parse_vkey(read_vkey(value))


def trusted_keys(folder: Path | None) -> dict[str, Ed25519PublicKey] | None:
    """The ``*.pub`` keys of a ``--trusted-keys`` folder by key id; None without the option."""
    return None if folder is None else keyfiles.load_trusted_dir(folder)


def signing_key(path: Path, passphrase_file: Path | None) -> keyfiles.KeyPair:
    """A private key to sign with, its passphrase from the file or ASSETLEDGER_KEY_PASSPHRASE."""
    return keyfiles.load_private(path, read_passphrase(passphrase_file))


def pem_chain(path: Path | None, what: str = "trust anchors") -> str | None:
    """PEM certificates given as an option (trust anchors, a chain); None without it."""
    return None if path is None else read_text_file(path, what)


BROKER_HINT = "start the broker or check --bootstrap-servers / ASSETLEDGER_BOOTSTRAP_SERVERS"


@contextlib.contextmanager
def broker_hint(hint: str = BROKER_HINT) -> Iterator[None]:
    """For commands without ``--spool``: a broker that cannot be reached is named with this
    hint, not the emitter's, which offers --spool (only emit and spool flush take it)."""
    try:
        yield
    except BrokerError as exc:
        raise BrokerError(exc.message, hint=hint) from exc


LEDGER_HINT = (
    "--ledger (or ASSETLEDGER_LEDGER) must name an asset-ledger SQLite file or a"
    " postgresql:// DSN; assetledger init creates a ledger"
)


def existing_store(url: str) -> LedgerStore:
    """Open a ledger that must already exist, for reading only (never creating or writing).

    A read-only SQLite file, folder or mount (an archived ledger) can therefore be audited.
    """
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        raise ConfigurationError(
            f"no ledger at {url}",
            hint="pass --ledger (or ASSETLEDGER_LEDGER), or create one with assetledger consume",
        )
    return _open_ledger(url, read_only=True)


def writable_store(url: str) -> LedgerStore:
    """Open a ledger to write to (``init``, ``consume``), creating an SQLite file if needed."""
    return _open_ledger(url, read_only=False)


def _sqlite_path(url: str) -> Path | None:
    if url.startswith(("postgresql://", "postgres://")):
        return None
    return Path(url.removeprefix("sqlite:///"))


def _open_ledger(url: str, read_only: bool) -> LedgerStore:
    """The store at ``url``; a folder, or a file that is no ledger, is named with what to do."""
    path = _sqlite_path(url)
    if path is not None and path.is_dir():
        raise ConfigurationError(
            f"{url} is a folder, not a ledger file",
            hint=f"pass the ledger's file, e.g. --ledger {path / 'ledger.db'}",
        )
    try:
        return open_store(url, read_only=read_only)
    except StoreError as exc:
        if exc.hint:
            raise
        raise StoreError(exc.message, hint=LEDGER_HINT) from exc


def emit_rows(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    """Print rows to stdout as a table, JSON or CSV."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
    elif fmt == "csv":
        click.echo(text.csv_text(rows, columns), nl=False)
    else:
        click.echo(table(rows, columns))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Columns padded by display width; control characters in cells shown as escapes."""
    cells = [["" if r.get(c) is None else text.printable(r[c]) for c in columns] for r in rows]
    widths = [
        max([text.display_width(c), *(text.display_width(row[i]) for row in cells)])
        for i, c in enumerate(columns)
    ]
    line = "  ".join(text.pad(c.upper(), w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(text.pad(v, w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line.rstrip(), *(b.rstrip() for b in body)])


def printable(value: object) -> str:
    return text.printable(value)


def _lines(message: str) -> str:
    """A message may quote input (a name, a path): escape it, keeping its own line breaks."""
    return "\n".join(text.printable(line) for line in message.split("\n"))


def err(message: str) -> None:
    click.echo(message, err=True)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # kafka-python logs every failed connection attempt at ERROR; the command says what went
    # wrong once, in plain words.  -v shows Kafka's errors, -vv all of its log.
    kafka_level = {0: logging.CRITICAL + 1, 1: logging.ERROR}.get(verbose, logging.NOTSET)
    logging.getLogger("kafka").setLevel(kafka_level)


class LedgerGroup(click.Group):
    """A click group that turns library errors into messages and documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssetLedgerError as exc:
            err(f"error: {_lines(exc.message)}")
            if exc.hint:
                err(f"hint: {_lines(exc.hint)}")
            ctx.exit(exc.exit_code)
        except OSError as exc:  # the environment: a full disk, a closed pipe, a read-only folder
            _drop_stdout()
            where = f"{exc.filename}: " if exc.filename else ""
            err(f"error: {_lines(where + (exc.strerror or str(exc)))}")
            ctx.exit(2)


def _drop_stdout() -> None:
    """Standard output failed (a full device, a closed pipe): send what is left in its buffer
    nowhere, so that Python's flush at exit does not fail again after the message."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def write_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: into a hidden file beside it, renamed into place.

    A full disk or an unwritable folder leaves the old file (or none) and raises a
    :class:`ConfigurationError` (exit 2), never a truncated file under the name asked for.
    A device or a pipe (``/dev/stdout``) is written as it is.
    """
    if path.exists() and not path.is_file():  # a device or a pipe (/dev/stdout): as it is
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    try:
        with staging.open("xb") as stream:
            stream.write(data)
        staging.replace(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
