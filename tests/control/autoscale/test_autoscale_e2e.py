"""Autoscaling end to end (reliability row R30): a real `inferd up` scales a deployment 1 → N
under a burst and back to 1 with work in flight, and from zero on the first request."""

from __future__ import annotations

import http.client
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from inferd.packaging import push
from loadgen import LoadGenerator

from ..conftest import FRAUD_BODY, UpProcess, start_up
from ..rollout import models
from ..rollout.conftest import RandomLoad, rollout_store

pytestmark = pytest.mark.slow


def spec(model: str, replicas: int, autoscaling: str) -> str:
    return f"""apiVersion: inferd.dev/v1
kind: Stack
gateway: {{port: 0, drain_timeout: 10s}}
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "{model}", replicas: {replicas}}}
    batching: {{max_batch_size: 1}}
    autoscaling: {autoscaling}
"""


def up_with(tmp_path: Path, text: str) -> UpProcess:
    """``inferd up`` of ``text`` over the rollout models, fraud:broken (cannot load) included."""
    home = tmp_path / "home"
    store = rollout_store(home, tmp_path / "models")
    push(store, models.write(models.unloadable(), tmp_path / "broken"), "fraud:broken")
    path = tmp_path / "inferd.yaml"
    path.write_text(text)
    return start_up(home, path)


def scaling(up: UpProcess) -> dict[str, Any]:
    entries: list[dict[str, Any]] = up.ps()["gateway"]["autoscaling"]  # type: ignore[index]
    return entries[0] if entries else {}


def ready_replicas(up: UpProcess) -> int:
    replicas: list[dict[str, Any]] = up.ps()["replicas"]  # type: ignore[assignment]
    return sum(r["state"] == "ready" and r["routed"] for r in replicas)


def metrics_text(up: UpProcess) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", up.gateway_port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_burst_scales_out_and_back_without_errors(tmp_path: Path) -> None:
    up = up_with(
        tmp_path,
        spec("fraud:slow", 1, "{min_replicas: 1, max_replicas: 3, metric: concurrency, "
             "target: 2, stable_window: 1s, panic_window: 500ms, scale_down_window: 1s}"),
    )  # fmt: skip
    try:
        with RandomLoad(up.gateway_port, workers=8) as burst:
            wait_until(lambda: ready_replicas(up) == 3, 40, f"no scale-out: {scaling(up)}")
            statuses, _ = burst.since(0)
        assert set(statuses) == {"200"}, statuses  # 0 errors while scaling up
        with RandomLoad(up.gateway_port, workers=1) as trickle:
            wait_until(lambda: ready_replicas(up) == 1, 40, f"no scale-in: {scaling(up)}")
            time.sleep(0.5)
            statuses, _ = trickle.since(0)
        assert set(statuses) == {"200"}, statuses  # nothing dropped while scaling down
        text = metrics_text(up)
        assert 'inferd_autoscaler_desired_replicas{deployment="fraud",version="v1"}' in text
        reasons = set(
            re.findall(
                r'inferd_autoscaler_decisions_total\{deployment="fraud",reason="(\w+)",version="v1"',
                text,
            )
        )
        assert reasons & {"scale_up", "panic", "max_replicas"}, reasons
        assert "scale_down" in reasons, reasons
    finally:
        assert up.stop() == 0


def test_scale_from_zero_answers_the_first_request_then_returns_to_zero(tmp_path: Path) -> None:
    up = up_with(
        tmp_path,
        spec("fraud:v1", 0, "{min_replicas: 0, max_replicas: 2, metric: concurrency, target: 4, "
             "stable_window: 1s, panic_window: 500ms, scale_down_window: 500ms, "
             "scale_to_zero_after: 1s, cold_start_timeout: 60s}"),
    )  # fmt: skip
    try:
        assert ready_replicas(up) == 0
        # inferd ps lists the deployment at zero, out of at most 2, and what a request does.
        wait_until(lambda: "scaled to zero" in up.cli("ps").stdout, 10, up.cli("ps").stdout)
        row = next(line for line in up.cli("ps").stdout.splitlines() if "fraud" in line)
        assert row.split()[:3] == ["fraud", "v1", "0/2"], row
        assert "the next request starts one (held up to 60 s)" in row
        # Scaled to zero is still ready: the first request waits for a replica.
        probe = http.client.HTTPConnection("127.0.0.1", up.gateway_port, timeout=10)
        probe.request("GET", "/v2/health/ready")
        assert probe.getresponse().status == 200
        probe.close()
        for _ in range(2):  # from zero, back to zero, and from zero again
            conn = http.client.HTTPConnection("127.0.0.1", up.gateway_port, timeout=90)
            conn.request("POST", "/v2/models/fraud/infer", FRAUD_BODY)
            response = conn.getresponse()
            body = orjson.loads(response.read())
            conn.close()
            assert response.status == 200, body
            assert body["outputs"]
            wait_until(lambda: ready_replicas(up) == 0, 30, f"no scale to zero: {scaling(up)}")
        text = metrics_text(up)
        assert 'inferd_autoscaler_cold_start_seconds_count{deployment="fraud"} 2.0' in text
        # Each wake is a decision, exported when the request arrives (not after the start).
        woken = re.search(
            r'inferd_autoscaler_decisions_total\{deployment="fraud",reason="scale_from_zero",'
            r'version="v1"\} '
            r"([\d.]+)",
            text,
        )
        assert woken is not None and float(woken.group(1)) >= 2, text
    finally:
        assert up.stop() == 0


