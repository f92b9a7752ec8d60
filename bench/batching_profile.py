#!/usr/bin/env python3
"""Where a loaded one-core server's time goes: the event-loop thread, the model thread, and idle.

    .venv/bin/python bench/batching_profile.py [--model mlp] [--concurrency 64] [--runs 3]
        [--duration 8]

Per run: ``inferd serve MODEL:v1`` pinned to $SERVER_CPUS (one core), a discarded 2 s ``wrk``
run, then the measured ``wrk -t1 -cC`` on $LOAD_CPUS. Around the measured run it reads every
server thread's CPU time from /proc (the main thread runs the event loop; the busiest other
thread is the model's worker) and the server's ``/metrics`` (``inferd_batch_size``,
``inferd_compute_seconds``). It prints, per run: req/s; CPU µs per request of the loop and of
the model thread; the share of the wall time each thread ran and the share the server's core
was left idle; the batch-size histogram and mean; and the model's compute time per row.

Read the idle share as the model thread's idle time while requests wait: with 64 clients
always waiting, any wall time the server's core spends in no server thread is time the model
could have run and did not. A share near 0 means the core is saturated: the model thread waits
only while the event loop holds the core, and throughput is bounded by the CPU per request of
both, not by how batches are handed over. Time the core gave to other processes counts as
idle here too: measure on a quiet machine (pinned tests or builds on the same core show up as
idle share).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import httpx
from served import BENCH_DIR, HARNESS, Served, wrk

SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
_SAMPLE = re.compile(r"^(inferd_\w+)\{([^}]*)\} (\S+)$")
_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``, by thread id."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def samples(base: str) -> dict[tuple[str, str], float]:
    """Every ``inferd_*`` sample of ``/metrics`` with labels, by (name, labels)."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            out[(match[1], match[2])] = float(match[3])
    return out


def delta(after: dict[tuple[str, str], float], before: dict[tuple[str, str], float],
          name: str) -> dict[str, float]:  # fmt: skip
    """``name``'s samples over the run (after minus before), keyed by their labels."""
    return {labels: value - before.get((n, labels), 0.0)
            for (n, labels), value in after.items() if n == name}  # fmt: skip


def histogram(buckets: dict[str, float]) -> list[tuple[str, float]]:
    """Cumulative ``le`` buckets of whole rows → (rows, count) per bucket, empty ones left out."""
    bounds = []
    for labels, count in buckets.items():
        le = re.search(r'le="([^"]+)"', labels)
        if le:
            bounds.append((float(le[1]), count))
    bounds.sort()
    rows, below, low = [], 0.0, 0.0
    for bound, cumulative in bounds:
        count = cumulative - below
        if count:
            first, top = f"{low + 1:g}", "more" if bound == float("inf") else f"{bound:g}"
            rows.append((top if first == top else f"{first}-{top}", count))
        below, low = cumulative, bound
    return rows


def one_run(args: argparse.Namespace) -> None:
    home = BENCH_DIR / "batching-profile"
    server = Served(home, cpus=SERVER_CPUS)
    server.push_harness_model(args.model)
    server.start([f"{args.model}:v1"], BENCH_DIR / "batching-profile.log")
    assert server.proc is not None
    pid = server.proc.pid
    url = f"{server.base}/v2/models/{args.model}/infer"
    body = HARNESS / "bodies" / f"v2-{args.model}.json"
    try:
        wrk(url, body, args.concurrency, 2)
        cpu0, metrics0, wall0 = thread_cpu(pid), samples(server.base), time.monotonic()
        result = wrk(url, body, args.concurrency, args.duration)
        wall = time.monotonic() - wall0
        cpu1, metrics1 = thread_cpu(pid), samples(server.base)
    finally:
        server.stop()
    used = {tid: cpu1[tid] - cpu0.get(tid, 0.0) for tid in cpu1}
    loop = used.pop(pid, 0.0)
    model_tid = max(used, key=lambda t: used[t])
    model = used.pop(model_tid)
    other = sum(used.values())
    requests = result["requests"]
    batches = delta(metrics1, metrics0, "inferd_batch_size_count")
    rows = delta(metrics1, metrics0, "inferd_batch_size_sum")
    compute = delta(metrics1, metrics0, "inferd_compute_seconds_sum")
    n_batches, n_rows = sum(batches.values()), sum(rows.values())
    busy = loop + model + other
    print(f"{args.model} c={args.concurrency}: {result['rps']:,.0f} req/s, "
          f"p50 {result['p50_us'] / 1000:.2f} ms, p99 {result['p99_us'] / 1000:.2f} ms, "
          f"{result['non_2xx']:g} non-2xx")  # fmt: skip
    print(
        f"  CPU per request: loop {loop / requests * 1e6:.1f} µs, model thread "
        f"{model / requests * 1e6:.1f} µs, other threads {other / requests * 1e6:.1f} µs"
    )
    print(
        f"  share of the wall time: loop {loop / wall:.1%}, model thread {model / wall:.1%}, "
        f"other {other / wall:.1%}, the core idle {max(0.0, 1 - busy / wall):.1%}"
    )
    if n_batches:
        print(
            f"  batches {n_batches:,.0f}, mean {n_rows / n_batches:.1f} rows; model compute "
            f"{sum(compute.values()) / n_rows * 1e6:.1f} µs a row"
        )
        buckets = delta(metrics1, metrics0, "inferd_batch_size_bucket")
        sizes = ", ".join(f"{r}: {c:,.0f}" for r, c in histogram(buckets))
        print(f"  batch sizes (rows: batches): {sizes}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="mlp", choices=("tabular", "mlp"))
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    args = ap.parse_args()
    for _ in range(args.runs):
        one_run(args)


if __name__ == "__main__":
    main()
