"""``python -m bench``: run every measurement once, print a table, write JSON.

Progress goes to stderr, the table to stdout, the full results to
``bench/results/<UTC timestamp>.json``.  ``--quick`` is a smoke run of a few thousand events.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench import broker, index, ledgers, postgres, raw, synth
from bench.corpus import Corpus
from bench.profile import sampling
from bench.report import render_table
from demo.localbroker import LocalBroker
from ledger.errors import VerificationFailure
from ledger.log import operator
from ledger.store import LedgerStore, open_store
from ledger.trust.keys import generate, raw_public, write_key_pair

RESULTS = Path(__file__).resolve().parent / "results"
# The parts of a run, for --only: the Emitter, the ingest runs, the ledgers built directly
# (append, proofs, recompute, lineage, credits, guard, verify) and the PostgreSQL append.
PARTS = ("producer", "ingest", "ledgers", "postgres")
OFF = -1  # --checkpoint-every off: the consumer runs without a log key
# The measurements on each ledger built directly, for --ledger-rows (the append always runs,
# unless a ledger kept in --work-dir is reused).
LEDGER_ROWS = (
    "proofs",
    "recompute",
    "lineage",
    "credits",
    "episode_audit",
    "guard",
    "index",
    "replay",
    "verify",
)


@dataclass
class Options:
    sizes: list[int]
    ingest_events: int
    scale_events: int
    producer_events: int
    partitions: int
    cores: int
    batch_size: int
    raw_seconds: float
    proof_samples: int
    lineage_samples: int
    bootstrap: str | None
    postgres: str | None
    work_dir: Path | None
    out_dir: Path
    quick: bool
    only: frozenset[str] = frozenset(PARTS)
    ledger_rows: frozenset[str] = frozenset(LEDGER_ROWS)
    profile: Path | None = None  # write py-spy profiles here
    # The consumer's Kafka transports to measure (consume --transport); the first one also
    # runs the sequential row.
    transports: tuple[str, ...] = ("kafka-python",)
    # consume --checkpoint-every of the main ingest row, one row each (None: the default);
    # the first one is used for the other rows too.
    checkpoint_every: tuple[int | None, ...] = (None,)
    checkpoint_seconds: float | None = None  # consume --checkpoint-seconds of every row
    seed: int = 6
    started: float = field(default_factory=time.monotonic)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 events everywhere")
    p.add_argument("--sizes", help="ledger sizes, comma separated (default 100000,1000000)")
    p.add_argument("--ingest-events", type=int, help="events through the broker (default 1M)")
    p.add_argument(
        "--scale-events",
        type=int,
        help="events for the sequential, PostgreSQL and 2-process runs (default 200000;"
        " 0: only the SQLite run with workers)",
    )
    p.add_argument("--producer-events", type=int, help="events sent with the Emitter")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the events topic")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="processes to use")
    p.add_argument("--batch-size", type=int, help="consumer --batch-size (default 2000)")
    p.add_argument("--bootstrap-servers", help="use this broker instead of a local Tansu one")
    p.add_argument(
        "--postgres",
        default=postgres.DEFAULT_DSN,
        help="PostgreSQL DSN for the PostgreSQL runs ('' to skip)",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        help="keep the corpus and the built ledgers here, and reuse them when a later run asks"
        " for no more (default: a temporary directory)",
    )
    p.add_argument(
        "--ledger-rows",
        help=f"measure only these on each ledger, of: {', '.join(LEDGER_ROWS)} (default: all)",
    )
    p.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON goes")
    p.add_argument(
        "--only",
        help=f"run only these parts, comma separated, of: {', '.join(PARTS)} (default: all)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy profiles of the producer, ingest, guard and verify runs in DIR",
    )
    p.add_argument(
        "--transports",
        default="kafka-python",
        help="consumer transports to run the ingest rows with, comma separated, of:"
        " kafka-python, confluent (default: kafka-python)",
    )
    p.add_argument(
        "--checkpoint-every",
        default="default",
        help="consumer --checkpoint-every of the main ingest row, comma separated, one row each"
        " ('default': the consumer's default; 1: a checkpoint after every batch; 'off': no log"
        " key, so no checkpoint and no index update: the index's share of the CPU), e.g."
        " default,1",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=float,
        help="consumer --checkpoint-seconds of every ingest row (default: the consumer's)",
    )
    a = p.parse_args(argv)
    try:
        every = tuple(
            None if x.strip() == "default" else OFF if x.strip() == "off" else int(x)
            for x in a.checkpoint_every.split(",")
            if x.strip()
        )
    except ValueError:
        p.error(f"--checkpoint-every: not a number or 'default' in {a.checkpoint_every!r}")
    if not every or any(x is not None and x < 1 and x != OFF for x in every):
        p.error(
            f"--checkpoint-every: each value is 'default', 'off' or at least 1:"
            f" {a.checkpoint_every!r}"
        )
    transports = tuple(x.strip() for x in a.transports.split(",") if x.strip())
    if not transports or not set(transports) <= {"kafka-python", "confluent"}:
        p.error(f"--transports: unknown transport in {a.transports!r}")
    only = frozenset(x.strip() for x in a.only.split(",")) if a.only else frozenset(PARTS)
    if not only <= set(PARTS):
        p.error(f"--only: unknown part(s) {', '.join(sorted(only - set(PARTS)))}")
    rows = (
        frozenset(x.strip() for x in a.ledger_rows.split(","))
        if a.ledger_rows
        else frozenset(LEDGER_ROWS)
    )
    if not rows <= set(LEDGER_ROWS):
        p.error(f"--ledger-rows: unknown row(s) {', '.join(sorted(rows - set(LEDGER_ROWS)))}")
    quick = bool(a.quick)
    small = 2_000
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else None
    return Options(
        sizes=sizes or ([small] if quick else [100_000, 1_000_000]),
        ingest_events=a.ingest_events or (small if quick else 1_000_000),
        scale_events=(
            a.scale_events if a.scale_events is not None else (small if quick else 200_000)
        ),
        producer_events=a.producer_events or (300 if quick else 20_000),
        partitions=a.partitions,
        cores=a.cores,
        batch_size=a.batch_size or (100 if quick else 2_000),
        raw_seconds=0.5 if quick else 3.0,
        proof_samples=50 if quick else 200,
        lineage_samples=10 if quick else 200,
        bootstrap=a.bootstrap_servers,
        postgres=a.postgres or None,
        work_dir=a.work_dir,
        out_dir=a.out_dir,
        quick=quick,
        only=only,
        ledger_rows=rows,
        profile=a.profile,
        transports=transports,
        checkpoint_every=every,
        checkpoint_seconds=a.checkpoint_seconds,
    )


class Progress:
    """Timestamped progress lines on stderr; counts reported about every tenth."""

    def __init__(self, started: float) -> None:
        self.started = started

    def say(self, message: str) -> None:
        sys.stderr.write(f"[bench {time.monotonic() - self.started:7.1f}s] {message}\n")
        sys.stderr.flush()

    def counter(self, what: str, total: int) -> Any:
        done = [0, 0]

        def step(n: int) -> None:
            done[0] += n
            if done[0] * 10 // max(total, 1) > done[1] or done[0] >= total:
                done[1] = done[0] * 10 // max(total, 1)
                self.say(f"{what}: {done[0]:,}/{total:,}")

        return step


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    progress = Progress(opts.started)
    with work_dir(opts.work_dir) as work:
        results = run(opts, work, progress)
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = opts.out_dir / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(render_table(results) + "\n")
    progress.say(f"results written to {path}")


@contextlib.contextmanager
def work_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    path = Path(tempfile.mkdtemp(prefix="assetledger-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(opts: Options, work: Path, progress: Progress) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(opts), "options": options_json(opts)}
    count = corpus_size(opts)
    progress.say(f"building and signing {count:,} synthetic events on {opts.cores} processes")
    started = time.perf_counter()
    counter = progress.counter("signed", count)
    if opts.work_dir is None:
        corpus, reused = Corpus.build(work / "corpus.pickle", count, opts.cores, counter), False
    else:
        corpus, reused = Corpus.reuse_or_build(work / "corpus.pickle", count, opts.cores, counter)
    if reused:
        progress.say(f"  reused the corpus in {work}")
    results["corpus"] = {
        "events": count,
        "seconds": time.perf_counter() - started,
        "reused": reused,
    }
    progress.say("raw Ed25519 verify rate, one process and all cores")
    rates = raw_rates(corpus, opts)
    results["raw"] = {**rates.__dict__, "ceiling": rates.ceiling}
    if {"producer", "ingest"} & opts.only:
        results["broker"] = broker_runs(opts, corpus, work, progress)
    if "ledgers" in opts.only:
        results["ledgers"] = [ledger_run(opts, corpus, size, work, progress) for size in opts.sizes]
    if "postgres" in opts.only:
        results["postgres_append"] = postgres_append(opts, corpus, progress)
    results["ratios"] = ratios(results)
    return results


def corpus_size(opts: Options) -> int:
    """Events the selected parts read from the corpus (at least the raw-rate sample)."""
    needed = [1_000]
    if "ledgers" in opts.only or "postgres" in opts.only:
        needed += opts.sizes
    if "ingest" in opts.only:
        needed += [opts.ingest_events, opts.scale_events]
    if "producer" in opts.only:
        needed.append(opts.producer_events)
    return max(needed)


def profile_path(opts: Options, name: str) -> Path | None:
    """Where the py-spy profile of one run goes (None: not profiling)."""
    return None if opts.profile is None else opts.profile / f"{name}.txt"


def raw_rates(corpus: Corpus, opts: Options) -> raw.RawRates:
    first = next(corpus.chunks(1_000))
    raw_keys = {p.key_id: raw_public(p.public) for p in synth.signers().values()}
    return raw.measure(raw.sample_checks(first, raw_keys), opts.cores, opts.raw_seconds)


# --- through the broker ---------------------------------------------------------------------


@contextlib.contextmanager
def bootstrap(opts: Options, work: Path) -> Iterator[str]:
    if opts.bootstrap:
        yield opts.bootstrap
        return
    with LocalBroker(work_dir=work / "tansu", silent=True) as local:
        yield local.bootstrap_servers


def broker_runs(opts: Options, corpus: Corpus, work: Path, progress: Progress) -> dict[str, Any]:
    out: dict[str, Any] = {}
    run_id = uuid.uuid4().hex[:8]
    with bootstrap(opts, work) as servers:
        out["bootstrap"] = servers if opts.bootstrap else "local Tansu (in memory)"
        if "producer" in opts.only:
            out.update(producer_runs(opts, corpus, servers, run_id, progress))
        if "ingest" in opts.only:
            topic = f"bench-events-{run_id}"
            broker.create_topic(servers, topic, opts.partitions)
            fill = max(opts.ingest_events, opts.scale_events)
            progress.say(f"filling {topic} ({opts.partitions} partitions) with {fill:,} events")
            out["topic_fill"] = broker.fill_topic(
                servers, topic, corpus, fill, progress.counter("sent", fill)
            )
            out["ingest"] = ingest_runs(opts, servers, topic, work, progress)
    return out


def producer_runs(
    opts: Options, corpus: Corpus, servers: str, run_id: str, progress: Progress
) -> dict[str, Any]:
    """The Emitter, and right before it the same number of pre-signed records sent raw."""
    count = opts.producer_events
    raw_topic = f"bench-raw-send-{run_id}"
    broker.create_topic(servers, raw_topic, opts.partitions)
    progress.say(f"raw send: {count:,} pre-signed records, acks=all")
    raw_send = broker.fill_topic(servers, raw_topic, corpus, count)
    out: dict[str, Any] = {"raw_send": raw_send}
    runs: tuple[tuple[str, int | Literal["auto"]], ...] = (
        ("producer", 0),
        ("producer_pool", opts.cores),
        ("producer_auto", "auto"),
    )
    for name, signing in runs:
        producer_topic = f"bench-{name.replace('_', '-')}-{run_id}"
        broker.create_topic(servers, producer_topic, opts.partitions)
        progress.say(f"producer: {count:,} events with the Emitter, {signing} signing workers")
        with sampling(profile_path(opts, name)):
            out[name] = broker.producer_rate(servers, producer_topic, count, signing)
        progress.say(
            f"  {out[name]['per_second']:,.0f} events/s,"
            f" {out[name]['per_second'] / raw_send['per_second']:.2f} x raw send"
        )
    return out


def ingest_runs(
    opts: Options, servers: str, topic: str, work: Path, progress: Progress
) -> list[dict[str, Any]]:
    trusted = broker.write_trusted(work / "trusted")
    why_not = postgres.reachable(opts.postgres) if opts.postgres else "skipped (--postgres '')"
    if opts.scale_events <= 0:  # only the main ingest rows
        why_not = "skipped (--scale-events 0)"
    runs: list[tuple[str, str, int, int, int, int | None]] = []
    first = opts.checkpoint_every[0]
    for n, transport in enumerate(opts.transports):
        for every in opts.checkpoint_every:
            runs.append((transport, "sqlite", 1, opts.cores, opts.ingest_events, every))
        if n == 0 and opts.scale_events > 0:
            runs.append((transport, "sqlite", 1, 0, opts.scale_events, first))
        if why_not is None:
            runs += [
                (transport, "postgresql", 1, opts.cores, opts.scale_events, first),
                (transport, "postgresql", 2, max(1, opts.cores // 2), opts.scale_events, first),
            ]
    if why_not is not None:
        progress.say(f"PostgreSQL runs skipped: {why_not}")
    out: list[dict[str, Any]] = []
    for transport, backend, processes, workers, events, every in runs:
        label = f"{backend}, {processes} consumer(s) x {workers} verify worker(s)"
        if transport != "kafka-python":
            label += f", {transport}"
        name = f"ingest-{backend}-{processes}x{workers}"
        if transport != "kafka-python":
            name += f"-{transport}"
        if every == OFF:
            label += ", no log key (no checkpoint, no index update)"
            name += "-nocp"
        elif every is not None:
            label += f", checkpoint every {every:,}"
            name += f"-cp{every}"
        progress.say(f"ingest {events:,} events: {label}")
        with ledger_url(opts, backend, work) as url:
            log_key = init_ledger(url, work) if every != OFF else None
            specs = [
                broker.ConsumerSpec(
                    ledger=url,
                    topic=topic,
                    bootstrap=servers,
                    group=f"bench-{uuid.uuid4().hex[:8]}",
                    trusted=trusted,
                    log_key=log_key,
                    workers=workers,
                    batch_size=opts.batch_size,
                    log_file=work / f"consumer-{len(out)}-{i}.log",
                    profile=profile_path(opts, f"{name}-{i}"),
                    transport=transport,
                    checkpoint_every=every if every != OFF else None,
                    checkpoint_seconds=opts.checkpoint_seconds,
                )
                for i in range(processes)
            ]
            for spec in specs[1:]:
                spec.group = specs[0].group
            result = broker.run_ingest(label, backend, specs, events, timeout=3_600)
            out.append({**result.to_json(), **ledger_check(url)})
        progress.say(f"  {result.per_second:,.0f} events/s")
    if why_not is not None:
        out.append({"label": "postgresql", "skipped": why_not})
    return out


@contextlib.contextmanager
def ledger_url(opts: Options, backend: str, work: Path) -> Iterator[str]:
    if backend == "postgresql" and opts.postgres:
        with postgres.fresh_schema(opts.postgres) as dsn:
            yield dsn
        return
    path = work / f"ingest-{uuid.uuid4().hex[:8]}.db"
    try:
        yield str(path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def init_ledger(url: str, work: Path) -> Path:
    """A ledger with an origin and log key, so the consumer signs checkpoints as in production."""
    key_dir = work / f"logkey-{uuid.uuid4().hex[:8]}"
    pair = generate("log")
    private_path, _ = write_key_pair(pair, key_dir)
    with open_store(url) as store:
        operator.init_ledger(store, "bench.assetledger.example/ledger", pair)
    return private_path


def ledger_check(url: str) -> dict[str, Any]:
    """Ledger size, entries in order and the last checkpoint, after the run."""
    with open_store(url) as store:
        head = store.head()
        latest = store.latest_checkpoint()
        return {
            "ledger_size": head.size,
            "last_checkpoint_size": latest.size if latest else 0,
            "checkpoints": len(store.checkpoints()),
            "quarantine_rows": len(store.quarantine(limit=1000)),
        }


# --- ledgers built directly -----------------------------------------------------------------


def ledger_run(
    opts: Options, corpus: Corpus, size: int, work: Path, progress: Progress
) -> dict[str, Any]:
    """Build (or reuse) the ledger of ``size`` entries and measure the selected rows on it.

    A built ledger is made as ``init`` makes one (:func:`ledgers.give_identity`: log key, index
    rule, a key registry enrolling every signer, its entries first), then the corpus appended.
    With ``--work-dir`` it (no index, no checkpoint) is kept as ``ledger-<size>.db`` next to a
    ``.built`` mark, and the rows are measured on a copy: a later run (or several at once)
    reuses the ledger, skipping the append.  The copy is deleted, unless the index row built
    its index and no ``indexed-<size>.db`` is kept yet: it is kept as that (checkpoints every
    corpus chunk, the log key in ``logkey/``)."""
    rng = random.Random(opts.seed)
    built = work / f"ledger-{size}.db"
    mark = work / f"ledger-{size}.db.built"
    out: dict[str, Any] = Said(progress, size, {"size": size, "backend": "sqlite"})
    keep = opts.work_dir is not None
    if keep and mark.exists():
        progress.say(f"ledger of {size:,}: reusing {built}")
        out["append"] = {"reused": str(built)}
    else:
        _remove_db(built)
        mark.unlink(missing_ok=True)
        with open_store(str(built)) as store:
            registry = ledgers.give_identity(store)
            progress.say(f"ledger of {size:,}: appending in batches of {corpus_chunk()}")
            seconds = ledgers.append_all(store, corpus, size, progress.counter("appended", size))
        out["registry_entries"] = registry
        out["append"] = {
            "seconds": seconds,
            "us_per_entry": seconds / size * 1e6,
            "per_second": size / seconds,
        }
        if keep:
            mark.write_text(f"{size}\n", encoding="ascii")
    path = built
    if keep:
        path = work / f"ledger-{size}.measured-{os.getpid()}.db"  # runs may share a work dir
        _remove_db(path)
        progress.say(f"ledger of {size:,}: copying it to {path} to measure")
        shutil.copyfile(built, path)
    rows = opts.ledger_rows
    with open_store(str(path)) as store:
        expected = size + len(ledgers.enrolments(ledgers.root_key()))
        if store.head().size != expected:
            raise VerificationFailure(
                f"{built} holds {store.head().size:,} entries, not {expected:,}"
            )
        if "proofs" in rows:
            progress.say(f"ledger of {size:,}: root and inclusion proofs")
            out["proofs"] = ledgers.proof_latency(store, opts.proof_samples, rng)
        if "recompute" in rows:
            progress.say(f"ledger of {size:,}: full chain + tree recompute (hashing only)")
            out["recompute"] = ledgers.recompute(store)
        out.update(audit_runs(store, opts, rng, progress, size))
        if "index" in rows:
            progress.say(f"ledger of {size:,}: the authenticated index (update, proofs, audit)")
            out["index"] = index.index_runs(
                store,
                corpus_chunk(),
                min(opts.proof_samples, 50),
                rng,
                lambda name, value: progress.say(f"  [{size:,}] index {name}: {value}"),
                ledgers.log_key(),
                "replay" in rows,
            )
        if "verify" in rows:
            progress.say(f"ledger of {size:,}: verify_ledger with {opts.cores} workers")
            with sampling(profile_path(opts, f"verify-{size}")):
                out["verify"] = ledgers.verify_rate(store, synth.signers(), opts.cores)
            progress.say(f"  verify {out['verify']['per_second']:,.0f} signatures/s")
    out["file_mb"] = path.stat().st_size / 2**20
    indexed = work / f"indexed-{size}.db"
    if keep and "index" in rows and not indexed.exists():
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                Path(f"{path}{suffix}").rename(f"{indexed}{suffix}")
        if not (work / "logkey" / "bench-log.key").exists():
            write_key_pair(ledgers.log_key(), work / "logkey")
        progress.say(f"ledger of {size:,}: kept with its index as {indexed}")
    _remove_db(path)
    return out


class Said(dict[str, Any]):
    """A ledger's results, each also said on stderr as it is stored: a long run stopped
    before its JSON is written keeps the rows it measured."""

    def __init__(self, progress: Progress, size: int, first: dict[str, Any]) -> None:
        super().__init__(first)
        self.progress = progress
        self.size = size

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.progress.say(f"  [{self.size:,}] {key}: {json.dumps(value, sort_keys=True)}")

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def audit_runs(
    store: LedgerStore, opts: Options, rng: random.Random, progress: Progress, size: int
) -> dict[str, Any]:
    rows = opts.ledger_rows
    if not {"lineage", "credits", "episode_audit", "guard"} & rows:
        return {}
    state = ledgers.audit_state(store)
    out: dict[str, Any] = {}
    if "lineage" in rows:
        progress.say(f"ledger of {size:,}: lineage queries")
        out["lineage"] = ledgers.lineage_latency(store, state, opts.lineage_samples, rng)
    if "credits" in rows:
        progress.say(f"ledger of {size:,}: a credit report")
        out["credits"] = ledgers.credits_time(store, state)
    if "episode_audit" in rows:
        progress.say(f"ledger of {size:,}: IP audit of one episode")
        out["episode_audit"] = ledgers.episode_audit_time(store, state)
    if "guard" in rows:
        progress.say(f"ledger of {size:,}: audit guard")
        with sampling(profile_path(opts, f"guard-{size}")):
            out["audit_guard"] = ledgers.guard_time(store, state, None)
    return out


def corpus_chunk() -> int:
    from bench.corpus import CHUNK

    return CHUNK


def postgres_append(opts: Options, corpus: Corpus, progress: Progress) -> dict[str, Any]:
    """Append cost on PostgreSQL for the smallest size (the shared ledger of a scale-out)."""
    why_not = postgres.reachable(opts.postgres) if opts.postgres else "skipped"
    if why_not is not None:
        return {"skipped": why_not}
    size = min(opts.sizes)
    progress.say(f"PostgreSQL ledger of {size:,}: appending in batches of {corpus_chunk()}")
    with postgres.fresh_schema(opts.postgres or "") as dsn, open_store(dsn) as store:
        seconds = ledgers.append_all(store, corpus, size)
        proofs = ledgers.proof_latency(store, min(opts.proof_samples, 200), random.Random(1))
    return {
        "size": size,
        "seconds": seconds,
        "us_per_entry": seconds / size * 1e6,
        "per_second": size / seconds,
        "proofs": proofs,
    }


# --- summary ----------------------------------------------------------------------------------


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    ceiling = results["raw"]["ceiling"]
    out: dict[str, Any] = {"ceiling_per_second": ceiling}
    b = results.get("broker", {})
    if "producer" in b and "raw_send" in b:
        for name in ("producer", "producer_pool", "producer_auto"):
            if name in b:
                out[f"{name} / raw send"] = b[name]["per_second"] / b["raw_send"]["per_second"]
    for run in b.get("ingest", []):
        if "per_second" in run:
            out[f"ingest: {run['label']}"] = run["per_second"] / ceiling
    for ledger in results.get("ledgers", []):
        if "verify" in ledger:
            out[f"verify_ledger at {ledger['size']:,}"] = ledger["verify"]["per_second"] / ceiling
    return out


def machine(opts: Options) -> dict[str, Any]:
    import cryptography

    return {
        "cpu_count": os.cpu_count(),
        "cores_used": opts.cores,
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cryptography": cryptography.__version__,
        "kafka_crc32c": _crc32c(),
        "commit": _commit(),
        "load_average_at_start": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def options_json(opts: Options) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, frozenset) else v)
        for k, v in opts.__dict__.items()
        if k not in ("started", "postgres")
    } | {"postgres": bool(opts.postgres)}


def _crc32c() -> str:
    """Which CRC-32C kafka-python checks record batches with (pure Python costs ~180 us/event)."""
    from kafka.record import util

    return "C (crc32c package)" if util.crc32c_c is not None else "pure Python"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=RESULTS.parent.parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"
