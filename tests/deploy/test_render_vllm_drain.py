"""A vLLM pod taken down (scale-down, rollout, node drain) finishes the generations it runs.

``vllm serve`` sent SIGTERM aborts what it runs (v0.12, the default image, has no drain; later
releases drain only with ``--shutdown-timeout``, off by default), so a preStop that only slept
cut every stream in flight although the grace period allowed ``gateway.drain_timeout`` for
them. The preStop now waits, after the sleep that lets the endpoints drop the pod, until vLLM's
``/metrics`` says it runs and holds no request, up to the drain timeout. The rendered command
is run here for real, against a server answering as vLLM's ``/metrics`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.render import render
from inferd.spec.loading import parse_spec

from .conftest import of_kind

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
gateway: {drain_timeout: 20s}
deployments:
  - name: chat
    versions:
      - {name: v1, model: registry.example.com/chat:v1}
    resources: {gpu: 1}
    llm: {engine: vllm}
"""

#: vLLM's exposition: one series per engine core, HELP/TYPE lines, a label value with a space.
METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="chat v1"}} {running}
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="chat v1"}} {waiting}
vllm:num_requests_waiting_by_reason{{engine="0",reason="capacity"}} 7.0
"""


def _container() -> dict[str, Any]:
    objects = render(parse_spec(SPEC), K8sOptions())
    (deployment,) = of_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 5 + 20 + 5
    (container,) = pod["containers"]
    result: dict[str, Any] = container
    return result


@pytest.fixture
def metrics() -> Iterator[tuple[str, Callable[[float, float], None]]]:
    """A ``/metrics`` URL and a setter of the running and waiting counts it reports."""
    state = {"running": 0.0, "waiting": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = METRICS.format(**state).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def set_counts(running: float, waiting: float) -> None:
        state.update(running=running, waiting=waiting)

    yield f"http://127.0.0.1:{server.server_address[1]}/metrics", set_counts
    server.shutdown()
    server.server_close()


def _pre_stop(url: str, delay_s: int, drain_s: int) -> list[str]:
    """The rendered preStop command, run by this interpreter against ``url``."""
    command: list[str] = _container()["lifecycle"]["preStop"]["exec"]["command"]
    program, flag, script, *_ = command
    assert (program, flag) == ("python3", "-c")  # vLLM's image is a Python one
    return [sys.executable, flag, script, url, str(delay_s), str(drain_s)]


def _run(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, timeout=30, env=env)
    return time.monotonic() - started


def test_the_pre_stop_sleeps_then_waits_for_vllm_s_requests_within_the_drain_timeout() -> None:
    command = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[3:] == ["http://127.0.0.1:8000/metrics", "5", "20"]


def test_the_pre_stop_returns_once_running_and_waiting_requests_are_done(
    metrics: tuple[str, Callable[[float, float], None]],
) -> None:
    url, set_counts = metrics
    set_counts(2, 1)
    threading.Timer(1.0, set_counts, (1, 0)).start()
    threading.Timer(2.0, set_counts, (0, 0)).start()
    took = _run(_pre_stop(url, 0, 20))
    assert 2.0 <= took < 5.0


def test_the_pre_stop_reads_vllm_directly_whatever_proxy_the_pod_is_given(
    metrics: tuple[str, Callable[[float, float], None]],
) -> None:
    """A cluster-wide HTTP_PROXY (without 127.0.0.1 in NO_PROXY) must not turn the drain into
    a plain sleep: vLLM is read on the pod's own loopback."""
    url, set_counts = metrics
    set_counts(1, 0)
    threading.Timer(1.5, set_counts, (0, 0)).start()
    proxied = {**os.environ, "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    took = _run(_pre_stop(url, 0, 20), env=proxied)
    assert 1.5 <= took < 4.5


def test_the_pre_stop_gives_up_at_the_drain_timeout(
    metrics: tuple[str, Callable[[float, float], None]],
) -> None:
    url, set_counts = metrics
    set_counts(1, 0)
    took = _run(_pre_stop(url, 1, 2))
    assert 3.0 <= took < 6.0


def test_the_pre_stop_of_a_vllm_that_does_not_answer_only_sleeps() -> None:
    took = _run(_pre_stop("http://127.0.0.1:9/metrics", 1, 20))
    assert 1.0 <= took < 4.0
