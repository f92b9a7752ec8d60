"""R31: clients that leave mid-stream, 50 times, while other streams run, against a real
``inferd serve`` of the tiny GGUF model on llama.cpp (``examples/llm/make_model.py``: random
weights, real machinery)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

#: Every control token of the tiny model (<|endoftext|>, <|im_start|>, <|im_end|>), banned so
#: that a generation runs to ``max_tokens`` unless it is cancelled.
NO_END = {str(t): -100 for t in (263, 264, 265)}
HELLO = [{"role": "user", "content": "Hello!"}]
#: Streams kept to their end while the others leave, each ``KEPT_TOKENS`` long, one after another
#: on each of ``KEPT`` clients for as long as clients are still leaving.
KEPT, KEPT_TOKENS = 3, 300
#: Clients that leave, ``AT_ONCE`` at a time, each after ``EVENTS_READ`` events of a stream that
#: would otherwise run for 4,000 tokens. KEPT + AT_ONCE fill the engine's 8 slots.
LEAVERS, AT_ONCE, EVENTS_READ = 50, 5, 3
MODEL = {"finish_reason", "model", "operation", "version"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("llm")
    home = root / "home"
    model = root / "tiny-llama.gguf"
    tiny_gguf(model, context=4096)
    env = {**os.environ, "INFERD_HOME": str(home)}
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120)
    server = start_serve(home, "llm:v1")
    wait_ready(server.url)
    yield server
    _stop(server)


def _samples(served: ServeProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` for the chat operation of llm:v1 (and its gauges)."""
    text = httpx.get(served.url + "/metrics", timeout=10).text
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model") == "llm" and labels.get("operation", "chat") == "chat":
                rest = tuple(sorted((k, v) for k, v in labels.items() if k not in MODEL))
                key = labels.get("finish_reason") or labels.get("type") or ""
                found[(sample.name + ":" + key, rest)] = sample.value
    return found


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return samples.get((name, ()), 0.0)


def test_fifty_clients_leave_mid_stream_while_others_stream_on(served: ServeProcess) -> None:
    """Fifty clients, five at a time, each open a 4,000-token chat stream and close the
    connection after three events, while three other clients stream 300-token chats to their
    end, one after another, until the last has left.

    Every kept stream ends with ``finish_reason`` ``length`` and all its 300 tokens, and no
    error; every left stream is counted ``cancelled`` within 10 s of the last leave, none
    ``error``; the engine's running and waiting counts return to their baseline (0, 0).

    One decode step is one ``llama_decode`` of the engine's batch: every running sequence
    gains at most one token per step. A cancelled sequence is counted in
    ``inferd_llm_tokens_after_cancel_total`` for each token it gained after its client left
    (from the moment the server saw the connection close): at most one per leave, the step that
    was already running."""
    before = _samples(served)
    assert _value(before, "inferd_llm_requests_running:") == 0
    assert _value(before, "inferd_llm_requests_waiting:") == 0
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    leaving = threading.Event()
    leaving.set()

    def keep() -> list[tuple[str | None, int]]:
        ends: list[tuple[str | None, int]] = []
        while leaving.is_set() or not ends:
            stream = client.chat.completions.create(
                model="llm", messages=HELLO, max_tokens=KEPT_TOKENS, stream=True,
                logit_bias=NO_END, stream_options={"include_usage": True},
            )  # fmt: skip
            finish, tokens = None, 0
            for chunk in stream:
                if chunk.choices and chunk.choices[0].finish_reason is not None:
                    finish = chunk.choices[0].finish_reason
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            ends.append((finish, tokens))
        return ends

    def leave(_: int) -> int:
        stream = client.chat.completions.create(
            model="llm", messages=HELLO, max_tokens=4000, stream=True, logit_bias=NO_END
        )
        events = iter(stream)
        read = sum(1 for _, _ in zip(range(EVENTS_READ), events, strict=False))
        stream.close()
        return read

    started = time.monotonic()
    with ThreadPoolExecutor(KEPT) as kept_pool:
        kept = [kept_pool.submit(keep) for _ in range(KEPT)]
        with ThreadPoolExecutor(AT_ONCE) as leavers:
            read = list(leavers.map(leave, range(LEAVERS)))
        leaving.clear()
        left_at = time.monotonic()
        ends = [end for future in kept for end in future.result()]
    assert read == [EVENTS_READ] * LEAVERS
    assert ends and all(end == ("length", KEPT_TOKENS) for end in ends), ends

    deadline = left_at + 10
    while True:
        after = _samples(served)
        cancelled = _value(after, "inferd_llm_requests_total:cancelled") - _value(
            before, "inferd_llm_requests_total:cancelled"
        )
        load = (
            _value(after, "inferd_llm_requests_running:"),
            _value(after, "inferd_llm_requests_waiting:"),
        )
        if (cancelled == LEAVERS and load == (0, 0)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    settled = time.monotonic() - left_at
    assert cancelled == LEAVERS
    assert load == (0, 0)
    errors = _value(after, "inferd_llm_requests_total:error") - _value(
        before, "inferd_llm_requests_total:error"
    )
    assert errors == 0
    assert ("inferd_llm_tokens_after_cancel_total:", ()) in after
    late = _value(after, "inferd_llm_tokens_after_cancel_total:") - _value(
        before, "inferd_llm_tokens_after_cancel_total:"
    )
    assert late <= LEAVERS, f"{late} tokens decoded after {LEAVERS} clients left"
    print(
        f"{len(ends)} kept streams, {LEAVERS} left in {left_at - started:.1f} s, all counted "
        f"and (0, 0) running {settled:.2f} s later; {late:.0f} tokens decoded after a client left"
    )
