"""Render serve_bench.py results as the "Server" section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from typing import Any

X = "\N{MULTIPLICATION SIGN}"

# Issue 18's targets, each a ratio or a figure measured in the same run on the same machine.
#: tabular at c=64: inferd's req/s over the Python HTTP floor's, and inferd's p99.
TABULAR_FLOOR_SHARE, TABULAR_P99_MS = 0.70, 10.0
#: tabular at c=1: inferd's p50.
TABULAR_C1_P50_MS = 0.15
#: mlp at c=64: inferd's req/s over raw_limit's batch-32 rows/s (one thread), and inferd's p99.
MLP_RAW_SHARE, MLP_RAW_BATCH, MLP_P99_MS = 0.65, 32, 15.0
#: Serving one small model (tabular): idle RSS of the process tree, and process start to ready.
IDLE_RSS_MB, READY_S = 100.0, 0.7


def _median(results: list[dict[str, Any]], workload: str, server: str, c: int, key: str) -> float:
    values = [
        row[key]
        for r in results
        if r["workload"] == workload and r["server"] == server
        for row in r["rows"]
        if row["concurrency"] == c
    ]
    return statistics.median(values) if values else math.nan


def _raw(raw: dict[str, Any], model: str, batch: int) -> float:
    for row in raw["results"]:
        if row["model"] == model and row["batch"] == batch and row["threads"] == 1:
            return float(row["rows_per_s"])
    return math.nan


def _one(results: list[dict[str, Any]], workload: str, server: str, key: str) -> float:
    values = [r[key] for r in results if r["workload"] == workload and r["server"] == server]
    return statistics.median(values) if values else math.nan


def _verdict(value: float, ok: bool) -> str:
    return "no data" if math.isnan(value) else ("met" if ok else "missed")


def _multi_servers(results: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    """(server, workers, cpus) of every inferd run with several workers, fewest first."""
    found = {(r["server"], r["workers"], r["cpus"]) for r in results if r.get("workers", 1) > 1}
    return sorted(found, key=lambda entry: entry[1])


def _multi_label(workers: int, cpus: str) -> str:
    load = set(os.environ.get("LOAD_CPUS", "0").split(","))
    shares = " (shares wrk's cores)" if load & set(cpus.split(",")) else f" (cpus {cpus})"
    return f"inferd {X}{workers} workers{shares}"


def _targets(results: list[dict[str, Any]], raw: dict[str, Any]) -> list[str]:
    """Issue 18's targets table: what, target, measured, met or missed."""

    def m(workload: str, server: str, c: int, key: str) -> float:
        return _median(results, workload, server, c, key)

    tab64, floor64 = m("tabular", "inferd", 64, "rps"), m("tabular", "floor", 64, "rps")
    share = tab64 / floor64
    tab_p99, tab_p50 = m("tabular", "inferd", 64, "p99_ms"), m("tabular", "inferd", 1, "p50_ms")
    floor_p50 = m("tabular", "floor", 1, "p50_ms")
    mlp64, limit = m("mlp", "inferd", 64, "rps"), _raw(raw, "mlp", MLP_RAW_BATCH)
    mlp_share, mlp_p99 = mlp64 / limit, m("mlp", "inferd", 64, "p99_ms")
    rss = {w: _one(results, w, "inferd", "idle_rss_mb") for w in ("tabular", "mlp")}
    ready = {w: _one(results, w, "inferd", "ready_s") for w in ("tabular", "mlp")}
    rows = [
        ("tabular c=64 throughput", f"≥ {TABULAR_FLOOR_SHARE:.0%} of the floor",
         f"{share:.0%} ({tab64:,.0f} of {floor64:,.0f} req/s)",
         _verdict(share, share >= TABULAR_FLOOR_SHARE)),
        ("tabular c=64 p99", f"≤ {TABULAR_P99_MS:g} ms", f"{tab_p99:.2f} ms",
         _verdict(tab_p99, tab_p99 <= TABULAR_P99_MS)),
        ("tabular c=1 p50", f"≤ {TABULAR_C1_P50_MS:g} ms",
         f"{tab_p50:.2f} ms (the floor {floor_p50:.2f} ms)",
         _verdict(tab_p50, tab_p50 <= TABULAR_C1_P50_MS)),
        ("mlp c=64 throughput", f"≥ {MLP_RAW_SHARE:.0%} of raw batch-{MLP_RAW_BATCH} rows/s",
         f"{mlp_share:.0%} ({mlp64:,.0f} req/s of {limit:,.0f} rows/s)",
         _verdict(mlp_share, mlp_share >= MLP_RAW_SHARE)),
        ("mlp c=64 p99", f"≤ {MLP_P99_MS:g} ms", f"{mlp_p99:.2f} ms",
         _verdict(mlp_p99, mlp_p99 <= MLP_P99_MS)),
        ("idle RSS, one small model (tabular)", f"≤ {IDLE_RSS_MB:g} MB",
         f"{rss['tabular']:.0f} MB (serving mlp: {rss['mlp']:.0f} MB)",
         _verdict(rss["tabular"], rss["tabular"] <= IDLE_RSS_MB)),
        ("process start to ready (tabular)", f"≤ {READY_S:g} s",
         f"{ready['tabular']:.2f} s (serving mlp: {ready['mlp']:.2f} s)",
         _verdict(ready["tabular"], ready["tabular"] <= READY_S)),
    ]  # fmt: skip
    return [
        "| what | target | measured | |",
        "|---|---|---|---|",
        *(f"| {what} | {target} | {measured} | {verdict} |" for what, target, measured, verdict
          in rows),
    ]  # fmt: skip


