"""OpenAI's ``response_format`` on chat completions: plain text, or an answer constrained to
JSON, any object or one following a JSON Schema (vLLM's guided decoding; the ``llamacpp``
runtime follows it with llama.cpp's grammar sampler)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, model_validator

from inferd.protocols.text_wire import STRICT, InvalidField


class JsonSchemaFormat(BaseModel):
    """OpenAI's ``response_format.json_schema``: the answer follows ``schema`` (any JSON value
    without one). ``strict`` is accepted either way: the answer always follows the schema."""

    model_config = STRICT

    name: str = Field(max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


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
