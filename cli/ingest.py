"""``assetledger emit``, ``consume`` and ``quarantine``."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from cli import common
from consumers.deadletter import DEFAULT_BUDGET as DEFAULT_DLT_BUDGET
from consumers.inspect import DEFAULT_MAX_BYTES
from consumers.metrics import MetricsServer
from consumers.runner import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_SECONDS,
    ConsumerConfig,
    IngestStats,
    LedgerConsumer,
)
from consumers.transport import TRANSPORTS
from ledger.errors import ConfigurationError, InvalidEventError
from ledger.events import kinds
from ledger.events.base import EventKind
from ledger.events.encoding import LEARNED_SCHEMA_IDS, MultiFraming
from ledger.events.inputs import parse_events
from ledger.events.provenance import PROVENANCE
from ledger.events.schema_registry import SchemaRegistryClient
from ledger.log import operator
from ledger.log.operator import Checkpointer
from ledger.store import AppendResult, LedgerStore
from ledger.store.schema_ids import record_schema_id
from ledger.trust import keys as keyfiles
from ledger.trust.parallel import default_workers
from ledger.trust.policy import FolderTrust, RegistryTrust, TrustPolicy
from ledger.witness.client import Cosigning, parse_endpoint
from producers.emitter import Emitter


@click.command()
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key that signs the events.",
)
@click.option(
    "--event",
    "event_file",
    required=True,
    type=click.File("rb"),
    help="One JSON event, a JSON array, JSON Lines, or - for stdin.",
)
@click.option(
    "--kind",
    "kind_name",
    type=click.Choice(kinds.kind_names()),
    default=None,
    help="Kind of every event given (default: each event's own event_kind field, else provenance).",
)
@click.option(
    "--source",
    default="/assetledger/cli",
    show_default=True,
    help="CloudEvents source of this emitter (also the default producer_id).",
)
@common.spool_option()
@common.passphrase_option
@common.bootstrap_option
@common.connect_timeout_option
@common.topic_option
@common.schema_registry_option
def emit(
    key_path: Path,
    event_file: Any,
    kind_name: str | None,
    source: str,
    spool_dir: Path | None,
    passphrase_file: Path | None,
    bootstrap_servers: str,
    connect_timeout: float,
    topic: str,
    schema_registry_url: str | None,
) -> None:
    """Sign events of any kind and send them to Kafka; print each event id once acknowledged.

    An event states its kind in an "event_kind" field (provenance, consent, key_registry,
    licence, disposition, approval); --kind sets it for all; without either, it is a
    provenance event.
    With --spool DIR, an event the broker does not acknowledge in time is kept, signed, in
    DIR and sent later (next emit or assetledger spool flush); the command still exits 0.
    """
    text = common.utf8_text(event_file.read(), f"event file {event_file.name}", "events")
    items = parse_events(text, event_file.name)
    forced = None if kind_name is None else kinds.kind_named(kind_name)
    runs = kind_runs(items, forced)
    signer = keyfiles.load_private(key_path, common.read_passphrase(passphrase_file))
    with Emitter(
        bootstrap_servers,
        signer,
        topic=topic,
        source=source,
        schema_registry_url=schema_registry_url,
        spool=spool_dir,
        connect_timeout=connect_timeout,
    ) as emitter:
        waiting_before = 0 if emitter.spool is None else emitter.spool.count()
        for kind, batch in runs:
            for event_id in emitter.emit_many(batch, kind=kind):
                click.echo(event_id)
        waiting = 0 if emitter.spool is None else emitter.spool.count()
    if spool_dir is None or not waiting:
        earlier = f" (and {waiting_before} spooled earlier)" if waiting_before else ""
        common.err(f"{len(items)} event(s){earlier} acknowledged by {bootstrap_servers} on {topic}")
        return
    common.err(
        f"{len(items)} event(s) signed and spooled in {spool_dir} ({waiting} waiting):"
        f" {emitter.last_error}"
    )
    common.err(f"they are sent with the next emit or: assetledger spool flush --spool {spool_dir}")


def kind_runs(
    items: list[dict[str, Any]], forced: EventKind | None
) -> list[tuple[EventKind, list[dict[str, Any]]]]:
    """Consecutive events of one kind, in file order (so a consent goes before its use)."""
    runs: list[tuple[EventKind, list[dict[str, Any]]]] = []
    for i, item in enumerate(items):
        try:
            kind = kinds.stated_kind(item, default=PROVENANCE, forced=forced)
        except InvalidEventError as exc:
            raise ConfigurationError(f"event {i + 1}: {exc.message}", hint=exc.hint) from None
        if runs and runs[-1][0] is kind:
            runs[-1][1].append(item)
        else:
            runs.append((kind, [item]))
    return runs


def _progress(result: AppendResult, stats: IngestStats) -> None:
    common.err(
        f"batch {stats.batches}: +{len(result.appended)} entries (ledger size {result.head.size}),"
        f" {stats.quarantined} quarantined, {stats.duplicates} duplicates"
    )


@click.command()
@common.trusted_keys_option(
    "Trust exactly the *.pub files in this folder. Without it, signers are those enrolled in"
    " the ledger's key registry."
)
@click.option(
    "--until-idle",
    type=float,
    default=None,
    help="Stop after this many seconds with nothing new (default: run until signalled). On a"
    " slow or loaded machine a quiet spell can come before records already in the topic are"
    " read: to read what is there, use --until-caught-up.",
)
@click.option(
    "--until-caught-up",
    is_flag=True,
    help="Read what the topics hold, then stop: once every assigned partition and TOPIC.keys"
    " reached the end offsets seen at the start and a whole poll brought nothing more"
    " (docs/operations.md). With --until-idle too, a quiet spell also stops it, with a"
    " warning if it was not caught up.",
)
@click.option(
    "--group",
    "group_id",
    envvar="ASSETLEDGER_GROUP",
    default="",
    help="Kafka consumer group (env ASSETLEDGER_GROUP; default: assetledger-ledger.TOPIC).",
)
@click.option("--batch-size", default=2000, show_default=True, help="Records per transaction.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Signature-checking processes (default: one per CPU; 0: check in the consumer).",
)
@click.option(
    "--metrics-port",
    envvar="ASSETLEDGER_METRICS_PORT",
    type=click.IntRange(min=0, max=65535),
    default=None,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port, logged;"
    " env ASSETLEDGER_METRICS_PORT).",
)
@click.option(
    "--log-key",
    "log_key_path",
    envvar="ASSETLEDGER_LOG_KEY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ledger's log private key: sign checkpoints (see --checkpoint-every)"
    " (env ASSETLEDGER_LOG_KEY).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=DEFAULT_CHECKPOINT_EVERY,
    show_default=True,
    help="Sign a checkpoint once this many entries are unanchored (1: after every batch).",
)
@click.option(
    "--checkpoint-seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_CHECKPOINT_SECONDS,
    show_default=True,
    help="...or once the oldest unanchored entry is this old. A checkpoint is also signed"
    " whenever a poll brings nothing new and at a clean stop. A receipt needs a checkpoint"
    " covering the entry: these bound its wait under load (docs/operations.md).",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    envvar="ASSETLEDGER_WITNESS",
    metavar="URL=VKEY",
    help="A witness to ask for a cosignature of each checkpoint: its URL and verifier key"
    " (inline or a file); repeatable (env ASSETLEDGER_WITNESS, space-separated). A witness"
    " that is down never stops ingestion; it is caught up later.",
)
@click.option(
    "--session-timeout-ms",
    type=int,
    default=10_000,
    show_default=True,
    help="Kafka group session timeout (a dead consumer's partitions move after this).",
)
@click.option(
    "--max-message-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Refuse larger record values as oversized (dead-lettered, never appended).",
)
@click.option(
    "--dlt-max-bytes",
    type=click.IntRange(min=4096),
    default=DEFAULT_DLT_BUDGET,
    show_default=True,
    help="Largest dead-letter copy (key, value, headers); a larger refused record is copied"
    " bounded, with its size and SHA-256. Keep it below the dead-letter topic's"
    " max.message.bytes.",
)
@click.option(
    "--transport",
    type=click.Choice(TRANSPORTS),
    envvar="ASSETLEDGER_TRANSPORT",
    default="kafka-python",
    show_default=True,
    help="The events topic's Kafka client: kafka-python, or confluent (librdkafka, from the"
    " kafka-fast extra: less CPU per record). Env ASSETLEDGER_TRANSPORT.",
)
@common.format_option("text", "json", default="text")
@common.bootstrap_option
@common.connect_timeout_option
@common.topic_option
@common.ledger_option
@common.schema_registry_option
def consume(
    trusted_keys: Path | None,
    until_idle: float | None,
    until_caught_up: bool,
    group_id: str,
    batch_size: int,
    workers: int | None,
    metrics_port: int | None,
    log_key_path: Path | None,
    checkpoint_every: int,
    checkpoint_seconds: float,
    witnesses: tuple[str, ...],
    session_timeout_ms: int,
    max_message_bytes: int,
    dlt_max_bytes: int,
    transport: str,
    fmt: str,
    bootstrap_servers: str,
    connect_timeout: float,
    topic: str,
    ledger_url: str,
    schema_registry_url: str | None,
) -> None:
    """Verify events from Kafka and append them to the ledger (SIGTERM/SIGINT stop cleanly)."""
    config = ConsumerConfig(
        bootstrap_servers,
        topic=topic,
        group_id=group_id,
        max_batch=batch_size,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(session_timeout_ms // 5, 500),
        workers=default_workers() if workers is None else workers,
        max_message_bytes=max_message_bytes,
        client_settings={"bootstrap_timeout_ms": int(connect_timeout * 1000)},
        dlt_max_bytes=dlt_max_bytes,
        transport=transport,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
    )
    with common.writable_store(ledger_url) as store, contextlib.ExitStack() as stack:
        config.framing = _reading_framing(store, schema_registry_url)
        trust = trust_policy(store, trusted_keys)
        checkpointer = _checkpointer(store, log_key_path)
        cosigning = _cosigning(store, checkpointer, witnesses)
        consumer = LedgerConsumer(
            store,
            trust,
            config,
            on_batch=_progress,
            checkpointer=checkpointer,
            cosigning=cosigning,
        )
        if metrics_port is not None:
            server = stack.enter_context(MetricsServer(consumer.metrics, metrics_port))
            common.err(f"metrics at http://0.0.0.0:{server.port}/metrics")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: consumer.stop())
        stats = consumer.run(until_idle=until_idle, until_caught_up=until_caught_up)
        size = store.head().size
    summary = {"ledger_size": size, **stats.__dict__}
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        common.err(
            f"appended {stats.appended}, quarantined {stats.quarantined}"
            f" ({', '.join(f'{k}: {v}' for k, v in sorted(stats.by_reason.items())) or 'none'}),"
            f" ledger size {size}"
        )


def _reading_framing(store: LedgerStore, registry_url: str | None) -> MultiFraming:
    """Single-object always; Confluent too with a registry, whose ids go into the ledger."""
    if registry_url is None:
        return MultiFraming(registry=LEARNED_SCHEMA_IDS)  # ids this ledger already recorded
    client = SchemaRegistryClient(
        registry_url,
        on_resolved=lambda schema_id, schema: record_schema_id(store, schema_id, schema),
    )
    return MultiFraming(registry=client)


def trust_policy(store: LedgerStore, trusted_keys: Path | None) -> TrustPolicy:
    """A fixed folder of keys when given, else the ledger's own key registry."""
    if trusted_keys is not None:
        return FolderTrust(keyfiles.load_trusted_dir(trusted_keys))
    return RegistryTrust.from_store(store)


