"""Metrics read by the real tools: ``promtool check metrics`` and a Prometheus server that
scrapes ``/metrics``. Without the binaries these tests skip locally and fail in CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI (run `make system-deps`)")
        pytest.skip(f"{name} not installed")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _traffic(url: str, fraud_body: dict) -> None:
    with httpx.Client(base_url=url) as client:
        for _ in range(5):
            assert client.post("/v2/models/fraud/infer", json=fraud_body).status_code == 200
        assert client.post("/v2/models/nope/infer", json=fraud_body).status_code == 404


def test_promtool_accepts_the_exposition(served, fraud_body):
    promtool = _binary("promtool")
    _traffic(served.url, fraud_body)
    text = httpx.get(served.url + "/metrics").content
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"inferd_requests_total" in text


@pytest.fixture
def prometheus(served, tmp_path: Path) -> Iterator[str]:
    binary = _binary("prometheus")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: inferd\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{served.port}']\n"
    )
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


def test_prometheus_scrapes_inferd_series(served, prometheus, fraud_body):
    _traffic(served.url, fraud_body)
    query = 'inferd_requests_total{model="fraud",outcome="success"}'
    deadline = time.monotonic() + 60
    result: list[dict] = []
    while time.monotonic() < deadline and not result:
        try:
            answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5)
            result = answer.json()["data"]["result"] if answer.status_code == 200 else []
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    assert result, "Prometheus never stored inferd_requests_total for fraud"
    assert float(result[0]["value"][1]) >= 5
    up = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="inferd"}'}).json()
    assert up["data"]["result"][0]["value"][1] == "1"
    buckets = httpx.get(
        f"{prometheus}/api/v1/query", params={"query": "inferd_request_duration_seconds_bucket"}
    ).json()
    assert buckets["data"]["result"]
