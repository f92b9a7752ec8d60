"""Several prompts in one text completion, as vLLM and OpenAI take them (``prompt`` a list of
strings): ``n`` choices of each, choice ``j`` of prompt ``i`` indexed ``i * n + j``, streamed
chunks interleaved with their index, the usage counting each prompt once and summing them.
Token ids as a prompt, and more generations than a model's queue holds, are refused by name.
Scripted models behind the real router (see conftest), read with the official ``openai``
client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from protocols.conftest import Running
from protocols.openai.conftest import WORDS, LlmDataPlane, read_text_stream

PROMPTS = ["Once upon", "a", "time there was"]


@pytest.fixture
def client(llm_server: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="x", max_retries=0) as client:
        yield client


def asked(server: Running) -> list[tuple[str, int | None]]:
    """The prompt and seed of each generation the scripted model was asked for, in order."""
    assert isinstance(server.dataplane, LlmDataPlane)
    return [(a.prompt, a.sampling.seed) for a in server.dataplane.llms["parrot"].asked]


def test_n_choices_of_each_prompt_indexed_by_prompt(
    client: openai.OpenAI, llm_server: Running
) -> None:
    answer = client.completions.create(
        model="parrot", prompt=PROMPTS, n=2, max_tokens=2, seed=7, echo=True
    )
    assert [(c.index, c.text, c.finish_reason) for c in answer.choices] == [
        (2 * i + j, prompt + "Hello there", "length")
        for i, prompt in enumerate(PROMPTS)
        for j in range(2)
    ]
    # Each prompt's choices draw as a request of that prompt alone would (seed + j).
    assert asked(llm_server) == [(prompt, 7 + j) for prompt in PROMPTS for j in range(2)]
    # The scripted model reads a token per word and finds one cached per prompt.
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2 + 1 + 3, 6 * 2)
    assert answer.usage.total_tokens == 18
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 3


def test_several_prompts_streamed(client: openai.OpenAI) -> None:
    stream = client.completions.create(
        model="parrot",
        prompt=PROMPTS[:2],
        n=2,
        stream=True,
        echo=True,
        stream_options={"include_usage": True},
    )
    read = read_text_stream(stream)
    assert read.finished == dict.fromkeys(range(4), "stop")
    # Each choice opens with its own prompt (echo), then the text.
    assert read.texts == {i: PROMPTS[i // 2] + "".join(WORDS) for i in range(4)}
    assert read.usage is not None
    assert (read.usage.prompt_tokens, read.usage.completion_tokens) == (2 + 1, 4 * len(WORDS))


def test_a_list_of_one_prompt_answers_as_the_prompt_alone(client: openai.OpenAI) -> None:
    alone = client.completions.create(model="parrot", prompt="Say", n=3, max_tokens=1)
    listed = client.completions.create(model="parrot", prompt=["Say"], n=3, max_tokens=1)
    assert [c.model_dump() for c in listed.choices] == [c.model_dump() for c in alone.choices]
    assert listed.usage == alone.usage


def post(server: Running, **fields: Any) -> httpx.Response:
    body = {"model": "parrot", **fields}
    return httpx.post(server.url + "/v1/completions", content=orjson.dumps(body), timeout=10)


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"prompt": [1, 2, 3]}, "prompt", "token ids are not supported as a prompt"),
        ({"prompt": [[1, 2], [3]]}, "prompt", "token ids are not supported as a prompt"),
        ({"prompt": ["a", [3]]}, "prompt", "token ids are not supported as a prompt"),
        ({"prompt": []}, "prompt", "an empty list; give at least one prompt"),
        ({"prompt": ["a"] * 65}, "prompt", "65 prompts; at most 64 per request"),
        ({"prompt": ["a", 2.5]}, "prompt[1]", "valid string"),
        (
            {"prompt": ["a"] * 9, "n": 8},
            "n",
            "8 choices for each of 9 prompts are 72 generations; at most 64 per request",
        ),
    ],
)
def test_prompts_refused_by_name(
    llm_server: Running, fields: dict[str, Any], param: str, says: str
) -> None:
    response = post(llm_server, **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert says in error["message"]
    assert asked(llm_server) == []


def test_the_most_generations_a_request_may_ask_for(llm_server: Running) -> None:
    response = post(llm_server, prompt=["a", "b"] * 16, n=2, max_tokens=1)
    assert response.status_code == 200, response.text
    assert [c["index"] for c in response.json()["choices"]] == list(range(64))