def infer(port: int) -> tuple[int, dict[str, Any], float]:
    """One inference through the gateway: status, JSON body, seconds taken."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v2/models/fraud/infer", FRAUD_BODY)
        response = conn.getresponse()
        return response.status, orjson.loads(response.read()), time.monotonic() - started
    finally:
        conn.close()


def test_a_model_that_cannot_load_fails_fast_and_is_not_restarted_while_idle(
    tmp_path: Path,
) -> None:
    """Scaling from zero a model onnxruntime cannot load: each request waited the whole
    cold_start_timeout for a 503 that did not say why, and the autoscaler launched a new
    replica every 1.3 s, with no traffic, for as long as the window remembered the requests."""
    up = up_with(
        tmp_path,
        spec("fraud:broken", 0, "{min_replicas: 0, max_replicas: 2, metric: concurrency, "
             "target: 1, scale_to_zero_after: 5s, cold_start_timeout: 8s}"),
    )  # fmt: skip
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(infer, [up.gateway_port] * 2))
        for status, body, seconds in answers:
            assert status == 503, body
            assert "could not start a replica" in body["error"], body
            assert "onnxruntime cannot load" in body["error"], body
            assert seconds < 6, seconds  # when the start failed, not after the 8 s timeout
        time.sleep(4)  # idle: nothing starts again
        launched = sorted(p.name for p in (up.home / "up" / "logs").glob("fraud-v1-*.log"))
        assert launched == ["fraud-v1-1.log"], launched
        assert scaling(up)["reason"] == "steady", scaling(up)
    finally:
        assert up.stop() == 0


def test_a_woken_canary_scales_out_on_its_own_load_and_back_to_zero(tmp_path: Path) -> None:
    """Requests that name the canary (20%) wake it from zero; under their load it scales out
    past the one replica it was woken with, and goes back to zero when they stop."""
    text = spec("fraud:v1", 0, "{min_replicas: 0, max_replicas: 3, metric: concurrency, "
                "target: 1, stable_window: 1s, panic_window: 500ms, scale_down_window: 500ms, "
                "scale_to_zero_after: 2s, cold_start_timeout: 60s}")  # fmt: skip
    text = text.replace(
        '      - {name: v1, model: "fraud:v1", replicas: 0}\n',
        '      - {name: v1, model: "fraud:v1", replicas: 0}\n'
        '      - {name: v2, model: "fraud:slow", replicas: 0}\n',
    ).replace("    batching:", "    traffic: {weights: {v1: 80, v2: 20}}\n    batching:")
    up = up_with(tmp_path, text)

    def canary_ready() -> int:
        replicas: list[dict[str, Any]] = up.ps()["replicas"]  # type: ignore[assignment]
        return sum(r["version"] == "v2" and r["state"] == "ready" for r in replicas)

    def main_replicas() -> int:
        replicas: list[dict[str, Any]] = up.ps()["replicas"]  # type: ignore[assignment]
        return sum(r["version"] == "v1" for r in replicas)

    try:
        path = "/v2/models/fraud/versions/v2/infer"
        with LoadGenerator(up.gateway_port, path, lambda _w, _n: FRAUD_BODY, workers=6) as load:
            wait_until(lambda: canary_ready() >= 2, 60, "the canary did not scale out")
            statuses, _ = load.since(0)
            assert main_replicas() <= 1  # the canary's load is not the main version's
        assert set(statuses) == {"200"}, statuses
        wait_until(lambda: canary_ready() == 0, 30, "the canary did not go back to zero")
    finally:
        assert up.stop() == 0
