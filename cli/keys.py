"""``assetledger keys``: signing keys and the ledger's key registry.

``generate`` makes a key pair.  ``enroll``, ``rotate``, ``revoke`` and ``delegate`` build a
key registry event, sign it with ``--signer-key`` (a root key or a delegated enroller; repeat
the option to meet a root threshold) and send it to Kafka, or with ``--out`` write the signed
record to a file that ``publish`` sends later (e.g. from an offline root-key machine).
``list`` and ``show`` read the registry back from the ledger.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from cli import common
from ledger.errors import ConfigurationError
from ledger.events.base import Record, format_time, now_utc
from ledger.events.keyregistry import KEY_REGISTRY, REVOCATION_REASONS, Scope
from ledger.trust import keys as keyfiles
from ledger.trust.dsse import Envelope
from ledger.trust.keys import KeyPair
from ledger.trust.records import cosign, delegate_event, enroll_event, revoke_event, rotate_event
from ledger.trust.registry import Registry
from ledger.trust.replay import registry_from_ledger
from producers.emitter import Emitter, Message, build_message

F = TypeVar("F", bound=Callable[..., Any])
RECORD_FORMAT = "assetledger-kafka-record/1"


@click.group()
def keys() -> None:
    """Create signing keys; enrol, rotate and revoke them in the ledger's key registry."""


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


# --- shared options -------------------------------------------------------------------------


signing_options = common.stacked(
    click.option(
        "--signer-key",
        "signer_keys",
        multiple=True,
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Private key of a root key or delegated enroller (repeat for a root threshold).",
    ),
    common.passphrase_option,
    click.option(
        "--out",
        "out_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the signed record to this file instead of sending it (see keys publish).",
    ),
    common.bootstrap_option,
    common.topic_option,
    click.option(
        "--source",
        default="/assetledger/keys",
        show_default=True,
        help="CloudEvents source of this issuer.",
    ),
)
"""Who signs, and where the signed record goes (Kafka, or a file with --out)."""

window_options = common.stacked(
    click.option("--valid-from", help="Start of validity, ISO 8601 UTC (default: now)."),
    click.option("--valid-until", help="End of validity, exclusive (default: none)."),
)

scope_options = common.stacked(
    *(
        click.option(name, multiple=True, help=help_text)
        for name, help_text in (
            ("--production", "Limit the key to this production (show); repeatable."),
            ("--for-actor", "Limit the key to events by this actor id; repeatable."),
            ("--action", "Limit the key to this C2PA or custom action; repeatable."),
            ("--source-type", "Limit the key to this IPTC digital source type; repeatable."),
        )
    )
)


def _key_terms(options: dict[str, Any]) -> dict[str, Any]:
    """The validity window and scope a key is enrolled with (``window_options`` and
    ``scope_options``), taken out of a command's ``options``."""
    scope = Scope(
        productions=tuple(options.pop("production")),
        actors=tuple(options.pop("for_actor")),
        actions=tuple(options.pop("action")),
        digital_source_types=tuple(options.pop("source_type")),
    )
    return {
        "valid_from": common.option_time(options.pop("valid_from"), "--valid-from"),
        "valid_until": common.option_time(options.pop("valid_until"), "--valid-until"),
        "scope": scope,
    }


# --- signing and sending ----------------------------------------------------------------------


def load_signers(paths: Sequence[Path], passphrase_file: Path | None) -> list[KeyPair]:
    passphrase = common.read_passphrase(passphrase_file)
    return [keyfiles.load_private(p, passphrase) for p in paths]


def sign_registry_event(event: Record, signers: Sequence[KeyPair], source: str) -> Message:
    """Validate, encode and sign a registry event with every signer (pure, no I/O)."""
    message = build_message(event, signers[0], kind=KEY_REGISTRY, source=source)
    if len(signers) == 1:
        return message
    envelope = cosign(Envelope.decode(message.value), signers[1:])
    return dataclasses.replace(message, value=envelope.encode())


def record_json(message: Message) -> dict[str, Any]:
    """A signed Kafka record as JSON (no secrets: the value is a signed, public envelope)."""
    return {
        "format": RECORD_FORMAT,
        "event_id": message.event_id,
        "key": message.key.decode("utf-8"),
        "headers": [[name, value.decode("utf-8")] for name, value in message.headers],
        "value": base64.b64encode(message.value).decode("ascii"),
    }


