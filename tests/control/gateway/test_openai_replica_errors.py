"""A replica's error that is not in OpenAI's shape (a plain-text 500 from an engine's web
framework, a proxy's HTML 502) reaches the client in OpenAI's shape, with the replica's status
and text, so OpenAI's clients read it as they read every other error; an error already in
OpenAI's shape (inferd's, llama-server's, vLLM's) is relayed as the replica sent it."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from .conftest import read_request, run
from .test_openai_relay_broken import gateway_against


def _answering(status: str, content_type: str, body: bytes):  # type: ignore[no-untyped-def]
    async def replica(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n".encode()
            + b"content-length: %d\r\n\r\n" % len(body)
            + body
        )
        await writer.drain()
        writer.close()

    return replica


def _relayed(status: str, content_type: str, body: bytes) -> httpx.Response:
    async def scenario() -> httpx.Response:
        server, gateway = await gateway_against(_answering(status, content_type, body))
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.post(
                    f"http://127.0.0.1:{gateway.port}/v1/chat/completions",
                    json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
                )
        finally:
            await gateway.stop(5)
            server.close()

    return run(scenario)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "said"),
    [
        ("500 Internal Server Error", "text/plain; charset=utf-8", b"Internal Server Error",
         "Internal Server Error"),
        ("502 Bad Gateway", "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>",
         "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ("400 Bad Request", "application/json", b'"bad"', '"bad"'),
        ("500 Internal Server Error", "text/plain", b"", "no text"),
    ],
)  # fmt: skip
def test_an_error_in_another_shape_is_put_in_openais(
    status: str, content_type: str, body: bytes, said: str
) -> None:
    answer = _relayed(status, content_type, body)
    code = int(status.split(maxsplit=1)[0])
    assert answer.status_code == code
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["message"] == f"the replica of 'chat' answered {code}: {said}"
    assert error["type"] == ("server_error" if code >= 500 else "invalid_request_error")
    assert error["code"] == code and error["param"] is None
    # OpenAI's client reads it as any error: its message, its body.
    response = httpx.Response(code, json=answer.json(), request=answer.request)
    failure = openai.OpenAI(api_key="x")._make_status_error_from_response(response)
    assert isinstance(failure, openai.APIStatusError) and failure.body == error


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":{"message":"no","type":"invalid_request_error","param":null,"code":"x"}}',
        # vLLM's own shape, which OpenAI's clients read too
        b'{"object":"error","message":"no","type":"BadRequestError","param":null,"code":400}',
    ],
)
def test_an_error_in_openais_shape_is_relayed_as_it_came(body: bytes) -> None:
    answer = _relayed("400 Bad Request", "application/json", body)
    assert answer.status_code == 400 and answer.content == body