def _workload(results: list[dict[str, Any]], raw: dict[str, Any], workload: str) -> list[str]:
    def m(server: str, c: int, key: str) -> float:
        return _median(results, workload, server, c, key)

    lines = [
        f"### {workload}",
        "",
        "| concurrency | inferd req/s | p50 ms | p99 ms | reference req/s | p50 ms | p99 ms | "
        f"throughput {X} reference | floor req/s | p50 ms | p99 ms | inferd / floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in (1, 8, 64):
        mine, ref, floor = m("inferd", c, "rps"), m("reference", c, "rps"), m("floor", c, "rps")
        lines.append(
            f"| {c} | {mine:,.0f} | {m('inferd', c, 'p50_ms'):.2f} | "
            f"{m('inferd', c, 'p99_ms'):.2f} | {ref:,.0f} | {m('reference', c, 'p50_ms'):.2f} | "
            f"{m('reference', c, 'p99_ms'):.2f} | {mine / ref:.1f}{X} | {floor:,.0f} | "
            f"{m('floor', c, 'p50_ms'):.2f} | {m('floor', c, 'p99_ms'):.2f} | {mine / floor:.0%} |"
        )
    multi = _multi_servers([r for r in results if r["workload"] == workload])
    if multi:
        lines += [
            "",
            f"| server | concurrency | req/s | p50 ms | p99 ms | {X} one worker | "
            "over the one-core floor |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for server, workers, cpus in multi:
            for c in (1, 8, 64):
                rps = m(server, c, "rps")
                lines.append(
                    f"| {_multi_label(workers, cpus)} | {c} | {rps:,.0f} | "
                    f"{m(server, c, 'p50_ms'):.2f} | {m(server, c, 'p99_ms'):.2f} | "
                    f"{rps / m('inferd', c, 'rps'):.2f}{X} | {rps / m('floor', c, 'rps'):.0%} |"
                )
    limits = {batch: _raw(raw, workload, batch) for batch in (1, 32, 128)}
    at64 = m("inferd", 64, "rps")

    def started(server: str) -> str:
        return (
            f"{server} {_one(results, workload, server, 'ready_s'):.2f} s / "
            f"{_one(results, workload, server, 'idle_rss_mb'):.0f} MB"
        )

    lines += [
        "",
        f"- Raw onnxruntime on the same core (one thread): {limits[1]:,.0f} rows/s at batch 1, "
        f"{limits[32]:,.0f} at batch 32, {limits[128]:,.0f} at batch 128; inferd at c=64 "
        f"reaches {at64 / limits[1]:.0%} of the batch-1 figure, {at64 / limits[32]:.0%} of "
        f"batch 32 and {at64 / limits[128]:.0%} of batch 128.",
        "- Process start to ready, and idle RSS of the process tree: "
        + ", ".join(started(server) for server in ("inferd", "reference", "floor"))
        + "".join(
            f", {_multi_label(workers, cpus)} {_one(results, workload, server, 'ready_s'):.2f} s"
            f" / {_one(results, workload, server, 'idle_rss_mb'):.0f} MB"
            for server, workers, cpus in multi
        )
        + ".",
        "",
    ]
    return lines


def render_section(
    results: list[dict[str, Any]], raw: dict[str, Any], args: argparse.Namespace, argv: str
) -> str:
    errors = sum(row["error_total"] for r in results for row in r["rows"])
    load = ""
    if getattr(args, "load_before", None) is not None:
        load = (
            f" Load average (1 min) {args.load_before:.1f} before the run and "
            f"{args.load_after:.1f} after."
        )
    multi = [n for n in getattr(args, "workers", [1]) if n > 1]
    workers = (
        f" `inferd serve --workers {', '.join(map(str, multi))}` runs in the same passes, pinned "
        f"to cores {args.multi_cpus}: with wrk's core among them, its workers and the load "
        "generator share the cores, and it is reported as such beside the one-worker figure."
        if multi
        else ""
    )
    lines = [
        "## Server: inferd serve against the reference server",
        "",
        "The shared harness (`../shared/bench`): the server and its children pinned to core "
        f"{os.environ.get('SERVER_CPUS', '1')}, `wrk` (one thread, closed loop) on core "
        f"{os.environ.get('LOAD_CPUS', '0')}; {args.warmup} s warm-up then {args.duration} s "
        f"measured per concurrency; {args.passes} pass(es), medians shown. inferd, the "
        "reference server (plain FastAPI + uvicorn calling onnxruntime per request) and the "
        "Python HTTP floor (`run_floor.sh`: a raw ASGI app on uvicorn with uvloop and httptools "
        "that reads the body and returns a fixed answer, no model; it gets inferd's request) "
        "run alternately in the same run; inferd and the reference each after `verify.py check` "
        "matched onnxruntime. Ready is process start to the first 2xx answer to the workload's "
        "request (each server is started once unmeasured before, so no measured start reads cold "
        "files). inferd runs with its defaults (dynamic batching: max batch 32, max queue delay "
        f"2 ms).{workers}",
        "",
        "```console",
        "make bench        # = bench/run_all.sh (harness set-up, this section, then push/pull)",
        f".venv/bin/python bench/serve_bench.py {argv}".rstrip(),
        "```",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {platform.node() or 'the dev VM'} "
        f"({os.cpu_count()} cores, shared with other engineers' builds and tests: absolute "
        "figures are noisy, the ratios are the measure). Errors across all runs: "
        f"{errors}.{load}",
        "",
        "### Targets (issue 18; same machine, same run)",
        "",
        *_targets(results, raw),
        "",
    ]
    for workload in ("tabular", "mlp"):
        lines += _workload(results, raw, workload)
    return "\n".join(lines)


def replace_section(doc: str, heading: str, section: str) -> str:
    """Replace the ``## heading`` section of ``doc`` (up to the next ``## ``) or append it."""
    start = doc.find(heading)
    if start == -1:
        return doc.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    end = doc.find("\n## ", start + len(heading))
    tail = "" if end == -1 else doc[end:]
    return doc[:start] + section.rstrip("\n") + "\n" + tail
