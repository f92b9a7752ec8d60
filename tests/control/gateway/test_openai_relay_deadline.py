"""Deadlines of generations the gateway relays to an engine replica (llama-server, vLLM), which
sets no time limit of its own: the deployment's ``request_timeout`` bounds the whole answer, a
stream ending with OpenAI's error event and ``[DONE]``, a whole answer with 504. A replica that
answers later than the gateway's ``request_timeout`` is late, not broken: 504, and it stays in
rotation (as the OIP proxy answers a timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import orjson

from .conftest import read_request, run, sample
from .test_openai_relay_broken import EVENT, HEAD, gateway_against


async def _endless_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An engine generating for ever: one event every 50 ms until the client leaves."""
    await read_request(reader)
    writer.write(HEAD)
    try:
        while True:
            writer.write(b"%x\r\n" % len(EVENT) + EVENT + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An engine that takes the request and does not answer (a long whole generation)."""
    await read_request(reader)
    try:
        await reader.read()  # until the gateway gives up and closes
    finally:
        writer.close()


def _chat(stream: bool) -> dict[str, object]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def test_an_engine_stream_past_the_deployment_timeout_ends_with_an_error_event() -> None:
    async def scenario() -> tuple[list[str], float, str]:
        server, gateway = await gateway_against(_endless_stream, timeout=0.5, engine=True)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                started = time.monotonic()
                async with client.stream("POST", url + "/v1/chat/completions",
                                         json=_chat(True)) as got:  # fmt: skip
                    assert got.status_code == 200
                    lines = [line async for line in got.aiter_lines() if line]
                took = time.monotonic() - started
                metrics = (await client.get(url + "/metrics")).text
        finally:
            await gateway.stop(5)
            server.close()
        return lines, took, metrics

    lines, took, metrics = run(scenario)
    assert took < 5  # cut at the deployment's 0.5 s, not left to run for ever
    assert set(lines[:-2]) == {EVENT.decode().strip()}
    error = orjson.loads(lines[-2].removeprefix("data: "))["error"]
    assert error["code"] == "deadline_exceeded" and "request_timeout" in error["message"]
    assert lines[-1] == "data: [DONE]"
    counted = {"deployment": "chat", "version": "v1"}
    assert sample(metrics, "inferd_gateway_requests_total", outcome="deadline",
                  **counted) == 1  # fmt: skip


def test_a_whole_engine_answer_past_the_deployment_timeout_is_504() -> None:
    async def scenario() -> tuple[int, dict[str, str], float]:
        server, gateway = await gateway_against(_silent, timeout=0.5, engine=True)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                started = time.monotonic()
                got = await client.post(url + "/v1/chat/completions", json=_chat(False))
                return got.status_code, got.json()["error"], time.monotonic() - started
        finally:
            await gateway.stop(5)
            server.close()

    status, error, took = run(scenario)
    assert status == 504 and took < 5
    assert error["code"] == "deadline_exceeded" and "0.5 s" in error["message"]


def test_a_late_replica_is_504_and_stays_in_rotation() -> None:
    """Past the gateway's own request_timeout, with no deployment timeout: a late answer is a
    deadline, not a broken replica (it was 503 and the replica was ejected)."""

    async def scenario() -> tuple[list[int], str]:
        server, gateway = await gateway_against(_silent, request_timeout_s=0.3)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                statuses = [
                    (await client.post(url + "/v1/chat/completions", json=_chat(False))).status_code
                    for _ in range(2)
                ]
                metrics = (await client.get(url + "/metrics")).text
        finally:
            await gateway.stop(5)
            server.close()
        return statuses, metrics

    statuses, metrics = run(scenario)
    assert statuses == [504, 504]  # the second still reached the replica: not ejected
    counted = {"deployment": "chat", "version": "v1"}
    assert sample(metrics, "inferd_gateway_requests_total", outcome="deadline",
                  **counted) == 2  # fmt: skip


def test_a_client_that_leaves_a_whole_generation_is_counted_and_frees_its_replica() -> None:
    """A client that gave up on a non-streamed generation was counted nowhere, and its replica
    stayed one request busier for good in the balancer (its outstanding count never fell)."""

    async def scenario() -> tuple[int, float]:
        server, gateway = await gateway_against(_silent, engine=True)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(timeout=0.3) as client:
                with contextlib.suppress(httpx.TimeoutException):
                    await client.post(url + "/v1/chat/completions", json=_chat(False))
            async with httpx.AsyncClient(timeout=10) as client:
                for _ in range(100):  # the gateway sees the disconnect as the loop turns
                    metrics = (await client.get(url + "/metrics")).text
                    counted = sample(
                        metrics, "inferd_gateway_requests_total",
                        deployment="chat", version="v1", outcome="client_error",
                    )  # fmt: skip
                    if counted:
                        break
                    await asyncio.sleep(0.02)
            return gateway.proxy.balance.outstanding.get("v1-0", 0), counted
        finally:
            await gateway.stop(5)
            server.close()

    outstanding, counted = run(scenario)
    assert counted == 1
    assert outstanding == 0
