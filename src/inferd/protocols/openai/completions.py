"""``POST /v1/chat/completions`` and ``POST /v1/completions``: decode the body, ask the data
plane for the model, generate, and answer with the whole text or stream it.

A streamed answer is Server-Sent Events, as OpenAI sends them: a chat stream opens with the
assistant's role, then one chunk per piece of text, then an empty delta with the finish reason;
with ``stream_options.include_usage`` every chunk carries ``usage: null`` and a last chunk
carries the usage with no choices; ``data: [DONE]`` ends the stream. A generation that fails
once the stream has started (its deadline passed, its model unloaded) ends the stream with an
error event, which OpenAI's clients raise. Errors before that are plain HTTP errors.

``n`` choices are ``n`` generations of the same prompt, as vLLM runs them: each choice carries
its index, a stream interleaves their chunks as they come (every choice opening with the role
and ending with its own finish reason), the usage counts the prompt once and sums the answers,
and one that fails ends the answer and the others with it.

A text completion's ``prompt`` may be a list of prompts, as vLLM takes it: ``n`` choices of
each, choice ``j`` of prompt ``i`` indexed ``i * n + j``, streamed interleaved alike; the usage
counts each prompt once and sums them (and their cached tokens).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from inferd.errors import InferdError
from inferd.generation import FinishReason, Sampling
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.openai.answers import (
    ChatCompletion,
    ChatCompletionChunk,
    Delta,
    TextCompletion,
    Usage,
)
from inferd.protocols.openai.errors import error_event
from inferd.protocols.openai.models import generator
from inferd.protocols.openai.protocol import ChatCompletionRequest, CompletionRequest
from inferd.protocols.text_wire import (
    Timeout,
    collect,
    deadline,
    event_stream,
    parse_body,
    sse_event,
    texts,
)
from inferd.serving.generation import MeteredGeneration, ServedGenerator
from inferd.serving.types import DataPlane

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the answer to one request, and each of its chunks, repeats."""

    id: str
    created: int
    model: str
    include_usage: bool = False

    @classmethod
    def new(cls, prefix: str, model: str, include_usage: bool = False) -> _Answer:
        return cls(f"{prefix}-{uuid.uuid4().hex}", int(time.time()), model, include_usage)

    def chat_chunk(
        self, delta: Delta, finish: FinishReason | None = None, index: int = 0
    ) -> ChatCompletionChunk:
        chunk: ChatCompletionChunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
            ],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def chat_usage(self, usage: Usage) -> ChatCompletionChunk:
        return {**self.chat_chunk({}), "choices": [], "usage": usage}

    def text_chunk(
        self, text: str, finish: FinishReason | None = None, index: int = 0
    ) -> TextCompletion:
        chunk: TextCompletion = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "text": text, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def text_usage(self, usage: Usage) -> TextCompletion:
        return {**self.text_chunk(""), "choices": [], "usage": usage}


class CompletionHandlers:
    """Chat and text completions over one data plane; ``timeout`` gives a model's default
    deadline (None: a generation runs until it ends, or its client leaves)."""

    def __init__(self, dataplane: DataPlane, timeout: Timeout | None = None) -> None:
        self.dataplane = dataplane
        self.timeout = timeout

    async def chat(self, request: Request) -> Response:
        received = time.monotonic()
        body = parse_body(ChatCompletionRequest, request.body)
        served = await generator(self.dataplane, body.model)
        prompt = await served.chat_prompt(body.messages_read(), body.chat_template_kwargs)
        when = deadline(request, served.model, self.timeout, received)
        choices = body.choices()
        await served.check(choices[0])  # every choice has the same schema
        generations = _start(served, [prompt], choices, "chat", when)
        answer = _Answer.new("chatcmpl", body.model, body.include_usage)
        if body.streams:
            return event_stream(
                _events(
                    generations,
                    opening=lambda i: answer.chat_chunk(
                        {"role": "assistant", "content": ""}, None, i
                    ),
                    piece=lambda i, text: answer.chat_chunk({"content": text}, None, i),
                    ending=lambda i, reason: answer.chat_chunk({}, reason, i),
                    tail=answer.chat_usage if answer.include_usage else None,
                    per_prompt=len(choices),
                ),
                lambda: _cancel(generations),
            )
        texts = await _collect_all(generations)
        document: ChatCompletion = {
            "id": answer.id,
            "object": "chat.completion",
            "created": answer.created,
            "model": answer.model,
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": generation.finish_reason or "stop",
                    "logprobs": None,
                }
                for index, (generation, text) in enumerate(zip(generations, texts, strict=True))
            ],
            "usage": usage(generations, len(choices)),
        }
        return json_response(document)

    async def complete(self, request: Request) -> Response:
        received = time.monotonic()
        body = parse_body(CompletionRequest, request.body)
        served = await generator(self.dataplane, body.model)
        when = deadline(request, served.model, self.timeout, received)
        prompts, choices = body.prompts, body.choices()
        generations = _start(served, prompts, choices, "text_completion", when)
        answer = _Answer.new("cmpl", body.model, body.include_usage)
        n = len(choices)

        def echo(index: int) -> str:
            """What comes before choice ``index``'s text: its prompt, with ``echo``."""
            return prompts[index // n] if body.echo else ""

        if body.streams:
            return event_stream(
                _events(
                    generations,
                    opening=(lambda i: answer.text_chunk(echo(i), None, i)) if body.echo else None,
                    piece=lambda i, text: answer.text_chunk(text, None, i),
                    ending=lambda i, reason: answer.text_chunk("", reason, i),
                    tail=answer.text_usage if answer.include_usage else None,
                    per_prompt=n,
                ),
                lambda: _cancel(generations),
            )
        texts = await _collect_all(generations)
        document: TextCompletion = {
            **answer.text_chunk(""),
            "choices": [
                {
                    "index": index,
                    "text": echo(index) + text,
                    "finish_reason": generation.finish_reason or "stop",
                    "logprobs": None,
                }
                for index, (generation, text) in enumerate(zip(generations, texts, strict=True))
            ],
            "usage": usage(generations, n),
        }
        return json_response(document)


def usage(generations: list[MeteredGeneration], per_prompt: int) -> Usage:
    """The tokens finished generations read and wrote: ``per_prompt`` of each prompt, in
    order, whose prompt (and its cached tokens) is counted once."""
    firsts = generations[::per_prompt]
    prompt = sum(generation.prompt_tokens for generation in firsts)
    completion = sum(generation.completion_tokens for generation in generations)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": sum(g.cached_tokens for g in firsts)},
    }


