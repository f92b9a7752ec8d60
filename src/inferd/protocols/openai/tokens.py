"""``POST /tokenize`` and ``POST /detokenize``, as vLLM's server answers them (and with its
bodies): the tokens a language model reads for a prompt, or for chat messages through its chat
template, with their count and the context per sequence (``max_model_len``); and the text of
tokens. They sit beside OpenAI's routes, at the root as on vLLM, and answer in OpenAI's error
shape. The tokens are those a generation of the same prompt reads (``usage.prompt_tokens``
counts them)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from typing_extensions import TypedDict

from inferd.errors import Unsupported
from inferd.generation import TokenCodec
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.openai.models import generator
from inferd.protocols.openai.protocol import (
    MAX_MESSAGES,
    MAX_TOKEN_ID,
    ChatMessage,
    template_variables,
)
from inferd.protocols.text_wire import STRICT, InvalidField, NonEmpty, parse_body
from inferd.serving.generation import ServedGenerator
from inferd.serving.types import DataPlane


class TokenizeRequest(BaseModel):
    """vLLM's: a ``prompt``, or chat ``messages`` (with ``chat_template_kwargs``)."""

    model_config = STRICT

    model: NonEmpty
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(default=None, min_length=1, max_length=MAX_MESSAGES)
    chat_template_kwargs: dict[str, Any] | None = Field(
        default=None, description="variables passed to the chat template (with messages)"
    )
    return_token_strs: bool | None = Field(default=None, description="false only")

    @field_validator("chat_template_kwargs")
    @classmethod
    def _own_variables(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return template_variables(value)

    @field_validator("return_token_strs")
    @classmethod
    def _no_strings(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("token strings are not supported; /detokenize gives their text")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise InvalidField(None, "give either prompt or messages")
        if self.chat_template_kwargs and self.messages is None:
            raise InvalidField("chat_template_kwargs", "only with messages (a chat template)")
        return self


#: The most tokens one /detokenize reads, whatever the model (a model's own context, which
#: bounds them too, is known only once the body is read): a million-token context.
MAX_DETOKENIZE = 1 << 20


class DetokenizeRequest(BaseModel):
    model_config = STRICT

    model: NonEmpty
    tokens: list[Annotated[int, Field(ge=0, le=MAX_TOKEN_ID)]] = Field(
        max_length=MAX_DETOKENIZE, description="at most the model's context (max_model_len)"
    )


class Tokenized(TypedDict):
    count: int
    max_model_len: int
    tokens: list[int]
    token_strs: None


class Detokenized(TypedDict):
    prompt: str


class TokenHandlers:
    """Tokens over one data plane."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def tokenize(self, request: Request) -> Response:
        body = parse_body(TokenizeRequest, request.body)
        served = await generator(self.dataplane, body.model)
        codec = _codec(served, body.model)
        if body.messages is not None:
            messages = [m.message() for m in body.messages]
            text = await served.chat_prompt(messages, body.chat_template_kwargs)
        else:
            text = body.prompt or ""
        tokens = await asyncio.to_thread(codec.tokenize, text)
        document: Tokenized = {
            "count": len(tokens),
            "max_model_len": served.generator.context_length,
            "tokens": tokens,
            "token_strs": None,
        }
        return json_response(document)

    async def detokenize(self, request: Request) -> Response:
        body = parse_body(DetokenizeRequest, request.body)
        served = await generator(self.dataplane, body.model)
        codec = _codec(served, body.model)
        document: Detokenized = {"prompt": await asyncio.to_thread(codec.detokenize, body.tokens)}
        return json_response(document)


def _codec(served: ServedGenerator, model: str) -> TokenCodec:
    if not isinstance(served.generator, TokenCodec):
        raise Unsupported(f"model {model!r} does not show its tokens")
    return served.generator
