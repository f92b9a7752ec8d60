"""The generate extension passes a request's properties beside ``text_input`` as parameters
(Triton's extension_generate.md: "any additional properties in the request object are passed
either as parameters or tensors"), so Triton's own example, ``{"text_input": "…",
"max_tokens": 20}``, is the same request as with ``"parameters": {"max_tokens": 20}``."""

from __future__ import annotations

import httpx
import orjson

from inferd.generation import Sampling
from protocols.conftest import Running
from protocols.openai.conftest import LlmDataPlane

HEAD = {"model_name": "parrot", "model_version": "3"}


def post(server: Running, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, content=orjson.dumps(body), timeout=10)


def plane(server: Running) -> LlmDataPlane:
    assert isinstance(server.dataplane, LlmDataPlane)
    return server.dataplane


def test_parameters_beside_the_text_input(llm_server: Running) -> None:
    answer = post(
        llm_server,
        "/v2/models/parrot/generate",
        {"text_input": "Say", "max_tokens": 2, "temperature": 0, "parameters": {"seed": 1}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {**HEAD, "text_output": "Hello there", "finish_reason": "length"}
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.sampling == Sampling(temperature=0, max_tokens=2, seed=1)


def test_stream_beside_the_text_input_confirms_the_route(llm_server: Running) -> None:
    answer = post(
        llm_server, "/v2/models/parrot/generate_stream", {"text_input": "x", "stream": True}
    )
    assert answer.status_code == 200, answer.text
    wrong = post(llm_server, "/v2/models/parrot/generate", {"text_input": "x", "stream": True})
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "stream: is true on the wrong route; POST /v2/models/parrot/generate_stream"
    }


def test_refusals_name_the_property_where_it_is(llm_server: Running) -> None:
    path = "/v2/models/parrot/generate"
    twice = post(
        llm_server, path, {"text_input": "x", "max_tokens": 2, "parameters": {"max_tokens": 3}}
    )
    assert twice.status_code == 400
    assert twice.json() == {
        "error": "max_tokens: given both beside text_input and in parameters; give it once"
    }
    wrong = post(llm_server, path, {"text_input": "x", "temperature": "0"})
    assert wrong.json() == {"error": "temperature: Input should be a valid number (got '0')"}
    unknown = post(llm_server, path, {"text_input": "x", "bad_words": ""})
    assert unknown.json() == {"error": "bad_words: unknown field (not supported by inferd)"}
