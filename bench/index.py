"""The authenticated index on a benchmark ledger: its update cost per entry, proof size and
verification time, an episode audit read through it, and the replay of every committed root.

Ratios are measured in one run: the index update per entry against ``store.append`` per entry
(the ingest-side cost it adds), the indexed episode audit against the linear guard it replaces.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.ledgers import ORIGIN
from bench.synth import episode_of
from demo.story import SHOW
from ledger.audit.ip import Scope, run_audit
from ledger.audit.model import LedgerView
from ledger.errors import VerificationFailure
from ledger.events.encoding import reader_framing
from ledger.index import production_key, prove_about, verify_about
from ledger.index.maintain import (
    META_INDEX_RULE,
    NEW_LEDGER_RULE,
    entry_keys,
    extension_line,
    index_rule,
    update_index,
)
from ledger.index.proof import parse_about
from ledger.index.replay import monitor
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.store import LedgerStore, StoredCheckpoint
from ledger.trust.keys import KeyPair, generate


def update_cost(store: LedgerStore, step: int, log_key: KeyPair | None = None) -> dict[str, Any]:
    """Extend the index over the ledger ``step`` entries at a time (as checkpoints would), each
    step with the keys of its entries handed over as the consumer hands them (derived by its
    verify workers, kept by ``store.append``): the update decodes nothing.  The keys are derived
    before the clock starts, as a consumer's workers derive them off the appending process.
    Wall and CPU time (the machine may be shared).

    With ``log_key`` (a log identity already in the store), a checkpoint committing to the
    index is signed at every step, untimed, as the consumer does: the replay then has a
    committed root to check every ``step`` entries."""
    size = store.head().size
    spent = cpu = 0.0
    signed = 0
    framing = reader_framing()
    origin = operator.require_identity(store).origin if log_key else ""
    rule = index_rule(store)
    for start in range(0, size, step):
        at = min(start + step, size)
        carried = {
            e.seq: tuple(entry_keys(e.envelope, framing, rule)) for e in store.entries(start, at)
        }
        store.keep_index_keys(carried)
        started, cpu_started = time.perf_counter(), time.process_time()
        head = update_index(store, at)
        spent += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        if log_key is not None:
            _checkpoint(store, origin, log_key, at, head.root)
            signed += 1
    return {
        "entries": size,
        "step": step,
        "seconds": spent,
        "cpu_seconds": cpu,
        "us_per_entry": spent / size * 1e6,
        "cpu_us_per_entry": cpu / size * 1e6,
        "keys": "carried",
        "checkpoints": signed,
    }


def _checkpoint(store: LedgerStore, origin: str, log_key: KeyPair, size: int, root: bytes) -> None:
    """Sign and store a checkpoint of the first ``size`` entries with the index root ``root``
    (what ``Checkpointer.checkpoint`` does at the head, here at any size)."""
    line = extension_line(root, index_rule(store))
    body = cp.Checkpoint(origin, size, store.tree(size).root(), (line,))
    note = cp.signed_checkpoint(body, origin, log_key.private)
    store.add_checkpoint(StoredCheckpoint(size, body.root_hash, note, datetime.now(UTC)))


def sign(
    store: LedgerStore, rule: str = NEW_LEDGER_RULE, log_key: KeyPair | None = None
) -> tuple[str, KeyPair]:
    """A log identity in the store (``log_key``, the one it has, or a new key); its vkey and
    key.  A benchmark ledger whose entries were appended before it had an identity gets index
    rule ``rule``, as a ledger made by ``init`` would."""
    if store.get_meta(META_INDEX_RULE) is None and store.index_tables().head()[0] == 0:
        store.set_meta(META_INDEX_RULE, rule)
    log_key = log_key or generate("bench-log")
    identity = operator.init_ledger(store, ORIGIN, log_key)
    return identity.vkey, log_key


def sign_head(store: LedgerStore, log_key: KeyPair) -> None:
    """A checkpoint at the head committing to the index (a no-op when one is there)."""
    latest = store.latest_checkpoint()
    if latest is not None and latest.size == store.head().size:
        return
    if operator.Checkpointer(store, log_key).checkpoint() is None:
        raise VerificationFailure("no checkpoint was signed over the benchmark ledger")


def proof_costs(store: LedgerStore, vkey: str, keys: list[str]) -> dict[str, Any]:
    """Proofs about keys with a few entries: map part bytes, whole proof bytes, verify time."""
    map_bytes, total_bytes, verify_s, verify_cpu, entries = [], [], [], [], []
    for key in keys:
        text = prove_about(store, key)
        head = text.split("\n\n")[0].split("\n")
        map_part = [line for line in head if not line.startswith("entry ")]
        proof = parse_about(text)
        inclusion = sum(len(e.proof) for e in proof.entries)
        map_bytes.append(sum(len(line) + 1 for line in map_part) - inclusion * 45)
        total_bytes.append(len(text.encode()))
        started, cpu_started = time.perf_counter(), time.process_time()
        verdict = verify_about(text, vkey)
        verify_s.append(time.perf_counter() - started)
        verify_cpu.append(time.process_time() - cpu_started)
        entries.append(len(verdict.indices))
    return {
        "samples": len(keys),
        "entries_median": statistics.median(entries),
        "map_part_bytes_median": statistics.median(map_bytes),
        "map_part_bytes_max": max(map_bytes),
        "proof_bytes_median": statistics.median(total_bytes),
        "verify_ms_median": statistics.median(verify_s) * 1000,
        "verify_ms_max": max(verify_s) * 1000,
        "verify_cpu_ms_median": statistics.median(verify_cpu) * 1000,
    }


def version_keys(store: LedgerStore, samples: int, rng: random.Random) -> list[str]:
    """``version:`` keys of random entries (an asset version: one to a few entries)."""
    size = store.head().size
    keys = []
    for seq in rng.sample(range(size), min(samples, size)):
        entry = store.entry(seq)
        assert entry is not None
        keys += [
            k
            for k in entry_keys(entry.envelope, rule=index_rule(store))
            if k.startswith("version:")
        ][:1]
    return keys


def episode_audit(store: LedgerStore) -> dict[str, Any]:
    """Open a view (through the index: no linear pass) and audit one episode."""
    episode = episode_of(0)
    started, cpu_started = time.perf_counter(), time.process_time()
    view = LedgerView.open(store)
    opened = time.perf_counter() - started
    if view.index is None:
        raise VerificationFailure("the benchmark view does not read through the index")
    result = run_audit(view, Scope(SHOW, episode))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    events = len(view.index.key(production_key(SHOW, episode)))
    return {
        "episode": episode,
        "events": events,
        "audited": len(result.steps),
        "findings": len(result.findings),
        "open_seconds": opened,
        "seconds": seconds,
        "cpu_seconds": cpu,
    }


def replay(store: LedgerStore) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), time.process_time()
    report = monitor(store)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if not report.ok:
        raise VerificationFailure(f"the index replay disagrees: {report.findings[0].detail}")
    return {
        "entries": report.size,
        "roots_checked": report.roots_checked,
        "seconds": seconds,
        "us_per_entry": seconds / max(report.size, 1) * 1e6,
        "cpu_seconds": cpu,
    }


def index_runs(
    store: LedgerStore,
    step: int,
    samples: int,
    rng: random.Random,
    say: Callable[[str, dict[str, Any]], None] | None = None,
    log_key: KeyPair | None = None,
    replay_all: bool = True,
) -> dict[str, Any]:
    """Every index row (the replay of every committed root only if ``replay_all``), the
    checkpoints signed with ``log_key`` (default: a new key); ``say`` hears each row as soon
    as it is measured."""
    out: dict[str, Any] = {}

    def keep(name: str, value: dict[str, Any]) -> None:
        out[name] = value
        if say is not None:
            say(name, value)

    vkey, log_key = sign(store, log_key=log_key)
    keep("update", update_cost(store, step, log_key))
    sign_head(store, log_key)
    keep("proofs", proof_costs(store, vkey, version_keys(store, samples, rng)))
    keep("episode_audit", episode_audit(store))
    if replay_all:
        keep("replay", replay(store))
    return out
