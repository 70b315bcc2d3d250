"""Through the real broker: producer throughput, and the consumer CLI ingesting a full topic.

Each ingest run starts ``python -m cli consume`` processes (the product's command, with its
metrics port), scrapes their Prometheus endpoints and samples ``/proc`` for memory.  The rate
is taken between 10% and 90% of the target, when every process is running: group joins
and rebalances at the start and the last partition's tail at the end are left out (both are
reported as ``wall_seconds`` too).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kafka import KafkaProducer

from bench.corpus import Corpus
from bench.profile import Sampler
from bench.synth import SOURCE, event, signers
from demo.localbroker import ensure_topics, free_port
from ledger.errors import BrokerError
from ledger.events import kafka as k
from ledger.trust.keys import public_pem
from producers.emitter import Emitter

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.25
Progress = Callable[[int], None]


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    ensure_topics(
        bootstrap,
        {
            topic: partitions,
            k.dlt_topic(topic): 1,
            k.checkpoint_topic(topic): 1,
            k.registry_topic(topic): 1,
        },
    )


def producer_rate(
    bootstrap: str, topic: str, count: int, signing_workers: int | Literal["auto"] = 0
) -> dict[str, Any]:
    """The product's Emitter: build, sign, send and wait for every acknowledgement.

    One ``emit_many`` call over all events (it pipelines: sends while it signs, waits for the
    acknowledgements at the end); ``signing_workers`` processes sign when given.  The time
    starts once the emitter is connected and its workers are up, as in a long-running tool;
    with ``"auto"`` the workers start inside the timed ``emit_many`` (the default's first
    large batch), and their start is in their CPU.
    """
    pair = signers()["ws-jokafor"]
    events = [event(i)[1] for i in range(count)]  # the tool's work, not the Emitter's
    with Emitter(
        bootstrap, pair, topic=topic, source=SOURCE, signing_workers=signing_workers
    ) as emitter:  # connected and its workers started: a long-running tool's state
        workers_before = {pid: cpu_seconds(pid) for pid in emitter.signing_pids()}
        cpu = _own_cpu()
        started = time.perf_counter()
        emitter.emit_many(events)
        seconds = time.perf_counter() - started
        cpu = _own_cpu() - cpu
        workers = sum(
            cpu_seconds(pid) - workers_before.get(pid, 0.0) for pid in emitter.signing_pids()
        )
    return {
        "events": count,
        "signing_workers": signing_workers,
        "seconds": seconds,
        "per_second": count / seconds,
        # this process, all its threads (the Kafka client's I/O thread too); not the pool's
        "cpu_us_per_event": cpu / count * 1e6,
        "workers_cpu_us_per_event": workers / count * 1e6,  # the signing pool's processes
    }


def _own_cpu() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def fill_topic(
    bootstrap: str, topic: str, corpus: Corpus, count: int, progress: Progress | None = None
) -> dict[str, Any]:
    """Send pre-signed corpus records (acks=all, idempotent) and wait for every ack."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    cpu = _own_cpu()
    started = time.perf_counter()
    try:
        for chunk in corpus.chunks(count):
            futures = [
                producer.send(
                    topic, key=b.message.key, value=b.message.value, headers=b.message.headers
                )
                for b in chunk
            ]
            producer.flush()
            for f in futures:
                f.get(timeout=60)
            if progress:
                progress(len(chunk))
    finally:
        producer.close(timeout=10)
    seconds = time.perf_counter() - started
    cpu = _own_cpu() - cpu  # reading the corpus's pickles is in it: a few us per record
    return {
        "events": count,
        "seconds": seconds,
        "per_second": count / seconds,
        "cpu_us_per_event": cpu / count * 1e6,
    }


def write_trusted(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, pair in signers().items():
        (folder / f"{name}.pub").write_bytes(public_pem(pair.public))
    return folder


@dataclass
class ConsumerSpec:
    ledger: str
    topic: str
    bootstrap: str
    group: str
    trusted: Path
    log_key: Path | None
    workers: int
    batch_size: int
    log_file: Path
    profile: Path | None = None  # py-spy raw profile of the process and its workers
    transport: str = "kafka-python"  # consume --transport
    checkpoint_every: int | None = None  # consume --checkpoint-every (None: its default)
    checkpoint_seconds: float | None = None  # consume --checkpoint-seconds (None: its default)


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    peak_pss_total: int = 0  # bytes: the process and its workers, shared pages counted once
    cpu_main: float = 0.0  # seconds of CPU (user + system) of the consumer process, last seen
    cpu_workers: dict[int, float] = field(default_factory=dict)  # per worker pid, last seen


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_consumer(spec: ConsumerSpec) -> Running:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "cli",
        "consume",
        *("--trusted-keys", str(spec.trusted), "--ledger", spec.ledger),
        *("--bootstrap-servers", spec.bootstrap, "--topic", spec.topic, "--group", spec.group),
        *("--workers", str(spec.workers), "--batch-size", str(spec.batch_size)),
        *("--metrics-port", str(port), "--until-idle", "120", "--session-timeout-ms", "6000"),
        *(("--log-key", str(spec.log_key)) if spec.log_key else ()),
        *(("--transport", spec.transport) if spec.transport != "kafka-python" else ()),
        *(("--checkpoint-every", str(spec.checkpoint_every)) if spec.checkpoint_every else ()),
        *(
            ("--checkpoint-seconds", str(spec.checkpoint_seconds))
            if spec.checkpoint_seconds is not None
            else ()
        ),
    ]
    log = spec.log_file.open("ab")
    proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return Running(proc, port)


