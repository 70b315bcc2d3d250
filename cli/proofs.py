"""Log identity and proofs: ``init``, ``info``, ``checkpoint``, ``prove``, receipts, consistency."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cli import common
from ledger.errors import ConfigurationError, VerificationFailure, printable
from ledger.index import prove_about, verify_about
from ledger.index.maintain import index_rule, root_in, rule_in
from ledger.index.proof import check_producers, is_about_proof, require_event
from ledger.index.replay import monitor as monitor_index
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.receipt import ReceiptFailure, parse_receipt, verify_receipt
from ledger.store import LedgerStore, StoredCheckpoint
from ledger.trust import keys as keyfiles
from ledger.trust.registry import DEFAULT_GRACE, RootKey
from ledger.trust.replay import set_grace, set_roots
from ledger.witness.client import newest_witnessed, read_witness_key
from ledger.witness.cosignature import (
    Cosignature,
    WitnessKey,
    check_quorum_setting,
    require_quorum,
)


@click.command()
@click.option(
    "--origin",
    required=True,
    help="The log's name in checkpoints, e.g. fallen-tower.example/ledger.",
)
@click.option(
    "--key-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write the new log key (log.key, log.pub).",
)
@click.option(
    "--root-key",
    "root_keys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A production root public key (.pub) that may enrol signers; repeatable.",
)
@click.option(
    "--root-threshold",
    type=int,
    default=1,
    show_default=True,
    help="How many root keys must sign a registry event.",
)
@click.option(
    "--rotation-grace",
    type=click.IntRange(min=0),
    default=int(DEFAULT_GRACE.total_seconds()),
    show_default=True,
    help="Seconds a rotated-out key (or one revoked for a reason other than key_compromise or"
    " unspecified) may still deliver late events, counted from when the change entered the"
    " ledger. Fixed at creation.",
)
@click.option(
    "--encrypt",
    is_flag=True,
    help="Protect log.key with a passphrase: from --passphrase-file, else env"
    " ASSETLEDGER_KEY_PASSPHRASE, else asked for on a terminal. consume then reads it from"
    " ASSETLEDGER_KEY_PASSPHRASE.",
)
@click.option(
    "--keep-existing",
    is_flag=True,
    help="When the ledger is already initialised, keep its origin and log key (--key-dir must"
    " hold that key), print its verifier key and exit 0, for setup scripts that run again.",
)
@common.passphrase_option
@common.ledger_option
def init(
    origin: str,
    key_dir: Path,
    root_keys: tuple[Path, ...],
    root_threshold: int,
    rotation_grace: int,
    encrypt: bool,
    keep_existing: bool,
    passphrase_file: Path | None,
    ledger_url: str,
) -> None:
    """Create a ledger with its origin, a new log signing key and its root keys."""
    passphrase = _new_passphrase(passphrase_file) if encrypt else None
    if passphrase_file is not None and not encrypt:
        raise ConfigurationError(
            "--passphrase-file is given without --encrypt", hint="add --encrypt"
        )
    with common.writable_store(ledger_url) as store:
        existing = operator.log_identity(store)
        if existing is not None:
            _already_initialised(store.url, existing, origin, keep_existing)
            _check_key_dir(store.url, existing, key_dir)
            click.echo(existing.vkey)
            return
        if root_keys:
            roots = [RootKey(p.stem, keyfiles.load_public(p)) for p in root_keys]
            set_roots(store, roots, root_threshold, clearance_scopes=True)
            set_grace(store, timedelta(seconds=rotation_grace))
        pair, private_path = operator.create_log_key(key_dir, passphrase)
        identity = operator.init_ledger(store, origin, pair)
        ledger_url = store.url  # without any password
    protection = "encrypted with your passphrase" if passphrase else "not encrypted"
    common.err(
        f"created ledger {ledger_url}; log key {private_path} ({protection}; keep it private)"
    )
    common.err("publish this verifier key so anyone can check checkpoints and receipts:")
    click.echo(identity.vkey)


def _already_initialised(
    url: str, identity: operator.LogIdentity, origin: str, keep_existing: bool
) -> None:
    """An initialised ledger is never re-keyed: an error, or (``--keep-existing``) kept."""
    if not keep_existing:
        raise ConfigurationError(
            f"ledger {url} is already initialised (origin {identity.origin})",
            hint="its origin and log key never change; pass --keep-existing to accept that",
        )
    common.err(f"ledger {url} is already initialised; keeping its origin and log key")
    if identity.origin != origin:
        common.err(
            f"warning: its origin is {identity.origin}, not {origin} as asked;"
            " a ledger's origin never changes"
        )


def _check_key_dir(url: str, identity: operator.LogIdentity, key_dir: Path) -> None:
    """The key folder kept with an initialised ledger holds that ledger's log key."""
    private_path = key_dir / f"log{keyfiles.PRIVATE_SUFFIX}"
    public_path = key_dir / f"log{keyfiles.PUBLIC_SUFFIX}"
    hint = (
        "restore the log key that belongs to this ledger into that folder, or pass --key-dir"
        " where it is; a ledger's log key is never replaced"
    )
    if not private_path.is_file() or not public_path.is_file():
        raise ConfigurationError(
            f"ledger {url} is initialised, but {key_dir} holds no log key (log.key, log.pub)",
            hint=hint,
        )
    if keyfiles.raw_public(keyfiles.load_public(public_path)) != keyfiles.raw_public(
        identity.public_key
    ):
        raise ConfigurationError(
            f"ledger {url} is initialised with log key {identity.vkey}, but {public_path}"
            " is another key",
            hint=hint,
        )


