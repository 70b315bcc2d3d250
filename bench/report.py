"""The results as one plain-text table (Markdown pipe syntax, so it pastes into docs)."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str]
# The goals of issue 21, as ratios to the ceiling (the producer's: to the raw send).
INGEST_GOAL = 0.5
VERIFY_GOAL = 0.8
PRODUCER_GOAL = 0.8


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def _ratio(value: float, target: float | None = None) -> str:
    shown = f"{value:.2f}"
    if target is not None and (float(shown) >= target) != (value >= target):
        shown = f"{value:.3f}"  # two decimals would round across the target
    text = f"{shown} x ceiling"
    if target is not None:
        text += f" ({'meets' if value >= target else 'below'} {target:g})"
    return text


def raw_rows(r: dict[str, Any]) -> list[Row]:
    return [
        ("raw Ed25519 verify, 1 process", _rate(r["verify_per_core"]), "pyca/cryptography"),
        (
            f"raw Ed25519 verify, {r['cores']} processes at once",
            _rate(r["verify_all_cores"]),
            f"{r['verify_all_cores'] / r['verify_per_core']:.2f} x one process",
        ),
        (f"ceiling = {r['cores']} cores x 1-process rate", _rate(r["ceiling"]), "the 1.00 mark"),
        ("raw Ed25519 sign, 1 process", _rate(r["sign_per_core"]), ""),
    ]


def broker_rows(b: dict[str, Any], ceiling: float) -> list[Row]:
    rows: list[Row] = []
    raw_send = b.get("raw_send")
    if raw_send is not None:
        rows.append(
            (
                "raw send: pre-signed records, acks=all",
                _rate(raw_send["per_second"]),
                f"{raw_send['events']:,} events, the producer's 1.00 mark",
            )
        )
    for name, label in (
        ("producer", "1 process"),
        ("producer_pool", "signing pool"),
        ("producer_auto", "default (auto)"),
    ):
        p = b.get(name)
        if p is None:
            continue
        note = f"{p['events']:,} events"
        if raw_send is not None:
            share = p["per_second"] / raw_send["per_second"]
            met = "meets" if share >= PRODUCER_GOAL else "below"
            note += f"; {share:.2f} x raw send ({met} {PRODUCER_GOAL:g})"
        workers = p.get("signing_workers", 0)
        label = f"{workers} signing workers" if isinstance(workers, int) and workers else label
        rows.append(
            (f"producer: Emitter build+sign+send+ack, {label}", _rate(p["per_second"]), note)
        )
    if "topic_fill" in b:
        fill = b["topic_fill"]
        rows.append(
            (
                "topic fill: pre-signed records, acks=all",
                _rate(fill["per_second"]),
                f"{fill['events']:,}",
            )
        )
    for run in b.get("ingest", []):
        if "skipped" in run:
            rows.append((f"ingest {run['label']}", "skipped", run["skipped"]))
            continue
        target = INGEST_GOAL if run["workers_per_process"] else None
        rows.append(
            (
                f"ingest {run['label']}, {run['target']:,} events",
                _rate(run["per_second"]),
                _ratio(run["per_second"] / ceiling, target),
            )
        )
        rows.append(
            (
                "  peak memory: consumer RSS; with workers PSS",
                " / ".join(f"{m:.0f}" for m in run["peak_rss_main_mb"])
                + " MB; "
                + " / ".join(f"{m:.0f}" for m in run["peak_pss_total_mb"])
                + " MB",
                "target: consumer < 200 MB",
            )
        )
        if growth := run.get("rss_growth"):
            rows.append(
                (
                    "  consumer peak RSS as events arrive",
                    ", ".join(f"{mb:.0f}" for _, mb in growth) + " MB",
                    "at " + ", ".join(f"{n // 1000:,}k" for n, _ in growth) + " events",
                )
            )
        if "cpu_us_main" in run:
            rows.append(
                (
                    "  CPU per event: consumer process; its workers",
                    f"{run['cpu_us_main']:.0f} us; {run['cpu_us_workers']:.0f} us",
                    "user + system, whole run",
                )
            )
    return rows


def ledger_rows(ledger: dict[str, Any], ceiling: float) -> list[Row]:
    """The rows of one ledger size; a row measured neither now nor before is left out."""
    n = f"{ledger['size']:,}"
    a = ledger["append"]
    rows: list[Row] = []
    if "us_per_entry" in a:
        rows.append(
            (
                f"[{n}] append (store.append, SQLite)",
                f"{a['us_per_entry']:.1f} us/entry",
                _rate(a["per_second"]),
            )
        )
    else:
        rows.append((f"[{n}] append", "not measured", f"reused {a.get('reused', '')}"))
    if pr := ledger.get("proofs"):
        rows += [
            (
                f"[{n}] root at head",
                _ms(pr["root"]["median_ms"]),
                f"p99 {_ms(pr['root']['p99_ms'])}",
            ),
            (
                f"[{n}] inclusion proof",
                _ms(pr["inclusion_proof"]["median_ms"]),
                f"p99 {_ms(pr['inclusion_proof']['p99_ms'])} (target < 5 ms)",
            ),
        ]
    if rc := ledger.get("recompute"):
        rows.append(
            (f"[{n}] full chain + tree recompute", f"{rc['seconds']:.2f} s", "hashing only")
        )
    if lin := ledger.get("lineage"):
        rows.append(
            (
                f"[{n}] lineage (ancestry of a final)",
                _ms(lin["median_ms"]),
                f"p99 {_ms(lin['p99_ms'])}, {lin['nodes_median']:g} nodes",
            )
        )
    if cr := ledger.get("credits"):
        rows.append(
            (
                f"[{n}] credit report, episode {cr['episode']}",
                f"{cr['seconds']:.2f} s",
                f"{cr['events']:,} events",
            )
        )
    rows += [
        *_episode_audit_row(n, ledger.get("episode_audit")),
        *_guard_row(n, ledger.get("audit_guard")),
        *_index_rows(n, ledger),
    ]
    if v := ledger.get("verify"):
        rows += [
            (
                f"[{n}] verify_ledger",
                _rate(v["per_second"]),
                _ratio(v["per_second"] / ceiling, VERIFY_GOAL),
            ),
            *_cpu_row(f"[{n}]   verify CPU per entry", v),
        ]
    return rows


def _cpu_row(label: str, run: dict[str, Any]) -> list[Row]:
    if "cpu_us_main" not in run:  # a result file from before this row
        return []
    return [
        (
            label,
            f"{run['cpu_us_main']:.0f} us; {run['cpu_us_workers']:.0f} us",
            "this process; its workers (user + system)",
        )
    ]


def _episode_audit_row(n: str, audit: dict[str, Any] | None) -> list[Row]:
    if audit is None:  # a result file from before this row
        return []
    return [
        (
            f"[{n}] IP audit, episode {audit['episode']}",
            f"{audit['seconds']:.2f} s",
            f"{audit['findings']:,} findings (rules and lineage, after the guard)",
        )
    ]


def _guard_row(n: str, guard: dict[str, Any] | None) -> list[Row]:
    if guard is None:  # a result file from before the guard existed
        return []
    return [
        (
            f"[{n}] audit guard (entries + index vs. tree)",
            f"{guard['seconds']:.2f} s",
            f"{guard['us_per_entry']:.1f} us/entry, before every audit",
        ),
        *_cpu_row(f"[{n}]   guard CPU per entry", guard),
    ]


def _index_rows(n: str, ledger: dict[str, Any]) -> list[Row]:
    ix = ledger.get("index")
    if ix is None:  # a result file from before the index existed
        return []
    up, pr, au, rp = ix["update"], ix["proofs"], ix["episode_audit"], ix.get("replay")
    append = ledger["append"].get("us_per_entry")
    versus_append = f"{up['us_per_entry'] / append:.2f} x store.append, " if append else ""
    guard = ledger.get("audit_guard", {}).get("seconds")
    versus = ""
    if guard:
        ratio = guard / au["seconds"]
        versus = (
            f", {ratio:.1f} x faster than the guard"
            if ratio >= 1
            else f", {1 / ratio:.1f} x slower than the guard"
        )
    rows: list[Row] = [
        (
            f"[{n}] index update (at checkpoints of {up['step']:,})",
            f"{up['us_per_entry']:.1f} us/entry",
            f"{versus_append}{_cpu_note(up, 'cpu_us_per_entry', ' us CPU')}target 30 us",
        ),
        (
            f"[{n}] proof about a key (version:)",
            f"{pr['map_part_bytes_median']:.0f} B map part",
            f"max {pr['map_part_bytes_max']:.0f} B, whole proof {pr['proof_bytes_median']:.0f} B"
            f" with {pr['entries_median']:g} entries (target 4 KiB + entries)",
        ),
        (
            f"[{n}] verify a proof about a key",
            _ms(pr["verify_ms_median"]),
            f"max {_ms(pr['verify_ms_max'])}, {_cpu_note(pr, 'verify_cpu_ms_median', ' ms CPU')}"
            "target 2 ms",
        ),
        (
            f"[{n}] episode audit through the index, ep. {au['episode']}",
            f"{au['seconds']:.2f} s",
            f"{au['events']:,} events, {_cpu_note(au, 'cpu_seconds', ' s CPU')}no full pass"
            f"{versus} (target 2 s)",
        ),
    ]
    return rows + _replay_rows(n, rp)


def _replay_rows(n: str, rp: dict[str, Any] | None) -> list[Row]:
    if rp is None:  # not measured (--ledger-rows without replay)
        return []
    return [
        (
            f"[{n}] index replay (every committed root)",
            f"{rp['seconds']:.2f} s",
            f"one pass, {rp['roots_checked']:,} root(s), {_cpu_note(rp, 'cpu_seconds', ' s CPU')}"
            f"{rp.get('us_per_entry', 0):.0f} us/entry",
        ),
    ]


def _cpu_note(run: dict[str, Any], key: str, unit: str) -> str:
    """``"<value><unit>, "`` when the run measured its CPU time (older result files did not)."""
    return f"{run[key]:.2f}{unit}, " if key in run else ""


def postgres_rows(pg: dict[str, Any]) -> list[Row]:
    if "skipped" in pg:
        return [("PostgreSQL append", "skipped", pg["skipped"])]
    n = f"{pg['size']:,}"
    return [
        (
            f"[{n}] append (store.append, PostgreSQL)",
            f"{pg['us_per_entry']:.1f} us/entry",
            _rate(pg["per_second"]),
        ),
        (
            f"[{n}] inclusion proof, PostgreSQL",
            _ms(pg["proofs"]["inclusion_proof"]["median_ms"]),
            f"p99 {_ms(pg['proofs']['inclusion_proof']['p99_ms'])}",
        ),
    ]


def render_table(results: dict[str, Any]) -> str:
    ceiling = results["raw"]["ceiling"]
    rows = raw_rows(results["raw"])
    if "broker" in results:
        rows += broker_rows(results["broker"], ceiling)
    for ledger in results.get("ledgers", []):
        rows += ledger_rows(ledger, ceiling)
    if "postgres_append" in results:
        rows += postgres_rows(results["postgres_append"])
    widths = [max(len(r[i]) for r in [*rows, ("measure", "value", "note")]) for i in range(3)]
    lines = [
        _line(("measure", "value", "note"), widths),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [_line(r, widths) for r in rows]
    m = results["machine"]
    lines.append("")
    lines.append(
        f"{m['cores_used']} of {m['cpu_count']} cores ({m['cpu']}), Python {m['python']}, "
        f"cryptography {m['cryptography']}, Kafka CRC-32C {m['kafka_crc32c']},"
        f" commit {m['commit']}, {m['date']}"
    )
    return "\n".join(lines)


def _line(row: Row, widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
