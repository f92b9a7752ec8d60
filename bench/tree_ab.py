#!/usr/bin/env python3
"""A/B of source trees: the same `inferd serve` workload on each, alternating, with the server
CPU time per request beside req/s (steadier than req/s on a shared machine).

    git archive 76b86fc src | (mkdir -p /tmp/ab/76b86fc && tar -x -C /tmp/ab/76b86fc)
    git archive HEAD src | (mkdir -p /tmp/ab/head && tar -x -C /tmp/ab/head)
    .venv/bin/python bench/tree_ab.py /tmp/ab/76b86fc /tmp/ab/head [--model tabular]
        [--concurrency 64] [--rounds 4] [--duration 5]

Each tree is a folder holding ``src/`` (``PYTHONPATH`` for both its push and its server, so a
tree's own store format is used; each tree gets an ``INFERD_HOME`` of its own under
``$BENCH_DIR/tree-ab``). Per round and tree: start ``inferd serve MODEL:v1`` pinned to
$SERVER_CPUS and wait until it is ready (bench/served.py), a discarded 2 s wrk run, then the
measured ``wrk -t1 -cC`` on $LOAD_CPUS, reading the server's CPU time (every thread, from
/proc) before and after. A non-2xx answer fails the run. Prints one line per run and a mean per
tree; a later tree in the list is never favoured by order, since the rounds alternate.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from served import BENCH_DIR, HARNESS, Served, cpu_seconds, wrk

SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")


def served(tree: Path, model: str) -> Served:
    """An ``inferd serve`` of ``tree``'s code on its own store, the model pushed there once
    with the same code (so each tree reads the store format it wrote)."""
    home = BENCH_DIR / "tree-ab" / tree.name
    server = Served(home, env={"PYTHONPATH": str(tree / "src")}, cpus=SERVER_CPUS)
    server.push_harness_model(model)
    return server


def one_run(tree: Path, args: argparse.Namespace) -> tuple[float, float, str]:
    """req/s, server CPU µs per request and latency of one measured run on ``tree``; a non-2xx
    answer fails it."""
    server = served(tree, args.model)
    server.start([f"{args.model}:v1"], BENCH_DIR / "tree-ab" / f"{tree.name}.log")
    assert server.proc is not None
    url = f"{server.base}/v2/models/{args.model}/infer"
    body = HARNESS / "bodies" / f"v2-{args.model}.json"
    try:
        wrk(url, body, args.concurrency, 2)
        before = cpu_seconds(server.proc.pid)
        result = wrk(url, body, args.concurrency, args.duration)
        cpu_us = (cpu_seconds(server.proc.pid) - before) / max(result["requests"], 1) * 1e6
    finally:
        server.stop()
    failed = result["non_2xx"] + sum(
        result[k] for k in ("err_connect", "err_read", "err_write", "err_timeout")
    )
    if failed:
        raise SystemExit(f"{tree}: {failed:g} requests failed or were not 2xx")
    latency = f"p50 {result['p50_us'] / 1000:.3f} ms  p99 {result['p99_us'] / 1000:.3f} ms"
    return result["rps"], cpu_us, latency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path, help="folders holding src/")
    ap.add_argument("--model", default="tabular", choices=("tabular", "mlp"))
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    results: dict[Path, list[tuple[float, float]]] = {t: [] for t in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            rps, us, latency = one_run(tree, args)
            results[tree].append((rps, us))
            print(f"{tree.name:14} {args.model} c={args.concurrency} {rps:9.0f} req/s "
                  f"{us:7.1f} µs CPU/request  {latency}", flush=True)  # fmt: skip
    print(f"\nmean of {args.rounds} rounds   req/s   µs CPU/request")
    for tree, runs in results.items():
        rps = sum(r for r, _ in runs) / len(runs)
        us = sum(u for _, u in runs) / len(runs)
        print(f"{tree.name:14} {rps:9.0f} {us:9.1f}")


if __name__ == "__main__":
    main()
