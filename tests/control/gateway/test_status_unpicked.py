"""/api/status counts a deployment's requests refused before a version was picked (every
replica start failing, held requests timing out) in the deployment's rate and error rate: the
dashboard read "0.0 % errors" while every request got a 503."""

from __future__ import annotations

from inferd.control.gateway.balance import Balancer
from inferd.control.gateway.status import build_status
from inferd.control.gateway.traffic import Window

from .conftest import deployment, topology, version


def _window(requests: int, errors: int) -> Window:
    window = Window(clock=lambda: 1000.0)
    for i in range(requests):
        window.record(0.01, i < errors)
    return window


def test_refusals_before_a_version_count_for_the_deployment_not_a_version() -> None:
    topo = topology(deployment("dead", version("v1", 100, deployment="dead")))
    windows = {("dead", ""): _window(30, 30), ("dead", "v1"): _window(10, 0)}
    (status,) = build_status(topo, windows, {}, Balancer(), 1.0, ready=True)["deployments"]
    assert status["error_rate"] == 30 / 40
    (v1,) = status["versions"]
    assert v1["requests"] == 10 and v1["error_rate"] == 0.0
    assert v1["share"] == 1.0  # of the requests a version served
    assert status["rps"] > v1["rps"]


def test_a_deployment_whose_every_request_is_refused_reads_all_errors() -> None:
    topo = topology(deployment("dead", version("v1", 100, deployment="dead")))
    (status,) = build_status(topo, {("dead", ""): _window(5, 5)}, {}, Balancer(), 1.0, ready=True)[
        "deployments"
    ]
    assert status["error_rate"] == 1.0
    assert status["rps"] > 0
    assert status["versions"][0]["requests"] == 0
