"""``/v1/models`` tells an adapter from a base as vLLM's list tells a LoRA module from its base
model: each id carries ``root`` (the store reference it was served from, vLLM's model or LoRA
path) and ``parent`` (an adapter's base: its id on this server, else the base's store reference
when the base is not served; null for a model that is no adapter) and ``max_model_len`` (the
context a sequence may take). inferd listed bare ids: ``inferd serve chat:a2`` over
``llm:base-1`` listed ``chat`` alone, and no ``max_model_len``."""

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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    """``chat:a2`` (an adapter over ``llm:base-1``, another name), ``llm:base-1`` with its adapter
    ``llm:support-v3``, and ``solo:a9``, an adapter over ``other:base``, which is not served.
    Yields the server and the digest of ``other:base``."""
    root = tmp_path_factory.mktemp("llm-parents")
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    adapter = tiny_adapter(root / "adapter.gguf")
    digests = []
    for argv in (
        ["push", str(tiny_gguf(root / "base.gguf")), "llm:base-1"],
        ["push", str(adapter), "llm:support-v3", "--base", "llm:base-1"],
        ["push", str(adapter), "chat:a2", "--base", "llm:base-1"],
        ["push", str(tiny_gguf(root / "other.gguf", seed=7)), "other:base"],
        ["push", str(adapter), "solo:a9", "--base", "other:base"],
    ):
        done = subprocess.run(
            [*INFERD, *argv], env=env, check=True, timeout=120, capture_output=True, text=True
        )
        digests.append(done.stdout.strip())
    server = start_serve(root / "home", "chat:a2", "llm:base-1", "llm:support-v3", "solo:a9")
    wait_ready(server.url, 60)
    yield server, digests[3]
    _stop(server)


def test_each_id_names_its_root_and_the_base_it_adapts(
    served: tuple[ServeProcess, str],
) -> None:
    server, other = served
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    listed = {m.id: (m.model_extra or {}) for m in client.models.list()}
    assert {model_id: (extra["root"], extra["parent"]) for model_id, extra in listed.items()} == {
        "chat": ("chat:a2", "llm:base-1"),
        "llm": ("llm:base-1", None),
        "llm:base-1": ("llm:base-1", None),
        "llm:support-v3": ("llm:support-v3", "llm:base-1"),
        "solo": ("solo:a9", f"other@{other}"),
    }
    assert all(m.object == "model" and m.owned_by == "inferd" for m in client.models.list())
    # vLLM's max_model_len: the context per sequence of the loaded model, adapters' their base's.
    (length,) = {extra["max_model_len"] for extra in listed.values()}
    assert isinstance(length, int) and length > 0
    retrieved = client.models.retrieve("chat")
    assert (retrieved.model_extra or {})["parent"] == "llm:base-1"


def test_one_model_retrieved_carries_them_beside_kserve_readiness(
    served: tuple[ServeProcess, str],
) -> None:
    server, _ = served
    answer = httpx.get(f"{server.url}/v1/models/llm:support-v3", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"created": 0, "max_model_len": 0} == {
        "name": "llm:support-v3", "ready": True, "id": "llm:support-v3", "object": "model",
        "created": 0, "owned_by": "inferd", "root": "llm:support-v3", "parent": "llm:base-1",
        "max_model_len": 0,
    }  # fmt: skip
    assert answer.json()["max_model_len"] > 0
