"""``response_format`` on chat completions, as OpenAI and vLLM take it: ``json_object`` and
``json_schema`` constrain the answer (llama.cpp's grammar sampler, from the schema), ``text``
is the default. Shapes that are no response format are a 400 naming the field. (The real
model's answers are in ``test_response_format_real_model.py``.)"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from inferd.protocols.openai.protocol import ChatCompletionRequest
from inferd.protocols.text_wire import InvalidField, parse_body

HI = [{"role": "user", "content": "Hi"}]
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def chat(**fields: Any) -> ChatCompletionRequest:
    return parse_body(ChatCompletionRequest, orjson.dumps({"model": "m", "messages": HI, **fields}))


def test_text_is_no_constraint() -> None:
    assert chat(response_format={"type": "text"}).asked().json_schema is None
    assert chat().asked().json_schema is None


def test_json_object_is_any_object() -> None:
    asked = chat(response_format={"type": "json_object"}).asked()
    assert asked.json_schema is not None
    assert orjson.loads(asked.json_schema) == {"type": "object"}


def test_json_schema_is_the_schema_for_every_choice() -> None:
    request = chat(
        n=2,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
        },
    )
    for sampling in request.choices():
        assert sampling.json_schema is not None
        assert orjson.loads(sampling.json_schema) == SCHEMA


def test_a_json_schema_without_a_schema_is_any_json() -> None:
    # OpenAI's schema is optional: absent, any JSON value.
    asked = chat(response_format={"type": "json_schema", "json_schema": {"name": "x"}}).asked()
    assert asked.json_schema is not None and orjson.loads(asked.json_schema) == {}


@pytest.mark.parametrize(
    ("value", "param", "says"),
    [
        ({"type": "xml"}, "response_format.type", "'text', 'json_object' or 'json_schema'"),
        ({}, "response_format.type", "required"),
        ({"type": "json_schema"}, "response_format.json_schema",
         "required with type 'json_schema'"),
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA}},
         "response_format.json_schema.name", "required"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": []}},
         "response_format.json_schema.schema", "should be an object"),
        ({"type": "json_object", "json_schema": {"name": "x"}}, "response_format.json_schema",
         "only with type 'json_schema'"),
        ({"type": "text", "extra": 1}, "response_format.extra", "unknown field"),
    ],
)  # fmt: skip
def test_mistakes_name_the_field(value: object, param: str, says: str) -> None:
    with pytest.raises(InvalidField) as caught:
        chat(response_format=value)
    assert caught.value.param == param
    assert says in caught.value.message, caught.value.message
