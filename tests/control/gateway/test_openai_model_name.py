"""The answers the gateway relays name the model as the client asked for it (the deployment),
as vLLM (``--served-model-name``) and OpenAI do: whole answers, every chunk of a stream, and
embeddings, not the replica's own model name. Streams are still relayed event by event."""

from __future__ import annotations

import asyncio
import base64

import httpx
import openai
import orjson
import pytest

from inferd.control.gateway.relayed_answers import StreamRenamer, renamed

from .conftest import read_post, run
from .test_openai_relay import (  # noqa: F401 (fixtures)
    CONTROL,
    GatewayThread,
    gateway,
    replica,
)
from .test_openai_relay_broken import HEAD, gateway_against


def test_whole_and_streamed_answers_name_the_deployment_asked_for(
    gateway: GatewayThread,  # noqa: F811
) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0}
    whole = client.chat.completions.create(model="support-bot", **chat)  # type: ignore[call-overload]
    assert whole.model == "support-bot"
    stream = client.chat.completions.create(
        model="support-bot", stream=True, stream_options={"include_usage": True}, **chat
    )  # type: ignore[call-overload]
    chunks = list(stream)
    assert chunks and {c.model for c in chunks} == {"support-bot"}
    assert chunks[-1].usage is not None  # include_usage: the last chunk is still relayed
    text = client.completions.create(model="support-bot", prompt="once", max_tokens=4)
    assert text.model == "support-bot"
    pieces = list(
        client.completions.create(model="support-bot", prompt="once", max_tokens=4, stream=True)
    )
    assert {p.model for p in pieces} == {"support-bot"}
    for encoding in ("float", "base64"):
        embedded = client.embeddings.create(
            model="support-bot",
            input=["a b", "c"],
            encoding_format=encoding,  # type: ignore[arg-type]
        )
        assert embedded.model == "support-bot" and len(embedded.data) == 2


def test_errors_are_relayed_as_the_replica_sent_them(gateway: GatewayThread) -> None:  # noqa: F811
    body = {"model": "support-bot", "prompt": "x", "max_tokens": 4, "n": 65}
    answer = httpx.post(gateway.url + "/v1/completions", json=body, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "n"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b'{"id":"x","model":"llm","choices":[]}', b'{"id":"x","model":"bot","choices":[]}'),
        # as Python's json module writes it, and at the end (inferd's embeddings answer)
        (b'{"data": [1, 2], "model": "llm"}', b'{"data": [1, 2], "model": "bot"}'),
        # text that looks like a member is inside a string: its quotes are escaped
        (b'{"choices":[{"text":"\\"model\\":\\"llm\\""}],"model":"l\\"m"}',
         b'{"choices":[{"text":"\\"model\\":\\"llm\\""}],"model":"bot"}'),
        (b'{"text":"a \\"model\\": x","model":"llm"}',
         b'{"text":"a \\"model\\": x","model":"bot"}'),
        (b'{"error":{"message":"no"}}', b'{"error":{"message":"no"}}'),  # no model: as it is
    ],
)  # fmt: skip
def test_the_model_member_is_found_in_the_bytes(document: bytes, expected: bytes) -> None:
    assert renamed(document, "bot") == expected
    if b'"model"' in expected:
        assert orjson.loads(renamed(document, "bot"))["model"] == "bot"


def test_a_stream_split_anywhere_is_renamed_event_by_event() -> None:
    events = [
        b'data: {"id":"c","model":"llm","choices":[{"delta":{"content":"model"}}]}\n\n',
        b'data: {"id":"c","model":"llm","choices":[],"usage":{"total_tokens":3}}\n\n',
        b"data: [DONE]\n\n",
    ]
    stream = b"".join(events)
    for size in (1, 7, 40, len(stream)):
        renamer = StreamRenamer("support-bot")
        out = b"".join(renamer.feed(stream[i : i + size]) for i in range(0, len(stream), size))
        assert out + renamer.rest() == stream.replace(b'"model":"llm"', b'"model":"support-bot"')
        # Every whole event is passed on as soon as its end arrived: nothing is held back.
        assert out == stream.replace(b'"model":"llm"', b'"model":"support-bot"')


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def test_each_event_reaches_the_client_before_the_replica_sends_the_next() -> None:
    """The renaming holds back no event: the replica sends its second event only once the
    client has read the first one through the gateway."""
    first_read = asyncio.Event()
    first = b'data: {"id":"c","object":"chat.completion.chunk","model":"llm","choices":[]}\n\n'

    async def fake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await read_post(reader, writer):
            return
        # the first event in two writes, cut inside its model member
        writer.write(HEAD + _chunked(first[:30]))
        await writer.drain()
        writer.write(_chunked(first[30:]))
        await writer.drain()
        await first_read.wait()
        writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> list[str]:
        server, gw = await gateway_against(fake)
        url = f"http://127.0.0.1:{gw.port}/v1/chat/completions"
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        lines: list[str] = []
        try:
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream("POST", url, json=body) as got,
            ):
                async for line in got.aiter_lines():
                    if line:
                        lines.append(line)
                        first_read.set()
        finally:
            await gw.stop(5)
            server.close()
        return lines

    lines = run(scenario)
    assert orjson.loads(lines[0].removeprefix("data: "))["model"] == "chat"
    assert lines[1:] == ["data: [DONE]"]


def test_a_large_embeddings_answer_is_renamed_without_parsing_it() -> None:
    """An embeddings answer of megabytes (2,048 inputs of 1,024 floats, OpenAI's most): the
    model named in it is found in the bytes; the rest passes as it came."""
    vector = base64.b64encode(bytes(4096)).decode()
    document = orjson.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(2048)],
            "model": "llm",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
    )
    out = renamed(document, "support-bot")
    assert (
        out[: -len(b'"model":"support-bot","usage":{"prompt_tokens":1,"total_tokens":1}}')]
        == (document[: -len(b'"model":"llm","usage":{"prompt_tokens":1,"total_tokens":1}}')])
    )
    assert orjson.loads(out)["model"] == "support-bot"


def test_an_event_the_replica_broke_off_inside_is_dropped_before_the_error_event() -> None:
    """The client reads whole events: the one cut short is not glued to the error event."""
    whole = b'data: {"id":"c","model":"llm","choices":[]}\n\n'

    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await read_post(reader, writer):
            return
        writer.write(HEAD + _chunked(whole + b'data: {"id":"c","mod'))
        await writer.drain()
        writer.close()  # broken off inside the second event

    async def scenario() -> list[str]:
        server, gw = await gateway_against(broken)
        url = f"http://127.0.0.1:{gw.port}/v1/chat/completions"
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        try:
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream("POST", url, json=body) as got,
            ):
                return [line async for line in got.aiter_lines() if line]
        finally:
            await gw.stop(5)
            server.close()

    lines = run(scenario)
    assert lines[0] == 'data: {"id":"c","model":"chat","choices":[]}'
    assert orjson.loads(lines[1].removeprefix("data: "))["error"]["code"] == "unavailable"
    assert lines[2:] == ["data: [DONE]"]
