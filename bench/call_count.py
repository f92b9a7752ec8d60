#!/usr/bin/env python3
"""Python function calls per request on the server's event loop, for source trees side by side:
a count that does not move with the machine's load, where req/s and CPU time do (this shared
2-core VM moves them by ±10-40 % between runs).

    git archive HEAD src | (mkdir -p /tmp/ab/head && tar -x -C /tmp/ab/head)
    .venv/bin/python bench/call_count.py /tmp/ab/76b86fc /tmp/ab/head [--model tabular]
        [--top 25]

Per tree (as ``bench/tree_ab.py``: its own ``src/`` on ``PYTHONPATH`` and store): start
``inferd serve MODEL:v1``, a 2 s wrk warm-up, then cProfile the main thread (the event loop: HTTP,
decoding, the data plane; not the model's worker thread) over a 4 s ``wrk -t1 -c64`` run. Prints
calls per request per tree and, with ``--top``, the functions whose calls per request differ most
between the first tree and each other one. Profiled µs are inflated by the profiler; compare the
calls.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import time
from pathlib import Path

from served import BENCH_DIR, HARNESS, Served, wrk

SITE = Path(__file__).with_name("call_count_site")


def profile(tree: Path, model: str) -> tuple[float, dict[str, float]]:
    """Calls per request on the event loop of ``tree``'s server, in all and by function."""
    out = BENCH_DIR / "call-count" / f"{tree.name}-{model}.prof"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": f"{SITE}{os.pathsep}{tree / 'src'}", "CALL_COUNT_PROFILE": str(out)}
    server = Served(BENCH_DIR / "tree-ab" / tree.name, env=env, cpus="1")
    server.push_harness_model(model)
    server.start([f"{model}:v1"], BENCH_DIR / "call-count" / f"{tree.name}.log")
    assert server.proc is not None
    url = f"{server.base}/v2/models/{model}/infer"
    body = HARNESS / "bodies" / f"v2-{model}.json"
    try:
        wrk(url, body, 64, 2)
        server.proc.send_signal(signal.SIGUSR1)
        result = wrk(url, body, 64, 4)
        server.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.stop()
    if result["non_2xx"]:
        raise SystemExit(f"{tree}: {result['non_2xx']:g} answers were not 2xx")
    requests = result["requests"]
    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    by_function: dict[str, float] = {}
    for (file, _, name), (_, calls, *_rest) in stats.items():
        where = file.split("/src/")[-1] if "/src/" in file else Path(file).name
        key = f"{where}:{name}"
        by_function[key] = by_function.get(key, 0.0) + calls / requests
    return sum(by_function.values()), by_function


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("trees", nargs="+", type=Path, help="folders holding src/")
    ap.add_argument("--model", default="tabular", choices=("tabular", "mlp"))
    ap.add_argument("--top", type=int, default=0, help="functions to list by difference")
    args = ap.parse_args()
    counts = {tree: profile(tree, args.model) for tree in args.trees}
    for tree, (total, _) in counts.items():
        print(f"{tree.name:14} {args.model}  {total:7.1f} calls/request", flush=True)
    first = counts[args.trees[0]][1]
    for tree in args.trees[1:] if args.top else []:
        other = counts[tree][1]
        ranked = sorted(
            set(first) | set(other), key=lambda k: -abs(other.get(k, 0) - first.get(k, 0))
        )
        print(f"\n{args.trees[0].name} → {tree.name}: largest differences (calls/request)")
        for key in ranked[: args.top]:
            print(f"  {first.get(key, 0):7.2f} → {other.get(key, 0):7.2f}  {key}")


if __name__ == "__main__":
    main()
