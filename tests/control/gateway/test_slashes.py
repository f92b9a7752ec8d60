"""A client whose base URL ends in ``/`` sends ``//v1/chat/completions`` (or a path ending in
``/``): the gateway's router matches it, as ``inferd serve``'s does, so the replica must get the
path as the router read it. The relay passed the client's path through, and an engine replica
(llama-server, vLLM) routes no ``//v1/…``; the model route answered an engine's model object
only for a path starting with exactly ``/v1/``, and forwarded the rest to the engine."""

from __future__ import annotations

import asyncio

import orjson

from .conftest import RawClient, content_length, run
from .test_openai_relay_broken import gateway_against

ANSWER = orjson.dumps(
    {"id": "x", "object": "chat.completion", "created": 1, "model": "llm", "choices": []}
)


def test_an_engine_gets_the_path_the_router_matched() -> None:
    seen: list[bytes] = []

    async def engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readuntil(b"\r\n")
            except asyncio.IncompleteReadError:
                break
            seen.append(line.split(b" ")[1])
            rest = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(content_length(rest))
            ok = b"/v1/chat/completions"
            status = b"200 OK" if seen[-1] == ok else b"404 Not Found"
            writer.write(b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n" % status)
            writer.write(b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
            await writer.drain()
        writer.close()

    async def scenario() -> tuple[list[int], int, bytes]:
        server, gateway = await gateway_against(engine, engine=True)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        body = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
        try:
            statuses = []
            for path in ("/v1/chat/completions", "//v1/chat/completions", "/v1/chat/completions/"):
                statuses.append((await client.request("POST", path, body))[0])
            model, _, document = await client.request("GET", "//v1/models/chat")
            return statuses, model, document
        finally:
            await client.close()
            await gateway.stop(5)
            server.close()

    statuses, model, document = run(scenario)
    assert statuses == [200, 200, 200]
    assert seen == [b"/v1/chat/completions"] * 3
    assert model == 200 and orjson.loads(document)["id"] == "chat"
