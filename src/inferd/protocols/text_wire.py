"""Generated text on the wire, shared by OpenAI's API (:mod:`inferd.protocols.openai`) and the
OIP generate extension (:mod:`inferd.protocols.v2.generate`).

- Request bodies are pydantic models in strict mode with unknown fields forbidden: ``"0.5"`` is
  not a number, ``true`` not an integer, a misspelt field is not silently dropped. A refusal is
  :class:`InvalidField`, naming the field (``messages[0].content``) and what it should be.
- :class:`SamplingFields` holds the sampling parameters both protocols take, with their ranges.
- A generation streams as Server-Sent Events (``data: {json}\\n\\n``): chunks without text (a
  token that ends inside a UTF-8 character) are skipped, and closing the stream (the client went
  away, the body finished or failed) cancels the generation, which frees its slot at the next
  decode step.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from inferd.errors import InvalidArgument
from inferd.generation import Sampling
from inferd.protocols.http import Request, StreamingResponse
from inferd.protocols.v2.codec import TIMEOUT_HEADER, load_json, request_deadline
from inferd.serving.generation import MeteredGeneration

#: Pydantic settings of every request body and part of one.
STRICT = ConfigDict(strict=True, extra="forbid")
EVENT_STREAM = b"text/event-stream"
#: What an SSE answer sends besides its framing: no cache between the server and the reader.
EVENT_HEADERS = [(b"cache-control", b"no-cache")]
#: Largest integer a seed may be (OpenAI's API takes a 64-bit signed integer).
MAX_SEED = 2**63 - 1

Body = TypeVar("Body", bound=BaseModel)
#: Deadline of a request to a model (seconds), when it sets none of its own.
Timeout = Callable[[str], float | None]


class InvalidField(InvalidArgument):
    """A request body field that breaks the protocol; ``param`` names it (None: the body)."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param


#: What a field that takes several shapes should be, for a value that fits none.
_SHAPES = {
    "stop": "a string or a list of up to 4 strings",
    "content": "a string or a list of text parts",
    "prompt": "a string or a list of strings",
    "input": "a string or a list of strings",
}


def parse_body(kind: type[Body], body: bytes | bytearray) -> Body:
    """The request body as ``kind`` (InvalidArgument for bad JSON, InvalidField otherwise)."""
    doc = load_json(body) if body.strip() else {}
    if not isinstance(doc, dict):
        raise InvalidArgument("the request body must be a JSON object")
    try:
        return kind.model_validate(doc)
    except ValidationError as exc:
        raise invalid_field(exc.errors()) from None


def invalid_field(errors: list[ErrorDetails]) -> InvalidField:
    """The first field pydantic refused, named as a client wrote it. A value that fits no
    member of a union gives one error per member, each ``loc`` ending in the member's tag:
    those become one message saying which shapes the field takes; an error inside a member
    (an item of a list) is named down to that item."""
    first = errors[0]
    where = _clean(first["loc"])
    if first["type"] == "extra_forbidden":
        return InvalidField(_path(where), "unknown field (not supported by inferd)")
    if first["type"] == "missing":
        return InvalidField(_path(where), "required")
    related = [e for e in errors if _clean(e["loc"])[: len(where)] == where]
    field = next((p for p in reversed(where) if isinstance(p, str)), "")
    if field in _SHAPES and sum(_clean(e["loc"]) == where for e in related) > 1:
        if first["input"] == "" and any(e["type"] == "string_too_short" for e in related):
            return InvalidField(_path(where), f"should not be empty ({_SHAPES[field]})")
        return InvalidField(_path(where), f"should be {_SHAPES[field]}{_got(first['input'])}")
    deepest = max(related, key=lambda e: len(_clean(e["loc"])))
    if deepest["type"] in ("model_type", "dict_type"):
        message = "should be an object"
    else:
        message = deepest["msg"].removeprefix("Value error, ")
    return InvalidField(_path(_clean(deepest["loc"])), f"{message}{_got(deepest['input'])}")


#: Union members pydantic names by their type (others: ``list[str]``, ``constrained-str``,
#: ``TextPart``).
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict"})


