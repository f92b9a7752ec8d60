"""Benchmark: is tracing free when it is off? ``inferd serve`` from this tree (tracing code
present, no collector configured) against the same server without the tracing code.

    git worktree add --detach /tmp/inferd-base HEAD
    (cd /tmp/inferd-base && git revert --no-commit COMMIT...)   # the tracing commits
    git worktree add --detach /tmp/inferd-head HEAD
    .venv/bin/python bench/tracing_off.py --baseline /tmp/inferd-base --tree /tmp/inferd-head

Both run on this venv's interpreter and packages, each tree's source first on PYTHONPATH.
Each pass runs both, alternating which goes first, pinned to $SERVER_CPUS with the shared
harness's wrk on $LOAD_CPUS (concurrency 1, 8, 64, tabular by default); medians of the passes
are printed as a Markdown table for docs/benchmarks.md, led by the server's CPU time
per request (steadier on a shared machine, where req/s moves with whatever else runs).

Then, without HTTP or wrk, the request path itself: each arm in its own process calls the v2
inference handler of a data plane serving the model in process, one request at a time
(decode, batcher, model, encode), and reports the best of 7 rounds of 5,000 in µs a request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve_bench import HARNESS, INFERD, SERVER_CPUS, ladder, push_models, stop, verify
from served import free_port


def run(home: Path, model: str, src: Path | None, args: argparse.Namespace) -> list[dict]:
    env = {**os.environ, "INFERD_HOME": str(home)}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)  # tracing off in both
    if src is not None:
        env["PYTHONPATH"] = str(src)
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPUS, *INFERD, "serve", f"{model}:v1", "--port", str(port),
         "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v2/models/{model}/infer"
        verify(url, "v2", model)
        return ladder(url, f"v2-{model}.json", proc.pid, "inferd", args)
    finally:
        stop(proc)


#: One arm's request path in process: the v2 handler over a served data plane, sequentially.
_IN_PROCESS = """
import sys, time
from pathlib import Path
import uvloop
from inferd.config import ServerSettings, StoreSettings
from inferd.protocols.http.messages import Request
from inferd.protocols.v2.handlers import V2Handlers
from inferd.server import build_server

home, model, body = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]).read_bytes()

async def main():
    settings = ServerSettings(port=0, grpc_port=None, control_port=None,
                              control_grpc_port=None, store=StoreSettings(home=home))
    server = build_server(settings, [model + ":v1"], control=False)
    await server.start()
    handlers = V2Handlers(server.dataplane, settings.limits, lambda: b"")
    path, headers = f"/v2/models/{model}/infer", {"content-type": "application/json"}
    rounds = []
    for n in (2000, *[5000] * 7):
        began = time.perf_counter()
        for _ in range(n):
            await handlers.infer(Request("POST", path, "", dict(headers), body,
                                         params={"model": model}))
        rounds.append((time.perf_counter() - began) / n * 1e6)
    print(min(rounds[1:]))
    await server.shutdown()

uvloop.run(main())
"""


def in_process(home: Path, model: str, src: Path | None) -> float:
    """µs a request through the v2 handler and data plane of ``src`` (None: this tree)."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    body = HARNESS / "bodies" / f"v2-{model}.json"
    out = subprocess.run(
        ["taskset", "-c", SERVER_CPUS, sys.executable, "-c", _IN_PROCESS, str(home), model,
         str(body)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True, help="tree without the tracing code")
    ap.add_argument(
        "--tree",
        type=Path,
        help="tree with the tracing code (default: this checkout as installed; a worktree of "
        "the same commit keeps uncommitted work out of the measurement)",
    )
    ap.add_argument("--model", default="tabular", choices=("tabular", "mlp"))
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    current = args.tree.resolve() / "src" if args.tree is not None else None
    arms = {"without tracing code": args.baseline.resolve() / "src", "tracing code, off": current}
    rows: dict[str, dict[int, list[dict]]] = {arm: {} for arm in arms}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="inferd-bench-home-") as tmp:
        home = Path(tmp) / "home"
        push_models(home)
        for n in range(args.passes):
            order = list(arms) if n % 2 == 0 else list(reversed(arms))
            for arm in order:
                for row in run(home, args.model, arms[arm], args):
                    rows[arm].setdefault(row["concurrency"], []).append(row)
                    print(json.dumps({"arm": arm, "pass": n, **row}), flush=True)
        paths: dict[str, list[float]] = {arm: [] for arm in arms}
        for n in range(args.passes):
            for arm in list(arms) if n % 2 == 0 else list(reversed(arms)):
                paths[arm].append(in_process(home, args.model, arms[arm]))
                print(json.dumps({"arm": arm, "pass": n, "in_process_us": paths[arm][-1]}))
    print(f"\n{args.model}, {args.passes} passes of {args.duration} s, load average {load:.2f} "
          f"before, {os.getloadavg()[0]:.2f} after ({time.strftime('%Y-%m-%d')})\n")  # fmt: skip
    # Server CPU per request is what tracing-off could cost; unlike req/s, it does not move
    # when other work on the shared machine takes some of the server's core.
    print("| concurrency | arm | server CPU µs/request (median) | req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for c in sorted(rows["tracing code, off"]):
        for arm in arms:
            got = rows[arm][c]
            cpu = statistics.median(r["server_cpu_cores"] / r["rps"] * 1e6 for r in got)
            rps = statistics.median(r["rps"] for r in got)
            p50 = statistics.median(r["p50_ms"] for r in got)
            p99 = statistics.median(r["p99_ms"] for r in got)
            print(f"| {c} | {arm} | {cpu:.1f} | {rps:,.0f} | {p50:.3f} | {p99:.3f} |")
    print("\n| request path in process | µs a request (median of passes, each the best of 7) |")
    print("|---|---|")
    for arm in arms:
        print(f"| {arm} | {statistics.median(paths[arm]):.2f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
