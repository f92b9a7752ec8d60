"""The gateway's gRPC front door in front of real replicas, driven by ``tritonclient.grpc.aio``:
passthrough, errors as gRPC statuses, split, sticky and header routes, shadow, deadlines,
retries, channel lifetime and the per-call check."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import onnxruntime as ort
import psutil
import pytest
import tritonclient.grpc.aio as triton
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from inferd.config import StoreSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.gateway.grpc_upstream import GrpcProxy
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.replicas.topology import HeaderMatch, Replica, Topology, VersionRoute
from inferd.errors import DeadlineExceeded, Unauthenticated
from inferd.packaging import push
from inferd.protocols.grpc.servicer import SERVICE
from inferd.store import ModelStore

from ..oip_models import slow_model
from .conftest import (
    QUICKSTART,
    ReplicaProcess,
    deployment,
    run,
    sample,
    start_replica,
    started_gateway,
    topology,
    version,
)

T = TypeVar("T")
ROWS = np.random.default_rng(7).normal(0, 2, size=(5, 8)).astype(np.float32)


def fraud_inputs(rows: np.ndarray[Any, Any] = ROWS) -> list[InferInput]:
    tensor = InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    return [tensor]


def expected(model: str, rows: np.ndarray[Any, Any] = ROWS) -> dict[str, np.ndarray[Any, Any]]:
    session = ort.InferenceSession(str(QUICKSTART / model / "model.onnx"))
    label, probabilities = session.run(None, {"input": rows})
    return {"label": label, "probabilities": probabilities}


def on_gateway(
    topo: Topology,
    scenario: Callable[[Gateway, GrpcGateway, triton.InferenceServerClient], Awaitable[T]],
    **kwargs: Any,
) -> T:
    """Run ``scenario`` against a REST gateway and its gRPC front door routing by ``topo``."""

    async def main() -> T:
        gateway = await started_gateway(topo, **kwargs)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        front.update(topo)
        client = triton.InferenceServerClient(f"127.0.0.1:{front.port}")
        try:
            return await scenario(gateway, front, client)
        finally:
            await client.close()
            await front.stop(5)
            await gateway.stop(5)

    return run(main)


def fraud_with_shadow(replicas: dict[str, list[ReplicaProcess]]) -> Topology:
    """fraud: v1 takes all traffic, v2 answers when asked for, and ``shadow`` (v2's replicas
    under another name) gets a copy of every call."""
    return topology(
        deployment(
            "fraud",
            version("v1", 100, *replicas["v1"]),
            version("v2", 0, *replicas["v2"]),
            version("shadow", 0, *replicas["v2"]),
            shadow="shadow",
        )
    )


async def status_of(call: Awaitable[object]) -> str:
    """The gRPC status a tritonclient call ended with (``"OK"`` when it succeeded)."""
    try:
        await call
    except InferenceServerException as exc:
        return str(exc.status()).removeprefix("StatusCode.")
    return "OK"


async def outcome_of(call: Awaitable[object]) -> str:
    """Like :func:`status_of`, with the details after the status (for a failure's message)."""
    try:
        await call
    except InferenceServerException as exc:
        return f"{str(exc.status()).removeprefix('StatusCode.')}: {exc.message()}"
    return "OK"


@pytest.fixture
def dead_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_protocol_passthrough_and_errors(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = fraud_with_shadow(replicas)

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> dict[str, Any]:
        outputs = [InferRequestedOutput("label"), InferRequestedOutput("probabilities")]
        v1 = await c.infer("fraud", fraud_inputs(), outputs=outputs, request_id="req-1")
        v2 = await c.infer("fraud", fraud_inputs(), model_version="v2", outputs=outputs)
        return {
            "live": await c.is_server_live(),
            "ready": await c.is_server_ready(),
            "server": await c.get_server_metadata(as_json=True),
            "meta": await c.get_model_metadata("fraud", as_json=True),
            "meta_v2": await c.get_model_metadata("fraud", "v2", as_json=True),
            "model_ready": await c.is_model_ready("fraud", "v2"),
            "v1": v1,
            "v2": v2,
            "unknown": await status_of(c.infer("nope", fraud_inputs())),
            "unknown_meta": await status_of(c.get_model_metadata("nope")),
            "unknown_version": await status_of(c.infer("fraud", fraud_inputs(), "v9")),
            "shadow_version": await status_of(c.infer("fraud", fraud_inputs(), "shadow")),
            "bad_input": await status_of(c.infer("fraud", fraud_inputs(ROWS[:, :3]))),
            "stream": await _stream_status(front.port),
            "load": await status_of(c.load_model("fraud")),
            "metrics": gateway.metrics.render().decode(),
        }

    r = on_gateway(topo, scenario)
    assert r["live"] and r["ready"]
    assert r["server"]["name"] == "inferd-gateway"
    assert "statistics" in r["server"]["extensions"]
    assert r["meta"]["versions"] == ["v1", "v2"]  # those a client may name (not the shadow)
    assert r["meta_v2"]["versions"] == ["v2"]
    assert r["model_ready"]
    for name, answer in (("fraud-v1", r["v1"]), ("fraud-v2", r["v2"])):
        want = expected(name)
        np.testing.assert_array_equal(answer.as_numpy("label"), want["label"])
        np.testing.assert_allclose(answer.as_numpy("probabilities"), want["probabilities"],
                                   rtol=1e-6)  # fmt: skip
    assert r["v1"].get_response().id == "req-1"
    assert r["v2"].get_response().model_version == "v2"
    assert r["unknown"] == r["unknown_meta"] == r["unknown_version"] == "NOT_FOUND"
    assert r["shadow_version"] == "NOT_FOUND"  # the shadow cannot be addressed
    assert r["bad_input"] == "INVALID_ARGUMENT"  # the replica's own answer, passed back
    assert r["stream"] == "UNIMPLEMENTED"
    assert r["load"] == "UNIMPLEMENTED"
    m = r["metrics"]
    labels = {"deployment": "fraud", "version": "v1"}
    assert sample(m, "inferd_gateway_requests_total", **labels, outcome="success") == 1
    assert sample(m, "inferd_gateway_requests_total", **labels, outcome="client_error") == 1
    assert sample(m, "inferd_gateway_requests_total", deployment="unknown", version="",
                  outcome="client_error") == 2  # fmt: skip


async def _stream_status(port: int) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        # No request message: the gateway refuses without reading, and a client write that
        # lands after that refusal fails in grpc's core as INTERNAL instead of the status.
        call = channel.stream_stream(f"/{SERVICE}/ModelStreamInfer")(iter(()))
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as error:
            assert "ModelInfer" in (error.details() or "")
            return str(error.code().name)
    return "OK"


@pytest.mark.parametrize("shape", [(4, 6), (512, 4096)], ids=["small", "8MiB"])
def test_binary_contents_pass_through_byte_identical(
    replicas: dict[str, list[ReplicaProcess]], shape: tuple[int, int]
) -> None:
    """A deployment named differently from its model: renamed for the replica, nothing else."""
    echo = replicas["echo"][0]
    topo = topology(
        deployment("echo-prod", version("v1", 100, echo, model="echo", deployment="echo-prod"))
    )
    tensor = (np.arange(shape[0] * shape[1], dtype="<f4").reshape(shape) / 7).astype("<f4")

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> np.ndarray[Any, Any]:
        x = InferInput("x", list(shape), "FP32")
        x.set_data_from_numpy(tensor)
        answer = await c.infer("echo-prod", [x], model_version="v1")
        raw = answer.get_response().raw_output_contents
        assert len(raw) == 1 and raw[0] == tensor.tobytes()
        result: np.ndarray[Any, Any] = answer.as_numpy("y")
        return result

    np.testing.assert_array_equal(on_gateway(topo, scenario), tensor)


def test_split_sticky_and_header_routes(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(
        deployment(
            "fraud",
            version("v1", 80, *replicas["v1"]),
            version("v2", 20, *replicas["v2"]),
            sticky_header="x-user-id",
            header_routes=(HeaderMatch("x-group", "beta", "v2"),),
        )
    )
    calls = 2000

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[Counter[str], dict[str, set[str]], set[str]]:
        split: Counter[str] = Counter()
        left = iter(range(calls))

        async def worker() -> None:
            for _ in left:
                answer = await c.infer("fraud", fraud_inputs(ROWS[:1]))
                split[answer.get_response().model_version] += 1

        await asyncio.gather(*(worker() for _ in range(16)))
        sticky: dict[str, set[str]] = {}
        for user in ("ann", "bob", "cy", "di", "ed", "flo"):
            for _ in range(5):
                answer = await c.infer("fraud", fraud_inputs(ROWS[:1]), headers={"x-user-id": user})
                sticky.setdefault(user, set()).add(answer.get_response().model_version)
        beta = set()
        for _ in range(20):
            answer = await c.infer("fraud", fraud_inputs(ROWS[:1]), headers={"x-group": "beta"})
            beta.add(answer.get_response().model_version)
        return split, sticky, beta

    split, sticky, beta = on_gateway(topo, scenario)
    assert sum(split.values()) == calls
    # 20% of 2000 calls: the binomial's standard deviation is 0.9 points; 4 of them either way.
    assert 0.164 <= split["v2"] / calls <= 0.236, split
    assert all(len(versions) == 1 for versions in sticky.values()), sticky
    assert beta == {"v2"}


def test_shadow_copies_are_compared_for_grpc_traffic(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(
        deployment(
            "fraud",
            version("v1", 100, *replicas["v1"]),
            version("v2", 0, *replicas["v2"]),
            shadow="v2",
        )
    )

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> str:
        for _ in range(20):
            await c.infer("fraud", fraud_inputs())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = gateway.metrics.render().decode()
            if _shadow(m, "compared") >= 20:
                break
            await asyncio.sleep(0.05)
        return m

    m = on_gateway(topo, scenario)
    assert _shadow(m, "compared") == 20
    assert _shadow(m, "failed") == _shadow(m, "timeout") == 0
    # fraud v1 and v2 differ: the comparison saw their outputs (labels and probabilities).
    for output in ("label", "probabilities"):
        assert sample(m, "inferd_gateway_shadow_compared_elements_total", deployment="fraud",
                      primary="v1", shadow="v2", output=output) > 0  # fmt: skip


def _shadow(exposition: str, outcome: str) -> float:
    return sample(exposition, "inferd_gateway_shadow_requests_total", deployment="fraud",
                  primary="v1", shadow="v2", outcome=outcome)  # fmt: skip


def test_deadlines_map_to_deadline_exceeded(
    replicas: dict[str, list[ReplicaProcess]], hanging_port: int
) -> None:
    """The client's deadline reaches the replica call; the gateway's request timeout caps it."""
    hung = ReplicaProcess("hung", replicas["v1"][0].proc, replicas["v1"][0].port, hanging_port)
    topo = topology(deployment("fraud", version("v1", 100, hung)))

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[str, float, str, float, str]:
        started = time.monotonic()
        client_deadline = await status_of(c.infer("fraud", fraud_inputs(), client_timeout=0.3))
        by_client = time.monotonic() - started
        started = time.monotonic()
        capped = await status_of(c.infer("fraud", fraud_inputs(), client_timeout=30))
        by_gateway = time.monotonic() - started
        return client_deadline, by_client, capped, by_gateway, gateway.metrics.render().decode()

    client_deadline, by_client, capped, by_gateway, m = on_gateway(
        topo, scenario, request_timeout_s=0.6
    )
    assert client_deadline == capped == "DEADLINE_EXCEEDED"
    assert by_client < 0.6 <= by_gateway < 5  # each ended by its own deadline
    assert sample(m, "inferd_gateway_requests_total", deployment="fraud", version="v1",
                  outcome="deadline") == 2  # fmt: skip


def test_unavailable_replicas_are_retried_then_reported(
    replicas: dict[str, list[ReplicaProcess]], dead_port: int
) -> None:
    live = replicas["v1"][0]
    dead = ReplicaProcess("dead", live.proc, live.port, dead_port)
    topo = topology(
        deployment("fraud", version("v1", 100, dead, live)),
        deployment("gone", version("v1", 100, dead, model="fraud", deployment="gone")),
    )

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[list[str], str, str]:
        fraud = [await status_of(c.infer("fraud", fraud_inputs())) for _ in range(10)]
        gone = await status_of(c.infer("gone", fraud_inputs()))
        return fraud, gone, gateway.metrics.render().decode()

    fraud, gone, m = on_gateway(topo, scenario)
    assert fraud == ["OK"] * 10  # the dead replica costs a retry, then is avoided
    assert sample(m, "inferd_gateway_upstream_retries_total", deployment="fraud", version="v1",
                  reason="unavailable") >= 1  # fmt: skip
    assert gone == "UNAVAILABLE"
    assert sample(m, "inferd_gateway_requests_total", deployment="gone", version="v1",
                  outcome="unavailable") == 1  # fmt: skip


def test_a_replica_leaving_the_topology_loses_its_channel(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    first, second = replicas["v1"]
    both = topology(deployment("fraud", version("v1", 100, first, second)))
    only_second = topology(deployment("fraud", version("v1", 100, second)), generation=2)

    def connected(server: ReplicaProcess) -> bool:
        return any(
            c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.grpc_port
            for c in psutil.Process(server.proc.pid).net_connections("tcp")
        )

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[bool, bool]:
        for _ in range(20):
            await c.infer("fraud", fraud_inputs())
        before = connected(first)
        gateway.update(only_second)
        front.update(only_second)
        deadline = time.monotonic() + 5
        while connected(first) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return before, connected(first)

    before, after = on_gateway(both, scenario)
    assert before and not after


def test_the_call_check_runs_before_routing(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(deployment("fraud", version("v1", 100, *replicas["v1"])))
    seen: list[tuple[str, str]] = []

    async def check(metadata: Mapping[str, str], deployment: str, method: str) -> None:
        seen.append((deployment, method))
        if metadata.get("authorization") != "Bearer right":
            raise Unauthenticated("a valid API key is required")

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> list[str]:
        front.check = check
        key = {"authorization": "Bearer right"}
        return [
            await status_of(c.infer("fraud", fraud_inputs())),
            await status_of(c.infer("nope", fraud_inputs())),  # refused before it is looked up
            await status_of(c.infer("fraud", fraud_inputs(), headers=key)),
            await status_of(c.is_server_live(headers=key)),
            await status_of(c.get_inference_statistics("fraud", headers=key)),
        ]

    assert on_gateway(topo, scenario) == ["UNAUTHENTICATED", "UNAUTHENTICATED", "OK", "OK", "OK"]
    assert seen == [("fraud", "ModelInfer"), ("nope", "ModelInfer"), ("fraud", "ModelInfer"),
                    ("", "ServerLive"), ("fraud", "ModelStatistics")]  # fmt: skip


def test_index_and_statistics_over_grpc(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = fraud_with_shadow(replicas)

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[Any, Any, list[Any], str]:
        for _ in range(6):
            await c.infer("fraud", fraud_inputs(), model_version="v1")
        index = await c.get_model_repository_index(as_json=True)
        stats = await c.get_inference_statistics("fraud", "v1", as_json=True)
        rest = [await gateway.catalog.statistics("fraud", "v1")]
        unknown = await status_of(c.get_inference_statistics("fraud", "shadow"))
        return index, stats, rest, unknown

    index, stats, rest, unknown = on_gateway(topo, scenario)
    assert [(m["name"], m["version"], m["state"]) for m in index["models"]] == [
        ("fraud", "v1", "READY"),
        ("fraud", "v2", "READY"),
    ]
    (entry,) = stats["model_stats"]
    (summed,) = rest[0]
    assert (entry["name"], entry["version"]) == ("fraud", "v1")
    assert int(entry["inference_count"]) == summed.inference_count >= 30
    assert unknown == "NOT_FOUND"


def test_the_clients_deadline_bounds_the_replica_call(hanging_port: int) -> None:
    """The proxy gives the replica call the client's time left, not its own (longer) cap."""
    hung = Replica("hung-0", "fraud", "v1", "127.0.0.1", 1, "ready", grpc_port=hanging_port)
    route = VersionRoute("v1", "fraud", "fraud:v1", 100, (hung,))

    async def scenario() -> tuple[str, float, dict[str, int]]:
        proxy = GrpcProxy(GatewayMetrics(), 30.0, {})
        started = time.monotonic()
        try:
            await proxy.send("fraud", route, "ModelInfer", b"", (), deadline_s=0.3)
        except DeadlineExceeded as exc:
            return exc.message, time.monotonic() - started, proxy.balance.outstanding
        finally:
            await proxy.close()
        raise AssertionError("a hung replica answered")

    message, took, outstanding = run(scenario)
    assert 0.3 <= took < 2
    assert message == "'fraud' version 'v1' did not answer within the call's deadline (300 ms)"
    assert outstanding == {}


@pytest.fixture(scope="module")
def slow(gateway_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaProcess]:
    """A replica of a model that takes about 0.7 s for 1024 rows."""
    store = ModelStore.from_settings(StoreSettings(home=gateway_home))
    push(store, slow_model(tmp_path_factory.mktemp("slow")), "slow:v1")
    server = start_replica(gateway_home, "slow:v1")
    yield server
    server.stop()


def test_stop_drains_calls_in_flight_and_refuses_new_ones(slow: ReplicaProcess) -> None:
    topo = topology(deployment("slow", version("v1", 100, slow, model="slow", deployment="slow")))
    rows = np.ones((1024, 1024), np.float32)

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[str, str]:
        x = InferInput("x", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows)
        in_flight = asyncio.ensure_future(outcome_of(c.infer("slow", [x])))
        # Wait until the gateway has sent the call on (a fixed sleep lost the race on a loaded
        # CI machine: the 4 MB call had not reached the gateway when it began to stop).
        for _ in range(1000):
            if front.proxy.balance.outstanding:
                break
            await asyncio.sleep(0.01)
        assert front.proxy.balance.outstanding, "the call never reached the replica"
        stopping = asyncio.ensure_future(front.stop(10))
        await asyncio.sleep(0.05)
        late = await status_of(c.infer("slow", [x]))
        await stopping
        return await in_flight, late

    finished, late = on_gateway(topo, scenario)
    assert finished == "OK"
    assert late == "UNAVAILABLE"


def test_a_deadline_already_passed_sends_nothing(hanging_port: int) -> None:
    hung = Replica("hung-0", "fraud", "v1", "127.0.0.1", 1, "ready", grpc_port=hanging_port)
    route = VersionRoute("v1", "fraud", "fraud:v1", 100, (hung,))

    async def scenario() -> str:
        proxy = GrpcProxy(GatewayMetrics(), 30.0, {})
        try:
            await proxy.send("fraud", route, "ModelInfer", b"", (), deadline_s=-0.01)
        except DeadlineExceeded as exc:
            return exc.message
        finally:
            await proxy.close()
        raise AssertionError("a call went out after its deadline")

    assert run(scenario).endswith("did not answer within the call's deadline (0 ms)")


def test_bytes_that_are_not_the_request_message_are_invalid_argument() -> None:
    """The gateway names the message type as the model server does (one error for both)."""

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[grpc.StatusCode, str]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            call = channel.unary_unary(f"/{SERVICE}/ModelStatistics")
            try:
                await call(b"\xff\xff\xff")
            except grpc.aio.AioRpcError as exc:
                return exc.code(), exc.details() or ""
        raise AssertionError("garbage bytes were answered")

    code, details = on_gateway(topology(), scenario)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details == "the request is not a valid inference.ModelStatisticsRequest message"
