"""``assetledger serve`` (the web portal) and ``assetledger users`` (its accounts)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli import common
from ledger.errors import ConfigurationError
from ledger.log.operator import META_LOG_VKEY

if TYPE_CHECKING:
    from portal.accounts import Account, AccountStore


def _feed_timecodes(packets: tuple[Path, ...], log_vkey: str | None) -> None:
    """Verified packets for counsel and the auditor (portal.packets), and their record
    timecodes for the performer pages (portal.performer)."""
    from ledger.packet.timecodes import disclosure_timecodes
    from portal import packets as served
    from portal import performer

    if log_vkey is None:
        raise ConfigurationError("the ledger has no log key, so no packet of it can be verified")
    served.PACKETS = served.load_packets(packets, log_vkey)
    performer.TIMECODES = disclosure_timecodes(p.disclosure for p in served.PACKETS)
    common.err(f"{len(packets)} verified delivery packet(s): disclosures and record timecodes")


def _require_portal() -> None:
    """The portal's packages are an extra: say how to get them instead of a traceback."""
    try:
        import argon2  # noqa: F401
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"the web portal is not installed ({exc.name} is missing)",
            hint="pip install 'asset-ledger[portal]'",
        ) from None


def accounts_option(f: common.F) -> common.F:
    return click.option(
        "--accounts",
        "accounts_path",
        envvar="ASSETLEDGER_ACCOUNTS",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Portal accounts file (env ASSETLEDGER_ACCOUNTS; default: <ledger>.accounts.db).",
    )(f)


def _accounts_path(accounts_path: Path | None, ledger_url: str) -> Path:
    """--accounts, else the file beside the ledger, which must exist: a mistyped --ledger
    would otherwise start an empty accounts file of its own."""
    from portal.accounts import default_path

    if accounts_path is not None:
        return accounts_path
    path = default_path(ledger_url)
    ledger = Path(ledger_url.removeprefix("sqlite:///"))
    if not ledger.is_file():
        raise ConfigurationError(
            f"no ledger at {ledger_url}, so no accounts file {path} beside it",
            hint="pass --ledger (or ASSETLEDGER_LEDGER) of an existing ledger, or --accounts FILE",
        )
    return path


def _store(accounts_path: Path | None, ledger_url: str) -> AccountStore:
    _require_portal()
    from portal.accounts import AccountStore

    return AccountStore(_accounts_path(accounts_path, ledger_url))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--metrics-url",
    envvar="ASSETLEDGER_METRICS_URL",
    default=None,
    help="The consumer's /metrics URL, for consumer lag on the auditor's page.",
)
@click.option(
    "--proxy-header",
    envvar="ASSETLEDGER_PROXY_HEADER",
    default=None,
    help="Trust this header (e.g. X-Forwarded-User) as the account name, from --trusted-proxy"
    " addresses only. Off unless given. See docs/portal.md (oauth2-proxy).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    default=("127.0.0.1", "::1"),
    show_default=True,
    help="Address of the reverse proxy allowed to set --proxy-header (repeat for more).",
)
@common.trusted_keys_option(
    "Verify signers against this folder of *.pub keys instead of the key registry"
)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), help="Serve HTTPS.")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="Its key.")
@click.option(
    "--demo-accounts",
    is_flag=True,
    help="Create the demo accounts (counsel, guild-rep, auditor, admin, performer) with fresh"
    " passwords for the demo production and print them.",
)
@click.option(
    "--packet",
    "packets",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A delivery packet (folder or .zip) of this ledger; repeatable. Each is verified"
    " offline first; counsel of its production sees its disclosure and downloads it, the"
    " auditor sees its verification; its clips' record timecodes show on the performer pages.",
)
@accounts_option
@common.ledger_option
def serve(
    host: str,
    port: int,
    metrics_url: str | None,
    proxy_header: str | None,
    trusted_proxies: tuple[str, ...],
    trusted_keys: Path | None,
    tls_cert: str | None,
    tls_key: str | None,
    demo_accounts: bool,
    packets: tuple[Path, ...],
    accounts_path: Path | None,
    ledger_url: str,
) -> None:
    """Serve the read-only web portal for counsel, guild representatives and auditors."""
    _require_portal()
    import uvicorn

    from portal.app import PortalConfig, create_app

    if (tls_cert is None) != (tls_key is None):
        raise ConfigurationError("give both --tls-cert and --tls-key, or neither")
    if tls_cert is not None and tls_key is not None:
        _check_tls(tls_cert, tls_key)
    with common.existing_store(ledger_url) as store:
        log_vkey = store.get_meta(META_LOG_VKEY)
    if packets:
        _feed_timecodes(packets, log_vkey)
    path = _accounts_path(accounts_path, ledger_url)
    if demo_accounts:
        _print_demo_accounts(path, host, port, tls_cert is not None)
    config = PortalConfig(
        ledger_url,
        path,
        metrics_url=metrics_url,
        trusted_keys=trusted_keys,
        proxy_header=proxy_header,
        trusted_proxies=frozenset(trusted_proxies),
    )
    app = create_app(config)
    logging.getLogger("assetledger.portal.access").setLevel(logging.INFO)  # one JSON line each
    scheme = "https" if tls_cert else "http"
    common.err(f"portal on {scheme}://{host}:{port}/ (ledger {ledger_url}, accounts {path})")
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_level="warning",
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )


