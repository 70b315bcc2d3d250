"""``assetledger demo``: a small production's provenance, end to end, on a real broker."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import click

from cli import common
from consumers.runner import ConsumerConfig, IngestStats, LedgerConsumer
from ledger import kafka as k
from ledger import keys as keyfiles
from ledger import operator
from ledger.localbroker import LocalBroker, ensure_topics
from ledger.store import LedgerStore, open_store
from ledger.trust import FolderTrust
from ledger.verify import VerifyReport, verify_ledger
from producers import demo as production
from producers.emitter import Emitter, Message

ORIGIN = "fallen-tower.example/ledger"


@click.command()
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-work"),
    show_default=True,
    help="Folder for keys, the ledger and the broker log (recreated each run).",
)
@click.option(
    "--bootstrap-servers",
    envvar="ASSETLEDGER_BOOTSTRAP_SERVERS",
    default=None,
    help="Use this broker instead of starting a local Tansu broker.",
)
@common.topic_option
def demo(work_dir: Path, bootstrap_servers: str | None, topic: str) -> None:
    """Emit the 'Fallen Tower' production, consume it into a ledger, verify it."""
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    with ExitStack() as stack:
        if bootstrap_servers is None:
            common.err("starting a local Tansu broker …")
            broker = stack.enter_context(LocalBroker(work_dir=work_dir))
            bootstrap_servers = broker.bootstrap_servers
        ensure_topics(bootstrap_servers, {topic: 3, k.dlt_topic(topic): 1})
        _run(work_dir, bootstrap_servers, topic)


def _run(work_dir: Path, bootstrap: str, topic: str) -> None:
    keys_dir = work_dir / "keys"
    signers = {s.name: keyfiles.generate(s.name) for s in production.SIGNERS}
    for pair in signers.values():
        keyfiles.write_key_pair(pair, keys_dir)
    common.err(f"{len(signers)} signing keys in {keys_dir}")
    emitted = _emit(bootstrap, topic, signers)
    bad = _emit_doubtful_input(bootstrap, topic)
    common.err(f"emitted {emitted} events and {bad} bad records to {topic} at {bootstrap}")
    ledger_path = work_dir / "ledger.db"
    trust = FolderTrust(keyfiles.load_trusted_dir(keys_dir))
    with open_store(str(ledger_path)) as store:
        log_key, _ = operator.create_log_key(work_dir / "log")
        identity = operator.init_ledger(store, ORIGIN, log_key)
        config = ConsumerConfig(
            bootstrap, topic=topic, session_timeout_ms=6000, heartbeat_interval_ms=1000
        )
        checkpointer = operator.Checkpointer(store, log_key)
        stats = LedgerConsumer(store, trust, config, checkpointer=checkpointer).run(until_idle=4.0)
        report = verify_ledger(store, trust.keys.get, workers=1)
        receipt_path = _receipt_for_final(store, work_dir)
    (work_dir / "log.vkey").write_text(identity.vkey + "\n", encoding="utf-8")
    _summary(work_dir, ledger_path, stats, report, receipt_path)


def _receipt_for_final(store: LedgerStore, work_dir: Path) -> Path:
    """An offline receipt for the first final delivery, as a lawyer would be handed."""
    final = store.seqs_by_ref("asset", f"{production.DELIVERY_PREFIX}/sh010/final")
    entry = store.entry(final[0])
    assert entry is not None
    path = work_dir / "sh010-final.receipt"
    path.write_text(operator.prove(store, entry.event_id), encoding="utf-8")
    return path


def _summary(
    work_dir: Path, ledger_path: Path, stats: IngestStats, report: VerifyReport, receipt: Path
) -> None:
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.by_reason.items())) or "none"
    click.echo(f"ledger      {ledger_path}: {stats.appended} entries appended")
    click.echo(f"dead-letter {stats.quarantined} records quarantined ({reasons})")
    click.echo(f"checkpoint  signed at tree size {stats.last_checkpoint_size}")
    click.echo("verify      " + ("intact" if report.ok else f"DAMAGED {report.first}"))
    click.echo(f"receipt     {receipt}")
    click.echo("try:")
    click.echo(f"  assetledger log --ledger {ledger_path}")
    click.echo(f"  assetledger verify --ledger {ledger_path} --trusted-keys {work_dir}/keys")
    click.echo(
        f"  assetledger verify-receipt {receipt} --log-key {work_dir}/log.vkey"
        f" --trusted-keys {work_dir}/keys"
    )


def _emit(bootstrap: str, topic: str, signers: dict[str, keyfiles.KeyPair]) -> int:
    emitters: dict[str, Emitter] = {}
    try:
        for signer, event in production.production():
            if signer not in emitters:
                emitters[signer] = Emitter(
                    bootstrap, signers[signer], topic=topic, source=f"/fallen-tower/{signer}"
                )
            emitters[signer].emit(event)
    finally:
        for e in emitters.values():
            e.close()
    return len(production.production())


def _emit_doubtful_input(bootstrap: str, topic: str) -> int:
    """An intruder's signed event and plain garbage: both must end in the dead-letter topic."""
    intruder = keyfiles.generate("intruder")
    _, event = production.production()[-1]
    forged = dict(event, description="Final delivery — signed by an unenrolled key")
    with Emitter(bootstrap, intruder, topic=topic, source="/unknown") as emitter:
        emitter.emit(forged)
        emitter.send_raw(Message("garbage", b"garbage", b"\x00\xffnot an event", []))
    return 2
