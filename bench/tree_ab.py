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
$SERVER_CPUS, wait for its first 200 to the harness's body, a discarded 2 s wrk run, then the
measured ``wrk -t1 -cC`` on $LOAD_CPUS, reading the server's CPU time (every thread, from
/proc) before and after. A non-2xx answer fails the run. Prints one line per run and a mean per
tree; a later tree in the list is never favoured by order, since the rounds alternate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from served import cpu_seconds, free_port

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench")).resolve()
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/inferd-bench"))
MODELS_DIR = Path(os.environ.get("MODELS_DIR", BENCH_DIR / "models"))
SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "0")
INFERD = str(Path(sys.executable).with_name("inferd"))


def wrk(url: str, body: Path, connections: int, seconds: int) -> tuple[float, int, str]:
    """req/s, requests and latency (p50, p99) of one wrk run; non-2xx answers are an error."""
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPUS, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "--latency", "-s", str(HARNESS / "post.lua"), url],
        capture_output=True, text=True, check=True, env={**os.environ, "BODY_FILE": str(body)},
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    summary = json.loads(line.removeprefix("BENCH_JSON "))
    if summary["non_2xx"]:
        raise SystemExit(f"{summary['non_2xx']} answers were not 2xx:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, p99 = re.search(r"50%\s+(\S+)", out), re.search(r"99%\s+(\S+)", out)
    latency = f"p50 {p50.group(1) if p50 else '?'}  p99 {p99.group(1) if p99 else '?'}"
    return rps, int(summary["requests"]), latency


def prepare(tree: Path, model: str) -> dict[str, str]:
    """The environment of ``tree``'s commands, its model pushed once with its own code."""
    home = BENCH_DIR / "tree-ab" / tree.name
    env = {**os.environ, "INFERD_HOME": str(home), "PYTHONPATH": str(tree / "src")}
    if not (home / f"pushed-{model}").exists():
        folder = home.parent / f"{tree.name}-{model}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes((MODELS_DIR / f"{model}.onnx").read_bytes())
        subprocess.run([INFERD, "push", "-q", str(folder), f"{model}:v1"], check=True, env=env,
                       capture_output=True)  # fmt: skip
        (home / f"pushed-{model}").touch()
    return env


def one_run(tree: Path, args: argparse.Namespace) -> tuple[float, float, str]:
    """req/s, server CPU µs per request and latency of one measured run on ``tree``."""
    env = prepare(tree, args.model)
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", SERVER_CPUS, INFERD, "serve", f"{args.model}:v1", "--port", str(port),
         "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v2/models/{args.model}/infer"
    body = HARNESS / "bodies" / f"v2-{args.model}.json"
    try:
        request = urllib.request.Request(
            url, body.read_bytes(), {"Content-Type": "application/json"}
        )
        for _ in range(600):
            if server.poll() is not None:
                raise SystemExit(f"{tree}: the server exited with {server.returncode}")
            try:
                with urllib.request.urlopen(request, timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        wrk(url, body, args.concurrency, 2)
        before = cpu_seconds(server.pid)
        rps, requests, latency = wrk(url, body, args.concurrency, args.duration)
        return rps, (cpu_seconds(server.pid) - before) / requests * 1e6, latency
    finally:
        server.terminate()
        server.wait()


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
