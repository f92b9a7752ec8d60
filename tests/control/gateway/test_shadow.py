"""Shadow traffic: compared with the primary when it answers, harmless when it does not."""

from __future__ import annotations

import asyncio
import math
from typing import cast

import grpc
import numpy as np
import pytest

from inferd.control.gateway.grpc_outputs import GRPC_ANSWERS
from inferd.control.gateway.grpc_upstream import RpcAnswer
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.openai_relay import GENERATION_ANSWERS
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.shadow import HTTP_ANSWERS, Mirror
from inferd.control.gateway.upstream import UpstreamResponse
from inferd.control.replicas.topology import Topology, VersionRoute

from .conftest import (
    FRAUD_BODY,
    Outcomes,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    sample,
    started_gateway,
    topology,
    version,
)


def batch_body(rows: int, seed: int) -> dict[str, object]:
    data = np.random.default_rng(seed).normal(0, 2, size=(rows, 8)).astype(np.float32)
    return {"inputs": [{"name": "input", "shape": [rows, 8], "datatype": "FP32",
                        "data": data.ravel().tolist()}]}  # fmt: skip


def test_shadow_divergence_is_measured(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(
        deployment(
            "fraud",
            version("v1", 100, *replicas["v1"]),
            version("v2", 0, *replicas["v2"]),
            shadow="v2",
        )
    )

    async def scenario() -> tuple[list[Outcomes], dict[str, object]]:
        gateway = await started_gateway(topo)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            outs = [
                await closed_loop(url, batch_body(64, seed), concurrency=1, requests=4)
                for seed in range(10)
            ]
            for _ in range(100):  # the last copies are compared after their clients left
                await asyncio.sleep(0.02)
                (cmp,) = gateway.status()["deployments"][0]["shadow_comparisons"]
                if cmp["compared"] == 40:
                    break
            return outs, cmp
        finally:
            await gateway.stop(5)

    outs, cmp = run(scenario)
    assert all(o.failed() == [] and set(o.versions) == {"v1"} for o in outs)
    assert (cmp["primary"], cmp["shadow"]) == ("v1", "v2")
    assert (cmp["compared"], cmp["failed"], cmp["timeout"], cmp["dropped"]) == (40, 0, 0, 0)
    divergence = cmp["divergence"]
    assert isinstance(divergence, dict)
    # v1 and v2 disagree on a small share of rows: labels by share, probabilities by MAD.
    assert divergence["label"]["kind"] == "share"
    assert 0 < divergence["label"]["mean"] < 0.2
    assert divergence["probabilities"]["kind"] == "mad"
    assert 0 < divergence["probabilities"]["mean"] < 0.2


def test_failing_shadow_is_invisible_to_clients(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    # The shadow's replica does not serve "missing": every copy gets a 404, refused where the
    # primary answered (counted as refused, as the metrics count it).
    broken = VersionRoute(
        "broken", "missing", "missing:v1", 0,
        (replicas["v2"][0].replica("broken-0", "fraud", "broken"),),
    )  # fmt: skip
    topo = topology(
        deployment("fraud", version("v1", 100, *replicas["v1"]), broken, shadow="broken")
    )

    async def scenario() -> tuple[Outcomes, dict[str, object]]:
        gateway = await started_gateway(topo)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            out = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=400)
            # Until every copy is accounted for (a fixed sleep could end with copies still in
            # flight on a loaded machine), then read the counts.
            for _ in range(500):
                done = gateway.status()["deployments"][0]["shadow_comparisons"][0]
                if done["refused"] + done["dropped"] + done["compared"] >= 400:
                    break
                await asyncio.sleep(0.01)
            return out, gateway.status()["deployments"][0]["shadow_comparisons"][0]
        finally:
            await gateway.stop(5)

    out, cmp = run(scenario)
    assert out.failed() == []
    assert len(out.statuses) == 400
    assert cmp["compared"] == 0
    assert cmp["refused"] + cmp["dropped"] == 400
    assert cmp["refused"] > 0 and cmp["failed"] == 0


def _hanging_shadow(replicas: dict[str, list[ReplicaProcess]], hanging_port: int) -> Topology:
    """fraud: v1's replicas take every request; v2, its shadow, listens on a port that never
    answers."""
    hang = ReplicaProcess("hang", replicas["v1"][0].proc, hanging_port)
    return topology(
        deployment(
            "fraud", version("v1", 100, *replicas["v1"]), version("v2", 0, hang), shadow="v2"
        )
    )


def test_hanging_shadow_never_delays_clients(
    replicas: dict[str, list[ReplicaProcess]], hanging_port: int
) -> None:
    topo = _hanging_shadow(replicas, hanging_port)
    shadow_timeout = 20.0

    async def scenario() -> tuple[Outcomes, dict[str, object]]:
        gateway = await started_gateway(topo, shadow_timeout_s=shadow_timeout)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            out = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=300)
            return out, gateway.status()["deployments"][0]["shadow_comparisons"][0]
        finally:
            await gateway.stop(5)

    out, cmp = run(scenario)
    assert out.failed() == []
    # Had a client waited for its copy, it would have waited for the shadow timeout.
    assert max(out.latencies) < shadow_timeout
    # Copies beyond the bound were dropped instead of piling up.
    assert cmp["dropped"] == 300 - 64
    assert cmp["compared"] == cmp["timeout"] == 0


