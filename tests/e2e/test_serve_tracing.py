"""``inferd serve --otlp-endpoint``: a model server alone continues its clients' traces and
exports the queue wait, the batch and the encoding of each sampled request, and refuses a
sample rate given without a collector."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from otlp_collector import Collector

from .conftest import INFERD, ServeProcess, wait_ready


def test_a_served_request_is_traced_to_the_collector(
    store_home: Path, serve: Callable[..., ServeProcess], fraud_body: dict[str, object]
) -> None:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with Collector() as collector:
        server = serve(store_home, "fraud:v1", "--otlp-endpoint", collector.url,
                       "--trace-sample-rate", "0")  # fmt: skip
        wait_ready(server.url)
        url = f"{server.url}/v2/models/fraud/infer"
        sampled = {"traceparent": f"00-{trace_id}-{parent}-01"}
        assert httpx.post(url, json=fraud_body, headers=sampled, timeout=30).status_code == 200
        # Sample rate 0: a request without a sampled traceparent starts no trace.
        assert httpx.post(url, json=fraud_body, timeout=30).status_code == 200
        assert server.terminate() == 0  # exports what is buffered
        spans = {s.name: s for s in collector.spans}
    assert set(spans) == {"POST /v2/models/{model}/infer", "queue wait", "batch", "encode"}
    root = spans["POST /v2/models/{model}/infer"]
    assert (root.trace_id, root.parent_id, root.service) == (trace_id, parent, "inferd-serve")
    for name in ("queue wait", "batch", "encode"):
        assert (spans[name].trace_id, spans[name].parent_id) == (trace_id, root.span_id)
    assert spans["batch"].attributes["inferd.batch.size"] == 1


def test_a_sample_rate_without_a_collector_is_refused(store_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    done = subprocess.run(
        [*INFERD, "serve", "fraud:v1", "--trace-sample-rate", "0.5"],
        env={**env, "INFERD_HOME": str(store_home)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--trace-sample-rate needs --otlp-endpoint" in done.stderr
