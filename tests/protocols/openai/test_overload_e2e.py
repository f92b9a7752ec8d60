"""R33 over HTTP: more concurrent chat completions than a real ``inferd serve`` has slots and
queue for, sent with the official ``openai`` client (async) to the tiny GGUF model on llama.cpp.

The server runs the least the settings allow: one slot (``--max-num-seqs 1``) and the engine's
fixed waiting bound (:data:`MAX_WAITING`). One long generation holds the slot while
:data:`MAX_WAITING` short ones queue behind it (the waiting gauge says when all have); then
:data:`EXCESS` more arrive, half of them streamed, and each must be refused at once with 503,
``Retry-After`` and OpenAI's error body. Every admitted generation then runs to its full
``max_tokens``, nothing is a 500, and the server answers and counts the refusals afterwards.
The time to first token of the admitted streams (their wait in the queue included) is printed
(run with ``-s``) for the record of R33.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

from inferd.runtimes.llamacpp.runtime import MAX_WAITING

pytestmark = pytest.mark.slow

#: The tiny model's context: room for the long generation that holds the only slot.
CONTEXT = 4096
#: Tokens of the generation that holds the slot: about 3 s on one idle core, far longer than
#: queueing the others and refusing the excess takes.
HOLD_TOKENS = 4000
#: Tokens of each queued generation (a full answer is exactly this many: no end token allowed).
SHORT_TOKENS = 16
#: Requests beyond one running and MAX_WAITING waiting.
EXCESS = 16
#: No control token (<|endoftext|>, <|im_start|>, <|im_end|>): every generation runs to max_tokens.
NO_END = {str(t): -100 for t in (263, 264, 265)}
HELLO = [{"role": "user", "content": "Hello!"}]
#: Bound on each phase (a loaded 2-core machine included).
PHASE_S = 60.0


@dataclass
class Outcome:
    """One request as the client saw it."""

    status: int
    text: str = ""
    tokens: int = 0
    finish: str | None = None
    #: Streamed and answered: seconds from sending to the first text.
    ttft_s: float | None = None
    retry_after: str | None = None
    error: Any = None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("overload")
    home = root / "home"
    model = tiny_gguf(root / "tiny-llama.gguf", context=CONTEXT)
    env = {**os.environ, "INFERD_HOME": str(home)}
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120)
    server = start_serve(home, "llm:v1", "--max-num-seqs", "1")
    wait_ready(server.url)
    yield server
    _stop(server)


async def _ask(
    client: openai.AsyncOpenAI,
    *,
    stream: bool,
    max_tokens: int,
    first: asyncio.Event | None = None,
) -> Outcome:
    asked: dict[str, Any] = {
        "model": "llm", "messages": HELLO, "max_tokens": max_tokens, "temperature": 0,
        "logit_bias": NO_END,
    }  # fmt: skip
    started = time.monotonic()
    try:
        if not stream:
            answer = await client.chat.completions.create(**asked)
            usage = answer.usage
            return Outcome(
                200, answer.choices[0].message.content or "",
                usage.completion_tokens if usage else 0, answer.choices[0].finish_reason,
            )  # fmt: skip
        chunks = await client.chat.completions.create(
            **asked, stream=True, stream_options={"include_usage": True}
        )
        outcome = Outcome(200)
        async for chunk in chunks:
            if chunk.usage is not None:
                outcome.tokens = chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.delta.content:
                if outcome.ttft_s is None:
                    outcome.ttft_s = time.monotonic() - started
                    if first is not None:
                        first.set()
                outcome.text += choice.delta.content
            outcome.finish = choice.finish_reason or outcome.finish
        return outcome
    except openai.APIStatusError as refused:
        response = refused.response
        return Outcome(
            response.status_code, retry_after=response.headers.get("retry-after"),
            error=response.json(),
        )  # fmt: skip


def _series(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} ([\d.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _waiting(web: httpx.AsyncClient) -> float:
    text = (await web.get("/metrics")).text
    return _series(text, "inferd_llm_requests_waiting", model="llm", version="v1")


@dataclass
class Overload:
    """The three groups of requests, and what was seen while the queue was full."""

    holder: Outcome
    queued: list[Outcome]
    excess: list[Outcome]
    #: The waiting gauge once the excess was answered.
    still_waiting: float
    #: Seconds from the holder's first token to the last refusal.
    refused_after_s: float


async def _overload(url: str) -> Overload:
    async with (
        openai.AsyncOpenAI(
            base_url=url + "/v1", api_key="unused", max_retries=0, timeout=PHASE_S
        ) as client,
        httpx.AsyncClient(base_url=url, timeout=10) as web,
    ):
        first = asyncio.Event()
        holder = asyncio.create_task(_ask(client, stream=True, max_tokens=HOLD_TOKENS, first=first))
        await asyncio.wait_for(first.wait(), PHASE_S)
        held = time.monotonic()
        queued = [
            asyncio.create_task(_ask(client, stream=n % 2 == 0, max_tokens=SHORT_TOKENS))
            for n in range(MAX_WAITING)
        ]
        deadline = time.monotonic() + PHASE_S
        while await _waiting(web) < MAX_WAITING:
            assert not holder.done(), "the slot came free before the queue filled"
            assert time.monotonic() < deadline, f"{await _waiting(web)} waiting, not {MAX_WAITING}"
            await asyncio.sleep(0.02)
        excess = await asyncio.wait_for(
            asyncio.gather(
                *(_ask(client, stream=n % 2 == 0, max_tokens=SHORT_TOKENS) for n in range(EXCESS))
            ),
            PHASE_S,
        )
        refused_after_s = time.monotonic() - held
        still_waiting = await _waiting(web)
        admitted = await asyncio.wait_for(asyncio.gather(holder, *queued), PHASE_S)
        return Overload(admitted[0], admitted[1:], excess, still_waiting, refused_after_s)


def test_past_the_slots_and_the_queue_requests_are_refused_503_with_retry_after(
    served: ServeProcess,
) -> None:
    seen = asyncio.run(_overload(served.url))
    holder, queued, excess = seen.holder, seen.queued, seen.excess

    # The queue was full throughout: the slot holder still ran when the excess was answered.
    assert seen.still_waiting == MAX_WAITING
    assert [o.status for o in excess] == [503] * EXCESS, [o.error for o in excess]
    for refused in excess:
        assert refused.retry_after == "1"
        error = refused.error["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "server_error", "unavailable", None,
        )  # fmt: skip
        assert re.fullmatch(
            rf"llm: {MAX_WAITING} generations are already waiting for a slot \(the bound "
            r"llm\.max_waiting_seqs\); retry later",
            error["message"],
        ), error["message"]

    # Every admitted generation ran to its full length.
    assert (holder.status, holder.tokens, holder.finish) == (200, HOLD_TOKENS, "length")
    assert [(o.status, o.tokens, o.finish) for o in queued] == [
        (200, SHORT_TOKENS, "length")
    ] * MAX_WAITING

    # Healthy afterwards: the same question answered alike, the refusals counted, no crash.
    after = httpx.post(
        served.url + "/v1/chat/completions",
        json={"model": "llm", "messages": HELLO, "max_tokens": SHORT_TOKENS, "temperature": 0,
              "logit_bias": NO_END},
        timeout=PHASE_S,
    )  # fmt: skip
    assert after.status_code == 200
    text = after.json()["choices"][0]["message"]["content"]
    assert {o.text for o in queued} == {text}
    metrics = httpx.get(served.url + "/metrics", timeout=10).text
    labels = {"model": "llm", "operation": "chat", "version": "v1"}
    # The server's refusals (queue full, 503): shed, not the client's rejected.
    shed = _series(metrics, "inferd_llm_requests_total", finish_reason="shed", **labels)
    assert shed == EXCESS
    assert _series(metrics, "inferd_llm_requests_total", finish_reason="error", **labels) == 0
    assert served.proc.poll() is None
    assert "Traceback" not in "".join(served.log)

    ttfts = sorted(o.ttft_s for o in queued if o.ttft_s is not None)
    assert len(ttfts) == MAX_WAITING // 2 and holder.ttft_s is not None
    print(
        f"\nR33 over HTTP, 1 slot + {MAX_WAITING} waiting: {1 + len(queued)} x 200, "
        f"{len(excess)} x 503 (Retry-After {excess[0].retry_after}), all refused "
        f"{seen.refused_after_s * 1000:.0f} ms after the slot was taken; TTFT of the slot holder "
        f"{holder.ttft_s * 1000:.0f} ms; TTFT of the {len(ttfts)} queued streams "
        f"p50 {statistics.median(ttfts) * 1000:.0f} ms, max {ttfts[-1] * 1000:.0f} ms"
    )