def test_shadow_timeouts_are_counted(
    replicas: dict[str, list[ReplicaProcess]], hanging_port: int
) -> None:
    topo = _hanging_shadow(replicas, hanging_port)

    async def scenario() -> tuple[Outcomes, dict[str, object], str]:
        gateway = await started_gateway(topo, shadow_timeout_s=0.2)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            out = await closed_loop(url, FRAUD_BODY, concurrency=2, requests=20)
            for _ in range(100):
                await asyncio.sleep(0.05)
                cmp = gateway.status()["deployments"][0]["shadow_comparisons"][0]
                if cmp["timeout"] == 20:
                    break
            return out, cmp, gateway.metrics.render().decode()
        finally:
            await gateway.stop(5)

    out, cmp, metrics = run(scenario)
    assert out.failed() == []
    assert cmp["timeout"] == 20
    labels = {"deployment": "fraud", "primary": "v1", "shadow": "v2", "outcome": "timeout"}
    assert sample(metrics, "inferd_gateway_shadow_requests_total", **labels) == 20


def test_a_copy_whose_primary_has_no_whole_answer_is_counted_uncompared() -> None:
    """Every copy sent lands under one outcome: one whose primary failed or was cut short has
    nothing to be compared with, and says so."""

    async def scenario() -> tuple[dict[str, object], str]:
        metrics = GatewayMetrics()
        mirror = Mirror(cast(Proxy, None), metrics, timeout_s=1.0)

        async def send() -> UpstreamResponse:
            return UpstreamResponse(200, {}, b'{"choices": [{"index": 0, "text": "hi"}]}')

        primary_answer = mirror.copy("chat", "v1", "v2", send, GENERATION_ANSWERS)
        primary_answer.set_result(None)  # the primary's stream was cut short
        for _ in range(100):
            if mirror.tallies[("chat", "v1", "v2")].uncompared:
                break
            await asyncio.sleep(0.01)
        return dict(mirror.tallies[("chat", "v1", "v2")].as_dict()), metrics.render().decode()

    tally, exposition = asyncio.run(scenario())
    assert (tally["uncompared"], tally["compared"], tally["failed"]) == (1, 0, 0)
    assert (
        'inferd_gateway_shadow_requests_total{deployment="chat",outcome="uncompared",'
        'primary="v1",shadow="v2"} 1.0'
    ) in exposition


def test_every_copy_sent_is_timed() -> None:
    """Answered, failed and timed-out copies are timed (a candidate that times out is slow);
    a dropped one was never sent."""

    async def scenario() -> GatewayMetrics:
        metrics = GatewayMetrics()
        mirror = Mirror(cast(Proxy, None), metrics, timeout_s=0.05)

        async def answer() -> UpstreamResponse:
            return UpstreamResponse(500, {}, b"")

        async def hang() -> UpstreamResponse:
            await asyncio.sleep(1)
            raise AssertionError("timed out before")

        for send in (answer, hang):
            mirror.copy("fraud", "v1", "v2", send, HTTP_ANSWERS).set_result(None)
        mirror.drop("fraud", "v1", "v2")
        for _ in range(100):
            if mirror.tallies[("fraud", "v1", "v2")].timeout:
                break
            await asyncio.sleep(0.01)
        return metrics

    shadow = asyncio.run(scenario()).reading().shadow("fraud", "v2")
    assert dict(shadow.buckets)[math.inf] == 2
    assert 0.05 <= (shadow.quantile(1.0) or 0.0) <= 0.1  # the timeout's


@pytest.mark.parametrize(
    ("primary", "outcome"), [(400, "client_error"), (None, "client_error"), (200, "refused")]
)
def test_a_copy_refused_as_the_clients_fault_is_paired_with_the_primary(
    primary: int | None, outcome: str
) -> None:
    """A 4xx copy of a request the primary refused too (or did not answer) is the client's; of
    one the primary answered, the candidate's (its client-error excess). Neither is failed."""

    async def scenario() -> tuple[dict[str, object], dict[str, int]]:
        metrics = GatewayMetrics()
        mirror = Mirror(cast(Proxy, None), metrics, timeout_s=1.0)

        async def send() -> UpstreamResponse:
            return UpstreamResponse(400, {}, b'{"error": "bad input"}')

        answer = None if primary is None else UpstreamResponse(primary, {}, b"{}")
        mirror.copy("fraud", "v1", "v2", send, HTTP_ANSWERS).set_result(answer)
        tally = mirror.tallies[("fraud", "v1", "v2")]
        for _ in range(100):
            if tally.client_error or tally.refused:
                break
            await asyncio.sleep(0.01)
        return dict(tally.as_dict()), dict(metrics.reading().shadow("fraud", "v2").outcomes)

    tally, outcomes = asyncio.run(scenario())
    assert outcomes == {outcome: 1}
    # The status tallies (the dashboard's) count it as the metrics do, and under nothing else.
    assert {k: n for k, n in tally.items() if k != "divergence" and n} == {outcome: 1}


@pytest.mark.parametrize(
    ("primary", "outcome"),
    [(grpc.StatusCode.INVALID_ARGUMENT, "client_error"), (grpc.StatusCode.OK, "refused")],
)
def test_a_grpc_copy_refused_as_the_clients_fault_is_paired_with_the_primary(
    primary: grpc.StatusCode, outcome: str
) -> None:
    """The same over gRPC: INVALID_ARGUMENT is a client error (it counted as failed)."""

    async def scenario() -> dict[str, int]:
        metrics = GatewayMetrics()
        mirror = Mirror(cast(Proxy, None), metrics, timeout_s=1.0)

        async def send() -> RpcAnswer:
            return RpcAnswer(grpc.StatusCode.INVALID_ARGUMENT, details="bad input")

        mirror.copy("fraud", "v1", "v2", send, GRPC_ANSWERS).set_result(RpcAnswer(primary))
        for _ in range(100):
            outcomes = dict(metrics.reading().shadow("fraud", "v2").outcomes)
            if outcomes:
                return outcomes
            await asyncio.sleep(0.01)
        raise AssertionError("the copy was never counted")

    assert asyncio.run(scenario()) == {outcome: 1}
