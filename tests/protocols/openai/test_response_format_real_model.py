"""``response_format`` with the official ``openai`` client against a real ``inferd serve`` of
the tiny GGUF (random weights: unconstrained, its text is no JSON): ``json_schema`` and
``json_object`` answers parse, and follow the schema; a schema llama.cpp cannot follow is a
400 naming ``response_format``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import openai
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

HI = [{"role": "user", "content": "Answer in JSON."}]
SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}},
    "required": ["ok", "n"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    root = tmp_path_factory.mktemp("response-format")
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    model = tiny_gguf(root / "tiny.gguf", context=2048)
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    server: ServeProcess = start_serve(root / "home", "llm:v1")
    wait_ready(server.url)
    yield openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    _stop(server)


def test_a_json_schema_answer_follows_the_schema(client: openai.OpenAI) -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    for seed in (1, 2, 3):
        answer = client.chat.completions.create(
            model="llm", messages=HI, max_tokens=200, seed=seed,
            response_format=schema_format,  # type: ignore[arg-type]
        )  # fmt: skip
        choice = answer.choices[0]
        assert choice.finish_reason == "stop", choice.message.content
        document = json.loads(choice.message.content or "")
        assert set(document) == {"ok", "n"}
        assert isinstance(document["ok"], bool) and isinstance(document["n"], int)


def test_a_streamed_json_schema_answer_too(client: openai.OpenAI) -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    stream = client.chat.completions.create(
        model="llm", messages=HI, max_tokens=200, temperature=0, stream=True,
        response_format=schema_format,  # type: ignore[arg-type]
    )  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert set(json.loads(text)) == {"ok", "n"}


def test_a_json_object_answer_is_an_object_or_cut_at_max_tokens(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="llm", messages=HI, max_tokens=60, seed=7, response_format={"type": "json_object"}
    )
    choice = answer.choices[0]
    text = choice.message.content or ""
    assert text.lstrip().startswith("{"), text
    if choice.finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_a_schema_llama_cpp_cannot_follow_is_refused(client: openai.OpenAI) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"$ref": "#/nowhere"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="llm", messages=HI, max_tokens=5,
            response_format=bad,  # type: ignore[arg-type]
        )  # fmt: skip
    assert caught.value.param == "response_format"


def test_a_schema_that_admits_nothing_ends_the_answer_not_the_server(
    client: openai.OpenAI,
) -> None:
    """llama.cpp aborts the process when a token its grammar forbids is accepted, and a schema
    that admits no character next (an empty character class) leaves only forbidden ones: the
    answer ends there, and the server goes on."""
    empty = {"type": "string", "pattern": "^[z-a]$"}
    dead = {"type": "json_schema", "json_schema": {"name": "a", "schema": empty}}
    for stream in (False, True):
        answer = client.chat.completions.create(
            model="llm", messages=HI, max_tokens=20, temperature=0, stream=stream,
            response_format=dead,  # type: ignore[arg-type]
        )  # fmt: skip
        if isinstance(answer, openai.Stream):
            endings = [c.choices[0].finish_reason for c in answer if c.choices]
            assert endings[-1] == "stop"
        else:
            assert answer.choices[0].finish_reason == "stop"
            assert answer.choices[0].message.content == '"'
    alive = client.chat.completions.create(model="llm", messages=HI, max_tokens=2)
    assert alive.choices[0].finish_reason in ("stop", "length")