def _start(
    served: ServedGenerator,
    prompts: list[str],
    choices: list[Sampling],
    operation: Literal["chat", "text_completion"],
    when: float | None,
) -> list[MeteredGeneration]:
    """One generation per choice of each prompt, choice ``j`` of prompt ``i`` at ``i * n + j``;
    if one is refused (a full queue), those queued are cancelled."""
    generations: list[MeteredGeneration] = []
    try:
        for prompt in prompts:
            for sampling in choices:
                generations.append(served.generate(prompt, sampling, operation, when))
    except InferdError:
        _cancel(generations)
        raise
    return generations


def _cancel(generations: list[MeteredGeneration]) -> None:
    for generation in generations:
        generation.cancel()


async def _collect_all(generations: list[MeteredGeneration]) -> list[str]:
    """The whole text of each generation; one that fails (or the request cancelled) ends all."""
    if len(generations) == 1:
        return [await collect(generations[0])]
    tasks = [asyncio.ensure_future(collect(generation)) for generation in generations]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _events(
    generations: list[MeteredGeneration],
    *,
    opening: Callable[[int], object] | None,
    piece: Callable[[int, str], object],
    ending: Callable[[int, FinishReason], object],
    tail: Callable[[Usage], object] | None,
    per_prompt: int,
) -> AsyncGenerator[bytes, None]:
    """The events of streamed generations (one per choice, ``per_prompt`` of each prompt).
    Closing this iterator (the client left) closes :func:`_pieces`, which cancels the
    generations."""
    async with aclosing(_pieces(generations)) as stream:
        try:
            if opening is not None:
                for index in range(len(generations)):
                    yield sse_event(opening(index))
            async for index, text in stream:
                if text is None:
                    reason = generations[index].finish_reason or "stop"
                    yield sse_event(ending(index, reason))
                else:
                    yield sse_event(piece(index, text))
        except InferdError as exc:
            yield error_event(exc)
            yield DONE
            return
    if tail is not None:
        yield sse_event(tail(usage(generations, per_prompt)))
    yield DONE


async def _pieces(
    generations: list[MeteredGeneration],
) -> AsyncGenerator[tuple[int, str | None], None]:
    """``(choice, text)`` as the generations give text, ``(choice, None)`` once one has ended
    (its text closed: :func:`~inferd.protocols.text_wire.texts` recorded how). The first that
    fails raises; closing this iterator cancels those still running."""
    if len(generations) == 1:
        async with aclosing(texts(generations[0])) as stream:
            async for text in stream:
                yield 0, text
        yield 0, None
        return
    queue: asyncio.Queue[tuple[int, str | None] | Exception] = asyncio.Queue()

    async def pump(index: int, generation: MeteredGeneration) -> None:
        try:
            async with aclosing(texts(generation)) as stream:
                async for text in stream:
                    queue.put_nowait((index, text))
        except Exception as exc:  # raised to the reader, which ends the others
            queue.put_nowait(exc)
            return
        queue.put_nowait((index, None))

    tasks = [asyncio.ensure_future(pump(i, g)) for i, g in enumerate(generations)]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            running -= item[1] is None
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
