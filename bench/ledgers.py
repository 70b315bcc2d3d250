"""Measurements on ledgers of a given size, built directly (not through Kafka).

Entries are appended with ``store.append`` in batches of one corpus chunk, exactly as the
consumer appends (leaf hash, chain hash, Merkle nodes, index rows, offsets in one transaction),
without the Kafka and signature work in front of it.
"""

from __future__ import annotations

import random
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bench import synth
from bench.corpus import Corpus
from bench.synth import Built, episode_of, final_ids
from demo.story import SHOW
from ledger.audit.credits import credit_report
from ledger.audit.ip import Scope, run_audit
from ledger.audit.lineage import build as build_lineage
from ledger.audit.model import LedgerView, TreeState, tree_state
from ledger.errors import VerificationFailure
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.log import operator
from ledger.log.merkle import compute_root, leaf_hash, verify_inclusion
from ledger.log.verify import check_prefix, verify_ledger
from ledger.store import Batch, LedgerStore, Origin, PendingEntry
from ledger.store.base import GENESIS_CHAIN, chain_hash
from ledger.trust.keys import KeyPair
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import build_message

TOPIC = "bench.direct"
GROUP = "bench-direct"
REGISTRY_TOPIC = "bench.registry"
ORIGIN = "bench.example/ledger"
Progress = Callable[[int], None]


def pending(chunk: Sequence[Built], first_offset: int, topic: str = TOPIC) -> list[PendingEntry]:
    """The store's entries of pre-signed corpus events, at offsets ``first_offset``… of
    partition 0 of ``topic``."""
    return [
        PendingEntry(
            event_id=b.message.event_id,
            kind="provenance_event",
            event_time=b.event_time,
            envelope=b.message.value,
            signer_keyid=b.signer_keyid,
            origin=Origin(topic, 0, first_offset + i),
            refs=b.refs,
        )
        for i, b in enumerate(chunk)
    ]


def root_key() -> KeyPair:
    """The key registry's root key of the benchmark ledgers (derived from its name, as the
    signers' keys are: bench only)."""
    return synth.signer("bench-root")


def log_key() -> KeyPair:
    """The log key of the benchmark ledgers (derived from its name: bench only)."""
    return synth.signer("bench-log")


def enrolments(root: KeyPair, topic: str = REGISTRY_TOPIC) -> list[PendingEntry]:
    """Key registry entries enrolling every synthetic signer, signed by ``root``, at offsets
    0… of partition 0 of ``topic``."""
    out = []
    for i, (name, pair) in enumerate(sorted(synth.signers().items())):
        when = datetime.now(UTC)
        event = enroll_event(
            f"service:bench-{name}", "software", name, pair.public, event_time=when
        )
        message = build_message(event, root, kind=KEY_REGISTRY, source=synth.SOURCE)
        out.append(
            PendingEntry(
                event_id=message.event_id,
                kind=KEY_REGISTRY.record,
                event_time=when,
                envelope=message.value,
                signer_keyid=root.key_id,
                origin=Origin(topic, 0, i),
                refs=tuple(KEY_REGISTRY.refs(event)),
            )
        )
    return out


def give_identity(store: LedgerStore) -> int:
    """Make a new benchmark ledger as ``init`` would (origin and log key :func:`log_key`, so
    the newest index rule) with a key registry (root :func:`root_key`) enrolling every
    synthetic signer: packets from it verify with ``--trust-root``.  Returns the registry's
    entries (appended first)."""
    root = root_key()
    set_roots(store, [RootKey("bench-root", root.public)])
    operator.init_ledger(store, ORIGIN, log_key())
    entries = enrolments(root)
    store.append(Batch(entries, [], {(REGISTRY_TOPIC, 0): len(entries)}, GROUP))
    return len(entries)


def append_all(
    store: LedgerStore, corpus: Corpus, size: int, progress: Progress | None = None
) -> float:
    """Append the first ``size`` corpus events; seconds spent inside ``store.append``."""
    spent = 0.0
    offset = 0
    for chunk in corpus.chunks(size):
        entries = pending(chunk, offset)
        offset += len(entries)
        batch = Batch(entries, [], {(TOPIC, 0): offset}, GROUP)
        started = time.perf_counter()
        store.append(batch)
        spent += time.perf_counter() - started
        if progress:
            progress(len(entries))
    return spent


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(values) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values) * 1000,
    }


def proof_latency(store: LedgerStore, samples: int, rng: random.Random) -> dict[str, Any]:
    """Root and inclusion proof at the head, for random entries; every proof is checked."""
    size = store.head().size
    roots, proofs = [], []
    for _ in range(samples):
        index = rng.randrange(size)
        started = time.perf_counter()
        tree = store.tree(size)
        root = tree.root()
        middle = time.perf_counter()
        proof = tree.inclusion_proof(index, size)
        done = time.perf_counter()
        roots.append(middle - started)
        proofs.append(done - middle)
        entry = store.entry(index)
        assert entry is not None
        verify_inclusion(entry.leaf_hash, index, size, proof, root)
    return {"samples": samples, "root": summary_ms(roots), "inclusion_proof": summary_ms(proofs)}


