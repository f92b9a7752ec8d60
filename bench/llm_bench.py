"""Benchmark: generation on inferd's llamacpp runtime beside llama.cpp's own ``llama-server``.

    .venv/bin/python bench/llm_bench.py [--models tiny,85m] [--concurrency 1,4,8]
                                        [--duration 20] [--llama-server PATH]
                                        [--servers llama-server,inferd,inferd-gateway]

Both servers get the same generated model (examples/llm/make_model.py: the tiny one, and a
12-layer, 768-wide, about 85M-parameter one, F16, random weights), the same core
($SERVER_CPUS, one llama.cpp thread each) and 8 sequences decoded together; the client runs on
$LOAD_CPUS, and the same KV cache (one cache of 8,192 cells shared by the slots, or 8 whole
contexts when that is less). Each request is an OpenAI ``/v1/completions`` stream of
``max_tokens=64`` with the end-of-generation tokens banned through ``logit_bias``, so every
request runs to 64 tokens (and the non-ASCII byte tokens, so that every token is text at once).
Tokens are counted from each answer's ``usage`` (``stream_options.include_usage``), not from
SSE chunks (a byte token can end mid-character, so chunks and tokens differ). For each
concurrency, closed-loop clients send requests for ``--duration`` seconds, then the requests in
flight finish; aggregate tokens/s is every generated token over that whole time. TTFT is the
time from sending a request to its first chunk of text. A stream that ends without
``[DONE]``, or with an error, counts as interrupted.

``inferd-gateway`` is the same ``inferd serve`` behind ``inferd up``'s gateway (a process of
its own on $GATEWAY_CPUS, by default the client's core, relaying the OpenAI routes as it does
for a deployment ``llm``): what a client of the gateway pays for the relay, against ``inferd``
straight.
``--gateway PORT REPLICA_URL`` is that gateway process itself (used internally).

``llama-server`` comes from ``bench/build_llama_server.sh`` (llama.cpp from the same
llama-cpp-python source distribution inferd runs on). Results go to
bench/results/llm-<time>.jsonl and are printed as a table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from served import free_port

from inferd.runtimes.llamacpp.runtime import KV_CELLS

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "0")
#: Where the gateway runs: beside the client by default, not on the model's core, where every
#: relayed token would wait behind the CPU-bound decode loop for the scheduler to wake it.
GATEWAY_CPUS = os.environ.get("GATEWAY_CPUS", LOAD_CPUS)
INFERD = str(Path(sys.executable).with_name("inferd"))
LLAMA_SERVER = ROOT / "bench" / ".cache" / "build" / "bin" / "llama-server"
SLOTS = 8
MAX_TOKENS = 64
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
#: name → make_model sizes.
MODELS: dict[str, dict[str, int]] = {
    "tiny": {},
    "85m": {"layers": 12, "embedding": 768, "heads": 12, "feed_forward": 2048, "context": 2048},
}


def make_model_module() -> ModuleType:
    path = ROOT / "examples" / "llm" / "make_model.py"
    spec = importlib.util.spec_from_file_location("make_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pinned(cpus: str, *argv: str) -> list[str]:
    return ["taskset", "-c", cpus, *argv]


def wait_ready(url: str, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}{path} was not ready within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def one(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> tuple[float | None, int, bool]:
    """(TTFT, completion tokens, interrupted) of one streamed completion."""
    started = time.perf_counter()
    first: float | None = None
    tokens, done = 0, False
    try:
        async with client.stream("POST", f"{url}/v1/completions", json=body) as answer:
            if answer.status_code != 200:
                await answer.aread()
                return None, 0, True
            async for line in answer.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    break
                event = json.loads(data)
                choices = event.get("choices") or []
                if first is None and choices and choices[0].get("text"):
                    first = time.perf_counter() - started
                usage = event.get("usage")
                if usage:
                    tokens = int(usage["completion_tokens"])
    except httpx.HTTPError:
        return first, tokens, True
    return first, tokens, not done


async def load(url: str, body: dict[str, Any], concurrency: int, seconds: float) -> dict[str, Any]:
    ttfts: list[float] = []
    tokens = requests = interrupted = 0
    stop_at = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens, requests, interrupted
        while time.perf_counter() < stop_at:
            ttft, n, cut = await one(client, url, body)
            requests += 1
            tokens += n
            interrupted += cut
            if ttft is not None:
                ttfts.append(ttft)

    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(ttfts)

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "requests": requests,
        "tokens": tokens,
        "seconds": round(elapsed, 2),
        "tokens_per_s": round(tokens / elapsed, 1),
        "ttft_p50_ms": round(quantile(0.5), 1),
        "ttft_p99_ms": round(quantile(0.99), 1),
        "ttft_mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else 0.0,
        "interrupted": interrupted,
    }


def body_for(model: str, banned: list[int]) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": PROMPT,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "logit_bias": {str(t): -100 for t in banned},
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def start_inferd(home: Path, model: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INFERD_HOME": str(home), "INFERD_INTRA_OP_THREADS": "1"}
    subprocess.run([INFERD, "push", str(model), "llm:bench", "-q"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    argv = [INFERD, "serve", "llm:bench", "--port", str(port), "--grpc-port", "0",
            "--control-port", "0", "--control-grpc-port", "0"]  # fmt: skip
    return subprocess.Popen(pinned(SERVER_CPUS, *argv), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def kv_cells(context: int) -> int:
    """The KV cache inferd's llamacpp runtime gives a model of this context (its KV_CELLS rule),
    given to llama-server too, so both hold the same number of cells."""
    return max(context, min(SLOTS * context, KV_CELLS))


def start_llama_server(
    binary: Path, model: Path, port: int, context: int, per_slot_cache: bool
) -> subprocess.Popen[bytes]:
    argv = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
            "-t", "1", "-tb", "1", "--parallel", str(SLOTS), "--no-webui"]  # fmt: skip
    if per_slot_cache:  # llama-server's own default: a cache per slot, each the whole context
        argv += ["-c", str(SLOTS * context), "--no-kv-unified"]
    else:
        argv += ["-c", str(kv_cells(context)), "--kv-unified"]
    return subprocess.Popen(pinned(SERVER_CPUS, *argv),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def run_gateway(port: int, replica: str) -> None:
    """The gateway process: one deployment ``llm`` → the replica."""
    import signal

    import uvloop

    from inferd.config import LimitSettings
    from inferd.control.gateway import Gateway
    from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute

    host, replica_port = replica.removeprefix("http://").split(":")
    rep = Replica("v1-0", "llm", "v1", host, int(replica_port), "ready")
    route = DeploymentRoute("llm", (VersionRoute("v1", "llm", "llm:bench", 100, (rep,)),))

    async def serve() -> None:
        gateway = Gateway("127.0.0.1", port, limits=LimitSettings())
        await gateway.start()
        gateway.update(Topology({"llm": route}, 1))
        stopped = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        await stopped.wait()
        await gateway.stop(5)

    uvloop.run(serve())


def start_gateway(replica: str, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, __file__, "--gateway", str(port), replica]
    return subprocess.Popen(pinned(GATEWAY_CPUS, *argv),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--gateway":
        run_gateway(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="tiny,85m")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--llama-server", type=Path, default=LLAMA_SERVER)
    parser.add_argument(
        "--servers",
        default="llama-server,inferd",
        help="llama-server (inferd's KV cache), llama-server-per-slot (its default: a whole "
        "context per slot), inferd, inferd-gateway (inferd behind the gateway)",
    )
    args = parser.parse_args()
    if "llama-server" in args.servers and not args.llama_server.exists():
        raise SystemExit(f"{args.llama_server} is missing: run bench/build_llama_server.sh")
    os.sched_setaffinity(0, {int(c) for c in LOAD_CPUS.split(",")})
    maker = make_model_module()
    tokens, _, _ = maker.vocabulary()
    # The end-of-generation tokens (every request runs to max_tokens), and the byte tokens of
    # 0x80-0xFF: random weights string them into invalid UTF-8, which llama-server never sends
    # as text, so TTFT could not be seen. Token i < 256 is byte i in this vocabulary.
    banned = [tokens.index(t) for t in maker.CONTROL] + list(range(0x80, 0x100))
    levels = [int(c) for c in args.concurrency.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llm-bench-") as scratch:
        work = Path(scratch)
        for name in args.models.split(","):
            sizes = MODELS[name]
            model = maker.make_model(work / f"{name}.gguf", **sizes)
            context = sizes.get("context", maker.CONTEXT)
            for server in args.servers.split(","):
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                gateway: subprocess.Popen[bytes] | None = None
                if server in ("inferd", "inferd-gateway"):
                    proc = start_inferd(work / f"home-{name}-{server}", model, port)
                    wait_ready(url, "/v2/health/ready")
                    if server == "inferd-gateway":
                        front = free_port()
                        gateway = start_gateway(url, front)
                        url = f"http://127.0.0.1:{front}"
                        wait_ready(url, "/v2/health/ready")
                else:
                    proc = start_llama_server(
                        args.llama_server, model, port, context, server == "llama-server-per-slot"
                    )
                    wait_ready(url, "/health")
                try:
                    body = body_for("llm", banned)
                    asyncio.run(load(url, body, 1, 2.0))  # warm-up
                    for c in levels:
                        result = asyncio.run(load(url, body, c, args.duration))
                        row = {"model": name, "server": server, "concurrency": c, **result}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                finally:
                    if gateway is not None:
                        stop(gateway)
                    stop(proc)
    out = ROOT / "bench" / "results" / f"llm-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.parent.mkdir(exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"\n{table(rows)}\nresults: {out.relative_to(ROOT)}")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | server | c | tokens/s (aggregate) | TTFT p50 | TTFT p99 | requests "
        "| interrupted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['server']} | {r['concurrency']} | {r['tokens_per_s']:,.1f} | "
            f"{r['ttft_p50_ms']:.1f} ms | {r['ttft_p99_ms']:.1f} ms | {r['requests']} | "
            f"{r['interrupted']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
