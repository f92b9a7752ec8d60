"""``inferd serve --workers N``: any worker's ``/metrics`` answers for every worker.

Each scrape reaches whichever worker the kernel hands the connection to (SO_REUSEPORT). It
used to answer with that worker's own counters alone (19, 21, 19, 21 … for 40 requests over
two workers), which Prometheus reads as counter resets.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import FRAUD_BODY, QUICKSTART, ServeProcess, _stop, start_serve
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

pytestmark = pytest.mark.slow

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _series(text: str) -> Series:
    """Every sample of an exposition, by name and labels (a duplicate fails the test)."""
    found: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"series {key} twice"
            found[key] = sample.value
    return found


def _requests(series: Series) -> dict[str, float]:
    """``inferd_requests_total`` of fraud's successes, by worker."""
    return {
        dict(labels)["worker"]: value
        for (name, labels), value in series.items()
        if name == "inferd_requests_total"
        and dict(labels)["model"] == "fraud"
        and dict(labels)["outcome"] == "success"
    }


def _scrape(url: str) -> Series:
    answer = httpx.get(f"{url}/metrics")  # a new connection: any worker may answer
    assert answer.status_code == 200
    return _series(answer.text)


def _workers(server: ServeProcess) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(server.proc.pid).children()
        if "spawn_main" in " ".join(p.cmdline())
    ]


def _wait_for_both(url: str, timeout: float = 90) -> Series:
    """A scrape that holds both workers' series (a worker joins once its model is warm)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            series = _scrape(url)
            if set(_requests(series)) == {"0", "1"}:
                return series
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the scrapes never held both workers"
        time.sleep(0.1)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServeProcess]:
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), QUICKSTART / "fraud-v1", "fraud:v1")
    server = start_serve(
        home, "fraud:v1", "--workers", "2", "--port", str(_free_port()), "--no-grpc"
    )
    try:
        yield server
    finally:
        _stop(server)


def _free_port() -> int:
    """A free TCP port (``--workers`` needs a fixed one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_scrape_counts_every_worker_and_counters_never_go_down(
    two_workers: ServeProcess,
) -> None:
    url = two_workers.url
    _wait_for_both(url)
    for _ in range(40):
        assert httpx.post(f"{url}/v2/models/fraud/infer", json=FRAUD_BODY).status_code == 200
    before: dict[str, float] = {}
    for _ in range(8):
        series = _scrape(url)
        requests = _requests(series)
        assert set(requests) == {"0", "1"}
        assert sum(requests.values()) == 40
        assert all(requests[w] >= before.get(w, 0) for w in requests), (before, requests)
        before = requests
        # Every worker's own process series, told apart by the worker label; nothing missing.
        starts = {
            dict(labels).get("worker")
            for (name, labels), _ in series.items()
            if name == "process_start_time_seconds"
        }
        assert starts == {"0", "1"}
        assert series[("inferd_scrape_workers_missing", ())] == 0
    promtool = shutil.which("promtool")
    if promtool is not None:
        text = httpx.get(f"{url}/metrics").text
        check = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_the_run_directory_is_private_and_removed_at_exit(two_workers: ServeProcess) -> None:
    _wait_for_both(two_workers.url)
    sockets = {
        Path(str(c.laddr))
        for w in _workers(two_workers)
        for c in w.net_connections("unix")
        if isinstance(c.laddr, str) and c.laddr.endswith(".sock")
    }
    assert len(sockets) == 2
    (run_dir,) = {s.parent for s in sockets}
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert two_workers.terminate() == 0
    assert not run_dir.exists()


def test_a_restarted_worker_rejoins_from_zero_under_its_label(two_workers: ServeProcess) -> None:
    url = two_workers.url
    _wait_for_both(url)
    for _ in range(20):
        assert httpx.post(f"{url}/v2/models/fraud/infer", json=FRAUD_BODY).status_code == 200
    counted = _requests(_scrape(url))
    assert sum(counted.values()) == 20
    victim = _workers(two_workers)[0]
    starts = {
        dict(labels)["worker"]: value
        for (name, labels), value in _scrape(url).items()
        if name == "process_start_time_seconds"
    }
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 90
    while True:  # until a scrape holds a worker whose process started after the kill
        series = _scrape(url)
        restarted = {
            dict(labels)["worker"]
            for (name, labels), value in series.items()
            if name == "process_start_time_seconds" and value != starts.get(dict(labels)["worker"])
        }
        if restarted and set(_requests(series)) == {"0", "1"}:
            break
        assert time.monotonic() < deadline, "the killed worker never rejoined the scrape"
        time.sleep(0.1)
    (worker,) = restarted
    requests = _requests(series)
    assert requests[worker] == 0  # a real reset, under the restarted worker's label
    (other,) = {"0", "1"} - {worker}
    assert requests[other] == counted[other]


def _query(prometheus: str, query: str) -> list[dict[str, Any]]:
    try:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5)
    except httpx.TransportError:
        return []
    if answer.status_code != 200:
        return []
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def test_prometheus_reads_every_request_and_no_reset(
    two_workers: ServeProcess, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is required in CI (run `make system-deps`)")
        pytest.skip("prometheus not installed")
    url = two_workers.url
    _wait_for_both(url)
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: inferd\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{two_workers.port}']\n"
    )
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    prometheus = f"http://127.0.0.1:{port}"
    selector = 'inferd_requests_total{model="fraud",outcome="success"}'
    try:
        for _ in range(40):
            assert httpx.post(f"{url}/v2/models/fraud/infer", json=FRAUD_BODY).status_code == 200
        deadline = time.monotonic() + 90
        while True:  # until Prometheus has stored a scrape taken after the last request
            total = _query(prometheus, f"sum({selector})")
            if total and float(total[0]["value"][1]) == 40:
                break
            assert time.monotonic() < deadline, f"Prometheus never summed 40: {total}"
            time.sleep(0.5)
        series = _query(prometheus, selector)
        assert {s["metric"]["worker"] for s in series} == {"0", "1"}
        resets = _query(prometheus, f"resets({selector}[5m])")
        assert [float(r["value"][1]) for r in resets] == [0.0, 0.0]
    finally:
        proc.terminate()
        proc.wait(30)
