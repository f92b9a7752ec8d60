"""How a worker of ``inferd serve --workers N`` merges its siblings' series into its scrape."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from prometheus_client import Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inferd.observe.metrics import ServerMetrics
from inferd.server.worker_metrics import MISSING, Fleet, WorkerMetrics, merge


def _worker(successes: int) -> bytes:
    """A real server's exposition with ``successes`` requests of m:v1, and a GPU gauge."""
    metrics = ServerMetrics()
    for _ in range(successes):
        metrics.bind("m", "v1").requests["success"].inc()
    Gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization.", ["gpu"], registry=metrics.registry).labels(
        "0"
    ).set(50)
    return generate_latest(metrics.registry)


def _samples(text: bytes) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _successes(samples: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, float]:
    """Model ``m``'s successful requests as each worker counted them, by worker label."""
    return {
        labels["worker"]: value
        for labels, value in samples["inferd_requests_total"]
        if labels["model"] == "m" and labels["outcome"] == "success"
    }


def test_each_sample_gains_its_worker_and_each_family_one_header() -> None:
    text = merge([(0, _worker(3)), (1, _worker(5))], [], answering=1)
    samples = _samples(text)
    assert _successes(samples) == {"0": 3.0, "1": 5.0}
    assert {labels["worker"] for labels, _ in samples["process_cpu_seconds_total"]} == {"0", "1"}
    # The device is one, whichever worker reads it: once, without a worker label.
    assert samples["DCGM_FI_DEV_GPU_UTIL"] == [({"gpu": "0"}, 50.0)]
    assert text.count(b"# TYPE inferd_requests_total counter") == 1
    assert text.count(b"# HELP inferd_requests_total ") == 1
    assert samples[MISSING] == [({}, 0.0)]


def test_the_merge_is_a_valid_exposition(promtool: str) -> None:
    text = merge([(0, _worker(3)), (1, _worker(5))], [(2, "did not answer")], answering=0)
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_sibling_that_does_not_answer_is_left_out_and_counted(tmp_path: Path) -> None:
    fleet = Fleet(str(tmp_path), workers=4)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never writes: the asking worker gives up
        writer.close()

    async def scenario() -> bytes:
        own = WorkerMetrics(fleet, 0, lambda: _worker(1))
        answering = WorkerMetrics(fleet, 1, lambda: _worker(2))
        hung = await asyncio.start_unix_server(silent, fleet.socket(2))
        # worker 3 never started: no socket at all
        await own.listen()
        await answering.listen()
        try:
            return await own.scrape()
        finally:
            hung.close()
            await own.close()
            await answering.close()

    text = asyncio.run(scenario())
    samples = _samples(text)
    assert _successes(samples) == {"0": 1.0, "1": 2.0}
    assert samples[MISSING] == [({}, 2.0)]
    assert b"# inferd: worker 2 did not answer within" in text
    assert b"# inferd: worker 3 is not listening" in text
    assert not fleet.socket(0).exists()  # closed: its socket is gone


def test_a_restarted_worker_replaces_the_socket_its_predecessor_left(tmp_path: Path) -> None:
    fleet = Fleet(str(tmp_path), workers=2)
    fleet.socket(1).write_bytes(b"")  # left by a worker that was killed

    async def scenario() -> bytes:
        own = WorkerMetrics(fleet, 0, lambda: _worker(1))
        restarted = WorkerMetrics(fleet, 1, lambda: _worker(0))
        await own.listen()
        await restarted.listen()
        try:
            return await own.scrape()
        finally:
            await own.close()
            await restarted.close()

    samples = _samples(asyncio.run(scenario()))
    assert samples[MISSING] == [({}, 0.0)]
    workers = {labels["worker"] for labels, _ in samples["inferd_requests_total"]}
    assert workers == {"0", "1"}


def test_a_sibling_whose_metrics_fail_to_render_is_left_out_and_counted(tmp_path: Path) -> None:
    fleet = Fleet(str(tmp_path), workers=2)

    def broken() -> bytes:
        raise RuntimeError("a collector failed")

    async def scenario() -> bytes:
        own = WorkerMetrics(fleet, 0, lambda: _worker(1))
        failing = WorkerMetrics(fleet, 1, broken)
        await own.listen()
        await failing.listen()
        try:
            return await own.scrape()
        finally:
            await own.close()
            await failing.close()

    text = asyncio.run(scenario())
    assert _samples(text)[MISSING] == [({}, 1.0)]
    assert b"# inferd: worker 1 answered nothing" in text
