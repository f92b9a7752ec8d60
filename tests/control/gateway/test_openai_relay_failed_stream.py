"""A replica whose streamed generation fails mid-way (its deadline passed, its model unloaded)
ends the stream itself, with OpenAI's error event and ``[DONE]``, under a 200 status line sent
before the failure. The gateway relays it as it is, and counts the request by the error, as it
counts a whole answer with that status: it was counted a success, so a version whose streams
all failed looked healthy to its rollout."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import deployment, run, sample, started_gateway, topology
from .test_openai_relay_broken import EVENT, HEAD


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _failing_replica(error: dict[str, object], split: int):  # type: ignore[no-untyped-def]
    """A replica that sends one text event, then ``error`` as an error event (in two writes,
    cut ``split`` bytes into it), ``[DONE]`` and the stream's end."""
    event = b"data: " + orjson.dumps({"error": error}) + b"\n\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"POST"):  # the gateway scraping /metrics: none here
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            writer.close()
            return
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(HEAD + _chunked(EVENT))
        await writer.drain()
        for piece in (event[:split], event[split:] + b"data: [DONE]\n\n"):
            writer.write(_chunked(piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    return answer


def _relayed(error: dict[str, object], split: int) -> tuple[list[str], str]:
    async def scenario() -> tuple[list[str], str]:
        server = await asyncio.start_server(_failing_replica(error, split), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        rep = Replica("v1-0", "chat", "v1", "127.0.0.1", port, "ready")
        gateway = await started_gateway(
            topology(deployment("chat", VersionRoute("v1", "llm", "llm:v1", 100, (rep,))))
        )
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

    return run(scenario)


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
    for split in (3, 12):  # the error event split across the replica's writes
        lines, metrics = _relayed(error, split)
        assert lines[0] == EVENT.decode().strip()
        assert orjson.loads(lines[1].removeprefix("data: ")) == {"error": error}  # as sent
        assert lines[2:] == ["data: [DONE]"]
        counted = {"deployment": "chat", "version": "v1"}
        assert sample(metrics, "inferd_gateway_requests_total", outcome=outcome, **counted) == 1
        assert not sample(metrics, "inferd_gateway_requests_total", outcome="success", **counted)
