"""A replica whose streamed generation fails mid-way (its deadline passed, its model unloaded)
ends the stream itself, with OpenAI's error event and ``[DONE]``, under a 200 status line sent
before the failure. The gateway relays it as it is, and counts the request by the error, as it
counts a whole answer with that status: it was counted a success, so a version whose streams
all failed looked healthy to its rollout. A client that leaves a stream before its end is
counted gone (499), as a whole answer's client is, not a success."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import deployment, read_post, run, sample, started_gateway, topology
from .test_openai_relay_broken import EVENT, HEAD, gateway_against


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _failing_replica(error: dict[str, object], split: int, done: bool = True):  # type: ignore[no-untyped-def]
    """A replica that sends one text event, then ``error`` as an error event (in two writes,
    cut ``split`` bytes into it), ``[DONE]`` and the stream's end (``done`` false: it waits
    for its client to leave after the error event)."""
    event = b"data: " + orjson.dumps({"error": error}) + b"\n\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await read_post(reader, writer):
            return
        writer.write(HEAD + _chunked(EVENT))
        await writer.drain()
        for piece in (event[:split], event[split:] + (b"data: [DONE]\n\n" if done else b"")):
            writer.write(_chunked(piece))
            await writer.drain()
        try:
            if not done:
                await reader.read()  # until the gateway closes: its client left
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return answer


def _relayed(error: dict[str, object], split: int, done: bool = True) -> tuple[list[str], str]:
    async def scenario() -> tuple[list[str], str]:
        server, gateway = await gateway_against(_failing_replica(error, split, done))
        url = f"http://127.0.0.1:{gateway.port}"
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                lines = []
                async with client.stream("POST", url + "/v1/chat/completions", json=body) as got:
                    assert got.status_code == 200
                    async for line in got.aiter_lines():
                        lines += [line] if line else []
                        if line.startswith('data: {"error"') and not done:
                            break  # OpenAI's clients raise at the error event and leave
                metrics = await _counted(client, url)
        finally:
            await gateway.stop(5)
            server.close()
        return lines, metrics

    return run(scenario)


OUTCOMES = ("success", "client_error", "unavailable", "deadline", "error")


async def _counted(client: httpx.AsyncClient, url: str) -> str:
    """The gateway's metrics once it has counted the one request (a stream is counted when it
    ends, which may be after its client has left)."""
    for _ in range(500):
        metrics = (await client.get(url + "/metrics")).text
        counted = {"deployment": "chat", "version": "v1"}
        if any(sample(metrics, "inferd_gateway_requests_total", outcome=outcome, **counted)
               for outcome in OUTCOMES):  # fmt: skip
            return metrics
        await asyncio.sleep(0.01)
    return metrics


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        # inferd's own replica: its error codes, as every inferd route answers them
        ({"message": "the generation ran past its deadline", "type": "server_error",
          "param": None, "code": "deadline_exceeded"}, "deadline"),
        ({"message": "llm unloaded before the generation ended", "type": "server_error",
          "param": None, "code": "unavailable"}, "unavailable"),
        ({"message": "internal error", "type": "server_error", "param": None,
          "code": "internal"}, "error"),
        # an engine's (llama-server's) error: its HTTP status as the code
        ({"code": 500, "message": "llama_decode failed", "type": "server_error"}, "error"),
    ],
)  # fmt: skip
def test_a_stream_that_ends_with_an_error_event_counts_as_that_error(
    error: dict[str, object], outcome: str
) -> None:
    # The error event split across the replica's writes; the client reading to [DONE], or
    # leaving at the error event (as OpenAI's clients do: they raise it).
    for split, done in ((3, True), (12, True), (12, False)):
        lines, metrics = _relayed(error, split, done)
        assert lines[0] == EVENT.decode().strip()
        assert orjson.loads(lines[1].removeprefix("data: ")) == {"error": error}  # as sent
        assert lines[2:] == (["data: [DONE]"] if done else [])
        counted = {"deployment": "chat", "version": "v1"}
        assert sample(metrics, "inferd_gateway_requests_total", outcome=outcome, **counted) == 1
        assert not sample(metrics, "inferd_gateway_requests_total", outcome="success", **counted)


async def _endless_replica(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A replica generating until its client (the gateway) goes away; no /metrics."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"POST"):
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        writer.close()
        return
    writer.write(HEAD)
    try:
        while True:
            writer.write(_chunked(EVENT))
            await writer.drain()
            await asyncio.sleep(0.02)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def test_a_client_that_leaves_a_stream_is_counted_as_gone_not_as_a_success() -> None:
    """A client that stopped reading a stream before its end (a user pressing stop) went away
    before its answer: 499 (``client_error``), as a whole answer's client is counted."""

    async def scenario() -> dict[str, float]:
        server = await asyncio.start_server(_endless_replica, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        rep = Replica("v1-0", "chat", "v1", "127.0.0.1", port, "ready")
        gateway = await started_gateway(
            topology(deployment("chat", VersionRoute("v1", "llm", "llm:v1", 100, (rep,))))
        )
        url = f"http://127.0.0.1:{gateway.port}"
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        counted = {"deployment": "chat", "version": "v1"}
        outcomes: dict[str, float] = {}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream("POST", url + "/v1/chat/completions", json=body) as got:
                    async for line in got.aiter_lines():
                        if line:
                            break  # the first event read: the client leaves
                metrics = await _counted(client, url)
                outcomes = {
                    outcome: sample(metrics, "inferd_gateway_requests_total", outcome=outcome,
                                    **counted)
                    for outcome in ("success", "client_error")
                }  # fmt: skip
        finally:
            await gateway.stop(5)
            server.close()
        return outcomes

    assert run(scenario) == {"success": 0, "client_error": 1}
