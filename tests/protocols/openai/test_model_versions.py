"""A version of a model served beside its default (``inferd serve llm:base-1 llm:support-v3``:
a base and its adapter) is reached on OpenAI's routes as ``llm:support-v3``, listed so on
``/v1/models``, and the answers name the model as asked; a version not served is a 404 naming
the ids that are."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import openai
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from llm_files import tiny_adapter, tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

HI = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("llm-versions")
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    for argv in (
        [*INFERD, "push", str(tiny_gguf(root / "base.gguf")), "llm:base-1"],
        [*INFERD, "push", str(tiny_adapter(root / "support.gguf")), "llm:support-v3",
         "--base", "llm:base-1"],
    ):  # fmt: skip
        subprocess.run(argv, env=env, check=True, timeout=120, stdout=subprocess.DEVNULL)
    server = start_serve(root / "home", "llm:base-1", "llm:support-v3")
    wait_ready(server.url, 60)
    yield server
    _stop(server)


@pytest.fixture
def client(served: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


def _say(client: openai.OpenAI, model: str) -> tuple[str, str]:
    answer = client.chat.completions.create(
        model=model,
        messages=HI,
        max_tokens=12,
        temperature=0,  # type: ignore[arg-type]
    )
    return answer.model, answer.choices[0].message.content or ""


def test_each_version_is_reached_by_name_and_version(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["llm", "llm:base-1", "llm:support-v3"]
    assert client.models.retrieve("llm:support-v3").id == "llm:support-v3"
    default, base, adapted = (
        _say(client, "llm"),
        _say(client, "llm:base-1"),
        _say(client, "llm:support-v3"),
    )
    assert (default[0], base[0], adapted[0]) == ("llm", "llm:base-1", "llm:support-v3")
    assert default[1] == base[1] != adapted[1]  # the adapter answers differently
    stream = client.completions.create(
        model="llm:support-v3", prompt="once", max_tokens=4, temperature=0, stream=True
    )
    assert {chunk.model for chunk in stream} == {"llm:support-v3"}
    embedded = client.embeddings.create(model="llm:support-v3", input="a b")
    assert embedded.model == "llm:support-v3"


def test_a_version_not_served_names_those_that_are(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        _say(client, "llm:support-v4")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert caught.value.body["message"] == (  # type: ignore[index]
        "model 'llm' version 'support-v4' not found; its versions are reached as "
        "llm:base-1, llm:support-v3"
    )
    with pytest.raises(openai.NotFoundError) as unknown:
        _say(client, "nope:v1")
    assert "GET /v1/models lists the model ids served" in unknown.value.message


def test_an_adapter_named_alone_as_vllm_names_it_points_to_its_id(client: openai.OpenAI) -> None:
    # vLLM's --lora-modules support-v3=... is asked for as "support-v3"; here it is a version.
    with pytest.raises(openai.NotFoundError) as caught:
        _say(client, "support-v3")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert caught.value.body["message"] == (  # type: ignore[index]
        "model 'support-v3' not found; a version of that name is reached as llm:support-v3"
    )


@pytest.mark.parametrize("model", ["llm:", ":base-1"])
def test_an_id_without_both_halves_is_refused(served: ServeProcess, model: str) -> None:
    answer = httpx.post(
        served.url + "/v1/chat/completions", json={"model": model, "messages": HI}, timeout=30
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "model" and "give a name, or name:version" in error["message"]
