"""``n`` choices per request, as OpenAI and vLLM answer them: one generation per choice, each
choice with its index, streamed chunks of every choice interleaved (each opening with the role
and ending with its own finish reason), the prompt counted once in the usage and the answers'
tokens summed. Scripted models behind the real router (see conftest), read with the official
``openai`` client."""

from __future__ import annotations

import socket
import time
from collections import defaultdict
from collections.abc import Iterator

import openai
import orjson
import pytest

from protocols.conftest import Running
from protocols.openai.conftest import WORDS, LlmDataPlane, read_text_stream

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def client(llm_server: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="x", max_retries=0) as client:
        yield client


def plane(server: Running) -> LlmDataPlane:
    assert isinstance(server.dataplane, LlmDataPlane)
    return server.dataplane


def test_n_chat_choices_each_with_its_index(client: openai.OpenAI, llm_server: Running) -> None:
    answer = client.chat.completions.create(
        model="parrot", messages=HI, n=3, max_tokens=2, seed=40, temperature=0.7
    )
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert [c.message.content for c in answer.choices] == ["Hello there"] * 3
    assert [c.finish_reason for c in answer.choices] == ["length"] * 3
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1, 6)
    assert answer.usage.total_tokens == 7
    # One generation per choice; with a seed, choice i draws with seed + i (choice 0 is the
    # answer of n=1 with that seed, and the choices differ from one another).
    asked = plane(llm_server).llms["parrot"].asked
    assert [a.sampling.seed for a in asked] == [40, 41, 42]
    assert {(a.prompt, a.sampling.temperature) for a in asked} == {("<user>Hi<assistant>", 0.7)}


def test_n_text_choices(client: openai.OpenAI, llm_server: Running) -> None:
    answer = client.completions.create(model="parrot", prompt="Say", n=2)
    assert [(c.index, c.text, c.finish_reason) for c in answer.choices] == [
        (0, "".join(WORDS), "stop"),
        (1, "".join(WORDS), "stop"),
    ]
    assert answer.usage is not None and answer.usage.completion_tokens == 2 * len(WORDS)
    # Without a seed each choice draws its own (None: the engine's fresh one).
    assert [a.sampling.seed for a in plane(llm_server).llms["parrot"].asked] == [None, None]


def test_n_chat_choices_streamed(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="parrot", messages=HI, n=2, stream=True, stream_options={"include_usage": True}
    )
    texts: dict[int, list[str]] = defaultdict(list)
    roles: dict[int, str | None] = {}
    finished: dict[int, str | None] = {}
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
            continue
        (choice,) = chunk.choices
        assert choice.index not in finished, "a chunk after its choice's finish reason"
        if choice.index not in roles:
            roles[choice.index] = choice.delta.role
        if choice.finish_reason is not None:
            finished[choice.index] = choice.finish_reason
        elif choice.delta.content:
            texts[choice.index].append(choice.delta.content)
    assert roles == {0: "assistant", 1: "assistant"}
    assert finished == {0: "stop", 1: "stop"}
    assert {i: "".join(t) for i, t in texts.items()} == {0: "".join(WORDS), 1: "".join(WORDS)}
    assert usage is not None and usage.completion_tokens == 2 * len(WORDS)
    assert usage.prompt_tokens == 1


def test_n_text_choices_streamed(client: openai.OpenAI) -> None:
    stream = client.completions.create(model="parrot", prompt="Say", n=2, max_tokens=2, stream=True)
    read = read_text_stream(stream)
    assert read.texts == {0: "Hello there", 1: "Hello there"}
    assert read.finished == {0: "length", 1: "length"}


def test_a_choice_that_fails_ends_the_answer(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="failing", messages=HI, n=2)
    assert caught.value.status_code == 504
    with pytest.raises(openai.APIError, match="deadline"):
        for _ in client.chat.completions.create(model="failing", messages=HI, n=2, stream=True):
            pass


def test_n_is_bounded_by_what_a_models_queue_holds(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="parrot", messages=HI, n=65)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="parrot", messages=HI, n=0)
    assert caught.value.param == "n"


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_leaves_cancels_every_choice(llm_server: Running, stream: bool) -> None:
    body = orjson.dumps({"model": "stuck", "messages": HI, "n": 3, "stream": stream})
    stuck = plane(llm_server).llms["stuck"]
    with socket.create_connection(("127.0.0.1", llm_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        waited = time.monotonic() + 10
        while len(stuck.asked) < 3 and time.monotonic() < waited:
            time.sleep(0.01)
        assert len(stuck.asked) == 3, "the choices never started"
        seen = b""
        while stream and seen.count(b'"Hello"') < 3:  # every choice's first word was sent
            part = sock.recv(65536)
            assert part, "the stream ended before its first words"
            seen += part
    for asked in stuck.asked:
        assert asked.cancelled.wait(10), "a choice kept running after its client left"
