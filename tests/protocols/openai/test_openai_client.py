"""The official ``openai`` client against a real ``inferd serve`` of a real GGUF model on
llama.cpp: the tiny model ``examples/llm/make_model.py`` writes (random weights: the text is
nonsense, the machinery is real), pushed with ``inferd push`` into a store of the test's own.
The generate extension is called as Triton's clients call it, with plain HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import orjson
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

#: The tiny model's context, and its end-of-generation token (ChatML's <|im_end|>: the 256
#: byte tokens, 7 merges, then <|endoftext|>, <|im_start|>, <|im_end|>).
CONTEXT = 4096
END_TOKEN = 265
#: Every control token (<|endoftext|>, <|im_start|>, <|im_end|>): llama.cpp ends a generation
#: at <|endoftext|> as well.
CONTROL_TOKENS = (263, 264, 265)
HELLO = [{"role": "user", "content": "Hello!"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("llm")
    home = root / "home"
    model = root / "tiny-llama.gguf"
    env = {**os.environ, "INFERD_HOME": str(home)}
    # The tiny model with a long context, so that a generation can run long enough to be left.
    tiny_gguf(model, context=CONTEXT)
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120)
    server = start_serve(home, "llm:v1")
    wait_ready(server.url)
    yield server
    _stop(server)


@pytest.fixture
def client(served: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


def test_the_model_is_listed(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["llm"]
    model = client.models.retrieve("llm")
    assert (model.id, model.object, model.owned_by) == ("llm", "model", "inferd")
    # Pushed without SOURCE_DATE_EPOCH, its card declares no build time: ``created`` is when
    # the version loaded, never 0 (1970).
    assert abs(model.created - time.time()) < 600


def test_a_chat_completion(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="llm", messages=HELLO, max_tokens=8, temperature=0
    )
    assert answer.id.startswith("chatcmpl-") and answer.model == "llm"
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    usage = answer.usage
    assert usage is not None and 0 < usage.completion_tokens <= 8
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_streamed_chat_is_the_same_text_with_usage_last(client: openai.OpenAI) -> None:
    asked = {"model": "llm", "messages": HELLO, "max_tokens": 12, "temperature": 0}
    whole = client.chat.completions.create(**asked)
    chunks = list(
        client.chat.completions.create(**asked, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) > 1, "the text came in one piece, not streamed"
    assert "".join(texts) == whole.choices[0].message.content
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == whole.choices[0].finish_reason and not any(finish[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_a_text_completion(client: openai.OpenAI) -> None:
    asked = {"model": "llm", "prompt": "Once upon", "max_tokens": 6, "temperature": 0}
    answer = client.completions.create(**asked)
    assert answer.object == "text_completion" and answer.id.startswith("cmpl-")
    assert isinstance(answer.choices[0].text, str)
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 6
    streamed = client.completions.create(**asked, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == answer.choices[0].text


def test_seeded_and_greedy_answers_repeat(client: openai.OpenAI) -> None:
    def say(**sampling: object) -> str:
        answer = client.completions.create(
            model="llm",
            prompt="The",
            max_tokens=16,
            **sampling,
        )
        text: str = answer.choices[0].text
        return text

    assert say(temperature=0) == say(temperature=0)
    assert say(temperature=1, seed=42) == say(temperature=1, seed=42)


def test_n_choices_of_one_prompt(client: openai.OpenAI) -> None:
    asked = {"model": "llm", "messages": HELLO, "max_tokens": 12, "temperature": 1, "seed": 7}
    one = client.chat.completions.create(**asked)
    three = client.chat.completions.create(**asked, n=3)
    texts = [c.message.content for c in three.choices]
    # Choice 0 is the answer of n=1 with that seed; the others draw with seeds of their own.
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert texts[0] == one.choices[0].message.content and len(set(texts)) > 1
    assert three.usage is not None and one.usage is not None
    assert three.usage.prompt_tokens == one.usage.prompt_tokens
    assert 12 < three.usage.completion_tokens <= 36  # more than one answer, each 12 at most
    streamed: dict[int, str] = {0: "", 1: "", 2: ""}
    for chunk in client.chat.completions.create(**asked, n=3, stream=True):
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert list(streamed.values()) == texts
    greedy = client.completions.create(model="llm", prompt="The", max_tokens=8, temperature=0, n=2)
    assert greedy.choices[0].text == greedy.choices[1].text


def test_several_prompts_answer_as_each_prompt_alone(client: openai.OpenAI) -> None:
    prompts = ["Once upon a time", "The"]
    asked = {"model": "llm", "max_tokens": 8, "temperature": 1, "seed": 3, "n": 2}
    together = client.completions.create(**asked, prompt=prompts)
    alone = [client.completions.create(**asked, prompt=p) for p in prompts]
    # Choice j of prompt i at i * n + j, drawn as the prompt alone draws it.
    assert [c.index for c in together.choices] == [0, 1, 2, 3]
    assert [c.text for c in together.choices] == [c.text for a in alone for c in a.choices]
    assert together.usage is not None and all(a.usage is not None for a in alone)
    assert together.usage.prompt_tokens == sum(a.usage.prompt_tokens for a in alone if a.usage)


def test_the_most_choices_fit_the_models_queue(client: openai.OpenAI) -> None:
    # Each choice waits in the model's queue (64 places) for a slot: a larger n could never be
    # queued at once, and was a 503 "retry later" that no retry would pass.
    answer = client.completions.create(model="llm", prompt="The", max_tokens=2, n=64)
    assert sorted(c.index for c in answer.choices) == list(range(64))
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="llm", prompt="The", max_tokens=2, n=65)
    assert caught.value.param == "n"


def test_ignore_eos_as_vllms_benchmarks_send_it(client: openai.OpenAI) -> None:
    # An answer that would end at once (its end token favoured) runs to max_tokens instead.
    asked = {"model": "llm", "prompt": "The", "max_tokens": 5, "logit_bias": {str(END_TOKEN): 100}}
    ended = client.completions.create(**asked)
    assert ended.choices[0].finish_reason == "stop"
    assert ended.usage is not None and ended.usage.completion_tokens == 1
    full = client.completions.create(**asked, extra_body={"ignore_eos": True})
    assert full.choices[0].finish_reason == "length"
    assert full.usage is not None and full.usage.completion_tokens == 5


def test_an_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="nope", messages=HELLO)
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert caught.value.body == {
        "message": "model 'nope' not found", "type": "invalid_request_error", "param": "model",
        "code": "model_not_found",
    }  # fmt: skip


def test_empty_messages_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=[])
    assert caught.value.param == "messages"
    assert caught.value.type == "invalid_request_error"


def test_an_overlong_prompt_is_refused_naming_the_numbers(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="llm", prompt=" a" * 5000, max_tokens=4)
    message = str(caught.value.body["message"])
    assert re.search(
        rf"the prompt is \d+ tokens and max_tokens is 4: over the context of {CONTEXT}", message
    ), message
    assert caught.value.code == "context_length_exceeded"  # as OpenAI answers


def test_a_logit_bias_outside_the_vocabulary_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(
            model="llm", prompt="hi", max_tokens=2, logit_bias={"999999": -100}
        )
    assert "logit_bias names token 999999, outside the model's vocabulary" in str(
        caught.value.body["message"]
    )
    # The param names it as OpenAI's clients read it, as for every other refused field.
    assert caught.value.param == "logit_bias"


def test_wrong_parameter_types_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="llm",
            messages=HELLO,
            temperature="hot",
        )
    assert caught.value.param == "temperature"
    assert "got 'hot'" in str(caught.value.body["message"])
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, n=0)
    assert caught.value.param == "n"


def test_openai_defaults_inferd_does_not_implement_are_accepted(client: openai.OpenAI) -> None:
    asked = {"model": "llm", "messages": HELLO, "max_tokens": 8, "temperature": 0}
    plain = client.chat.completions.create(**asked)
    for defaults in (
        {"store": False, "service_tier": "auto", "metadata": {"a": "b"}},
        {"service_tier": "default", "parallel_tool_calls": True, "safety_identifier": "u1"},
    ):
        answer = client.chat.completions.create(**asked, **defaults)
        assert answer.choices[0].message.content == plain.choices[0].message.content


def test_named_participants_are_taken_as_vllm_takes_them(client: openai.OpenAI) -> None:
    # Multi-agent apps (AutoGen, LangChain) name each message's author. vLLM passes the name to
    # the chat template; the tiny model's template writes role and content only, so the answer
    # is the one without names.
    asked = {"model": "llm", "max_tokens": 8, "temperature": 0}
    plain = client.chat.completions.create(messages=HELLO, **asked)
    named = client.chat.completions.create(
        messages=[{"role": "user", "content": "Hello!", "name": "alice"}], **asked
    )
    assert named.choices[0].message.content == plain.choices[0].message.content


def test_openai_parameters_inferd_does_not_implement_are_refused_naming_them(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, store=True)
    assert caught.value.body == {
        "message": "store: true is not supported by inferd (only false, OpenAI's default)",
        "type": "invalid_request_error", "param": "store", "code": "invalid_argument",
    }  # fmt: skip
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, service_tier="flex")
    assert caught.value.param == "service_tier"
    assert 'service_tier: "flex" is not supported by inferd' in str(caught.value.body["message"])
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, reasoning_effort="low")
    assert caught.value.param == "reasoning_effort"
    message = str(caught.value.body["message"])
    assert (
        message.startswith("reasoning_effort: not supported by inferd") and "unknown" not in message
    )


def test_a_misspelt_parameter_is_still_unknown(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, extra_body={"temprature": 0.5})
    assert caught.value.param == "temprature"
    assert caught.value.body["message"] == "temprature: unknown field (not supported by inferd)"


def test_bad_json_is_400_in_openai_shape(served: ServeProcess) -> None:
    answer = httpx.post(
        served.url + "/v1/chat/completions", content=b'{"model": "llm",', timeout=10
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "malformed JSON" in error["message"]


def test_embeddings_as_the_client_decodes_them(client: openai.OpenAI) -> None:
    # The client asks for base64 unless told otherwise, and decodes it.
    packed = client.embeddings.create(model="llm", input=["hello", "world"])
    floats = client.embeddings.create(
        model="llm", input=["hello", "world"], encoding_format="float"
    )
    assert [e.index for e in packed.data] == [0, 1]
    for a, b in zip(packed.data, floats.data, strict=True):
        assert np.allclose(a.embedding, b.embedding, atol=1e-6)
        assert np.isclose(np.linalg.norm(b.embedding), 1.0)
    assert packed.usage.prompt_tokens > 0


def test_a_client_that_leaves_mid_stream_cancels_its_generation(
    client: openai.OpenAI, served: ServeProcess
) -> None:
    before = _cancelled(served)
    stream = client.chat.completions.create(
        model="llm", messages=HELLO, max_tokens=4000, stream=True,
        logit_bias={str(t): -100 for t in CONTROL_TOKENS},  # runs to max_tokens unless cancelled
    )  # fmt: skip
    next(iter(stream))
    stream.close()
    deadline = time.monotonic() + 30
    while _cancelled(served) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cancelled(served) == before + 1


def _cancelled(served: ServeProcess) -> float:
    text = httpx.get(served.url + "/metrics", timeout=10).text
    found = re.search(
        r'inferd_llm_requests_total\{finish_reason="cancelled",model="llm",operation="chat",'
        r'version="v1"\} ([\d.]+)',
        text,
    )
    return float(found.group(1)) if found else 0.0


def test_the_generate_extension(served: ServeProcess) -> None:
    body = {"text_input": "The", "parameters": {"max_tokens": 8, "temperature": 0}}
    whole = httpx.post(served.url + "/v2/models/llm/generate", json=body, timeout=60)
    assert whole.status_code == 200
    answer = whole.json()
    assert (answer["model_name"], answer["model_version"]) == ("llm", "v1")
    assert answer["finish_reason"] in ("stop", "length")
    streamed = httpx.post(
        served.url + "/v2/models/llm/versions/v1/generate_stream", json=body, timeout=60
    )
    assert streamed.headers["content-type"] == "text/event-stream"
    events = [orjson.loads(line[6:]) for line in streamed.text.split("\n\n") if line]
    assert "".join(e["text_output"] for e in events) == answer["text_output"]
    assert events[-1]["finish_reason"] == answer["finish_reason"]
    refused = httpx.post(
        served.url + "/v2/models/llm/generate",
        json={"text_input": "x", "parameters": {"best_of": 5}},
    )
    assert refused.status_code == 400
    unknown = "parameters.best_of: unknown field (not supported by inferd)"
    assert refused.json() == {"error": unknown}
    # vLLM's top_k, as Triton's vLLM backend takes it: greedy whatever the temperature.
    greedy = httpx.post(
        served.url + "/v2/models/llm/generate",
        json={"text_input": "The", "parameters": {"max_tokens": 8, "temperature": 0}},
        timeout=60,
    ).json()
    top_1 = httpx.post(
        served.url + "/v2/models/llm/generate",
        json={"text_input": "The", "parameters": {"max_tokens": 8, "temperature": 2, "top_k": 1}},
        timeout=60,
    ).json()
    assert top_1["text_output"] == greedy["text_output"]


def test_vllm_sampling_parameters_in_extra_body(client: openai.OpenAI) -> None:
    # vLLM's top_k, min_p and repetition_penalty, as users of vLLM send them with this client.
    def say(prompt: str, **sampling: object) -> str:
        answer = client.completions.create(model="llm", prompt=prompt, max_tokens=16, **sampling)
        text: str = answer.choices[0].text
        return text

    greedy = say("The", temperature=0)
    for seed in (1, 2):
        top_1 = say("The", temperature=2, seed=seed, extra_body={"top_k": 1})
        assert top_1 == greedy
    chat = client.chat.completions.create(
        model="llm", messages=HELLO, max_tokens=8, temperature=0, extra_body={"top_k": -1}
    )
    assert (
        chat.choices[0].message.content
        == client.chat.completions.create(model="llm", messages=HELLO, max_tokens=8, temperature=0)
        .choices[0]
        .message.content
    )
    repeating = "ab ab ab ab ab ab ab ab ab ab ab ab"
    penalised = say(repeating, temperature=0, extra_body={"repetition_penalty": 2.0})
    assert penalised != say(repeating, temperature=0)


def test_presence_and_frequency_penalties(client: openai.OpenAI) -> None:
    # OpenAI's own parameters (no extra_body): they were refused unless 0.
    def say(**sampling: object) -> str:
        answer = client.completions.create(
            model="llm", prompt="0000000000", max_tokens=16, seed=7, **sampling
        )
        text: str = answer.choices[0].text
        return text

    for temperature in (0, 0.8):
        plain = say(temperature=temperature)
        assert say(temperature=temperature, presence_penalty=0, frequency_penalty=0) == plain
        penalised = say(temperature=temperature, presence_penalty=2, frequency_penalty=2)
        assert penalised != plain
        assert say(temperature=temperature, presence_penalty=2, frequency_penalty=2) == penalised
    chat = client.chat.completions.create(
        model="llm", messages=HELLO, max_tokens=16, temperature=0, frequency_penalty=2
    )
    plain_chat = client.chat.completions.create(
        model="llm", messages=HELLO, max_tokens=16, temperature=0
    )
    assert chat.choices[0].message.content != plain_chat.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, presence_penalty=2.5)
    assert caught.value.param == "presence_penalty"
    assert caught.value.body["message"] == (
        "presence_penalty: Input should be less than or equal to 2 (got 2.5)"
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"top_k": -2}, "top_k: Input should be greater than or equal to -1 (got -2)"),
        ({"min_p": 1.5}, "min_p: Input should be less than or equal to 1 (got 1.5)"),
        ({"repetition_penalty": 0}, "repetition_penalty: Input should be greater than 0 (got 0)"),
    ],
)
def test_vllm_sampling_parameters_out_of_range_are_400_naming_them(
    client: openai.OpenAI, extra: dict[str, object], says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llm", messages=HELLO, extra_body=extra)
    assert caught.value.status_code == 400
    assert caught.value.param == next(iter(extra))
    assert caught.value.body["message"] == says
