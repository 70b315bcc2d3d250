"""``python -m bench.packet``: a delivery packet of a long episode cut, built and verified.

A synthetic production (:mod:`bench.synth`: the demo's lineage copied block by block, every
event signed by its own enrolled key) is appended to a fresh SQLite ledger with a key registry
and a signed checkpoint, optionally padded with events of later episodes (``--padding``, after the
episode) or preceded by ``--filler N`` unrelated events (of later episodes, appended before the
episode: a big ledger the build must not read through).  A cut of ``--clips``
clips, one per published final of episode 101, is written as OTIO; the packet is built from it
and verified offline.  Prints one JSON row (seconds, entries, files, bytes): the bench row of
docs/benchmarks.md.  Timings are for this machine only; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import ledgers, synth
from demo.story import EPISODE, SHOW
from ledger.events.provenance import PROVENANCE
from ledger.log import operator
from ledger.packet.build import build_packet
from ledger.packet.cut import write_cut
from ledger.packet.verify import verify_packet
from ledger.store import Batch, LedgerStore, PendingEntry, open_store
from ledger.trust import keys
from ledger.trust.dsse import forget_verified
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import build_message

TOPIC = "bench.packet"
CHUNK = 2000


def append(store: LedgerStore, entries: list[PendingEntry]) -> None:
    start = store.head().size
    for i in range(0, len(entries), CHUNK):
        chunk = entries[i : i + CHUNK]
        offset = start + i + len(chunk)
        store.append(Batch(chunk, [], {(TOPIC, 0): offset}, "bench-packet"))


def production(count: int, first_offset: int) -> tuple[list[PendingEntry], list[str]]:
    built, finals = [], []
    for i in range(count):
        built.append(synth.build(i))
        name, event = synth.event(i)
        if name == "editorial" and event["production"]["episode"] == EPISODE:
            finals.append(f"{event['asset']['asset_id']}@{event['asset']['version']}")
    return ledgers.pending(built, first_offset, TOPIC), finals


FILLER_SHOW = "Filler Show"


def filler_build(i: int, shared: bool) -> synth.Built:
    """Synthetic event ``i`` of another production (``shared``: of the same show, with the
    same models and performers, whose index keys then name it too), signed as synth does."""
    name, e = synth.event(i)
    if not shared:
        e["production"] = {**e["production"], "show": FILLER_SHOW}
        if e.get("model"):
            e["model"] = {**e["model"], "provider": e["model"]["provider"] + " (filler)"}
        e["likeness"] = [
            {**u, "performer_id": u["performer_id"] + "-filler"} for u in e.get("likeness") or []
        ]
    e["event_id"] = str(uuid.uuid4())
    e["event_time"] = datetime.now(UTC)
    pair = synth.signers()[name]
    message = build_message(e, pair, source=synth.SOURCE)
    return synth.Built(message, pair.key_id, e["event_time"], tuple(PROVENANCE.refs(e)))


def filler_range(start: int, stop: int, shared: bool) -> list[synth.Built]:
    return [filler_build(i, shared) for i in range(start, stop)]


def filler(store: LedgerStore, count: int, first: int, shared: bool = False) -> None:
    """Append ``count`` pre-signed synthetic events numbered from ``first`` (later episodes than
    the one packed; of another show with other models and performers unless ``shared``),
    signed in worker processes, appended in chunks."""
    import multiprocessing

    step = 20 * CHUNK
    with multiprocessing.Pool(2) as pool:
        for start in range(first, first + count, step):
            stop = min(start + step, first + count)
            parts = [(a, min(a + CHUNK, stop), shared) for a in range(start, stop, CHUNK)]
            built = [b for part in pool.starmap(filler_range, parts) for b in part]
            append(store, ledgers.pending(built, store.head().size, TOPIC))


def run(
    clips: int, padding: int, work: Path, fill: int = 0, shared: bool = False
) -> dict[str, Any]:
    per_block = len(synth.templates())
    finals_per_block = sum(1 for n, _ in synth.templates() if n == "editorial")
    events = -(-clips // finals_per_block) * per_block
    url = str(work / "ledger.db")
    root, log = keys.generate("root"), keys.generate("log")
    with open_store(url) as store:
        set_roots(store, [RootKey("root", root.public)])
        identity = operator.init_ledger(store, "bench.assetledger.example/ledger", log)
        (work / "log.vkey").write_text(identity.vkey + "\n")  # to re-verify in a fresh process
        append(store, ledgers.enrolments(root, TOPIC))
        if fill:
            # far beyond the episode and its padding: other episodes' blocks
            filler(store, fill, 10 * (events + padding) + 100_000, shared)
        entries, finals = production(events + padding, store.head().size)
        append(store, entries)
        ready, ready_cpu = time.perf_counter(), time.process_time()
        operator.Checkpointer(store, log).checkpoint()
        size = store.head().size
        checkpointed = {
            "wall": round(time.perf_counter() - ready, 2),
            "cpu": round(time.process_time() - ready_cpu, 2),
        }
    cut = write_cut(work / "cut.otio", [(f"c{i}", key, 48) for i, key in enumerate(finals[:clips])])
    with open_store(url) as store:
        built, result = timed(lambda: build_packet(store, SHOW, EPISODE, cut, work / "packet"))
    # each verification starts as a fresh process would: no signature remembered from the build
    forget_verified()
    verified, verdict = timed(lambda: verify_packet(work / "packet.zip", identity.vkey))
    forget_verified()
    verified_quick, quick = timed(
        lambda: verify_packet(work / "packet.zip", identity.vkey, check_pdf=False)
    )
    return {
        "bench": "packet",
        "ledger_entries": size,
        "filler": fill,
        "filler_shares_models": shared,
        "checkpoint_seconds": checkpointed,
        "clips": result.disclosure["summary"]["clips"],
        "packet_entries": result.entries,
        "packet_files": result.files,
        "zip_bytes": result.zip_path.stat().st_size,
        "build_seconds": built,
        "verify_seconds": verified,
        "verify_seconds_skip_pdf": verified_quick,
        "verified": verdict.ok and quick.ok,
        "problems": [p.detail for p in verdict.problems[:3]],
    }


def verify_only(work: Path, check_pdf: bool) -> dict[str, Any]:
    """Verify ``work``/packet.zip (the --work-dir of an earlier run) in this process, as a
    fresh ``packet verify`` would (imports done before the clock starts): the CPU of the
    verifying process (the critical path) and of the processes it forks."""
    vkey = (work / "log.vkey").read_text().strip()
    spent, verdict = timed(lambda: verify_packet(work / "packet.zip", vkey, check_pdf=check_pdf))
    return {
        "bench": "packet-verify",
        "pdf_checked": check_pdf,
        "packet_entries": verdict.entries,
        "verified": verdict.ok,
        "completeness": verdict.completeness,
        "verify_seconds": spent,
        "verifying_process_cpu": round(spent["cpu"] - spent["cpu_children"], 2),
    }


T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[dict[str, float], T]:
    """Wall-clock and CPU seconds of ``work`` (CPU time is steadier on a shared machine);
    ``cpu`` counts the processes it started too (verify renders the PDF in one), and
    ``cpu_children`` is their part."""
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    result = work()
    spent_children = _children_cpu() - children
    spent = {
        "wall": round(time.perf_counter() - wall, 2),
        "cpu": round(time.process_time() - cpu + spent_children, 2),
        "cpu_children": round(spent_children, 2),
    }
    return spent, result


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.packet", description=__doc__)
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--padding", type=int, default=0, help="events of other episodes")
    parser.add_argument(
        "--filler", type=int, default=0, help="unrelated events appended before the episode"
    )
    parser.add_argument(
        "--filler-shares-models",
        action="store_true",
        help="filler of the same show, models and performers (their index keys name it)",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--verify",
        type=Path,
        default=None,
        metavar="DIR",
        help="only verify DIR/packet.zip (an earlier run's --work-dir) and print its CPU; run"
        " it once per measurement, so that each verify is a fresh process",
    )
    parser.add_argument("--skip-pdf", action="store_true", help="with --verify")
    args = parser.parse_args(argv)
    if args.verify is not None:
        row = verify_only(args.verify, not args.skip_pdf)
    elif args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        row = run(args.clips, args.padding, args.work_dir, args.filler, args.filler_shares_models)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            row = run(args.clips, args.padding, Path(tmp), args.filler, args.filler_shares_models)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