def message_from_json(data: dict[str, Any], where: str) -> Message:
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise ConfigurationError(f"{where} is not an {RECORD_FORMAT} file")
    try:
        return Message(
            str(data["event_id"]),
            str(data["key"]).encode("utf-8"),
            base64.b64decode(data["value"], validate=True),
            [(str(n), str(v).encode("utf-8")) for n, v in data["headers"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where} is not a valid signed record: {exc}") from None


def deliver(
    message: Message,
    signers: Sequence[KeyPair],
    out_file: Path | None,
    bootstrap_servers: str,
    topic: str,
) -> None:
    """Write the record to ``out_file``, or send it and wait for the broker's acknowledgement."""
    if out_file is not None:
        out_file.write_text(json.dumps(record_json(message), indent=2) + "\n", encoding="utf-8")
        common.err(f"wrote signed record {message.event_id} to {out_file}")
    else:
        later = " or write the record with --out and send it later with assetledger keys publish"
        with (
            common.broker_hint(common.BROKER_HINT + later),
            Emitter(bootstrap_servers, signers[0], topic=topic) as emitter,
        ):
            emitter.send_raw(message)
            sent_to = emitter.topic_for(message)
        common.err(f"event {message.event_id} acknowledged by {bootstrap_servers} on {sent_to}")
    click.echo(message.event_id)


def issue(event: Record, options: dict[str, Any]) -> None:
    """Sign ``event`` with the --signer-key(s) and deliver it."""
    signers = load_signers(options["signer_keys"], options["passphrase_file"])
    message = sign_registry_event(event, signers, options["source"])
    deliver(message, signers, options["out_file"], options["bootstrap_servers"], options["topic"])


# --- registry commands ------------------------------------------------------------------------


@keys.command("enroll")
@click.argument("actor_id")
@click.option(
    "--kind",
    "actor_kind",
    required=True,
    type=click.Choice(["human", "ai_model", "software", "organisation"]),
    help="What the actor is.",
)
@click.option("--name", "display_name", required=True, help="Display name of the actor.")
@click.option(
    "--public-key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The new key's public half (NAME.pub).",
)
@window_options
@scope_options
@signing_options
def enroll(
    actor_id: str, actor_kind: str, display_name: str, public_key: Path, **options: Any
) -> None:
    """Enrol a public key for ACTOR_ID; print the registry event id."""
    key = keyfiles.load_public(public_key)
    issue(enroll_event(actor_id, actor_kind, display_name, key, **_key_terms(options)), options)


@keys.command("rotate")
@click.argument("actor_id")
@click.option("--previous-key", required=True, help="Key id of the actor's key being replaced.")
@click.option(
    "--public-key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The replacement key's public half (NAME.pub).",
)
@window_options
@scope_options
@signing_options
def rotate(actor_id: str, previous_key: str, public_key: Path, **options: Any) -> None:
    """Replace an actor's key from --valid-from on; print the registry event id."""
    key = keyfiles.load_public(public_key)
    issue(rotate_event(actor_id, previous_key, key, **_key_terms(options)), options)


@keys.command("revoke")
@click.argument("actor_id")
@click.option("--key", "key_id", required=True, help="Key id to revoke.")
@click.option(
    "--effective", help="Events at or after this time are refused (default: now; may be past)."
)
@click.option(
    "--reason",
    type=click.Choice(sorted(REVOCATION_REASONS)),
    default="unspecified",
    show_default=True,
    help="RFC 5280 revocation reason.",
)
@click.option("--comment", help="Free text kept with the revocation.")
@signing_options
def revoke(
    actor_id: str,
    key_id: str,
    effective: str | None,
    reason: str,
    comment: str | None,
    **options: Any,
) -> None:
    """Revoke one of ACTOR_ID's keys; print the registry event id."""
    event = revoke_event(
        actor_id,
        key_id,
        effective_time=common.option_time(effective, "--effective"),
        reason=reason,
        comment=comment,
    )
    issue(event, options)


@keys.command("delegate")
@click.argument("actor_id")
@click.option(
    "--may-enrol-kind",
    "actor_kinds",
    multiple=True,
    type=click.Choice(["human", "ai_model", "software", "organisation"]),
    help="Kinds of actor the delegate may enrol (repeatable; default any).",
)
@click.option(
    "--production",
    multiple=True,
    help="Keys the delegate enrols must be limited to these productions (repeatable).",
)
@click.option("--valid-until", help="End of the grant (default: none).")
@signing_options
def delegate(
    actor_id: str,
    actor_kinds: tuple[str, ...],
    production: tuple[str, ...],
    valid_until: str | None,
    **options: Any,
) -> None:
    """Let ACTOR_ID enrol, rotate and revoke other actors' keys (root keys only)."""
    event = delegate_event(
        actor_id,
        actor_kinds=actor_kinds,
        productions=production,
        valid_until=common.option_time(valid_until, "--valid-until"),
    )
    issue(event, options)


@keys.command("publish")
@click.argument(
    "record_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@common.bootstrap_option
@common.topic_option
def publish(record_files: tuple[Path, ...], bootstrap_servers: str, topic: str) -> None:
    """Send signed records written with --out, in the order given."""
    messages = [_read_record(p) for p in record_files]
    # The emitter's own key signs nothing here: the records are already signed.
    unused = keyfiles.generate("unused")
    with common.broker_hint(), Emitter(bootstrap_servers, unused, topic=topic) as emitter:
        topics = set()
        for message in messages:
            emitter.send_raw(message)
            topics.add(emitter.topic_for(message))
            click.echo(message.event_id)
    common.err(
        f"{len(messages)} record(s) acknowledged by {bootstrap_servers}"
        f" on {', '.join(sorted(topics))}"
    )


def _read_record(path: Path) -> Message:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise ConfigurationError(f"{path} is not JSON") from None
    return message_from_json(data, str(path))


# --- reading the registry ---------------------------------------------------------------------

LIST_COLUMNS = [
    "actor_id",
    "kind",
    "key",
    "status",
    "valid_from",
    "valid_until",
    "revoked_from",
    "scope",
]


@keys.command("list")
@click.option("--at", "at_time", help="Show each key's status at this time (default: now).")
@common.format_option("table", "json")
@common.ledger_option
def list_keys(at_time: str | None, fmt: str, ledger_url: str) -> None:
    """Every root and enrolled key with its validity window, as the ledger's registry says."""
    when = common.option_time(at_time, "--at") or now_utc()
    with common.existing_store(ledger_url) as store:
        registry = registry_from_ledger(store)
    rows = registry.key_rows(when)
    _warn_refusals(registry)
    if fmt == "json":
        click.echo(json.dumps({"at": format_time(when), "keys": rows}, indent=2))
        return
    table_rows = [dict(r, key=r["key_id"][:16]) for r in rows]
    common.emit_rows(table_rows, "table", LIST_COLUMNS)


@keys.command("show")
@click.argument("actor_id")
@click.option("--at", "at_time", help="Key status at this time (default: now).")
@common.format_option("text", "json", default="text")
@common.ledger_option
def show(actor_id: str, at_time: str | None, fmt: str, ledger_url: str) -> None:
    """One actor: kind, name, delegation, keys with their windows, and registry history."""
    when = common.option_time(at_time, "--at") or now_utc()
    with common.existing_store(ledger_url) as store:
        registry = registry_from_ledger(store)
    view = registry.actor_view(actor_id, when)
    _warn_refusals(registry)
    if fmt == "json":
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(common.printable(f"{view['actor_id']}  ({view['kind']})  {view['display_name']}"))
    delegation = view["delegation"]
    if delegation is not None:
        state = "active" if delegation["active"] else "inactive"
        kinds = ",".join(delegation["actor_kinds"]) or "any"
        shows = ",".join(delegation["productions"]) or "any"
        line = (
            f"delegated enroller ({state}): kinds {kinds}, productions {shows},"
            f" until {delegation['valid_until'] or 'open'}, granted by {delegation['granted_by']}"
        )
        click.echo(common.printable(line))
    click.echo("\nkeys:")
    click.echo(
        common.table(
            view["keys"],
            [
                "key_id",
                "status",
                "valid_from",
                "valid_until",
                "revoked_from",
                "revocation_reason",
                "scope",
            ],
        )
    )
    click.echo("\nhistory:")
    click.echo(
        common.table(view["history"], ["seq", "operation", "key_id", "event_time", "signed_by"])
    )


def _warn_refusals(registry: Registry) -> None:
    for r in registry.refusals:
        common.err(
            f"warning: registry entry {r.seq} ({r.event_id}) not applied: {r.reason}: {r.detail}"
        )