def scrape(port: int) -> dict[str, float]:
    """The unlabelled samples of a consumer's /metrics (labelled ones summed by name)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        values[base] = values.get(base, 0.0) + float(value)
    return values


def status_kb(pid: int, field_name: str, source: str = "status") -> int:
    """A kB field of /proc/PID/status (or smaps_rollup); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (the forkserver and the verification workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found.extend(children)
        queue.extend(children)
    return found


@dataclass
class IngestResult:
    label: str
    backend: str
    processes: int
    workers_per_process: int
    target: int
    ingested: int = 0
    quarantined: int = 0
    wall_seconds: float = 0.0
    steady_seconds: float = 0.0
    per_second: float = 0.0
    peak_rss_main_mb: list[float] = field(default_factory=list)
    peak_pss_total_mb: list[float] = field(default_factory=list)
    # [events ingested, the consumers' largest VmHWM in MB] at each tenth of the target
    rss_growth: list[tuple[int, float]] = field(default_factory=list)
    # CPU per ingested event over the whole run (startup included), load-independent
    cpu_us_main: float = 0.0
    cpu_us_workers: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_ingest(
    label: str, backend: str, specs: Sequence[ConsumerSpec], target: int, timeout: float
) -> IngestResult:
    """Start the consumers, wait until ``target`` events are in the ledger, stop them."""
    result = IngestResult(label, backend, len(specs), specs[0].workers, target)
    running = [start_consumer(s) for s in specs]
    samplers = [
        Sampler(r.proc.pid, s.profile, subprocesses=True)
        for r, s in zip(running, specs, strict=True)
        if s.profile is not None
    ]
    started = time.monotonic()
    marks: dict[float, float] = {}
    try:
        while result.ingested < target:
            _check_alive(running, specs)
            if time.monotonic() - started > timeout:
                raise BrokerError(f"{label}: only {result.ingested} of {target} in {timeout:.0f} s")
            time.sleep(SAMPLE_SECONDS)
            samples = [scrape(r.port) for r in running]
            result.ingested = int(
                sum(s.get("assetledger_events_ingested_total", 0) for s in samples)
            )
            result.quarantined = int(
                sum(s.get("assetledger_events_quarantined_total", 0) for s in samples)
            )
            _sample_memory(running, result)
            tenth = len(result.rss_growth) + 1
            if tenth <= 10 and result.ingested >= tenth * target / 10:
                result.rss_growth.append((result.ingested, max(result.peak_rss_main_mb)))
            now = time.monotonic()
            for fraction in (0.1, 0.9):
                if fraction not in marks and result.ingested >= fraction * target:
                    marks[fraction] = now
        result.wall_seconds = time.monotonic() - started
    finally:
        _stop(running)
        for sampler in samplers:
            sampler.stop()
    events = max(result.ingested, 1)
    result.cpu_us_main = sum(r.cpu_main for r in running) / events * 1e6
    result.cpu_us_workers = sum(sum(r.cpu_workers.values()) for r in running) / events * 1e6
    result.steady_seconds = marks[0.9] - marks[0.1]
    if result.steady_seconds > 0:
        result.per_second = 0.8 * target / result.steady_seconds
    else:  # too small a run to have a steady window
        result.per_second = result.ingested / result.wall_seconds
    return result


def _check_alive(running: Sequence[Running], specs: Sequence[ConsumerSpec]) -> None:
    for r, spec in zip(running, specs, strict=True):
        if r.proc.poll() is not None:
            tail = spec.log_file.read_text(errors="replace")[-2000:]
            raise BrokerError(f"consumer exited with {r.proc.returncode}:\n{tail}")


def _sample_memory(running: Sequence[Running], result: IngestResult) -> None:
    """Peak RSS of each consumer process, and peak PSS of it plus its forked workers.

    The workers share most of their pages with the consumer (fork, copy on write), so adding
    their RSS would count those pages twice; PSS divides each shared page among its users.
    """
    for r in running:
        workers = descendants(r.proc.pid)
        pids = [r.proc.pid, *workers]
        total = sum(status_kb(p, "Pss", "smaps_rollup") for p in pids) * 1024
        r.peak_pss_total = max(r.peak_pss_total, total)
        r.cpu_main = max(r.cpu_main, cpu_seconds(r.proc.pid))
        for w in workers:
            r.cpu_workers[w] = max(r.cpu_workers.get(w, 0.0), cpu_seconds(w))
    result.peak_pss_total_mb = [r.peak_pss_total / 2**20 for r in running]
    result.peak_rss_main_mb = [status_kb(r.proc.pid, "VmHWM") / 1024 for r in running]


def _stop(running: Sequence[Running]) -> None:
    for r in running:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGTERM)
    for r in running:
        try:
            r.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(r.proc.pid, signal.SIGKILL)
            r.proc.wait()