def _checkpointer(store: LedgerStore, log_key_path: Path | None) -> Checkpointer | None:
    if log_key_path is None:
        if operator.log_identity(store) is not None:
            raise ConfigurationError(
                f"ledger {store.url} signs checkpoints, but no --log-key was given",
                hint="pass --log-key (the log.key written by assetledger init)",
            )
        common.err(
            "note: this ledger has no log key, so no checkpoints are signed"
            " (create ledgers with assetledger init)"
        )
        return None
    return Checkpointer(store, keyfiles.load_private(log_key_path, common.read_passphrase(None)))


def _cosigning(
    store: LedgerStore, checkpointer: Checkpointer | None, witnesses: tuple[str, ...]
) -> Cosigning | None:
    if not witnesses:
        return None
    if checkpointer is None:
        raise ConfigurationError(
            "--witness needs signed checkpoints to submit", hint="pass --log-key as well"
        )
    endpoints = [parse_endpoint(value) for value in witnesses]
    for endpoint in endpoints:
        common.err(f"witness {endpoint.key.name} at {endpoint.url}")
    return Cosigning(store, endpoints)


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Show at most this many records."
)
@common.format_option("table", "json", "csv")
@common.ledger_option
def quarantine(limit: int | None, fmt: str, ledger_url: str) -> None:
    """List inputs refused by the consumer, with their reasons."""
    with common.existing_store(ledger_url) as store:
        rows = [
            {
                "id": q.quarantine_id,
                "topic": q.origin.topic,
                "partition": q.origin.partition,
                "offset": q.origin.offset,
                "reason": q.reason,
                "event_id": q.event_id or "",
                "detail": q.detail,
                "at": q.quarantined_at.isoformat() if q.quarantined_at else "",
            }
            for q in store.quarantine(limit)
        ]
    common.emit_rows(
        rows, fmt, ["id", "topic", "partition", "offset", "reason", "event_id", "detail"]
    )
    if not rows and fmt == "table":
        common.err("quarantine is empty")
    sys.stdout.flush()
