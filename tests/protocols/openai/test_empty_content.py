"""A message whose content is an empty list of parts is refused, as OpenAI refuses it, instead
of becoming an empty message in the prompt; an empty string stays accepted (OpenAI takes it)."""

from __future__ import annotations

import orjson
import pytest

from inferd.protocols.openai.protocol import ChatCompletionRequest
from inferd.protocols.text_wire import InvalidField, parse_body


def _chat(content: object) -> ChatCompletionRequest:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}]
    return parse_body(ChatCompletionRequest, orjson.dumps({"model": "m", "messages": messages}))


def test_an_empty_list_of_parts_is_refused_naming_the_message() -> None:
    with pytest.raises(InvalidField) as caught:
        _chat([])
    assert caught.value.param == "messages[1].content"
    assert caught.value.message == (
        "messages[1].content: an empty list of parts; give at least one text part, or a string"
    )


def test_an_empty_string_and_one_part_are_taken() -> None:
    assert _chat("").messages_read()[1].content == ""
    assert _chat([{"type": "text", "text": "hi"}]).messages_read()[1].content == "hi"
