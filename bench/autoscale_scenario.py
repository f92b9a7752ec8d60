"""Scenario: a bursty load replayed against `inferd up` with autoscaling; prints the replica
count over time and the p99 latency, per second and per phase.

    .venv/bin/python bench/autoscale_scenario.py [--out docs/autoscaling-scenario.txt]

Everything is made here: a store in a temporary $INFERD_HOME holding a model built in code
(an ONNX graph doing a 384x384 matrix product per request, a few milliseconds of CPU, so one
replica saturates under a burst), a spec scaling on concurrency (target 2 per replica, 0-4
replicas, scale to zero after 4 s idle), and closed-loop clients on keep-alive connections.
The phases: quiet, a burst of 8 clients, a trickle of 1, a burst of 12, silence (scale to
zero), then one request that cold-starts a replica. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import orjson
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
INFERD = [sys.executable, "-c", "import sys; from inferd.cli import main; sys.exit(main())"]
#: (name, closed-loop clients, seconds, pause between one client's requests)
PHASES = [("quiet", 0, 3, 0.0), ("burst", 8, 8, 0.0), ("trickle", 1, 6, 0.0),
          ("burst", 12, 8, 0.0), ("silence", 0, 9, 0.0), ("first request", 1, 3, 0.2)]  # fmt: skip
SPEC = """apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 10s}
deployments:
  - name: heavy
    versions:
      - {name: v1, model: "heavy:v1", replicas: 1}
    batching: {max_batch_size: 1}
    autoscaling:
      min_replicas: 0
      max_replicas: 4
      metric: concurrency
      target: 2
      stable_window: 3s
      panic_window: 500ms
      scale_down_window: 2s
      scale_to_zero_after: 4s
      cold_start_timeout: 60s
"""
BODY = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}]}
)


def heavy_model(directory: Path, size: int = 384) -> Path:
    """input [-1, 8] → output [-1, 8], after a size x size matrix product that depends on it."""
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["matrix", "z"], ["a"]),
        helper.make_node("MatMul", ["a", "a"], ["p"]),
        helper.make_node("ReduceMax", ["p"], ["pm"], keepdims=0),
        helper.make_node("Mul", ["pm", "zero"], ["nothing"]),
        helper.make_node("Add", ["input", "nothing"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "heavy",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 8])],
        [numpy_helper.from_array(np.full((size, size), 1e-3, np.float32), "matrix"),
         numpy_helper.from_array(np.array(0.0, np.float32), "zero")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, directory / "model.onnx")
    return directory


class Clients:
    """A pool of closed-loop clients whose number can change; latencies per finish time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.wanted = 0
        self.pause_s = 0.0
        self.results: list[tuple[float, float, int]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def set(self, count: int) -> None:
        self.wanted = count
        while len(self._threads) < count:
            t = threading.Thread(target=self._run, args=(len(self._threads),), daemon=True)
            self._threads.append(t)
            t.start()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)
        while not self._stop.is_set():
            if index >= self.wanted:
                time.sleep(0.05)
                continue
            started = time.monotonic()
            try:
                conn.request("POST", "/v2/models/heavy/infer", BODY)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)
            done = time.monotonic()
            with self._lock:
                self.results.append((done, done - started, status))
            if self.pause_s:
                time.sleep(self.pause_s)
        conn.close()

    def window(self, start: float, end: float) -> list[tuple[float, float, int]]:
        with self._lock:
            return [r for r in self.results if start <= r[0] < end]


def p99(latencies: list[float]) -> str:
    return f"{np.percentile(latencies, 99) * 1000:7.1f}" if latencies else "      -"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the output to this file")
    args = parser.parse_args()
    from inferd.config import StoreSettings
    from inferd.control.admin.client import AdminClient
    from inferd.control.up_state import read_state
    from inferd.packaging import push
    from inferd.store import ModelStore

    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory(prefix="inferd-autoscale-") as tmp:
        home = Path(tmp) / "home"
        store = ModelStore.from_settings(StoreSettings(home=home))
        push(store, heavy_model(Path(tmp) / "heavy"), "heavy:v1")
        spec = Path(tmp) / "inferd.yaml"
        spec.write_text(SPEC)
        env = {**os.environ, "INFERD_HOME": str(home)}
        log = (Path(tmp) / "up.log").open("wb")
        up = subprocess.Popen([*INFERD, "up", str(spec)], env=env, stdout=log, stderr=log)
        try:
            while (
                read_state(home) is None
                or "status: inferd ps" not in (Path(tmp) / "up.log").read_text()
            ):
                if up.poll() is not None:
                    raise SystemExit((Path(tmp) / "up.log").read_text())
                time.sleep(0.1)
            admin = AdminClient(home)
            port = int(admin.state.gateway_url.rsplit(":", 1)[1])
            clients = Clients(port)
            say("  t(s)  phase          clients  ready  desired  reason              rps"
                "   p99 ms   errors")  # fmt: skip
            began = time.monotonic()
            per_phase: list[tuple[str, int, list[float], int]] = []
            for name, count, seconds, pause in PHASES:
                clients.pause_s = pause
                clients.set(count)
                phase_start = time.monotonic()
                while time.monotonic() - phase_start < seconds:
                    tick = time.monotonic()
                    time.sleep(1.0)
                    now = time.monotonic()
                    done = clients.window(tick, now)
                    status = admin.status()
                    ready = sum(r["state"] == "ready" and r["routed"] for r in status["replicas"])
                    scaling = (status["gateway"].get("autoscaling") or [{}])[0]
                    errors = sum(1 for r in done if r[2] != 200)
                    say(f"{now - began:6.1f}  {name:<14} {count:>7}  {ready:>5}  "
                        f"{scaling.get('desired', '-'):>7}  {scaling.get('reason', '-'):<18} "
                        f"{len(done) / (now - tick):5.0f}  {p99([r[1] for r in done])}  "
                        f"{errors:>7}")  # fmt: skip
                window = clients.window(phase_start, time.monotonic())
                per_phase.append((name, count, [r[1] for r in window],
                                  sum(1 for r in window if r[2] != 200)))  # fmt: skip
            clients.close()
            say("")
            say("phase          clients  requests   p99 ms  errors")
            for name, count, latencies, errors in per_phase:
                say(f"{name:<14} {count:>7}  {len(latencies):>8}  {p99(latencies)}  {errors:>6}")
            everything = [r[1] for r in clients.results]
            say(f"{'all':<14} {'':>7}  {len(everything):>8}  {p99(everything)}  "
                f"{sum(1 for r in clients.results if r[2] != 200):>6}")  # fmt: skip
            cold = [
                line for line in admin_metrics(port).splitlines()
                if line.startswith("inferd_autoscaler_cold_start_seconds_sum")
                or line.startswith("inferd_autoscaler_cold_start_seconds_count")
            ]  # fmt: skip
            say("")
            say("cold starts (from /metrics): " + "; ".join(cold))
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(60)
            log.close()
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


def admin_metrics(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
