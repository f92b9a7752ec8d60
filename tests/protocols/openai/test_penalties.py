"""OpenAI's ``presence_penalty`` and ``frequency_penalty`` on chat and text completions: read
into the sampling with OpenAI's range (-2 to 2), 0 and null being none; they were refused
unless 0. The real model applies them (``test_openai_client.py``)."""

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
@pytest.mark.parametrize("value", [-2, -0.5, 0.7, 2])
def test_they_reach_the_sampling(parse: Any, value: float) -> None:
    request = parse(presence_penalty=value, frequency_penalty=-value)
    assert request.asked() == Sampling(presence_penalty=value, frequency_penalty=-value)


@pytest.mark.parametrize("parse", [chat, completion])
def test_0_and_null_are_no_penalty(parse: Any) -> None:
    assert parse(presence_penalty=0, frequency_penalty=0.0).asked() == Sampling()
    assert parse(presence_penalty=None, frequency_penalty=None).asked() == Sampling()


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"presence_penalty": 2.01}, "presence_penalty", "less than or equal to 2 (got 2.01)"),
        ({"presence_penalty": -2.5}, "presence_penalty", "greater than or equal to -2 (got -2.5)"),
        ({"frequency_penalty": 3}, "frequency_penalty", "less than or equal to 2 (got 3)"),
        ({"frequency_penalty": "1"}, "frequency_penalty", "valid number (got '1')"),
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