def _new_passphrase(passphrase_file: Path | None) -> bytes:
    """The passphrase for a new encrypted key: file, environment, or asked twice on a tty."""
    passphrase = common.read_passphrase(passphrase_file)
    if passphrase is None and sys.stdin.isatty():
        typed = click.prompt(
            "Passphrase for the new log key", hide_input=True, confirmation_prompt=True
        )
        passphrase = typed.encode("utf-8") if typed else None
    if not passphrase:
        raise ConfigurationError(
            "--encrypt needs a passphrase",
            hint="pass --passphrase-file FILE or set ASSETLEDGER_KEY_PASSPHRASE",
        )
    return passphrase


@click.command()
@common.format_option("text", "json", default="text")
@common.ledger_option
def info(fmt: str, ledger_url: str) -> None:
    """Show the ledger's origin, verifier key, size, root, latest checkpoint and index rule
    and state (how far the stored index reaches, and the index root the checkpoint commits to)."""
    with common.existing_store(ledger_url) as store:
        identity = operator.log_identity(store)
        head = store.head()
        latest = store.latest_checkpoint()
        root = store.tree(head.size).root()
        shown_url = store.url  # without any password
        index = _index_state(store, identity, latest)
    data = {
        "ledger": shown_url,
        "origin": identity.origin if identity else None,
        "log_vkey": identity.vkey if identity else None,
        "size": head.size,
        "root_hash": root.hex(),
        "chain_hash": head.chain_hash.hex(),
        "latest_checkpoint_size": latest.size if latest else None,
        **index,
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            click.echo(f"{key:24} {value}")


def _index_state(
    store: LedgerStore, identity: operator.LogIdentity | None, latest: StoredCheckpoint | None
) -> dict[str, object]:
    """The authenticated index as ``info`` shows it: the ledger's index rule (meta
    ``index_rule``), how far the stored map reaches with its root, and the index root and rule
    the latest signed checkpoint commits to (None: it commits to none, or there is none)."""
    size, root = store.index_tables().head()
    committed_root = committed_rule = None
    if latest is not None and identity is not None:
        opened = cp.open_checkpoint(latest.note, identity.origin, identity.public_key)
        found = root_in(opened.extensions)
        committed_root = found.hex() if found else None
        committed_rule = rule_in(opened.extensions) if found else None
    return {
        "index_rule": index_rule(store),
        "index_size": size,
        "index_root": root.hex(),
        "checkpoint_index_rule": committed_rule,
        "checkpoint_index_root": committed_root,
    }


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@common.ledger_option
def checkpoint(out: Path | None, ledger_url: str) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    with common.existing_store(ledger_url) as store:
        operator.require_identity(store)
        latest = store.latest_checkpoint()
        if latest is None:
            raise ConfigurationError(
                "the ledger has no signed checkpoint yet", hint=operator.sign_a_checkpoint(store)
            )
    _write(latest.note, out)
    if latest.cosigners:
        common.err(
            f"cosigned by {len(latest.cosigners)} witness(es): {', '.join(latest.cosigners)}"
        )
    else:
        common.err("no witness has cosigned this checkpoint (yet)")


@click.command()
@click.argument("event_id", required=False)
@click.option(
    "--about",
    "about",
    metavar="KEY",
    help="Instead of one event: prove every entry the log holds for KEY (or that it holds"
    " none), e.g. party:performer:dana-whitfield, asset:ID, version:ID@V,"
    " production:SHOW/EPISODE. See docs/proofs.md §10.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option(
    "--leaf-hash-only",
    is_flag=True,
    help="Carry the entry's leaf hash instead of the entry: proves inclusion, shows no content.",
)
@common.ledger_option
def prove(
    event_id: str | None,
    about: str | None,
    out: Path | None,
    leaf_hash_only: bool,
    ledger_url: str,
) -> None:
    """Write an offline receipt (C2SP tlog-proof@v1 with the entry) for EVENT_ID, or with
    --about KEY a proof that the log holds exactly these entries for KEY."""
    if (event_id is None) == (about is None):
        raise ConfigurationError(
            "give either EVENT_ID or --about KEY", hint="assetledger prove --about party:ID"
        )
    if about and leaf_hash_only:
        raise ConfigurationError(
            "--leaf-hash-only is for receipts of one event",
            hint="a proof about a key carries its entries: the verifier checks them",
        )
    with common.existing_store(ledger_url) as store:
        if about:
            text = prove_about(store, about)
        else:
            text = operator.prove(store, event_id or "", leaf_only=leaf_hash_only)
    _write(text, out)


MAX_PROOF_FILE_BYTES = 1 << 30
"""A receipt is a few KiB; a proof about a key carries its entries (a whole production's may be
hundreds of MiB).  Anything larger is refused before it is read."""

read_vkey = common.read_vkey  # where other commands used to import it from


def witness_options(f: common.F) -> common.F:
    """``--witness-key VKEY`` (repeatable) and ``--quorum N``."""
    f = click.option(
        "--quorum",
        type=int,
        default=None,
        help="How many of the witnesses given must have cosigned (default: all of them).",
    )(f)
    return click.option(
        "--witness-key",
        "witness_keys",
        multiple=True,
        help="A witness's verifier key (cosignature/v1), inline or in a file; repeatable."
        " The checkpoint is accepted only with --quorum valid cosignatures by them.",
    )(f)


def witness_policy(values: tuple[str, ...], quorum: int | None) -> tuple[list[WitnessKey], int]:
    """The witness keys given and the quorum (checked); no keys means no witness policy."""
    keys = [read_witness_key(value) for value in values]
    if not keys:
        if quorum is not None:
            raise ConfigurationError(
                "--quorum needs --witness-key", hint="pass the witnesses' keys"
            )
        return [], 0
    wanted = len({k.raw for k in keys}) if quorum is None else quorum
    check_quorum_setting(keys, wanted)
    return keys, wanted


def _cosigner_names(cosignatures: list[Cosignature]) -> list[str]:
    return [c.witness.name for c in cosignatures]


@click.command("verify-receipt")
@click.argument("receipt", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--log-key",
    required=True,
    help="The log's C2SP verifier key (name+keyid+key), inline or in a file.",
)
@click.option(
    "--trusted-keys",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Also check the producer's signature against these *.pub keys.",
)
@click.option(
    "--event-id",
    help="Require the receipt to prove this event (exit 1 if it proves another).",
)
@witness_options
@common.format_option("text", "json", default="text")
def verify_receipt_command(
    receipt: Path,
    log_key: str,
    trusted_keys: Path | None,
    event_id: str | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    fmt: str,
) -> None:
    """Check a receipt offline: checkpoint signature, witnesses, inclusion, event id, producer
    signature.

    Prints the event id and asset version of the entry the receipt proves; with --format json
    a failure is a verdict too (ok false, its reason code and message) on stdout, exit 1.
    """
    name, public_key = common.log_vkey(log_key)
    signers = common.trusted_keys(trusted_keys)
    witnesses, wanted = witness_policy(witness_keys, quorum)
    text = common.read_text_file(receipt, "receipt", MAX_PROOF_FILE_BYTES)
    try:
        if is_about_proof(text):
            _verify_about(text, read_vkey(log_key), witnesses, wanted, fmt, event_id, signers)
            return
        verdict = verify_receipt(text, name, public_key, signers, event_id=event_id)
        cosigned = _receipt_quorum(text, witnesses, wanted)
    except VerificationFailure as exc:
        if fmt == "json":
            click.echo(json.dumps(_failure_json(str(receipt), exc), indent=2))
        raise
    identity = verdict.identity
    data = {
        "ok": True,
        "event_id": identity.event_id if identity else None,
        "kind": identity.kind if identity else None,
        "asset_version": identity.asset_version if identity else None,
        "event_id_required": event_id is not None,
        "leaf_hash": verdict.leaf_hash.hex(),
        "entry_included": not verdict.leaf_only,
        "log": verdict.log_origin,
        "index": verdict.index,
        "tree_size": verdict.tree_size,
        "root_hash": verdict.root_hash.hex(),
        "checkpoint_signature": "valid",
        "inclusion": "valid",
        "producer_signature": "valid" if verdict.producer_signature_ok else "not checked",
        "signer_keyid": verdict.signer_keyid,
        "witnesses": _cosigner_names(cosigned) if witnesses else "not checked",
        "witness_quorum": wanted or None,
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(
            f"receipt valid: entry {verdict.index} of {verdict.log_origin}"
            f" (tree size {verdict.tree_size})"
        )
        if identity is not None:
            required = " (as required)" if event_id is not None else ""
            click.echo(f"  proves: {printable(identity.describe())}{required}")
        elif verdict.leaf_only:
            click.echo(
                f"  proves: the entry whose leaf hash is {verdict.leaf_hash.hex()}"
                " (a leaf-hash receipt: the entry itself is not in it; compare"
                " SHA-256(0x00 || entry) of the entry you hold)"
            )
        else:
            click.echo(
                "  proves: an entry that is not an asset-ledger event"
                f" ({printable(verdict.identity_problem or '')})"
            )
        click.echo(
            f"  checkpoint signature: valid\n  inclusion proof: valid"
            f"\n  producer signature: {data['producer_signature']}"
        )
        click.echo(f"  witnesses: {_witness_summary(cosigned, witnesses, wanted)}")


def _receipt_quorum(text: str, witnesses: list[WitnessKey], wanted: int) -> list[Cosignature]:
    """The receipt's checkpoint cosigned by ``wanted`` of ``witnesses`` (none asked: [])."""
    if not witnesses:
        return []
    try:
        return require_quorum(parse_receipt(text).checkpoint, witnesses, wanted)
    except VerificationFailure as exc:
        raise ReceiptFailure("witnesses", exc.message, hint=exc.hint) from exc


def _failure_json(source: str, exc: VerificationFailure) -> dict[str, object]:
    """The verdict on a receipt or proof that does not verify (reason codes: docs/proofs.md)."""
    return {
        "ok": False,
        "file": source,
        "reason": getattr(exc, "reason", "failed"),
        "message": exc.message,
        "hint": exc.hint,
    }


def _verify_about(
    text: str,
    log_vkey: str,
    witnesses: list[WitnessKey],
    wanted: int,
    fmt: str,
    event_id: str | None,
    signers: dict[str, Ed25519PublicKey] | None,
) -> None:
    """A proof about a key (``prove --about``): verified offline, then its key and entries;
    ``--event-id`` must be one of them, ``--trusted-keys`` must have signed every one."""
    verdict = verify_about(text, log_vkey, [w.vkey for w in witnesses], wanted)
    if event_id is not None:
        require_event(verdict, event_id)
    producers = "not checked" if signers is None else "valid"
    if signers is not None:
        check_producers(verdict, signers)
    if fmt == "json":
        data = verdict.to_json() | {
            "event_id_required": event_id,
            "producer_signatures": producers,
            "witnesses": list(verdict.cosigners) if witnesses else "not checked",
            "witness_quorum": wanted or None,
        }
        click.echo(json.dumps(data, indent=2))
        return
    state = (
        f"holds {len(verdict.indices)} entr{'y' if len(verdict.indices) == 1 else 'ies'}"
        if verdict.present
        else "holds no entry"
    )
    click.echo(
        f"proof valid: at tree size {verdict.size} of {verdict.log_origin}, the log {state}"
        f" for key {printable(verdict.key)}"
    )
    for index, listed in zip(verdict.indices, verdict.event_ids, strict=True):
        required = " (as required)" if listed is not None and listed == event_id else ""
        shown = printable(listed or "(not an asset-ledger event)")
        click.echo(f"  entry {index}: event {shown}{required}")
    click.echo(
        "  checkpoint signature: valid\n  index root: matches\n  inclusion proofs: valid"
        f"\n  producer signatures: {producers}"
    )
    names = ", ".join(verdict.cosigners)
    click.echo(
        f"  witnesses: {len(verdict.cosigners)} valid cosignature(s), {wanted} required ({names})"
        if witnesses
        else "  witnesses: not checked (no --witness-key)"
    )


def _witness_summary(cosigned: list[Cosignature], witnesses: list[WitnessKey], wanted: int) -> str:
    if not witnesses:
        return "not checked (no --witness-key)"
    names = ", ".join(_cosigner_names(cosigned))
    return f"{len(cosigned)} valid cosignature(s), {wanted} required ({names})"


@click.command()
@click.argument(
    "old_checkpoint", type=click.Path(dir_okay=False, exists=True, allow_dash=True, path_type=Path)
)
@click.argument(
    "new_checkpoint",
    type=click.Path(dir_okay=False, exists=True, allow_dash=True, path_type=Path),
    required=False,
)
@witness_options
@common.format_option("text", "json", default="text")
@common.ledger_option
def consistency(
    old_checkpoint: Path,
    new_checkpoint: Path | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    fmt: str,
    ledger_url: str,
) -> None:
    """Prove and check that OLD_CHECKPOINT is a prefix of NEW_CHECKPOINT (default: latest).

    With --witness-key, NEW_CHECKPOINT must carry --quorum valid cosignatures; without
    NEW_CHECKPOINT, the newest stored checkpoint that does is used.
    """
    witnesses, wanted = witness_policy(witness_keys, quorum)
    old_text = common.read_text_file(old_checkpoint, "checkpoint")
    new_text = common.read_text_file(new_checkpoint, "checkpoint") if new_checkpoint else None
    with common.existing_store(ledger_url) as store:
        if witnesses and new_text is None:
            new_text = newest_witnessed(store, witnesses, wanted).note
        if witnesses:
            require_quorum(new_text or "", witnesses, wanted)
        result = operator.prove_consistency(store, old_text, new_text)
    proof = [cp.b64encode(h) for h in result.proof]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "consistent": True,
                    "old_size": result.old.size,
                    "new_size": result.new.size,
                    "proof": proof,
                },
                indent=2,
            )
        )
    else:
        click.echo(f"consistent: tree {result.old.size} is a prefix of tree {result.new.size}")
        for line in proof:
            click.echo(line)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        common.write_file(out, text.encode("utf-8"))
        common.err(f"wrote {out}")


