"""Render serve_bench.py results as the "Server" section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

X = "\N{MULTIPLICATION SIGN}"

#: Targets from ../shared/bench/README.md: (workload, concurrency) → (times the reference, p99 ms).
TARGETS = {("tabular", 64): (4.0, 25.0), ("mlp", 64): (6.0, 50.0)}
#: Share of the raw batch-128 limit to reach at c=64 (README: mlp with batching on).
LIMIT_SHARE = {"mlp": 0.40}


def _median(results: list[dict[str, Any]], workload: str, server: str, c: int, key: str) -> float:
    values = [
        row[key]
        for r in results
        if r["workload"] == workload and r["server"] == server
        for row in r["rows"]
        if row["concurrency"] == c
    ]
    return statistics.median(values) if values else float("nan")


def _raw(raw: dict[str, Any], model: str, batch: int) -> float:
    for row in raw["results"]:
        if row["model"] == model and row["batch"] == batch and row["threads"] == 1:
            return float(row["rows_per_s"])
    return float("nan")


def _one(results: list[dict[str, Any]], workload: str, server: str, key: str) -> float:
    values = [r[key] for r in results if r["workload"] == workload and r["server"] == server]
    return statistics.median(values) if values else float("nan")


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
    lines = [
        "## Server: inferd serve against the reference server",
        "",
        "The shared harness (`../shared/bench`): the server and its children pinned to core "
        f"{os.environ.get('SERVER_CPUS', '1')}, `wrk` (one thread, closed loop) on core "
        f"{os.environ.get('LOAD_CPUS', '0')}; {args.warmup} s warm-up then {args.duration} s "
        f"measured per concurrency; {args.passes} pass(es), medians shown; inferd and the "
        "reference server (plain FastAPI + uvicorn calling onnxruntime per request) run "
        "alternately in the same run, each after `verify.py check` matched onnxruntime. "
        "inferd runs with its defaults (dynamic batching: max batch 32, max queue delay 2 ms).",
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
    ]
    for workload in ("tabular", "mlp"):
        lines += [
            f"### {workload}",
            "",
            "| concurrency | inferd req/s | p50 ms | p99 ms | reference req/s | p50 ms | p99 ms | "
            f"throughput {X} reference |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in (1, 8, 64):
            mine = _median(results, workload, "inferd", c, "rps")
            ref = _median(results, workload, "reference", c, "rps")
            lines.append(
                f"| {c} | {mine:,.0f} | {_median(results, workload, 'inferd', c, 'p50_ms'):.2f} | "
                f"{_median(results, workload, 'inferd', c, 'p99_ms'):.2f} | {ref:,.0f} | "
                f"{_median(results, workload, 'reference', c, 'p50_ms'):.2f} | "
                f"{_median(results, workload, 'reference', c, 'p99_ms'):.2f} | "
                f"{mine / ref:.1f}{X} |"
            )
        limit1, limit128 = _raw(raw, workload, 1), _raw(raw, workload, 128)
        at64 = _median(results, workload, "inferd", 64, "rps")
        want_ratio, want_p99 = TARGETS[(workload, 64)]
        ratio = at64 / _median(results, workload, "reference", 64, "rps")
        p99 = _median(results, workload, "inferd", 64, "p99_ms")
        lines += [
            "",
            f"- Target at c=64: ≥ {want_ratio:g}{X} reference and p99 ≤ {want_p99:g} ms → "
            f"{ratio:.1f}{X} and {p99:.1f} ms ({'met' if ratio >= want_ratio else 'missed'} / "
            f"{'met' if p99 <= want_p99 else 'missed'}).",
            f"- Raw onnxruntime limit on the same core: {limit1:,.0f} rows/s at batch 1, "
            f"{limit128:,.0f} at batch 128; inferd at c=64 reaches {at64 / limit1:.0%} of the "
            f"batch-1 limit and {at64 / limit128:.0%} of the batch-128 limit"
            + (
                f" (target ≥ {LIMIT_SHARE[workload]:.0%}: {at64 / limit128:.1%}, "
                f"{'met' if at64 / limit128 >= LIMIT_SHARE[workload] else 'missed'})."
                if workload in LIMIT_SHARE
                else "."
            ),
            f"- Ready after start: inferd {_one(results, workload, 'inferd', 'ready_s'):.2f} s, "
            f"reference {_one(results, workload, 'reference', 'ready_s'):.2f} s; idle RSS "
            f"inferd {_one(results, workload, 'inferd', 'idle_rss_mb'):.0f} MB, reference "
            f"{_one(results, workload, 'reference', 'idle_rss_mb'):.0f} MB.",
            "",
        ]
    return "\n".join(lines)


def replace_section(doc: str, heading: str, section: str) -> str:
    """Replace the ``## heading`` section of ``doc`` (up to the next ``## ``) or append it."""
    start = doc.find(heading)
    if start == -1:
        return doc.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    end = doc.find("\n## ", start + len(heading))
    tail = "" if end == -1 else doc[end:]
    return doc[:start] + section.rstrip("\n") + "\n" + tail
