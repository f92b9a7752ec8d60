"""``/tokenize`` and ``/detokenize`` on a real ``inferd serve`` of the tiny GGUF (llama.cpp's
tokenizer): the count is what a generation of the same prompt reads (``usage.prompt_tokens``,
from the official ``openai`` client), for a prompt and for chat messages through the chat
template; the tokens detokenize back to the text; a token outside the vocabulary is a 400
naming it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import openai
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

HI = [{"role": "user", "content": "Hello there!"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("tokenize")
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    model = tiny_gguf(root / "tiny.gguf")
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    server = start_serve(root / "home", "llm:v1")
    wait_ready(server.url)
    yield server
    _stop(server)


def test_the_count_is_what_a_generation_reads(served: ServeProcess) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    said = httpx.post(served.url + "/tokenize", json={"model": "llm", "prompt": "Once upon"})
    assert said.status_code == 200, said.text
    tokenized = said.json()
    assert tokenized["max_model_len"] == 512 and tokenized["token_strs"] is None
    assert tokenized["count"] == len(tokenized["tokens"]) > 0
    answer = client.completions.create(model="llm", prompt="Once upon", max_tokens=1)
    assert answer.usage is not None and answer.usage.prompt_tokens == tokenized["count"]

    chat = httpx.post(served.url + "/tokenize", json={"model": "llm", "messages": HI}).json()
    answer_chat = client.chat.completions.create(model="llm", messages=HI, max_tokens=1)
    assert answer_chat.usage is not None and answer_chat.usage.prompt_tokens == chat["count"]

    back = httpx.post(served.url + "/detokenize", json={"model": "llm", "tokens": chat["tokens"]})
    assert back.status_code == 200, back.text
    assert back.json()["prompt"] == (
        "<|im_start|>user\nHello there!<|im_end|>\n<|im_start|>assistant\n"
    )


def test_a_token_outside_the_vocabulary_is_named(served: ServeProcess) -> None:
    answer = httpx.post(served.url + "/detokenize", json={"model": "llm", "tokens": [5, 266]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "tokens[1]"
    assert "outside the model's vocabulary of 266 tokens" in error["message"]