@click.command()
@common.format_option("text", "json", default="text")
@common.ledger_option
def monitor(fmt: str, ledger_url: str) -> None:
    """Replay the authenticated index from the entries: check the index root every signed
    checkpoint commits to, and the stored index rows audits read (exit 1 on a mismatch)."""
    with common.existing_store(ledger_url) as store:
        size = store.head().size
        with click.progressbar(length=size, label="replaying", file=sys.stderr) as bar:
            report = monitor_index(store, progress=bar.update)
    findings = [{"kind": f.kind, "seq": f.seq, "detail": f.detail} for f in report.findings]
    if fmt == "json":
        data = {"ok": report.ok, "size": report.size, "index_roots_checked": report.roots_checked}
        click.echo(json.dumps({**data, "findings": findings}, indent=2))
    elif report.ok:
        click.echo(
            f"index intact: {report.roots_checked} committed index root(s) replayed over"
            f" {report.size} entries; stored rows match"
        )
    else:
        for f in report.findings:
            where = "" if f.seq is None else f" at entry {f.seq}"
            click.echo(f"{f.kind}{where}: {printable(f.detail)}")
    sys.exit(0 if report.ok else 1)


@click.command("migrate-index")
@common.ledger_option
def migrate_index(ledger_url: str) -> None:
    """Rewrite an older ledger's authenticated index rows in the current table layout (the
    index roots, and so every signed checkpoint and proof, stay as they are)."""
    common.existing_store(ledger_url).close()  # it must exist: never create one here
    with common.writable_store(ledger_url) as store:
        size, _ = store.index_tables().head()  # opening the tables writable converts them
    click.echo(f"the index (covering {size} entries) is in the current layout")