def recompute(store: LedgerStore, page: int = 50_000) -> dict[str, Any]:
    """Leaf hashes, chain and Merkle root of every entry: hashing time only (reads excluded)."""
    size = store.head().size
    leaves: list[bytes] = []
    chain = GENESIS_CHAIN
    hashing = 0.0
    for start in range(0, size, page):
        envelopes = [e.envelope for e in store.entries(start, min(start + page, size))]
        started = time.perf_counter()
        hashes = [leaf_hash(v) for v in envelopes]
        for h in hashes:
            chain = chain_hash(chain, h)
        hashing += time.perf_counter() - started
        leaves.extend(hashes)
    started = time.perf_counter()
    count, root = compute_root(leaves)
    hashing += time.perf_counter() - started
    head = store.head()
    if count != size or chain != head.chain_hash or root != store.tree(size).root():
        raise VerificationFailure("recomputed chain or root differs from the stored ledger")
    return {"entries": size, "seconds": hashing}


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _cpu_per_entry(before: tuple[float, float], entries: int) -> dict[str, float]:
    """CPU per entry since ``before``: this process's, and its (ended) workers'."""
    after = _cpu()
    n = max(entries, 1)
    return {
        "cpu_us_main": (after[0] - before[0]) / n * 1e6,
        "cpu_us_workers": (after[1] - before[1]) / n * 1e6,
    }


def verify_rate(store: LedgerStore, signers: dict[str, KeyPair], workers: int) -> dict[str, Any]:
    keys = {p.key_id: p.public for p in [*signers.values(), root_key()]}
    cpu = _cpu()
    started = time.perf_counter()
    report = verify_ledger(store, keys.get, workers=workers)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise VerificationFailure(f"benchmark ledger does not verify: {report.first}")
    return {
        "entries": report.checked,
        "signatures": report.signatures_checked,
        "seconds": seconds,
        "per_second": report.signatures_checked / seconds,
        **_cpu_per_entry(cpu, report.checked),
    }


def lineage_latency(
    store: LedgerStore, state: TreeState, samples: int, rng: random.Random
) -> dict[str, Any]:
    """Ancestry of random published finals, each on a fresh view (no cache carried over)."""
    finals = list(final_ids(state.size))
    times, nodes = [], []
    for target in rng.sample(finals, min(samples, len(finals))):
        started = time.perf_counter()
        lineage = build_lineage(LedgerView(store, state), target)
        times.append(time.perf_counter() - started)
        nodes.append(len(lineage.nodes))
    return {"samples": len(times), "nodes_median": statistics.median(nodes), **summary_ms(times)}


def credits_time(store: LedgerStore, state: TreeState) -> dict[str, Any]:
    """The credit report of the first episode (about EPISODE_EVENTS events)."""
    episode = episode_of(0)
    view = LedgerView(store, state)
    events = len(view.seqs("episode", f"{SHOW}/{episode}"))
    started = time.perf_counter()
    report = credit_report(LedgerView(store, state), SHOW, episode)
    seconds = time.perf_counter() - started
    return {
        "episode": episode,
        "events": events,
        "credit_lines": len(report.lines),
        "seconds": seconds,
    }


def episode_audit_time(store: LedgerStore, state: TreeState) -> dict[str, Any]:
    """The IP audit (``run_audit``) of the first episode: every rule over its events and the
    lineage of its deliverables, as ``assetledger audit --episode`` runs it after the guard."""
    episode = episode_of(0)
    started = time.perf_counter()
    result = run_audit(LedgerView(store, state), Scope(production=SHOW, episode=episode))
    seconds = time.perf_counter() - started
    return {"episode": episode, "findings": len(result.findings), "seconds": seconds}


def audit_state(store: LedgerStore) -> TreeState:
    return tree_state(store, at_head=True, check=False)


def guard_time(store: LedgerStore, state: TreeState, workers: int | None) -> dict[str, Any]:
    """The check every audit and credit report runs before stating its tree (check_prefix)."""
    cpu = _cpu()
    started = time.perf_counter()
    report = check_prefix(store, state.size, state.root_hash, workers=workers)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise VerificationFailure(f"benchmark ledger fails the audit guard: {report.first}")
    return {
        "entries": report.checked,
        "seconds": seconds,
        "us_per_entry": seconds / max(report.checked, 1) * 1e6,
        **_cpu_per_entry(cpu, report.checked),
    }
