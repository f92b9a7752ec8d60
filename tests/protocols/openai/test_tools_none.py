"""Tools with ``tool_choice: "none"``, which many clients (LangChain's agents) send with every
chat: answered without calling a tool, and the tools kept out of the prompt (as vLLM's
``--exclude-tools-when-tool-choice-none``), so the model does not write a tool call as text.
Any other choice asks for function calling, which inferd refuses by name."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.conftest import Running
from protocols.openai.test_routes import HI, assert_openai_error, plane, post

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_tools_with_tool_choice_none_are_answered_without_them(llm_server: Running) -> None:
    answered = []
    for extra in ({}, {"tools": [WEATHER], "tool_choice": "none", "parallel_tool_calls": False}):
        body = {"model": "parrot", "messages": HI, "max_tokens": 2, **extra}
        answer = post(llm_server, "/v1/chat/completions", body)
        assert answer.status_code == 200, answer.text
        message = answer.json()["choices"][0]["message"]
        answered.append((message["content"], plane(llm_server).llms["parrot"].asked[-1].prompt))
    assert answered[0] == answered[1]  # the same prompt, the same answer
    assert "get_weather" not in answered[1][1]


@pytest.mark.parametrize(
    ("choice", "param", "words"),
    [
        ({}, "tools", 'with tool_choice "none"'),  # OpenAI's default with tools: "auto"
        ({"tool_choice": "auto"}, "tool_choice", 'only "none"'),
        ({"tool_choice": "required"}, "tool_choice", 'only "none"'),
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            "tool_choice",
            'only "none"',
        ),
    ],
)
def test_tools_the_model_may_call_are_refused(
    llm_server: Running, choice: dict[str, Any], param: str, words: str
) -> None:
    body = {"model": "parrot", "messages": HI, "tools": [WEATHER], **choice}
    message = assert_openai_error(
        post(llm_server, "/v1/chat/completions", body), 400, "invalid_argument", param
    )
    assert "not supported" in message and words in message
