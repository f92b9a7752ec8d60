"""The OpenAI relay retries as the gateway's other routes do (docs/gateway.md "Retries"): a
connection to the replica that fails before its answer's head (refused, reset, closed early) is
retried once (on another replica, or over a fresh connection to the same one when it has no
sibling), and a 503 from a replica (draining, queue full) is retried once on another replica;
the client sees the answer, not a 503, whether the answer is whole or streamed."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import content_length, deployment, run, sample, started_gateway, topology
from .test_openai_relay_broken import HEAD, gateway_against

WHOLE = orjson.dumps({"id": "c", "object": "chat.completion", "model": "llm", "choices": []})
EVENT = b'data: {"id":"c","object":"chat.completion.chunk","model":"llm","choices":[]}\n\n'
BUSY = b'{"error":{"message":"queue full","type":"server_error","param":null,"code":503}}'


def _answer(stream: bool) -> bytes:
    if stream:
        body = EVENT + b"data: [DONE]\n\n"
        return HEAD + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % len(WHOLE)
        + WHOLE
    )


def _replica(first: str, stream: bool, seen: list[int]):  # type: ignore[no-untyped-def]
    """A replica whose first request overall (``seen`` is shared) gets ``first``: its
    connection closed before any answer, or a 503; the next ones their answer."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"POST"):  # the gateway scraping /metrics: none here
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                await reader.readexactly(content_length(head))
                seen.append(1)
                if len(seen) == 1 and first == "closed":
                    break
                if len(seen) == 1:
                    writer.write(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n" % len(BUSY) + BUSY
                    )
                else:
                    writer.write(_answer(stream))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return answer


async def _ask(port: int, stream: bool) -> tuple[int, bytes, str]:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=10) as client:
        got = await client.post(url + "/v1/chat/completions", json=body)
        return got.status_code, got.content, (await client.get(url + "/metrics")).text


async def _ask_one_replica(first: str, stream: bool) -> tuple[int, bytes, str]:
    """:func:`_ask` a gateway in front of one replica that answers its first request ``first``."""
    seen: list[int] = []
    server, gateway = await gateway_against(_replica(first, stream, seen))
    try:
        return await _ask(gateway.port, stream)
    finally:
        await gateway.stop(5)
        server.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_connection_closed_before_the_answer_is_retried_on_the_same_replica(
    stream: bool,
) -> None:
    status, content, metrics = run(lambda: _ask_one_replica("closed", stream))
    assert status == 200, content
    assert b'"model":"chat"' in content
    retried = sample(metrics, "inferd_gateway_upstream_retries_total", deployment="chat",
                     version="v1", reason="connection")  # fmt: skip
    assert retried == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_503_is_retried_on_another_replica(stream: bool) -> None:
    async def scenario() -> tuple[int, bytes, str]:
        seen: list[int] = []
        servers = [
            await asyncio.start_server(_replica("busy", stream, seen), "127.0.0.1", 0)
            for _ in range(2)
        ]
        replicas = tuple(
            Replica(f"v1-{i}", "chat", "v1", "127.0.0.1", s.sockets[0].getsockname()[1], "ready")
            for i, s in enumerate(servers)
        )
        route = deployment("chat", VersionRoute("v1", "llm", "llm:v1", 100, replicas))
        gateway = await started_gateway(topology(route))
        try:
            return await _ask(gateway.port, stream)
        finally:
            await gateway.stop(5)
            for server in servers:
                server.close()

    status, content, metrics = run(scenario)
    assert status == 200, content
    retried = sample(metrics, "inferd_gateway_upstream_retries_total", deployment="chat",
                     version="v1", reason="unavailable")  # fmt: skip
    assert retried == 1


def test_a_503_of_the_only_replica_is_relayed() -> None:
    status, content, _ = run(lambda: _ask_one_replica("busy", False))
    assert status == 503 and content == BUSY
