"""The OIP generate extension (``/v2/models/{m}[/versions/{v}]/generate[_stream]``) over the
scripted language models of tests/protocols/openai/conftest.py: Triton's shapes, the
parameters reaching the model, and the protocol's ``{"error": "..."}`` refusals."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from inferd.generation import Sampling
from protocols.conftest import Running
from protocols.openai.conftest import TIMEOUT_S, WORDS, LlmDataPlane, llm_server  # noqa: F401

HEAD = {"model_name": "parrot", "model_version": "3"}


def post(server: Running, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, content=orjson.dumps(body), timeout=10)


def plane(server: Running) -> LlmDataPlane:
    assert isinstance(server.dataplane, LlmDataPlane)
    return server.dataplane


@pytest.mark.parametrize(
    "path", ["/v2/models/parrot/generate", "/v2/models/parrot/versions/3/generate"]
)
def test_generate(llm_server: Running, path: str) -> None:  # noqa: F811
    answer = post(
        llm_server, path,
        {"text_input": "Say", "parameters": {"max_tokens": 2, "temperature": 0, "top_p": 0.9,
                                             "stop": ["!"], "seed": 1, "stream": False}},
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json() == {**HEAD, "text_output": "Hello there", "finish_reason": "length"}
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.prompt == "Say"
    assert asked.sampling == Sampling(temperature=0, top_p=0.9, max_tokens=2, stop=("!",), seed=1)
    assert asked.deadline is not None and asked.deadline <= time.monotonic() + TIMEOUT_S


def test_vllm_sampling_parameters_reach_the_model(llm_server: Running) -> None:  # noqa: F811
    """Triton's vLLM backend takes top_k, min_p and repetition_penalty as generate
    parameters; they were refused as unknown fields here, and taken on OpenAI's routes."""
    parameters = {"top_k": 5, "min_p": 0.1, "repetition_penalty": 1.2}
    answer = post(
        llm_server, "/v2/models/parrot/generate", {"text_input": "Say", "parameters": parameters}
    )
    assert answer.status_code == 200, answer.text
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.sampling == Sampling(top_k=5, min_p=0.1, repetition_penalty=1.2)
    refused = post(
        llm_server, "/v2/models/parrot/generate", {"text_input": "x", "parameters": {"top_k": -2}}
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("parameters.top_k: Input should be greater than")


def test_presence_and_frequency_penalties_reach_the_model(llm_server: Running) -> None:  # noqa: F811
    """Triton's vLLM backend takes OpenAI's penalties as generate parameters, beside
    text_input or in parameters; they were refused as unknown fields."""
    answer = post(
        llm_server,
        "/v2/models/parrot/generate",
        {"text_input": "Say", "presence_penalty": 1.5, "parameters": {"frequency_penalty": -1}},
    )
    assert answer.status_code == 200, answer.text
    asked = plane(llm_server).llms["parrot"].asked[-1]
    assert asked.sampling == Sampling(presence_penalty=1.5, frequency_penalty=-1)
    refused = post(
        llm_server,
        "/v2/models/parrot/generate",
        {"text_input": "x", "parameters": {"presence_penalty": 2.5}},
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        "parameters.presence_penalty: Input should be less than or equal to 2 (got 2.5)"
    )


def test_generate_stream(llm_server: Running) -> None:  # noqa: F811
    answer = post(llm_server, "/v2/models/parrot/generate_stream", {"text_input": "Say"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    blocks = answer.text.split("\n\n")
    assert blocks[-1] == ""
    assert all(b.startswith("data: ") for b in blocks[:-1])
    events = [orjson.loads(b.removeprefix("data: ")) for b in blocks[:-1]]
    assert events == [
        *({**HEAD, "text_output": w} for w in WORDS),
        {**HEAD, "text_output": "", "finish_reason": "stop"},
    ]
    assert plane(llm_server).llms["parrot"].asked[-1].sampling == Sampling()


def test_a_stream_that_fails_midway_ends_with_the_error(llm_server: Running) -> None:  # noqa: F811
    answer = post(llm_server, "/v2/models/failing/generate_stream", {"text_input": "x"})
    first, error = [orjson.loads(b[6:]) for b in answer.text.split("\n\n")[:-1]]
    assert first["text_output"] == "Hello"
    assert error == {"error": "the generation ran past its deadline"}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/v2/models/parrot/generate", {}, 400, "text_input: required"),
        (
            "/v2/models/parrot/generate",
            {"text_input": 5},
            400,
            "text_input: Input should be a valid string (got 5)",
        ),
        (
            "/v2/models/parrot/generate",
            {"text_input": "x", "parameters": {"temperature": "0"}},
            400,
            "parameters.temperature: Input should be a valid number (got '0')",
        ),
        (
            "/v2/models/parrot/generate",
            {"text_input": "x", "parameters": {"max_new_tokens": 5}},
            400,
            "parameters.max_new_tokens: unknown field (not supported by inferd)",
        ),
        (
            "/v2/models/parrot/generate",
            {"text_input": "x", "parameters": {"stream": True}},
            400,
            "parameters.stream: is true on the wrong route; POST /v2/models/parrot/generate_stream",
        ),
        (
            "/v2/models/parrot/generate_stream",
            {"text_input": "x", "parameters": {"stream": False}},
            400,
            "parameters.stream: is false on the wrong route; POST /v2/models/parrot/generate",
        ),
        (
            "/v2/models/parrot/generate",
            {"text_input": "x", "parameters": {"max_tokens": 100}},
            400,
            "max_tokens is 100: over the context of 64",
        ),
        (
            "/v2/models/sum/generate",
            {"text_input": "x"},
            400,
            "model 'sum' is not a language model",
        ),
        ("/v2/models/nope/generate", {"text_input": "x"}, 404, "model 'nope' not found"),
        (
            "/v2/models/parrot/versions/9/generate_stream",
            {"text_input": "x"},
            404,
            "model 'parrot' version '9' not found",
        ),
        (
            "/v2/models/failing/generate",
            {"text_input": "x"},
            504,
            "the generation ran past its deadline",
        ),
    ],
)
def test_refusals_in_the_protocols_shape(
    llm_server: Running,  # noqa: F811
    path: str,
    body: object,
    status: int,
    error: str,
) -> None:
    answer = post(llm_server, path, body)
    assert answer.status_code == status
    assert answer.json() == {"error": error}
