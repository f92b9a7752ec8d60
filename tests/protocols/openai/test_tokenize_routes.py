"""vLLM's ``POST /tokenize`` and ``POST /detokenize`` on the data plane, with vLLM's bodies and
answers, and mistakes answered in OpenAI's error shape naming the field (scripted models: one
token per word, its length)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from protocols.conftest import Running


def post(server: Running, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, content=orjson.dumps(body), timeout=10)


def test_a_prompt_is_tokenized(llm_server: Running) -> None:
    answer = post(llm_server, "/tokenize", {"model": "parrot", "prompt": "a bb ccc"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"count": 3, "max_model_len": 64, "tokens": [1, 2, 3],
                             "token_strs": None}  # fmt: skip


def test_messages_are_tokenized_through_the_chat_template(llm_server: Running) -> None:
    body = {
        "model": "parrot",
        "messages": [{"role": "user", "content": "hi there"}],
        "chat_template_kwargs": {"enable_thinking": False},
    }
    answer = post(llm_server, "/tokenize", body)
    assert answer.status_code == 200, answer.text
    # "<user>hi there<enable_thinking=False><assistant>": two words.
    assert answer.json()["tokens"] == [
        len("<user>hi"),
        len("there<enable_thinking=False><assistant>"),
    ]


def test_tokens_are_detokenized(llm_server: Running) -> None:
    answer = post(llm_server, "/detokenize", {"model": "parrot", "tokens": [1, 3]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"prompt": "x xxx"}


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/tokenize", {"model": "parrot"}, 400, None),
        ("/tokenize", {"model": "parrot", "prompt": "a", "messages": [{"role": "user",
                                                                      "content": "a"}]}, 400, None),
        ("/tokenize", {"model": "parrot", "prompt": "a", "add_special_token": True}, 400,
         "add_special_token"),
        ("/tokenize", {"model": "parrot", "prompt": "a", "return_token_strs": True}, 400,
         "return_token_strs"),
        ("/tokenize", {"model": "parrot", "prompt": "a", "chat_template_kwargs": {"x": 1}}, 400,
         "chat_template_kwargs"),
        ("/tokenize", {"model": "nobody", "prompt": "a"}, 404, "model"),
        ("/detokenize", {"model": "parrot", "tokens": [-1]}, 400, "tokens[0]"),
        ("/detokenize", {"model": "parrot", "tokens": "1 2"}, 400, "tokens"),
        ("/detokenize", {"model": "parrot"}, 400, "tokens"),
    ],
)  # fmt: skip
def test_mistakes_name_the_field(
    llm_server: Running, path: str, body: object, status: int, param: str | None
) -> None:
    answer = post(llm_server, path, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"
