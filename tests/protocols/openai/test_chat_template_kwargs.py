"""``chat_template_kwargs``, as vLLM and llama-server take it (``{"enable_thinking": false}``,
which apps send through the openai client's ``extra_body``): more variables for the model's
chat template, on chat completions. The variables inferd sets itself (the messages, the
model's tokens) are refused by name; text completions have no template and refuse it as
unknown, as vLLM's do."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from inferd.protocols.openai.protocol import ChatCompletionRequest
from inferd.protocols.text_wire import InvalidField, parse_body
from protocols.conftest import Running
from protocols.openai.conftest import LlmDataPlane

HI = [{"role": "user", "content": "Hi"}]


def chat(**fields: Any) -> ChatCompletionRequest:
    return parse_body(ChatCompletionRequest, orjson.dumps({"model": "m", "messages": HI, **fields}))


def post(server: Running, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, content=orjson.dumps(body), timeout=10)


def test_the_variables_reach_the_chat_template(llm_server: Running) -> None:
    kwargs = {"enable_thinking": False, "custom": [1, "two"]}
    body = {"model": "parrot", "messages": HI, "max_tokens": 1, "chat_template_kwargs": kwargs}
    response = post(llm_server, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    plane = llm_server.dataplane
    assert isinstance(plane, LlmDataPlane)
    [asked] = plane.llms["parrot"].asked
    assert asked.prompt == "<user>Hi<enable_thinking=False><custom=[1, 'two']><assistant>"


@pytest.mark.parametrize("value", [None, {}])
def test_none_or_empty_is_a_plain_chat(value: object) -> None:
    assert chat(chat_template_kwargs=value).chat_template_kwargs == value


@pytest.mark.parametrize(
    "name", ["messages", "add_generation_prompt", "bos_token", "eos_token", "raise_exception"]
)
def test_the_variables_inferd_sets_are_refused_by_name(name: str) -> None:
    with pytest.raises(InvalidField) as caught:
        chat(chat_template_kwargs={name: "x"})
    assert caught.value.param == f"chat_template_kwargs.{name}"
    assert "set by inferd" in caught.value.message


def test_a_value_that_is_no_object_is_refused() -> None:
    with pytest.raises(InvalidField) as caught:
        chat(chat_template_kwargs=["enable_thinking"])
    assert caught.value.param == "chat_template_kwargs"


def test_text_completions_refuse_it_as_unknown(llm_server: Running) -> None:
    body = {"model": "parrot", "prompt": "Hi", "chat_template_kwargs": {"enable_thinking": False}}
    response = post(llm_server, "/v1/completions", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "chat_template_kwargs"
    assert "unknown field" in error["message"]