def _check_tls(cert: str, key: str) -> None:
    """Load the certificate and key as the server will, before it starts: a wrong file is
    named (exit 2), not a traceback from inside the server."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"cannot serve HTTPS with --tls-cert {cert} and --tls-key {key}: {exc}",
            hint="give a PEM certificate (chain) and its unencrypted PEM private key",
        ) from None


def _print_demo_accounts(path: Path, host: str, port: int, tls: bool) -> None:
    from demo.story import SHOW
    from portal.accounts import AccountStore
    from portal.demo import demo_accounts

    with AccountStore(path) as store:
        made = demo_accounts(store, SHOW)
    scheme = "https" if tls else "http"
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::1") else host
    click.echo(f"demo accounts for '{SHOW}' (new passwords on each start):")
    for a in made:
        what = a.role + (f" ({a.guild})" if a.guild else "")
        what += f" ({', '.join(a.parties)})" if a.parties else ""
        click.echo(f"  {a.name:<10} {a.password:<26} {what}")
    click.echo(f"open {scheme}://{shown}:{port}/ and sign in")


@click.group()
def users() -> None:
    """Portal accounts (kept outside the ledger, in <ledger>.accounts.db or --accounts)."""


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["counsel", "guild", "auditor", "admin", "performer", "agent"]),
    required=True,
    help="What the account may see: counsel and guild need --production (guild also"
    " --guild), performer and agent --party; auditor and admin see the ledger's health.",
)
@click.option(
    "--production",
    "productions",
    multiple=True,
    help="Show the account may see (repeat for more); needed for counsel and guild.",
)
@click.option("--guild", default=None, help="The guild a guild representative speaks for.")
@click.option(
    "--party",
    "parties",
    multiple=True,
    help="Performer id (as the ledger's likeness records name it): a performer's own (exactly"
    " one), or each performer an agent represents (repeat).",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="File holding the password (one line, at least 12 characters).",
)
@accounts_option
@common.ledger_option
def users_add(
    name: str,
    role: str,
    productions: tuple[str, ...],
    guild: str | None,
    parties: tuple[str, ...],
    password_file: Path,
    accounts_path: Path | None,
    ledger_url: str,
) -> None:
    """Add an account with a role and its production (and guild, or performer) grants."""
    from portal.accounts import read_password_file

    password = read_password_file(password_file)
    with _store(accounts_path, ledger_url) as store:
        account = store.add(name, role, productions, password, guild, parties)
    common.err(common.printable(f"added {account.name} ({account.role}): {_what_it_sees(account)}"))


def _what_it_sees(account: Account) -> str:
    """What an account's role and grants let it see, in words (``users add``)."""
    productions = ", ".join(account.productions)
    parties = ", ".join(account.parties)
    if account.role == "performer":
        return f"the uses of {parties}'s own likeness and voice, in every production"
    if account.role == "agent":
        return f"the uses of the likeness and voice of {parties}, in every production"
    if account.role == "guild":
        return f"guild {account.guild}, production(s) {productions}"
    if account.role == "counsel":
        return f"production(s) {productions}"
    extra = f"; production(s) granted: {productions}" if productions else ""
    return f"ledger-wide (its role is not limited to a production){extra}"


@users.command("list")
@common.format_option("table", "json", default="table")
@accounts_option
@common.ledger_option
def users_list(fmt: str, accounts_path: Path | None, ledger_url: str) -> None:
    """List the accounts, their roles and grants."""
    with _store(accounts_path, ledger_url) as store:
        rows = [a.to_json() for a in store.all()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        r["productions"] = ", ".join(r["productions"])  # type: ignore[arg-type]
        r["parties"] = ", ".join(r["parties"])  # type: ignore[arg-type]
        r["status"] = "disabled" if r["disabled"] else "enabled"
    click.echo(common.table(rows, ["name", "role", "productions", "parties", "guild", "status"]))


@users.command("disable")
@click.argument("name")
@accounts_option
@common.ledger_option
def users_disable(name: str, accounts_path: Path | None, ledger_url: str) -> None:
    """Disable an account: its sessions and API tokens stop working at once."""
    with _store(accounts_path, ledger_url) as store:
        store.disable(name)
    common.err(f"disabled {name}; its sessions and tokens are revoked")


@users.command("token")
@click.argument("name")
@click.option("--label", default="api", show_default=True, help="What the token is for.")
@accounts_option
@common.ledger_option
def users_token(name: str, label: str, accounts_path: Path | None, ledger_url: str) -> None:
    """Create an API token for NAME and print it (only its hash is kept)."""
    with _store(accounts_path, ledger_url) as store:
        token = store.new_token(name, label)
    click.echo(token)
    common.err("use it as: Authorization: Bearer <token> on /api/v1/… (shown only now)")


@users.command("members")
@click.argument("guild")
@click.argument("party_ids", nargs=-1, required=True)
@accounts_option
@common.ledger_option
def users_members(
    guild: str, party_ids: tuple[str, ...], accounts_path: Path | None, ledger_url: str
) -> None:
    """Add ledger party ids (e.g. performer:dana-whitfield) to GUILD's roster."""
    with _store(accounts_path, ledger_url) as store:
        store.add_members(guild, party_ids)
        total = len(store.members(guild))
    common.err(f"{guild} roster: {total} member(s)")


COMMANDS = (serve, users)
