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


@pytest.mark.parametrize(
    ("schema", "field", "said"),
    [
        ({"type": "array", "items": {"type": "string"}, "minItems": 10_000_000},
         "schema.minItems", "10,000,000; at most 2000"),
        ({"type": "object", "properties": {"a": {"type": "string", "maxLength": 2001}}},
         "schema.properties.a.maxLength", "2,001; at most 2000"),
        ({"type": "string", "pattern": "^a{3,100000}$"}, "schema.pattern", "100,000 times"),
        ({"anyOf": [{"type": "array", "maxItems": 5000}]}, "schema.anyOf[0].maxItems", "5,000"),
        ({"type": "object", "enum": ["x" * 1000] * 200}, "schema", "bytes of JSON; at most"),
    ],
)  # fmt: skip
def test_a_schema_that_would_make_a_huge_grammar_is_refused(
    schema: dict[str, Any], field: str, said: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        chat(
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
        )
    assert refused.value.param == f"response_format.json_schema.{field}"
    assert said in str(refused.value)


def test_a_schema_nested_too_deep_is_refused() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(70):
        schema = {"type": "array", "items": schema}
    with pytest.raises(InvalidField, match="nests over 64 levels"):
        chat(
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
        )


def test_a_schema_at_the_bounds_is_accepted() -> None:
    schema = {"type": "array", "items": {"type": "string", "maxLength": 2000}, "minItems": 2000}
    asked = chat(
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    ).asked()
    assert asked.json_schema is not None
