"""``echo`` on text completions, as vLLM (and OpenAI's legacy completions) answer it: the
prompt comes back before the answer's text, whole or as each choice's first streamed chunk;
the usage is the same as without it. (It was refused as not supported.)"""

from __future__ import annotations

import openai

from protocols.conftest import Running
from protocols.openai.conftest import WORDS


def client(server: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_the_prompt_comes_first(llm_server: Running) -> None:
    answer = client(llm_server).completions.create(model="parrot", prompt="Say:", echo=True, n=2)
    assert [c.text for c in answer.choices] == ["Say:" + "".join(WORDS)] * 2
    plain = client(llm_server).completions.create(model="parrot", prompt="Say:")
    assert answer.usage is not None and plain.usage is not None
    assert answer.usage.prompt_tokens == plain.usage.prompt_tokens


def test_streamed_the_prompt_is_each_choices_first_chunk(llm_server: Running) -> None:
    stream = client(llm_server).completions.create(
        model="parrot", prompt="Say:", echo=True, stream=True, max_tokens=2
    )
    texts = [c.choices[0].text for c in stream if c.choices]
    assert texts == ["Say:", *WORDS[:2], ""]


def test_echo_false_is_the_plain_answer(llm_server: Running) -> None:
    answer = client(llm_server).completions.create(model="parrot", prompt="Say:", echo=False)
    assert answer.choices[0].text == "".join(WORDS)
