"""Benchmark: the gateway's cost — the same load straight to one replica and through the gateway.

    .venv/bin/python bench/gateway_bench.py [--duration 5] [--warmup 1] [--concurrency 1,8,64]

One ``inferd serve fraud:v1`` replica (examples/quickstart) and one gateway process in front of
it, both pinned to $SERVER_CPUS with wrk (../shared/bench/post.lua) on $LOAD_CPUS, as the shared
harness pins a server. For each concurrency, in the same run and one after the other: wrk
straight to the replica, wrk through the proxy floor (bench/proxy_floor.py: the least a Python
reverse proxy on uvloop and httptools does, forwarding bytes), through the same floor pipelining
every request on one upstream connection (``--pipelined``), wrk through the gateway, and wrk
through a gateway that also mirrors every request to a shadow that never answers (R9: the
client must not pay for the shadow).
Results go to bench/results/gateway-<time>.jsonl and the "Gateway" section of
docs/benchmarks.md.

``--gateway-src PATH`` runs the gateway from another checkout's ``src`` (an A/B of two commits'
gateways against the same replica). ``--model mlp`` runs the shared harness's MLP instead (its
body; no doc update).
``--gateway MODEL PORT REPLICA_URL [SHADOW_URL]`` is the gateway process itself (used
internally).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from served import HARNESS, MODELS_DIR, cpu_seconds, free_port, wrk

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
INFERD = str(Path(sys.executable).with_name("inferd"))
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Gateway: through the gateway against straight to one replica"
BODY = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32",
                    "data": [0.5, -1.2, 3.3, 0.0, 2.5, -0.7, 1.1, 0.9]}]}  # fmt: skip
FLOOR = "proxy floor"
PIPELINED = "proxy floor, pipelined"


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} never became ready")


def pinned(cpus: str, *argv: str) -> list[str]:
    return ["taskset", "-c", cpus, *argv]


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(
    url: str, body: Path, concurrency: int, args: argparse.Namespace, replica: int, gateway: int
) -> dict[str, float]:
    """One measured wrk run, with the CPU time per request of the replica and (0 for the
    direct path, ``gateway`` 0) of the gateway process, from /proc."""
    path = f"/v2/models/{args.model}/infer"
    wrk(url + path, body, concurrency, args.warmup)
    before = (cpu_seconds(replica), cpu_seconds(gateway) if gateway else 0.0)
    result = wrk(url + path, body, concurrency, args.duration)
    after = (cpu_seconds(replica), cpu_seconds(gateway) if gateway else 0.0)
    n = max(result["requests"], 1)
    result["replica_cpu_us"] = round((after[0] - before[0]) / n * 1e6, 1)
    result["gateway_cpu_us"] = round((after[1] - before[1]) / n * 1e6, 1)
    return result


def run_gateway(model: str, port: int, replica: str, shadow: str | None) -> None:
    """The gateway process: one deployment ``model`` → the replica (and the shadow)."""
    import uvloop

    from inferd.config import LimitSettings
    from inferd.control.gateway import Gateway
    from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute

    def version(name: str, weight: float, url: str) -> VersionRoute:
        host, p = url.removeprefix("http://").split(":")
        rep = Replica(f"{name}-0", model, name, host, int(p), "ready")
        return VersionRoute(name, model, f"{model}:{name}", weight, (rep,))

    versions = [version("v1", 100, replica)]
    if shadow is not None:
        versions.append(version("shadow", 0, shadow))
    route = DeploymentRoute(model, tuple(versions), shadow="shadow" if shadow else None)

    async def serve() -> None:
        gateway = Gateway("127.0.0.1", port, limits=LimitSettings())
        await gateway.start()
        gateway.update(Topology({model: route}, 1))
        stopped = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        await stopped.wait()
        await gateway.stop(5)

    uvloop.run(serve())


def section(rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    def ms(us: object) -> str:
        return f"{float(str(us)) / 1000:.2f}"

    lines = [
        SECTION,
        "",
        "One `inferd serve fraud:v1` replica (examples/quickstart, one row per request) and the",
        "gateway in front of it, both pinned to one core with wrk on the other (closed loop, one",
        "wrk thread). Same run, one after the other: straight to the replica; through the",
        "proxy floor (`bench/proxy_floor.py`: uvloop and httptools forwarding the bytes, no",
        "routing, metrics, limits or retries: what no Python proxy on this stack goes below);",
        "through the same floor pipelining every request on one upstream connection (one",
        "write and read a turn: what even a pipelining proxy would not go below);",
        "through the gateway; and through a gateway that mirrors every request to a shadow",
        "that never answers (its copies time out after 2 s, at most 64 in flight, the rest",
        "dropped).",
        "",
        "```console",
        f".venv/bin/python bench/gateway_bench.py --duration {args.duration:g} "
        f"--warmup {args.warmup:g} --concurrency {args.concurrency}",
        "```",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on a shared 2-core VM (load average "
        f"{args.load_before:.1f} before the run,",
        f"{os.getloadavg()[0]:.1f} after: other work shares the machine, so compare rows of one "
        "run, and read p99 as noise):",
        "",
        "| concurrency | path | req/s | p50 ms | p99 ms | errors | added p50 ms "
        "| replica CPU µs/request | proxy CPU µs/request |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        errors = int(str(row["non_2xx"])) + sum(
            int(str(row[k])) for k in ("err_connect", "err_read", "err_write", "err_timeout")
        )
        lines.append(
            f"| {row['concurrency']} | {row['path']} | {float(str(row['rps'])):,.0f} | "
            f"{ms(row['p50_us'])} | {ms(row['p99_us'])} | {errors} | {row['added_p50_ms']} | "
            f"{row['replica_cpu_us']} | {row['gateway_cpu_us'] or ''} |"
        )
    p50 = {(r["concurrency"], r["path"]): float(str(r["p50_us"])) / 1000 for r in rows}
    by = {(r["concurrency"], r["path"]): r for r in rows}
    shares = []
    for c in sorted({int(str(r["concurrency"])) for r in rows}):
        direct = float(str(by[(c, "direct")]["rps"]))
        shares.append(
            f"c={c}: the gateway {float(str(by[(c, 'gateway')]['rps'])) / direct:.0%} of direct "
            f"({by[(c, 'gateway')]['gateway_cpu_us']} µs of CPU a request), the proxy floor "
            f"{float(str(by[(c, FLOOR)]['rps'])) / direct:.0%} "
            f"({by[(c, FLOOR)]['gateway_cpu_us']} µs), pipelined "
            f"{float(str(by[(c, PIPELINED)]['rps'])) / direct:.0%} "
            f"({by[(c, PIPELINED)]['gateway_cpu_us']} µs)"
        )
    shadow_cost = ", ".join(
        f"{p50[(c, 'gateway + hanging shadow')] - p50[(c, 'gateway')]:+.2f} ms at c={c}"
        for c in sorted({int(str(r["concurrency"])) for r in rows})
    )
    lines += [
        "",
        "Through the gateway and through the proxy floor, against straight to the replica:",
        "",
    ]
    lines += [f"- {share}" for share in shares]
    lines += [
        "",
        "The gateway and the replica share one core here, so requests/s through the gateway",
        "are bounded by both processes' work per request together (the gateway parses, routes,",
        "re-sends each request and relays each response); what a core of its own would recover",
        "was not measured (the machine has two cores and wrk holds the other). The added p50 is",
        "the per-request cost of the extra hop. Over the plain gateway, a shadow that never",
        f"answers adds {shadow_cost} to the client's p50 (R9 asks < 1 ms):",
        "copies run in tasks of their own and are dropped beyond 64 in flight.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--gateway", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--model",
        choices=("fraud", "mlp"),
        default="fraud",
        help="fraud (examples/quickstart, the doc's section) or the shared harness's mlp "
        "(its models and body; implies --no-doc)",
    )
    parser.add_argument(
        "--gateway-src",
        type=Path,
        help="run the gateway processes from this checkout's src (PYTHONPATH), e.g. an older "
        "commit's, against the same replica and proxy floor",
    )
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    if args.gateway:
        model, port, replica, *shadow = args.gateway
        run_gateway(model, int(port), replica, (shadow or [None])[0])
        return

    sys.path.insert(0, str(ROOT / "bench"))
    from report import replace_section

    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    env = {**os.environ, "INFERD_HOME": str(tmp / "home")}
    body = tmp / "body.json"
    if args.model == "fraud":
        folder = ROOT / "examples/quickstart/fraud-v1"
        body.write_text(json.dumps(BODY))
    else:
        args.no_doc = True  # the section is the fraud model's
        folder = tmp / "mlp"
        folder.mkdir()
        # The shared harness's MLP (256 → 2048 → 2048 → 16) and its v2 request body.
        (folder / "model.onnx").write_bytes((MODELS_DIR / "mlp.onnx").read_bytes())
        body.write_bytes((HARNESS / "bodies" / "v2-mlp.json").read_bytes())
    subprocess.run([INFERD, "push", str(folder), f"{args.model}:v1"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    port, gw_port, shadow_gw_port = free_port(), free_port(), free_port()
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(4096)  # accepts into the backlog, never answers
    hang_url = f"http://127.0.0.1:{hang.getsockname()[1]}"
    replica_url = f"http://127.0.0.1:{port}"
    me = [sys.executable, str(Path(__file__).resolve()), "--gateway", args.model]
    floor_port, pipelined_port = free_port(), free_port()
    gateway_env = None
    if args.gateway_src is not None:  # A/B: the gateway from another checkout, all else the same
        gateway_env = {**os.environ, "PYTHONPATH": str(args.gateway_src.resolve())}
    procs = [
        start(pinned(SERVER_CPUS, INFERD, "serve", f"{args.model}:v1", "--port", str(port),
                     "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"),
              env),
        start(pinned(SERVER_CPUS, *me, str(gw_port), replica_url), gateway_env),
        start(pinned(SERVER_CPUS, *me, str(shadow_gw_port), replica_url, hang_url), gateway_env),
        start(pinned(SERVER_CPUS, sys.executable, str(ROOT / "bench" / "proxy_floor.py"),
                     str(floor_port), str(port))),
        start(pinned(SERVER_CPUS, sys.executable, str(ROOT / "bench" / "proxy_floor.py"),
                     str(pipelined_port), str(port), "--pipelined")),
    ]  # fmt: skip
    rows: list[dict[str, object]] = []
    try:
        for url in (
            replica_url,
            f"http://127.0.0.1:{gw_port}",
            f"http://127.0.0.1:{shadow_gw_port}",
            f"http://127.0.0.1:{floor_port}",
            f"http://127.0.0.1:{pipelined_port}",
        ):
            wait_ready(url)
        paths = (
            ("direct", replica_url, 0),
            (FLOOR, f"http://127.0.0.1:{floor_port}", procs[3].pid),
            (PIPELINED, f"http://127.0.0.1:{pipelined_port}", procs[4].pid),
            ("gateway", f"http://127.0.0.1:{gw_port}", procs[1].pid),
            ("gateway + hanging shadow", f"http://127.0.0.1:{shadow_gw_port}", procs[2].pid),
        )
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            direct_p50 = 0.0
            for name, url, gateway_pid in paths:
                result = measure(url, body, concurrency, args, procs[0].pid, gateway_pid)
                p50 = result["p50_us"] / 1000
                if name == "direct":
                    direct_p50 = p50
                added = "" if name == "direct" else f"{p50 - direct_p50:+.2f}"
                row = {"concurrency": concurrency, "path": name, **result, "added_p50_ms": added}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for proc in procs:
            stop(proc)
        hang.close()
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    out = results / f"gateway-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not args.no_doc:
        DOC.write_text(replace_section(DOC.read_text(), SECTION, section(rows, args)))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
