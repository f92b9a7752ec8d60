"""The gateway in front of real replicas: protocol passthrough, errors, split, readiness."""

from __future__ import annotations

from collections import Counter

import httpx
import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inferd.control.replicas.topology import HeaderMatch

from .conftest import (
    FRAUD_BODY,
    RawClient,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)


def test_split_is_accurate_over_10000_requests(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(
        deployment("fraud", version("v1", 90, *replicas["v1"]), version("v2", 10, *replicas["v2"]))
    )

    async def scenario() -> tuple[Counter[str], list[str]]:
        gateway = await started_gateway(topo)
        try:
            url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
            out = await closed_loop(url, FRAUD_BODY, concurrency=16, requests=10_000)
        finally:
            await gateway.stop(5)
        return Counter(out.versions), out.failed()

    versions, failed = run(scenario)
    assert failed == []
    assert sum(versions.values()) == 10_000
    assert 0.085 <= versions["v2"] / 10_000 <= 0.115, versions


@pytest.mark.parametrize("shape", [(4, 6), (512, 4096)], ids=["small", "8MiB"])
def test_binary_tensors_pass_through_byte_identical(
    replicas: dict[str, list[ReplicaProcess]], shape: tuple[int, int]
) -> None:
    """A deployment named differently from its model: the path is rewritten, nothing else."""
    echo = replicas["echo"][0]
    topo = topology(
        deployment("echo-prod", version("v1", 100, echo, model="echo", deployment="echo-prod"))
    )
    tensor = (np.arange(shape[0] * shape[1], dtype="<f4").reshape(shape) / 7).astype("<f4")
    head = orjson.dumps({
        "id": "req-1",
        "inputs": [{"name": "x", "shape": list(shape), "datatype": "FP32",
                    "parameters": {"binary_data_size": tensor.nbytes}}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
    })  # fmt: skip
    body = head + tensor.tobytes()
    headers = {
        "inference-header-content-length": str(len(head)),
        "content-type": "application/octet-stream",
    }

    async def scenario() -> tuple[
        tuple[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]
    ]:
        gateway = await started_gateway(topo)
        try:
            via = RawClient(f"http://127.0.0.1:{gateway.port}")
            direct = RawClient(echo.url)
            through = await via.request("POST", "/v2/models/echo-prod/infer", body, headers)
            straight = await direct.request("POST", "/v2/models/echo/infer", body, headers)
            await via.close()
            await direct.close()
        finally:
            await gateway.stop(5)
        return through, straight

    (status, got, data), (s_status, s_got, s_data) = run(scenario)
    assert status == s_status == 200
    assert data == s_data
    assert got["inference-header-content-length"] == s_got["inference-header-content-length"]
    assert got["content-type"] == s_got["content-type"]
    json_len = int(got["inference-header-content-length"])
    assert np.frombuffer(data[json_len:], dtype="<f4").tobytes() == tensor.tobytes()


def test_protocol_endpoints_and_errors(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(
        deployment("fraud", version("v1", 90, *replicas["v1"]), version("v2", 10, *replicas["v2"])),
    )

    async def scenario() -> dict[str, httpx.Response]:
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(base_url=base) as c:
                return {
                    "live": await c.get("/v2/health/live"),
                    "ready": await c.get("/v2/health/ready"),
                    "server": await c.get("/v2"),
                    "meta": await c.get("/v2/models/fraud"),
                    "meta_v2": await c.get("/v2/models/fraud/versions/v2"),
                    "model_ready": await c.get("/v2/models/fraud/versions/v1/ready"),
                    "infer_v2": await c.post("/v2/models/fraud/versions/v2/infer", json=FRAUD_BODY),
                    "v1_ready": await c.get("/v1/models/fraud"),
                    "v1_predict": await c.post(
                        "/v1/models/fraud:predict",
                        json={"instances": [FRAUD_BODY["inputs"][0]["data"]]},
                    ),
                    "unknown": await c.post("/v2/models/nope/infer", json=FRAUD_BODY),
                    "unknown_meta": await c.get("/v2/models/nope"),
                    "unknown_version": await c.post(
                        "/v2/models/fraud/versions/v9/infer", json=FRAUD_BODY
                    ),
                    "bad_input": await c.post("/v2/models/fraud/infer", json={"inputs": []}),
                    "metrics": await c.get("/metrics"),
                }
        finally:
            await gateway.stop(5)

    r = run(scenario)
    assert r["live"].json() == {"live": True}
    assert r["ready"].status_code == 200 and r["ready"].json() == {"ready": True}
    assert "binary_tensor_data" in r["server"].json()["extensions"]
    assert r["meta"].json()["versions"] == ["v1", "v2"]  # those a client may name
    assert r["meta_v2"].json()["versions"] == ["v2"]
    assert r["model_ready"].status_code == 200
    assert r["infer_v2"].json()["model_version"] == "v2"
    assert r["v1_ready"].status_code == 200
    assert len(r["v1_predict"].json()["predictions"]) == 1
    # Errors keep the protocol's shape and name the problem.
    assert r["unknown"].status_code == 404
    assert r["unknown"].json() == {"error": "model 'nope' not found"}
    assert r["unknown_meta"].status_code == 404
    assert r["unknown_version"].status_code == 404
    assert r["unknown_version"].json() == {"error": "model 'fraud' version 'v9' not found"}
    # The replica's own 400 passes through untouched.
    assert r["bad_input"].status_code == 400 and "inputs" in r["bad_input"].json()["error"]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r["metrics"].text)
        for s in family.samples
    }
    key = "inferd_gateway_requests_total"
    unknown = (("deployment", "unknown"), ("outcome", "client_error"), ("version", ""))
    assert samples[(key, unknown)] == 2
    assert samples[(key, (("deployment", "fraud"), ("outcome", "success"), ("version", "v2")))] >= 1


def test_readiness_follows_the_topology(replicas: dict[str, list[ReplicaProcess]]) -> None:
    starting = topology(deployment("fraud", version("v1", 100, *replicas["v1"], state="starting")))
    ready = topology(deployment("fraud", version("v1", 100, *replicas["v1"])), generation=2)

    async def scenario() -> list[int]:
        gateway = await started_gateway(starting)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                codes = [(await c.get("/v2/health/ready")).status_code]
                infer = await c.post("/v2/models/fraud/infer", json=FRAUD_BODY)
                codes.append(infer.status_code)
                assert infer.headers["retry-after"] == "1"
                gateway.update(ready)
                codes.append((await c.get("/v2/health/ready")).status_code)
                codes.append((await c.post("/v2/models/fraud/infer", json=FRAUD_BODY)).status_code)
                return codes
        finally:
            await gateway.stop(5)

    assert run(scenario) == [503, 503, 200, 200]


def test_sticky_and_header_routing_through_replicas(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(
        deployment(
            "fraud",
            version("v1", 50, *replicas["v1"]),
            version("v2", 50, *replicas["v2"]),
            sticky_header="x-user",
            header_routes=(HeaderMatch("x-variant", "new", "v2"),),
        )
    )

    async def scenario() -> tuple[dict[str, set[str]], set[str]]:
        gateway = await started_gateway(topo)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            sticky = {}
            for user in ("alice", "bob", "carol", "dave"):
                out = await closed_loop(
                    url, FRAUD_BODY, concurrency=2, requests=40, headers={"x-user": user}
                )
                sticky[user] = set(out.versions)
            ab = await closed_loop(
                url, FRAUD_BODY, concurrency=2, requests=40, headers={"x-variant": "new"}
            )
        finally:
            await gateway.stop(5)
        return sticky, set(ab.versions)

    sticky, ab = run(scenario)
    assert all(len(v) == 1 for v in sticky.values()), sticky
    assert ab == {"v2"}