def _clean(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``loc`` without the union members' tags: every field name here is snake_case."""
    return tuple(
        p for p in loc
        if isinstance(p, int)
        or not ("[" in p or "-" in p or p[:1].isupper() or p in _TYPE_TAGS)
    )  # fmt: skip


def _path(loc: tuple[int | str, ...]) -> str:
    """``('messages', 0, 'content')`` → ``messages[0].content``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _got(value: Any) -> str:
    """`` (got 'hot')`` for a scalar the client sent; nothing for objects and lists."""
    if isinstance(value, dict | list) or value is None:
        return ""
    text = repr(value)
    return f" (got {text[:60]}{'…' if len(text) > 60 else ''})"


NonEmpty = Annotated[str, Field(min_length=1)]
Stop = NonEmpty | Annotated[list[NonEmpty], Field(max_length=4)]


class SamplingFields(BaseModel):
    """Sampling parameters both protocols take (None: the default)."""

    model_config = STRICT

    temperature: float | None = Field(default=None, ge=0, le=2, description="0 is greedy")
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: Stop | None = Field(default=None, description="up to 4 strings that end the text")
    seed: int | None = Field(
        default=None, ge=-MAX_SEED - 1, le=MAX_SEED, description="repeatable sampling"
    )
    # OpenAI's penalties, over the tokens of the answer only (as OpenAI and vLLM count them).
    presence_penalty: float | None = Field(
        default=None, ge=-2, le=2, description="0: off; counts the answer's tokens only"
    )
    frequency_penalty: float | None = Field(
        default=None, ge=-2, le=2, description="0: off; counts the answer's tokens only"
    )
    # vLLM's sampling parameters beyond OpenAI's (the openai client sends them in extra_body;
    # Triton's vLLM backend takes them as generate parameters).
    top_k: int | None = Field(default=None, ge=-1, description="-1 or 0: every token (vLLM's)")
    min_p: float | None = Field(default=None, ge=0, le=1, description="0: off (vLLM's)")
    repetition_penalty: float | None = Field(default=None, gt=0, description="1: off (vLLM's)")
    ignore_eos: bool | None = Field(
        default=None, description="an end token does not end the answer (vLLM's)"
    )

    def sampling(
        self, max_tokens: int | None = None, logit_bias: dict[int, float] | None = None
    ) -> Sampling:
        """The :class:`~inferd.generation.Sampling` these fields ask for (``max_tokens`` when
        the protocol spells it otherwise)."""
        stop = self.stop if self.stop is not None else ()
        return Sampling(
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            max_tokens=max_tokens if max_tokens is not None else self.max_tokens,
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            seed=self.seed,
            logit_bias=logit_bias or {},
            top_k=max(self.top_k or 0, 0),
            min_p=self.min_p or 0.0,
            repetition_penalty=1.0 if self.repetition_penalty is None else self.repetition_penalty,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            ignore_eos=bool(self.ignore_eos),
        )


def deadline(
    request: Request, model: str, timeout: Timeout | None, received: float
) -> float | None:
    """When a generation must end, on ``time.monotonic()``: the ``Inference-Timeout-Ms`` header
    if the client sent one, else ``timeout(model)`` (None: no limit)."""
    asked = request_deadline({}, request.headers.get(TIMEOUT_HEADER), received)
    if asked is not None or timeout is None:
        return asked
    seconds = timeout(model)
    return None if seconds is None else received + seconds


async def texts(generation: MeteredGeneration) -> AsyncGenerator[str, None]:
    """The generation's text, chunk by chunk, without empty chunks. However this ends (the
    generation finished or failed, or this iterator was closed early) the generation is over:
    cancelled if it still ran, and its chunk iterator closed, which records how it ended."""
    chunks = generation.__aiter__()
    try:
        async for chunk in chunks:
            if chunk.text:
                yield chunk.text
    finally:
        generation.cancel()
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()


async def collect(generation: MeteredGeneration) -> str:
    """The whole text of a generation (for answers that are not streamed)."""
    async with aclosing(texts(generation)) as stream:
        return "".join([text async for text in stream])


def sse_event(value: object) -> bytes:
    """One Server-Sent Event carrying ``value`` as JSON."""
    return b"data: " + orjson.dumps(value) + b"\n\n"


def event_stream(
    events: AsyncIterator[bytes], abandon: Callable[[], None] | None = None
) -> StreamingResponse:
    """A 200 answer sending ``events`` as they come (``text/event-stream``); ``abandon`` (a
    generation's cancel) runs if the answer is never sent to its end."""
    return StreamingResponse(200, b"", EVENT_STREAM, list(EVENT_HEADERS), events, abandon)
