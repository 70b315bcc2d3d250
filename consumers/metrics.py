"""What operators watch while the consumer runs: counters, gauges and batch latency.

:class:`ConsumerMetrics` is updated by :class:`consumers.runner.LedgerConsumer` after every
batch and renders itself in the Prometheus text exposition format (version 0.0.4).
:class:`MetricsServer` serves that text at ``/metrics`` on an optional HTTP port, from a
daemon thread (standard library only).  :meth:`ConsumerMetrics.batch_record` is the same
information for one batch as a JSON-ready dict, which the consumer logs as one line.

Every metric is listed, with its meaning, in ``docs/operations.md``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "assetledger_"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Partition = tuple[str, int]


@dataclass
class BatchOutcome:
    """What one batch did, as the consumer reports it."""

    records: int
    appended: int
    quarantined_by_reason: Mapping[str, int]
    duplicates: int
    stale: int
    seconds: float
    ledger_size: int


@dataclass
class Histogram:
    """Cumulative bucket counts, sum and count (a Prometheus histogram)."""

    bounds: Sequence[float] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str) -> list[str]:
        buckets = [
            f'{name}_bucket{{le="{_number(b)}"}} {c}'
            for b, c in zip(self.bounds, self.counts, strict=True)
        ]
        return [
            *buckets,
            f'{name}_bucket{{le="+Inf"}} {self.count}',
            f"{name}_sum {_number(self.total)}",
            f"{name}_count {self.count}",
        ]


class ConsumerMetrics:
    """Thread-safe counters and gauges of one consumer process."""

    def __init__(self, workers: int = 0) -> None:
        self._lock = threading.Lock()
        self.workers = workers
        self.records = 0
        self.ingested = 0
        self.duplicates = 0
        self.stale = 0
        self.batches = 0
        self.quarantined: dict[str, int] = {}
        self.latency = Histogram()
        self.ledger_size = 0
        self.last_checkpoint_size = 0
        self.last_batch_time = 0.0
        self.lag: dict[Partition, int] = {}
        self.witness_sizes: dict[str, int] = {}
        self.dead_letter_truncated = 0
        self.dead_letter_failed = 0
        self.registry_syncs = 0

    # --- updates -------------------------------------------------------------------------------
    def observe_batch(self, outcome: BatchOutcome) -> None:
        with self._lock:
            self.batches += 1
            self.records += outcome.records
            self.ingested += outcome.appended
            self.duplicates += outcome.duplicates
            self.stale += outcome.stale
            for reason, n in outcome.quarantined_by_reason.items():
                self.quarantined[reason] = self.quarantined.get(reason, 0) + n
            self.latency.observe(outcome.seconds)
            self.ledger_size = outcome.ledger_size
            self.last_batch_time = time.time()

    def dead_letter_was_truncated(self) -> None:
        with self._lock:
            self.dead_letter_truncated += 1

    def dead_letter_has_failed(self) -> None:
        with self._lock:
            self.dead_letter_failed += 1

    def set_checkpoint(self, size: int) -> None:
        with self._lock:
            self.last_checkpoint_size = size

    def set_witnesses(self, sizes: Mapping[str, int]) -> None:
        """The largest checkpoint size each witness has cosigned, by witness name."""
        with self._lock:
            self.witness_sizes = dict(sizes)

    def set_registry_syncs(self, syncs: int) -> None:
        with self._lock:
            self.registry_syncs = syncs

    def set_lag(self, lag: Mapping[Partition, int]) -> None:
        """Replace the per-partition lag (partitions no longer assigned disappear)."""
        with self._lock:
            self.lag = {tp: max(n, 0) for tp, n in lag.items()}

    # --- output --------------------------------------------------------------------------------
    def render(self) -> str:
        """The Prometheus text exposition format, one block per metric."""
        with self._lock:
            blocks = [
                _counter("events_ingested_total", "Events appended to the ledger.", self.ingested),
                _labelled(
                    "events_quarantined_total",
                    "counter",
                    "Records refused (dead-lettered and kept in the quarantine), by reason.",
                    [({"reason": r}, n) for r, n in sorted(self.quarantined.items())],
                ),
                _counter(
                    "duplicates_skipped_total",
                    "Events whose id was already in the ledger (also counted as quarantined).",
                    self.duplicates,
                ),
                _counter(
                    "stale_records_skipped_total",
                    "Records below the ledger's stored offset (already ingested).",
                    self.stale,
                ),
                _counter(
                    "dead_letter_truncated_total",
                    "Dead-letter copies sent bounded (the original did not fit the topic).",
                    self.dead_letter_truncated,
                ),
                _counter(
                    "dead_letter_failed_total",
                    "Refused records the dead-letter topic did not take (kept in the quarantine).",
                    self.dead_letter_failed,
                ),
                _counter("records_consumed_total", "Kafka records processed.", self.records),
                _counter("batches_total", "Batches committed to the ledger.", self.batches),
                _counter(
                    "registry_syncs_total",
                    "Key-registry topic read up to a fresh sync marker before judging a record.",
                    self.registry_syncs,
                ),
                _histogram(
                    "batch_duration_seconds",
                    "Time from a polled batch to its committed append.",
                    self.latency,
                ),
                _labelled(
                    "consumer_lag",
                    "gauge",
                    "Records on the broker not yet in the ledger, per assigned partition.",
                    [
                        ({"topic": t, "partition": str(p)}, n)
                        for (t, p), n in sorted(self.lag.items())
                    ],
                ),
                _gauge("ledger_size", "Ledger entries after the last batch.", self.ledger_size),
                _gauge(
                    "last_checkpoint_size",
                    "Tree size of the last checkpoint this consumer signed.",
                    self.last_checkpoint_size,
                ),
                _labelled(
                    "witness_cosigned_size",
                    "gauge",
                    "Largest checkpoint size each witness has cosigned (compare with"
                    " last_checkpoint_size: a witness far behind is down or refusing).",
                    [({"witness": w}, n) for w, n in sorted(self.witness_sizes.items())],
                ),
                _gauge(
                    "last_batch_timestamp_seconds",
                    "Unix time of the last committed batch.",
                    self.last_batch_time,
                ),
                _gauge("verify_workers", "Signature verification processes.", self.workers),
            ]
        return "".join("\n".join(b) + "\n" for b in blocks)

    def batch_record(self, outcome: BatchOutcome) -> dict[str, Any]:
        """One structured log line's content for a batch (JSON-ready)."""
        with self._lock:
            lag = sum(self.lag.values()) if self.lag else None
            return {
                "event": "batch",
                "records": outcome.records,
                "appended": outcome.appended,
                "quarantined": dict(outcome.quarantined_by_reason),
                "duplicates": outcome.duplicates,
                "stale": outcome.stale,
                "seconds": round(outcome.seconds, 6),
                "events_per_second": round(outcome.records / outcome.seconds, 1)
                if outcome.seconds > 0
                else None,
                "ledger_size": outcome.ledger_size,
                "last_checkpoint_size": self.last_checkpoint_size,
                "lag": lag,
                "total_ingested": self.ingested,
                "registry_syncs": self.registry_syncs,
            }


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]


def _counter(name: str, help_text: str, value: float) -> list[str]:
    return [*_header(name, "counter", help_text), f"{PREFIX}{name} {_number(value)}"]


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    return [*_header(name, "gauge", help_text), f"{PREFIX}{name} {_number(value)}"]


def _histogram(name: str, help_text: str, histogram: Histogram) -> list[str]:
    return [*_header(name, "histogram", help_text), *histogram.lines(PREFIX + name)]


def _labelled(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
) -> list[str]:
    lines = _header(name, kind, help_text)
    for labels, value in samples:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{PREFIX}{name}{{{text}}} {_number(value)}")
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Handler(BaseHTTPRequestHandler):
    metrics: ConsumerMetrics

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            self.send_error(404, "only /metrics is served")
            return
        body = self.metrics.render().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        return None


class MetricsServer:
    """Serve ``metrics`` at ``http://HOST:PORT/metrics`` from a daemon thread.

    ``port=0`` lets the OS pick a free port (read it back from :attr:`port`).
    """

    def __init__(self, metrics: ConsumerMetrics, port: int, host: str = "0.0.0.0") -> None:
        handler = type("MetricsHandler", (_Handler,), {"metrics": metrics})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="assetledger-metrics", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
