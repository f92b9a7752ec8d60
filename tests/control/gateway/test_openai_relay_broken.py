"""A replica that breaks off a streamed generation mid-way (it crashed, its connection reset):
the gateway ends its client's stream as OpenAI's API ends a failed one, with an error event and
``[DONE]``, instead of cutting the connection, and counts the request as failed (503)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from inferd.control.gateway import Gateway
from inferd.control.gateway.stream_watch import StreamWatch
from inferd.control.replicas.engine_metrics import EngineSeries
from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute

from .conftest import read_request, run, sample, started_gateway, topology

#: What the broken replica sends before it goes away: the head and one event of a chat stream.
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'


#: A fake replica: an asyncio connection handler.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
#: What a fake engine replica says it runs.
ENGINE = EngineSeries("llama-server", "llm", "v1")


async def gateway_against(
    handler: Handler, *, timeout: float | None = None, engine: bool = False, **settings: Any
) -> tuple[asyncio.Server, Gateway]:
    """A gateway routing deployment ``chat`` (model ``llm``) to one fake replica served by
    ``handler``: an engine replica with ``engine``, the deployment's ``request_timeout`` from
    ``timeout``; ``settings`` go to the gateway. Stop both when done."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    replica = Replica("v1-0", "chat", "v1", "127.0.0.1", port, "ready",
                      engine=ENGINE if engine else None)  # fmt: skip
    route = DeploymentRoute(
        "chat", (VersionRoute("v1", "llm", "llm:v1", 100, (replica,)),), request_timeout=timeout
    )
    return server, await started_gateway(topology(route), **settings)


async def _broken_replica(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(HEAD + b"%x\r\n" % len(EVENT) + EVENT + b"\r\n")
    await writer.drain()
    writer.close()  # no last chunk: the answer is cut short


def test_a_stream_the_replica_breaks_off_ends_with_an_error_event() -> None:
    async def scenario() -> tuple[list[str], str]:
        server, gateway = await gateway_against(_broken_replica)
        url = f"http://127.0.0.1:{gateway.port}"
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream("POST", url + "/v1/chat/completions", json=body) as got:
                    assert got.status_code == 200
                    lines = [line async for line in got.aiter_lines() if line]
                metrics = (await client.get(url + "/metrics")).text
        finally:
            await gateway.stop(5)
            server.close()
        return lines, metrics

    lines, metrics = run(scenario)
    assert lines[0] == EVENT.decode().strip()
    error = orjson.loads(lines[1].removeprefix("data: "))["error"]
    assert error["type"] == "server_error" and error["code"] == "unavailable"
    assert "broke off" in error["message"]
    assert lines[2:] == ["data: [DONE]"]
    counted = {"deployment": "chat", "version": "v1"}
    assert sample(metrics, "inferd_gateway_requests_total", outcome="unavailable", **counted) == 1


def test_the_done_line_is_seen_split_anywhere_and_never_inside_text() -> None:
    """Whether ``[DONE]`` passed decides if a broken-off stream still needs its error event."""
    text = b'data: {"choices":[{"index":0,"delta":{"content":"data: [DONE]"}}]}\n\n'
    stream = text + b"data: [DONE]\n\n"
    for size in (1, 5, len(stream)):
        watch = StreamWatch(0.0, keep_text=False)
        for start in range(0, len(stream), size):
            watch.feed(stream[start : start + size])
            assert watch.complete == (start + size > len(text) + len("data: [DONE]") - 1), size
