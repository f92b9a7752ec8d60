"""vLLM's sampling parameters beyond OpenAI's (``top_k``, ``min_p``, ``repetition_penalty``), as
vLLM takes them on chat and text completions: read into the sampling, with vLLM's ranges and
meanings (``top_k`` -1 or 0 and ``min_p`` 0 turn theirs off, ``repetition_penalty`` 1 does)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from inferd.generation import Sampling
from inferd.protocols.openai.protocol import ChatCompletionRequest, CompletionRequest
from inferd.protocols.text_wire import InvalidField, parse_body

HI = [{"role": "user", "content": "Hi"}]


def chat(**fields: Any) -> ChatCompletionRequest:
    return parse_body(ChatCompletionRequest, orjson.dumps({"model": "m", "messages": HI, **fields}))


def completion(**fields: Any) -> CompletionRequest:
    return parse_body(CompletionRequest, orjson.dumps({"model": "m", "prompt": "Hi", **fields}))


@pytest.mark.parametrize("parse", [chat, completion])
def test_they_reach_the_sampling(parse: Any) -> None:
    request = parse(temperature=0.7, top_k=40, min_p=0.05, repetition_penalty=1.3)
    assert request.asked() == Sampling(
        temperature=0.7, top_k=40, min_p=0.05, repetition_penalty=1.3
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"top_k": -1},
        {"top_k": 0},
        {"min_p": 0},
        {"repetition_penalty": 1},
        {"top_k": None, "min_p": None, "repetition_penalty": None},
    ],
)
def test_their_off_values_are_plain_sampling(fields: dict[str, Any]) -> None:
    assert chat(**fields).asked() == Sampling()
    assert completion(**fields).asked() == Sampling()


def test_a_repetition_penalty_below_1_is_taken() -> None:
    # Below 1 favours repeating (vLLM's meaning): a value, not a mistake.
    assert chat(repetition_penalty=0.8).asked().repetition_penalty == 0.8


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"top_k": -2}, "top_k", "greater than or equal to -1 (got -2)"),
        ({"top_k": 1.5}, "top_k", "valid integer (got 1.5)"),
        ({"top_k": "40"}, "top_k", "valid integer (got '40')"),
        ({"min_p": -0.1}, "min_p", "greater than or equal to 0 (got -0.1)"),
        ({"min_p": 1.5}, "min_p", "less than or equal to 1 (got 1.5)"),
        ({"repetition_penalty": 0}, "repetition_penalty", "greater than 0 (got 0)"),
        ({"repetition_penalty": -1.2}, "repetition_penalty", "greater than 0 (got -1.2)"),
    ],
)
@pytest.mark.parametrize("parse", [chat, completion])
def test_out_of_range_values_name_the_field(
    parse: Any, fields: dict[str, Any], param: str, says: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        parse(**fields)
    assert caught.value.param == param
    assert says in caught.value.message


@pytest.mark.parametrize("parse", [chat, completion])
def test_ignore_eos_reaches_the_sampling(parse: Any) -> None:
    # vLLM's benchmarks (vllm bench serve) send it to make every answer max_tokens long.
    assert parse(ignore_eos=True).asked() == Sampling(ignore_eos=True)
    assert parse(ignore_eos=False).asked() == Sampling()
    with pytest.raises(InvalidField) as caught:
        parse(ignore_eos="yes")
    assert caught.value.param == "ignore_eos"
