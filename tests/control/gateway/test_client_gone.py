"""A REST client that gives up on a request (its own timeout, a closed tab) is counted as gRPC's
cancelled calls are: status 499 under ``client_error``, in the request and latency series. It
went uncounted, so a slow candidate whose clients gave up on it looked as if it served fewer
requests, none of them late."""

from __future__ import annotations

import asyncio

import orjson

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    deployment,
    run,
    sample,
    started_gateway,
    topology,
    version,
)


async def until(condition: object, what: str, tries: int = 500) -> None:
    """Yield to the loop until ``condition()`` holds (no clock: a bounded number of turns)."""
    for _ in range(tries):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_a_request_its_client_gave_up_on_counts_as_499(
    replicas: dict[str, list[ReplicaProcess]], hanging_port: int
) -> None:
    hang = ReplicaProcess("hang", replicas["v1"][0].proc, hanging_port)
    topo = topology(deployment("fraud", version("v1", 100, hang)))

    async def scenario() -> str:
        gateway = await started_gateway(topo, request_timeout_s=60.0)
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            body = orjson.dumps(FRAUD_BODY)
            writer.write(
                b"POST /v2/models/fraud/infer HTTP/1.1\r\nhost: localhost\r\n"
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            await writer.drain()
            await until(lambda: gateway.in_flight("fraud") == 1, "the request reached the replica")
            writer.close()  # the client gives up
            await until(lambda: gateway.in_flight("fraud") == 0, "the gateway let go of it")

            def counted() -> float:
                text = gateway.metrics.render().decode()
                return sample(
                    text,
                    "inferd_gateway_requests_total",
                    deployment="fraud",
                    version="v1",
                    outcome="client_error",
                )

            await until(lambda: counted() == 1, "the abandoned request was counted")
            return gateway.metrics.render().decode()
        finally:
            await gateway.stop(5)

    text = run(scenario)
    timed = sample(
        text, "inferd_gateway_request_duration_seconds_count", deployment="fraud", version="v1"
    )
    assert timed == 1
