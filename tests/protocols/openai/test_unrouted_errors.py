"""Errors the transport answers before any OpenAI handler runs (no route, wrong method, a body
over the limit) are in OpenAI's shape on ``/v1/`` paths, so the ``openai`` client shows why;
the Open Inference Protocol's paths, KServe v1's ``:predict`` included, keep their own."""

from __future__ import annotations

import socket

import httpx
import openai
import orjson
import pytest

from protocols.conftest import Running

HELLO = [{"role": "user", "content": "hi"}]


def _client(running: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=running.url + "/v1", api_key="unused", max_retries=0)


def test_a_path_no_route_serves_is_a_not_found_error_naming_it(llm_server: Running) -> None:
    client = _client(llm_server)
    with pytest.raises(openai.NotFoundError) as caught:
        client.post("/chat/completion", body={"model": "llm"}, cast_to=object)
    assert isinstance(caught.value.body, dict)
    assert "POST /v1/chat/completion" in caught.value.body["message"]
    assert caught.value.type == "invalid_request_error"
    assert caught.value.code == "not_found"


def test_a_wrong_method_is_an_openai_error_with_allow(llm_server: Running) -> None:
    answer = httpx.get(llm_server.url + "/v1/chat/completions", timeout=10)
    assert answer.status_code == 405
    assert "POST" in answer.headers["allow"]
    error = answer.json()["error"]
    assert "method GET not allowed" in error["message"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "method_not_allowed",
    )


def test_a_body_over_the_limit_is_an_openai_error(llm_server: Running) -> None:
    client = _client(llm_server)
    huge = [{"role": "user", "content": "x" * (128 * 1024)}]
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="llm", messages=huge)  # type: ignore[arg-type]
    assert caught.value.status_code == 413
    assert isinstance(caught.value.body, dict)
    assert "request body exceeds the limit" in caught.value.body["message"]
    assert caught.value.code == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v2/nope"), ("POST", "/v1/models/llm:predictt"), ("GET", "/v2/models/x/infer")],
)
def test_protocol_paths_keep_their_shape(llm_server: Running, method: str, path: str) -> None:
    answer = httpx.request(method, llm_server.url + path, timeout=10)
    assert answer.status_code in (404, 405)
    assert isinstance(orjson.loads(answer.content)["error"], str)


def test_an_http10_client_gets_the_event_stream_unchunked_to_the_close(
    llm_server: Running,
) -> None:
    """OpenAI's ``stream: true`` to an HTTP/1.0 client (old proxies, ``ab``): the events as
    they are, ended by the close, not chunk sizes between them."""
    body = orjson.dumps({"model": "parrot", "messages": HELLO, "stream": True})
    with socket.create_connection(("127.0.0.1", llm_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        data = b""
        while part := sock.recv(65536):
            data += part
    head, events = data.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding" not in head.lower() and b"connection: close" in head
    lines = [line for line in events.split(b"\n") if line]
    assert all(line.startswith(b"data: ") for line in lines), lines[:3]
    assert lines[-1] == b"data: [DONE]"
