"""The OpenAI routes on the real router and HTTP server over scripted language models (see
conftest): answers and Server-Sent Events in OpenAI's shapes, what reaches the model, errors in
OpenAI's shape, and a client that leaves mid-stream cancelling its generation."""

from __future__ import annotations

import base64
import socket
import struct
import time
from typing import Any

import httpx
import orjson
import pytest

from protocols.conftest import Running
from protocols.openai.conftest import CREATED, TIMEOUT_S, WORDS, LlmDataPlane

HI = [{"role": "user", "content": "Hi"}]


def post(server: Running, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, content=orjson.dumps(body), headers=headers, timeout=10)


def plane(server: Running) -> LlmDataPlane:
    assert isinstance(server.dataplane, LlmDataPlane)
    return server.dataplane


def events(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of an SSE body (``[DONE]`` kept as the string)."""
    assert response.text.endswith("\n\n")
    out: list[Any] = []
    for block in response.text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        payload = block.removeprefix("data: ")
        out.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return out


def assert_openai_error(response: httpx.Response, status: int, code: str, param: str | None) -> str:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    message: str = error["message"]
    return message


def test_the_language_models_are_listed(llm_server: Running) -> None:
    listed = httpx.get(llm_server.url + "/v1/models").json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["parrot", "stuck", "failing", "plain"]
    assert listed["data"][0] == {
        "id": "parrot", "object": "model", "created": CREATED, "owned_by": "inferd",
        "root": None, "parent": None, "max_model_len": None,  # a data plane with no versions
    }  # fmt: skip


def test_one_model_for_openai_and_kserve_clients(llm_server: Running) -> None:
    assert httpx.get(llm_server.url + "/v1/models/parrot").json() == {
        "name": "parrot", "ready": True,
        "id": "parrot", "object": "model", "created": CREATED, "owned_by": "inferd",
        "root": None, "parent": None, "max_model_len": None,
    }  # fmt: skip
    # Not a language model: KServe v1 readiness, as before.
    assert httpx.get(llm_server.url + "/v1/models/sum").json() == {"name": "sum", "ready": True}
    message = assert_openai_error(
        httpx.get(llm_server.url + "/v1/models/nope"), 404, "model_not_found", "model"
    )
    assert message == "model 'nope' not found"


def test_a_chat_completion(llm_server: Running) -> None:
    answer = post(
        llm_server, "/v1/chat/completions",
        {"model": "parrot", "messages": HI, "max_tokens": 2, "temperature": 0, "seed": 5},
    )  # fmt: skip
    assert answer.status_code == 200
    document = answer.json()
    assert document["id"].startswith("chatcmpl-") and len(document["id"]) > 20
    assert document["object"] == "chat.completion"
    assert document["model"] == "parrot"
    assert abs(document["created"] - time.time()) < 3600
    assert document["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there"},
            "finish_reason": "length",
            "logprobs": None,
        }
    ]
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.prompt == "<user>Hi<assistant>"
    assert (asked.sampling.max_tokens, asked.sampling.temperature, asked.sampling.seed) == (2, 0, 5)
    assert document["usage"] == {
        "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 1},
    }  # fmt: skip


def test_generations_get_the_servers_request_timeout(llm_server: Running) -> None:
    post(llm_server, "/v1/chat/completions", {"model": "parrot", "messages": HI})
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.deadline is not None and asked.deadline <= time.monotonic() + TIMEOUT_S
    # The client's own deadline replaces it, as on /infer.
    post(
        llm_server, "/v1/completions", {"model": "parrot", "prompt": "x"},
        **{"Inference-Timeout-Ms": "600000"},
    )  # fmt: skip
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.deadline is not None and asked.deadline > time.monotonic() + TIMEOUT_S
    refused = post(
        llm_server, "/v1/completions", {"model": "parrot", "prompt": "x"},
        **{"Inference-Timeout-Ms": "soon"},
    )  # fmt: skip
    assert "Inference-Timeout-Ms" in assert_openai_error(refused, 400, "invalid_argument", None)


def test_a_streamed_chat_completion(llm_server: Running) -> None:
    answer = post(
        llm_server, "/v1/chat/completions", {"model": "parrot", "messages": HI, "stream": True}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.headers["cache-control"] == "no-cache"
    *chunks, done = events(answer)
    assert done == "[DONE]"
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    choices = [c["choices"][0] for c in chunks]
    assert choices[0]["delta"] == {"role": "assistant", "content": ""}
    # One chunk per piece of text: the empty chunks (a token inside a character) are skipped.
    assert [c["delta"] for c in choices[1:-1]] == [{"content": w} for w in WORDS]
    assert all(c["finish_reason"] is None for c in choices[:-1])
    assert choices[-1] == {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}


def test_stream_usage_comes_last_when_asked(llm_server: Running) -> None:
    answer = post(
        llm_server, "/v1/chat/completions",
        {"model": "parrot", "messages": HI, "stream": True, "max_tokens": 3,
         "stream_options": {"include_usage": True}},
    )  # fmt: skip
    *chunks, last, done = events(answer)
    assert done == "[DONE]"
    assert all(c["usage"] is None for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert last["choices"] == []
    assert last["usage"] == {
        "prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 1},
    }  # fmt: skip


def test_a_text_completion_whole_and_streamed(llm_server: Running) -> None:
    whole = post(llm_server, "/v1/completions", {"model": "parrot", "prompt": ["Say"]}).json()
    assert whole["id"].startswith("cmpl-") and whole["object"] == "text_completion"
    assert whole["choices"] == [
        {"index": 0, "text": "".join(WORDS), "finish_reason": "stop", "logprobs": None}
    ]
    assert whole["usage"]["completion_tokens"] == len(WORDS)
    assert plane(llm_server).llms["parrot"].asked[-1].prompt == "Say"
    streamed = post(
        llm_server, "/v1/completions",
        {"model": "parrot", "prompt": "Say", "stream": True, "stop": "!",
         "stream_options": {"include_usage": True}},
    )  # fmt: skip
    *chunks, last, done = events(streamed)
    assert done == "[DONE]" and last["choices"] == [] and last["object"] == "text_completion"
    assert [c["choices"][0]["text"] for c in chunks] == [*WORDS, ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert plane(llm_server).llms["parrot"].asked[-1].sampling.stop == ("!",)


def test_a_generation_that_fails_midway(llm_server: Running) -> None:
    body = {"model": "failing", "messages": HI}
    whole = post(llm_server, "/v1/chat/completions", body)
    assert "deadline" in assert_openai_error(whole, 504, "deadline_exceeded", None)
    streamed = post(llm_server, "/v1/chat/completions", {**body, "stream": True})
    assert streamed.status_code == 200  # the status line left with the first event
    *chunks, error, done = events(streamed)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "Hello"},
    ]  # fmt: skip
    assert error["error"]["code"] == "deadline_exceeded"
    assert error["error"]["type"] == "server_error"
    assert done == "[DONE]"


def test_a_client_that_leaves_cancels_its_generation(llm_server: Running) -> None:
    body = orjson.dumps({"model": "stuck", "messages": HI, "stream": True})
    with socket.create_connection(("127.0.0.1", llm_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        seen = b""
        while b'"Hello"' not in seen:
            part = sock.recv(65536)
            assert part, "the stream ended before its first word"
            seen += part
    asked = plane(llm_server).llms["stuck"].asked[-1]
    assert asked.cancelled.wait(10), "the generation kept running after its client left"


def test_a_client_that_leaves_before_a_whole_answer_cancels_it_too(llm_server: Running) -> None:
    body = orjson.dumps({"model": "stuck", "prompt": "x"})
    stuck = plane(llm_server).llms["stuck"]
    with socket.create_connection(("127.0.0.1", llm_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        waited = time.monotonic() + 10
        while not stuck.asked and time.monotonic() < waited:
            time.sleep(0.01)
        assert stuck.asked, "the generation never started"
    assert stuck.asked[-1].cancelled.wait(10), "the generation kept running after its client left"


def test_refusals_in_openai_shape(llm_server: Running) -> None:
    chat = "/v1/chat/completions"
    missing = post(llm_server, chat, {"model": "nope", "messages": HI})
    assert assert_openai_error(missing, 404, "model_not_found", "model") == "model 'nope' not found"
    not_llm = post(llm_server, chat, {"model": "sum", "messages": HI})
    assert "not a language model" in assert_openai_error(not_llm, 400, "invalid_argument", None)
    empty = post(llm_server, chat, {"model": "parrot", "messages": []})
    assert assert_openai_error(empty, 400, "invalid_argument", "messages").startswith("messages:")
    typed = post(llm_server, chat, {"model": "parrot", "messages": HI, "temperature": "hot"})
    assert "(got 'hot')" in assert_openai_error(typed, 400, "invalid_argument", "temperature")
    bad_json = httpx.post(llm_server.url + chat, content=b'{"model": ', timeout=10)
    assert "malformed JSON" in assert_openai_error(bad_json, 400, "invalid_argument", None)
    too_long = post(
        llm_server, "/v1/completions", {"model": "parrot", "prompt": "x", "max_tokens": 99}
    )
    assert "over the context of 64" in assert_openai_error(too_long, 400, "invalid_argument", None)
    assert plane(llm_server).llms["parrot"].asked == []  # nothing refused reached a generation


def test_embeddings_as_floats_and_base64(llm_server: Running) -> None:
    floats = post(llm_server, "/v1/embeddings", {"model": "parrot", "input": ["a b", "c"]}).json()
    assert floats == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25, 3.0]},
            {"object": "embedding", "index": 1, "embedding": [0.5, -0.25, 1.0]},
        ],
        "model": "parrot",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    packed = post(
        llm_server, "/v1/embeddings",
        {"model": "parrot", "input": "a b", "encoding_format": "base64"},
    ).json()  # fmt: skip
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert struct.unpack("<3f", raw) == (0.5, -0.25, 3.0)


def test_embeddings_need_a_model_loaded_for_them(llm_server: Running) -> None:
    refused = post(llm_server, "/v1/embeddings", {"model": "plain", "input": "a"})
    message = assert_openai_error(refused, 400, "invalid_argument", "model")
    assert message == "model: model 'plain' is not loaded for embeddings"


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/v1/chat/completions", "ChatCompletion"),
        ("/v1/completions", "TextCompletion"),
    ],
)
def test_the_openapi_document_describes_streams_and_openai_errors(
    llm_server: Running, path: str, schema: str
) -> None:
    doc = httpx.get(llm_server.url + "/v2/openapi.json").json()
    post_op = doc["paths"][path]["post"]
    ok = post_op["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    assert "text/event-stream" in ok
    error = post_op["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/OpenAIError"}
    assert {"/v1/models", "/v1/models/{model}", "/v1/embeddings"} <= set(doc["paths"])


def test_embeddings_get_the_deadline_of_a_generation(llm_server: Running) -> None:
    """They ran to the end whatever the deadline: 2,048 long inputs took a minute with
    Inference-Timeout-Ms: 50, and answered 200."""
    post(llm_server, "/v1/embeddings", {"model": "parrot", "input": "a"})
    asked = plane(llm_server).llms["parrot"].embedded[-1]
    assert asked.deadline is not None and asked.deadline <= time.monotonic() + TIMEOUT_S
    post(
        llm_server, "/v1/embeddings", {"model": "parrot", "input": "a"},
        **{"Inference-Timeout-Ms": "600000"},
    )  # fmt: skip
    asked = plane(llm_server).llms["parrot"].embedded[-1]
    assert asked.deadline is not None and asked.deadline > time.monotonic() + TIMEOUT_S
    refused = post(
        llm_server, "/v1/embeddings", {"model": "parrot", "input": "a"},
        **{"Inference-Timeout-Ms": "soon"},
    )  # fmt: skip
    assert "Inference-Timeout-Ms" in assert_openai_error(refused, 400, "invalid_argument", None)


def test_a_client_that_leaves_stops_its_embeddings(llm_server: Running) -> None:
    """The thread embedding went on through every input after its client left, holding the
    model's embedding context: the next embeddings request waited for it (19 s for 700)."""
    body = orjson.dumps({"model": "stuck", "input": ["x", "y"]})
    stuck = plane(llm_server).llms["stuck"]
    with socket.create_connection(("127.0.0.1", llm_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        waited = time.monotonic() + 10
        while not stuck.embedded and time.monotonic() < waited:
            time.sleep(0.01)
        assert stuck.embedded, "the embeddings never started"
    gone = stuck.embedded[-1].gone
    assert gone is not None and gone.wait(10), "the embeddings went on after their client left"
