"""A chat's history sent back as OpenAI's client holds it: ``message.model_dump()`` of an answer
writes every field of OpenAI's assistant message, null where unused (``refusal``, ``tool_calls``,
``function_call``, ``audio``, ``annotations``). Those are OpenAI's fields at their defaults, so
they are accepted (never "unknown field"); only a value that asks for what inferd lacks (a tool
call, a refusal, audio) is refused, naming it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionMessage

from inferd.generation import Message
from inferd.protocols.openai.protocol import ChatCompletionRequest
from inferd.protocols.text_wire import InvalidField, parse_body

HI = {"role": "user", "content": "Hi"}
AGAIN = {"role": "user", "content": "And?"}


def chat(*messages: dict[str, Any]) -> ChatCompletionRequest:
    return parse_body(ChatCompletionRequest, orjson.dumps({"model": "m", "messages": messages}))


def test_an_answer_sent_back_as_the_client_dumps_it() -> None:
    answer = ChatCompletionMessage(role="assistant", content="Hello").model_dump()
    assert answer["refusal"] is None and answer["tool_calls"] is None  # what is sent
    request = chat(HI, answer, AGAIN)
    assert request.messages_read() == [
        Message("user", "Hi"), Message("assistant", "Hello"), Message("user", "And?"),
    ]  # fmt: skip


def test_no_tool_calls_is_an_empty_list_too() -> None:
    request = chat(HI, {"role": "assistant", "content": "Hello", "tool_calls": []}, AGAIN)
    assert request.messages_read()[1] == Message("assistant", "Hello")


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        (
            "tool_calls",
            [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            "tool calls are not supported by inferd",
        ),
        ("function_call", {"name": "f", "arguments": "{}"}, "tool calls are not supported"),
        ("refusal", "I cannot.", "refusal"),
        ("audio", {"id": "a"}, "no audio"),
    ],
)
def test_what_inferd_lacks_is_still_refused(field: str, value: object, says: str) -> None:
    with pytest.raises(InvalidField) as caught:
        chat(HI, {"role": "assistant", "content": "x", field: value}, AGAIN)
    assert caught.value.param == f"messages[1].{field}"
    assert says in caught.value.message
    assert "unknown field" not in caught.value.message


def test_a_misspelt_message_field_is_still_unknown() -> None:
    with pytest.raises(InvalidField) as caught:
        chat({"role": "user", "content": "Hi", "refusl": None})
    assert caught.value.param == "messages[0].refusl"
