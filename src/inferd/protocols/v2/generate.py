"""The generate extension of the Open Inference Protocol, as Triton and KServe expose it:
``POST /v2/models/{m}[/versions/{v}]/generate`` answers ``{"model_name", "model_version",
"text_output"}`` for ``{"text_input", "parameters": {...}}``, and ``.../generate_stream`` sends
the text as Server-Sent Events, one ``data: {...}`` per piece of text.

As Triton passes a request's other properties as parameters, the parameters may also be given
beside ``text_input`` (``{"text_input": "…", "max_tokens": 20}``, Triton's own example), each
once: beside it or in ``parameters``.

Beside the text, inferd adds ``finish_reason`` (``stop`` or ``length``): to the answer, and as
the last event of a stream (with an empty ``text_output``). A stream that fails once started
ends with ``data: {"error": "..."}``, Triton's shape; errors before it are the protocol's usual
``{"error": "..."}`` with their status.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import NotRequired  # pydantic reads these before 3.12

from typing_extensions import TypedDict

from inferd.errors import InferdError
from inferd.generation import FinishReason
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.text_wire import (
    STRICT,
    InvalidField,
    NonEmpty,
    SamplingFields,
    Timeout,
    collect,
    deadline,
    event_stream,
    parse_body,
    sse_event,
    texts,
)
from inferd.serving.generation import MeteredGeneration
from inferd.serving.types import DataPlane


class GenerateParameters(SamplingFields):
    #: Only confirms the route: true on ``generate_stream``, false on ``generate``.
    stream: bool | None = None


class GenerateRequest(GenerateParameters):
    """``text_input``, and the parameters in ``parameters`` or beside it."""

    model_config = STRICT

    text_input: NonEmpty
    parameters: GenerateParameters | None = None

    def asked(self) -> tuple[GenerateParameters, set[str]]:
        """The parameters wherever they were given, and those given beside ``text_input``."""
        inner = self.parameters or GenerateParameters()
        beside = self.model_fields_set - {"text_input", "parameters"}
        both = sorted(beside & inner.model_fields_set)
        if both:
            raise InvalidField(
                both[0], "given both beside text_input and in parameters; give it once"
            )
        return inner.model_copy(update={name: getattr(self, name) for name in beside}), beside


class GenerateResponse(TypedDict):
    """The answer, or one event of a stream (``text_output`` then holds the new text)."""

    model_name: str
    model_version: str
    text_output: str
    finish_reason: NotRequired[FinishReason]


class GenerateHandlers:
    """``timeout`` gives a model's default deadline (None: none)."""

    def __init__(self, dataplane: DataPlane, timeout: Timeout | None = None) -> None:
        self.dataplane = dataplane
        self.timeout = timeout

    async def generate(self, request: Request) -> Response:
        head, generation = await self._start(request, stream=False)
        text = await collect(generation)
        answer: GenerateResponse = {
            **head,
            "text_output": text,
            "finish_reason": generation.finish_reason or "stop",
        }
        return json_response(answer)

    async def generate_stream(self, request: Request) -> Response:
        head, generation = await self._start(request, stream=True)
        return event_stream(_events(head, generation), generation.cancel)

    async def _start(
        self, request: Request, *, stream: bool
    ) -> tuple[GenerateResponse, MeteredGeneration]:
        received = time.monotonic()
        name, version = request.params["model"], request.params.get("version")
        body = parse_body(GenerateRequest, request.body)
        parameters, beside = body.asked()
        if parameters.stream is not None and parameters.stream != stream:
            route = "generate_stream" if parameters.stream else "generate"
            raise InvalidField(
                "stream" if "stream" in beside else "parameters.stream",
                f"is {str(parameters.stream).lower()} on the wrong route; POST "
                f"/v2/models/{name}/{route}",
            )
        served = await self.dataplane.generator(name, version)
        generation = served.generate(
            body.text_input,
            parameters.sampling(),
            "text_completion",
            deadline(request, name, self.timeout, received),
        )
        head: GenerateResponse = {
            "model_name": served.model,
            "model_version": served.version,
            "text_output": "",
        }
        return head, generation


async def _events(
    head: GenerateResponse, generation: MeteredGeneration
) -> AsyncGenerator[bytes, None]:
    """One event per piece of text, then the finish reason; closing this iterator (the client
    left) cancels the generation."""
    async with aclosing(texts(generation)) as stream:
        try:
            async for text in stream:
                yield sse_event({**head, "text_output": text})
        except InferdError as exc:
            yield sse_event({"error": exc.message})
            return
    yield sse_event({**head, "finish_reason": generation.finish_reason or "stop"})
