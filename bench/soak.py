"""Soak (RELIABILITY R28): a real ``inferd serve`` at a fixed request rate for N minutes, with
hot swaps (load v2, load v1 back) and unload/load cycles through the control plane, reporting
how RSS and open file descriptors drift.

    .venv/bin/python bench/soak.py --minutes 30 --rps 200 --cycle-s 20
    make soak                                   # the same, 30 minutes

Each sample (every ``--sample-s``) records the server's RSS, open fds, threads, the requests
sent and their outcomes, and the interval's p50/p99. A leak shows as RSS or fds that keep
growing after warm-up; the summary compares the first sample after warm-up with the last.
Results go to ``bench/results/soak-<time>.jsonl``; the summary line is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
from served import Served

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
RESULTS = ROOT / "bench" / "results"
BODY = {
    "inputs": [
        {
            "name": "input",
            "shape": [1, 8],
            "datatype": "FP32",
            "data": [0.5] * 8,
        }
    ]
}


class Soak:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        self.server = Served(home)
        self.outcomes: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.control: Counter[str] = Counter()

    def start(self) -> None:
        for version in ("v1", "v2"):
            self.server.push(QUICKSTART / f"fraud-{version}", f"fraud:{version}")
        self.server.start(["fraud:v1"], self.home / "serve.log")

    async def load(self, client: httpx.AsyncClient, until: float) -> None:
        """Open-loop requests at ``--rps``: each is sent on schedule, never waiting for others."""
        interval = 1.0 / self.args.rps
        tasks: set[asyncio.Task[None]] = set()
        next_at = time.monotonic()
        while next_at < until:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            task = asyncio.create_task(self.one(client))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
        await asyncio.gather(*tasks)

    async def one(self, client: httpx.AsyncClient) -> None:
        started = time.perf_counter()
        try:
            response = await client.post("/v2/models/fraud/infer", json=BODY)
            self.outcomes[str(response.status_code)] += 1
        except httpx.HTTPError as exc:
            self.outcomes[type(exc).__name__] += 1
            return
        self.latencies.append(time.perf_counter() - started)

    async def cycles(self, until: float) -> None:
        """Swap to v2 and back, then unload and load again, every ``--cycle-s`` seconds."""
        headers = {"Authorization": f"Bearer {self.server.token}"}
        steps = [
            ("load", {"parameters": {"reference": "fraud:v2"}}),
            ("load", {"parameters": {"reference": "fraud:v1"}}),
            ("unload", {}),
            ("load", {"parameters": {"reference": "fraud:v1"}}),
        ]
        url = f"http://127.0.0.1:{self.server.control_port}/v2/repository/models/fraud"
        async with httpx.AsyncClient(headers=headers, timeout=60) as control:
            step = 0
            while time.monotonic() + self.args.cycle_s < until:
                await asyncio.sleep(self.args.cycle_s)
                action, body = steps[step % len(steps)]
                response = await control.post(f"{url}/{action}", json=body)
                self.control[f"{action}:{response.status_code}"] += 1
                step += 1
            if step % len(steps) == 3:  # left unloaded: load it back for the final samples
                await control.post(f"{url}/load", json=steps[3][1])

    async def sample(self, until: float, out: list[dict[str, object]]) -> None:
        assert self.server.proc is not None
        proc = psutil.Process(self.server.proc.pid)
        started = time.monotonic()
        while time.monotonic() < until:
            await asyncio.sleep(self.args.sample_s)
            latencies, self.latencies = self.latencies, []
            quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0]
            record: dict[str, object] = {
                "t_s": round(time.monotonic() - started, 1),
                "rss_mb": round(proc.memory_info().rss / 1e6, 1),
                "fds": proc.num_fds(),
                "threads": proc.num_threads(),
                "requests": sum(self.outcomes.values()),
                "outcomes": dict(self.outcomes),
                "control": dict(self.control),
                "p50_ms": round(quantiles[len(quantiles) // 2] * 1000, 2),
                "p99_ms": round(quantiles[-1] * 1000, 2),
            }
            out.append(record)
            print(json.dumps(record), flush=True)

    async def run(self) -> list[dict[str, object]]:
        until = time.monotonic() + self.args.minutes * 60
        samples: list[dict[str, object]] = []
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=self.server.base, limits=limits, timeout=30
        ) as client:
            await asyncio.gather(
                self.load(client, until), self.cycles(until), self.sample(until, samples)
            )
        return samples


def summary(samples: list[dict[str, object]], warmup_s: float, code: int) -> dict[str, object]:
    settled = [s for s in samples if float(str(s["t_s"])) >= warmup_s] or samples
    first, last = settled[0], settled[-1]
    outcomes = Counter(last["outcomes"] if isinstance(last["outcomes"], dict) else {})
    return {
        "summary": True,
        "minutes": round(float(str(last["t_s"])) / 60, 1),
        "requests": last["requests"],
        "outcomes": dict(outcomes),
        "control": last["control"],
        "rss_mb_after_warmup": first["rss_mb"],
        "rss_mb_end": last["rss_mb"],
        "rss_mb_max": max(float(str(s["rss_mb"])) for s in samples),
        "fds_after_warmup": first["fds"],
        "fds_end": last["fds"],
        "threads_end": last["threads"],
        "p99_ms_max": max(float(str(s["p99_ms"])) for s in settled),
        "exit_code": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--cycle-s", type=float, default=20.0, help="seconds between swaps")
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--warmup-s", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inferd-soak-") as tmp:
        soak = Soak(args, Path(tmp))
        soak.start()
        try:
            samples = asyncio.run(soak.run())
        finally:
            code = soak.server.stop()
    result = summary(samples, args.warmup_s, code)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in [*samples, result]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
