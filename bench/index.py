"""The authenticated index on a benchmark ledger: its update cost per entry, proof size and
verification time, an episode audit read through it, and the replay of every committed root.

Ratios are measured in one run: the index update per entry against ``store.append`` per entry
(the ingest-side cost it adds), the indexed episode audit against the linear guard it replaces.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench.synth import episode_of
from demo.story import SHOW
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.errors import VerificationFailure
from ledger.events.encoding import reader_framing
from ledger.index import production_key, prove_about, verify_about
from ledger.index.maintain import entry_keys, update_index
from ledger.index.proof import parse_about
from ledger.index.replay import monitor
from ledger.log import operator
from ledger.store import LedgerStore
from ledger.trust.keys import generate

ORIGIN = "bench.example/ledger"


def update_cost(store: LedgerStore, step: int) -> dict[str, Any]:
    """Extend the index over the ledger ``step`` entries at a time (as checkpoints would), each
    step with the keys of its entries handed over as the consumer hands them (derived by its
    verify workers, kept by ``store.append``): the update decodes nothing.  The keys are derived
    before the clock starts, as a consumer's workers derive them off the appending process.
    Wall and CPU time (the machine may be shared)."""
    size = store.head().size
    spent = cpu = 0.0
    framing = reader_framing()
    for start in range(0, size, step):
        stop = min(start + step, size)
        carried = {
            e.seq: tuple(entry_keys(e.envelope, framing)) for e in store.entries(start, stop)
        }
        store.keep_index_keys(carried)
        started, started_cpu = time.perf_counter(), time.process_time()
        update_index(store, stop)
        spent += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
    return {
        "entries": size,
        "step": step,
        "seconds": spent,
        "cpu_seconds": cpu,
        "us_per_entry": spent / size * 1e6,
        "cpu_us_per_entry": cpu / size * 1e6,
        "keys": "carried",
    }


def sign(store: LedgerStore) -> str:
    """A log identity and a checkpoint committing to the index; the log's vkey."""
    log_key = generate("bench-log")
    identity = operator.init_ledger(store, ORIGIN, log_key)
    if operator.Checkpointer(store, log_key).checkpoint() is None:
        raise VerificationFailure("no checkpoint was signed over the benchmark ledger")
    return identity.vkey


def proof_costs(store: LedgerStore, vkey: str, keys: list[str]) -> dict[str, Any]:
    """Proofs about keys with a few entries: map part bytes, whole proof bytes, verify time."""
    map_bytes, total_bytes, verify_s, entries = [], [], [], []
    for key in keys:
        text = prove_about(store, key)
        head = text.split("\n\n")[0].split("\n")
        map_part = [line for line in head if not line.startswith("entry ")]
        proof = parse_about(text)
        inclusion = sum(len(e.proof) for e in proof.entries)
        map_bytes.append(sum(len(line) + 1 for line in map_part) - inclusion * 45)
        total_bytes.append(len(text.encode()))
        started = time.perf_counter()
        verdict = verify_about(text, vkey)
        verify_s.append(time.perf_counter() - started)
        entries.append(len(verdict.indices))
    return {
        "samples": len(keys),
        "entries_median": statistics.median(entries),
        "map_part_bytes_median": statistics.median(map_bytes),
        "map_part_bytes_max": max(map_bytes),
        "proof_bytes_median": statistics.median(total_bytes),
        "verify_ms_median": statistics.median(verify_s) * 1000,
        "verify_ms_max": max(verify_s) * 1000,
    }


def version_keys(store: LedgerStore, samples: int, rng: random.Random) -> list[str]:
    """``version:`` keys of random entries (an asset version: one to a few entries)."""
    size = store.head().size
    keys = []
    for seq in rng.sample(range(size), min(samples, size)):
        entry = store.entry(seq)
        assert entry is not None
        keys += [k for k in entry_keys(entry.envelope) if k.startswith("version:")][:1]
    return keys


def episode_audit(store: LedgerStore) -> dict[str, Any]:
    """Open a view (through the index: no linear pass) and audit one episode."""
    episode = episode_of(0)
    started = time.perf_counter()
    view = LedgerView.open(store)
    opened = time.perf_counter() - started
    if view.index is None:
        raise VerificationFailure("the benchmark view does not read through the index")
    result = run_audit(view, Scope(SHOW, episode))
    seconds = time.perf_counter() - started
    events = len(view.index.key(production_key(SHOW, episode)))
    return {
        "episode": episode,
        "events": events,
        "audited": len(result.steps),
        "findings": len(result.findings),
        "open_seconds": opened,
        "seconds": seconds,
    }


def replay(store: LedgerStore) -> dict[str, Any]:
    started = time.perf_counter()
    report = monitor(store)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise VerificationFailure(f"the index replay disagrees: {report.findings[0].detail}")
    return {"entries": report.size, "roots_checked": report.roots_checked, "seconds": seconds}


def index_runs(store: LedgerStore, step: int, samples: int, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"update": update_cost(store, step)}
    vkey = sign(store)
    out["proofs"] = proof_costs(store, vkey, version_keys(store, samples, rng))
    out["episode_audit"] = episode_audit(store)
    out["replay"] = replay(store)
    return out
