"""Slowloris (RELIABILITY R16): healthy clients' latency on a real ``inferd serve`` while one
process holds thousands of connections that trickle their headers a byte at a time.

    .venv/bin/python bench/slowloris.py                       # 2,000 connections, 1 byte/s
    .venv/bin/python bench/slowloris.py --conns 2000 --trickle-s 10 --attack-s 40

Phases: healthy load alone (the baseline), then the same load while an attacker process keeps
``--conns`` slow connections open (each reconnects as soon as the server cuts it). Healthy load
is open-loop at ``--rps`` over keep-alive connections. Reported: healthy p50/p99 in each phase
and their ratio (R16's target: at most 2), healthy failures, how long the server let each slow
connection live (R16: closed at the header timeout, 10 s by default) and how it ended (408 or a
silent close), and the server's RSS and open descriptors under attack. The file-descriptor
limit is raised for this process and the server it starts. Results go to
``bench/results/slowloris-<time>.json``; the summary is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
from served import Served, run_saved

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
BODY = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}]}
#: What a slow connection trickles: a request whose headers never end.
PREFIX = b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 4000


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def quantile_ms(values: list[float], q: int) -> float:
    if len(values) < 2:
        return round(values[0] * 1000, 2) if values else 0.0
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 2)


# -- the attacker (a child process: its event loop never delays the healthy clients') ----------


async def slow_connection(port: int, trickle_s: float, until: float, stats: Counter[str],
                          lifetimes: list[float]) -> None:  # fmt: skip
    """Hold one slow connection until ``until``: trickle a byte every ``trickle_s``; when the
    server cuts it, note how long it lived and how it ended, and connect again."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(0.5)
            continue
        opened = time.monotonic()
        stats["opened"] += 1

        async def trickle(writer: asyncio.StreamWriter = writer) -> None:
            for byte in PREFIX:
                writer.write(bytes([byte]))
                await asyncio.sleep(trickle_s)

        sender = asyncio.create_task(trickle())
        try:
            answer = await asyncio.wait_for(reader.read(64), timeout=until - time.monotonic())
            with contextlib.suppress(OSError):
                answer += await reader.read()
        except TimeoutError:
            stats["held_to_end"] += 1
            answer = None
        except OSError:
            answer = b""
        sender.cancel()
        writer.close()
        if answer is not None:
            lifetimes.append(time.monotonic() - opened)
            stats["cut_408" if answer.startswith(b"HTTP/1.1 408") else "cut_silently"] += 1


async def attack(port: int, conns: int, trickle_s: float, duration_s: float) -> dict[str, object]:
    until = time.monotonic() + duration_s
    stats: Counter[str] = Counter()
    lifetimes: list[float] = []
    tasks = []
    for i in range(conns):
        tasks.append(asyncio.create_task(slow_connection(port, trickle_s, until, stats, lifetimes)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)  # the listen backlog is 1,024
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.gather(*tasks)
    return {
        **stats,
        "lifetime_s_p50": round(statistics.median(lifetimes), 2) if lifetimes else None,
        "lifetime_s_max": round(max(lifetimes), 2) if lifetimes else None,
    }


def attacker_main(args: argparse.Namespace) -> None:
    result = asyncio.run(attack(args.port, args.conns, args.trickle_s, args.duration_s))
    print(json.dumps(result), flush=True)


# -- the measuring side ------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        env = {"INFERD_LIMITS__HEADER_TIMEOUT_S": str(args.header_timeout_s)}
        self.server = Served(home, env)

    def start(self) -> None:
        self.server.push(QUICKSTART / "fraud-v1", "fraud:v1")
        self.server.start(["fraud:v1"], self.home / "serve.log")

    async def healthy(self, duration_s: float) -> dict[str, object]:
        """Open-loop load at ``--rps`` for ``duration_s``: latencies and outcomes."""
        latencies: list[float] = []
        outcomes: Counter[str] = Counter()

        async def one(client: httpx.AsyncClient) -> None:
            started = time.perf_counter()
            try:
                response = await client.post("/v2/models/fraud/infer", json=BODY)
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1
                return
            outcomes[str(response.status_code)] += 1
            latencies.append(time.perf_counter() - started)

        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(
            base_url=self.server.base, limits=limits, timeout=30
        ) as client:
            for _ in range(50):  # warm the pool and the model
                await one(client)
            latencies.clear()
            outcomes.clear()
            tasks: set[asyncio.Task[None]] = set()
            interval = 1.0 / self.args.rps
            next_at = time.monotonic()
            until = next_at + duration_s
            while next_at < until:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                task = asyncio.create_task(one(client))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += interval
            await asyncio.gather(*tasks)
        return {
            "requests": sum(outcomes.values()),
            "outcomes": dict(outcomes),
            "p50_ms": quantile_ms(latencies, 50),
            "p99_ms": quantile_ms(latencies, 99),
        }

    def run(self) -> dict[str, object]:
        assert self.server.proc is not None
        server = psutil.Process(self.server.proc.pid)
        baseline = asyncio.run(self.healthy(self.args.baseline_s))
        rss_before, fds_before = server.memory_info().rss, server.num_fds()
        attacker = subprocess.Popen(
            [sys.executable, __file__, "--attacker", "--port", str(self.server.port),
             "--conns", str(self.args.conns), "--trickle-s", str(self.args.trickle_s),
             "--duration-s", str(self.args.attack_s + 15)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert attacker.stdout is not None
        attacker.stdout.readline()  # {"ready": true}: every slow connection has been started
        time.sleep(3)  # let them all connect
        fds_attack = server.num_fds()
        under_attack = asyncio.run(self.healthy(self.args.attack_s))
        rss_attack, fds_end = server.memory_info().rss, server.num_fds()
        slow = json.loads(attacker.communicate(timeout=120)[0].decode().strip().splitlines()[-1])
        base_p99 = float(str(baseline["p99_ms"]))
        return {
            "conns": self.args.conns,
            "trickle_s": self.args.trickle_s,
            "header_timeout_s": self.args.header_timeout_s,
            "rps": self.args.rps,
            "baseline": baseline,
            "under_attack": under_attack,
            "p99_ratio": round(float(str(under_attack["p99_ms"])) / base_p99, 2),
            "slow_connections": slow,
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
            "server_fds": {"before": fds_before, "attack_start": fds_attack, "attack_end": fds_end},
            "server_rss_mb": {
                "before": round(rss_before / 1e6, 1),
                "attack": round(rss_attack / 1e6, 1),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conns", type=int, default=2000, help="slow connections held open")
    parser.add_argument("--trickle-s", type=float, default=1.0, help="seconds between bytes")
    parser.add_argument("--rps", type=float, default=100.0, help="healthy request rate")
    parser.add_argument("--baseline-s", type=float, default=20.0)
    parser.add_argument("--attack-s", type=float, default=30.0)
    parser.add_argument("--header-timeout-s", type=float, default=10.0)
    parser.add_argument("--attacker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--duration-s", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        attacker_main(args)
        return
    limit = raise_fd_limit(2 * args.conns + 1024)
    if limit < args.conns + 256:
        raise SystemExit(f"the descriptor limit ({limit}) is too low for {args.conns} connections")
    with tempfile.TemporaryDirectory(prefix="inferd-slowloris-") as tmp:
        result, _ = run_saved("slowloris", Bench(args, Path(tmp)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
