"""OpenAI's ``response_format`` on chat completions: plain text, or an answer constrained to
JSON, any object or one following a JSON Schema (vLLM's guided decoding; the ``llamacpp``
runtime follows it with llama.cpp's grammar sampler).

A schema is a grammar the server builds before the answer starts, and the converter writes a
repetition out once per item: ``"minItems": 10000000`` was a 170 MB grammar. What a schema may
ask is bounded (a 400 naming the field): its JSON text, its nesting, and each count the
grammar repeats (``minItems``, ``maxItems``, ``minLength``, ``maxLength``, a pattern's
``{m,n}``) at llama.cpp's own bound on a grammar's repetitions (``MAX_REPETITION_THRESHOLD``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, model_validator

from inferd.protocols.text_wire import STRICT, InvalidField

#: The most a schema may repeat one thing (items of an array, characters of a string, a
#: pattern's ``{m,n}``): llama.cpp's grammar parser refuses more (MAX_REPETITION_THRESHOLD).
MAX_REPEAT = 2000
#: The most bytes of a schema's JSON text (OpenAI bounds its schemas' names and enum values
#: to 120,000 characters in all).
MAX_SCHEMA_BYTES = 128 * 1024
#: The deepest a schema's JSON may nest (objects and arrays; a schema of 10 levels of
#: objects, OpenAI's bound, nests about 21).
MAX_SCHEMA_DEPTH = 64
_REPEATS = ("minItems", "maxItems", "minLength", "maxLength")
_QUANTIFIER = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_WHERE = "response_format.json_schema.schema"


class JsonSchemaFormat(BaseModel):
    """OpenAI's ``response_format.json_schema``: the answer follows ``schema`` (any JSON value
    without one). ``strict`` is accepted either way: the answer always follows the schema."""

    model_config = STRICT

    name: str = Field(max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    @model_validator(mode="after")
    def _bounded(self) -> JsonSchemaFormat:
        if self.schema_ is not None:
            size = len(orjson.dumps(self.schema_))
            if size > MAX_SCHEMA_BYTES:
                raise InvalidField(
                    _WHERE, f"is {size:,} bytes of JSON; at most {MAX_SCHEMA_BYTES:,}"
                )
            _check(self.schema_, _WHERE, 1)
        return self


def _check(value: object, where: str, depth: int) -> None:
    """Refuse what in ``value`` (a part of a schema, at ``where``) would make a huge grammar."""
    if depth > MAX_SCHEMA_DEPTH:
        raise InvalidField(where, f"nests over {MAX_SCHEMA_DEPTH} levels deep; at most that")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]", depth + 1)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        field = f"{where}.{key}"
        if key in _REPEATS and isinstance(item, int) and item > MAX_REPEAT:
            raise InvalidField(
                field, f"is {item:,}; at most {MAX_REPEAT} (the grammar writes each one out)"
            )
        if key == "pattern" and isinstance(item, str):
            counts = (int(n) for m in _QUANTIFIER.finditer(item) for n in m.groups() if n)
            if (most := max(counts, default=0)) > MAX_REPEAT:
                raise InvalidField(field, f"repeats {most:,} times; at most {MAX_REPEAT}")
        _check(item, field, depth + 1)


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: ``text``, or an answer constrained to JSON (vLLM's guided
    decoding; here llama.cpp's grammar sampler)."""

    model_config = STRICT

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise InvalidField(
                "response_format.json_schema",
                "required with type 'json_schema'"
                if self.json_schema is None
                else "only with type 'json_schema'",
            )
        return self

    def schema_text(self) -> str | None:
        """The JSON Schema the answer follows, as JSON text (None: any text)."""
        if self.type == "json_object":
            return '{"type": "object"}'
        if self.json_schema is not None:
            return orjson.dumps(self.json_schema.schema_ or {}).decode()
        return None
