"""``assetledger demo``: a small production's provenance, end to end, on a real broker."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import click
from ledger.localbroker import LocalBroker, ensure_topics

from cli import common
from consumers.runner import ConsumerConfig, LedgerConsumer
from ledger import kafka as k
from ledger import keys as keyfiles
from ledger.store import open_store
from ledger.trust import FolderTrust
from ledger.verify import verify_ledger
from producers import demo as production
from producers.emitter import Emitter, Message


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
        config = ConsumerConfig(
            bootstrap, topic=topic, session_timeout_ms=6000, heartbeat_interval_ms=1000
        )
        stats = LedgerConsumer(store, trust, config).run(until_idle=4.0)
        report = verify_ledger(store, trust.keys.get, workers=1)
    click.echo(f"ledger: {ledger_path} ({stats.appended} entries appended)")
    click.echo(f"quarantined: {stats.quarantined} " + str(dict(sorted(stats.by_reason.items()))))
    click.echo("verify: " + ("intact" if report.ok else f"DAMAGED {report.first}"))
    click.echo(f"next: assetledger log --ledger {ledger_path}")
    click.echo(f"      assetledger verify --ledger {ledger_path} --trusted-keys {keys_dir}")


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
