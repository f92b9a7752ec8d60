"""``inferd serve REGISTRY/name:tag`` of a LoRA adapter on a fresh store fetches the base the
adapter pins from the same registry, by digest, as it fetched the adapter. It pulled the adapter
alone and failed: "…adapter over llm@sha256:…, which is not in the store: push or pull that base
first", without saying from where."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from llm_files import tiny_adapter, tiny_gguf
from store.remote.registry import Registry, start_registry

from .conftest import INFERD, start_serve, wait_ready

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture(scope="module")
def published(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A publisher's store copies the base to ``REG/team/llm:base-1`` and pushes two adapters
    over it, ``REG/team/llm:a1`` (the base's repository) and ``REG/team/chat:a2`` (another
    one), and one over a base it never copies, ``REG/team/orphan:a3``; returns the host."""
    root = tmp_path_factory.mktemp("publisher")
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    base, adapter = tiny_gguf(root / "base.gguf"), tiny_adapter(root / "a.gguf")
    team = f"{registry.host}/team"
    for argv in (
        ["push", str(base), "llm:base-1"],
        ["tag", "llm:base-1", f"{team}/llm:base-1"],  # the very version the adapters pin
        ["push", str(adapter), f"{team}/llm:a1", "--base", "llm:base-1"],
        ["push", str(adapter), f"{team}/chat:a2", "--base", "llm:base-1"],
        ["push", str(tiny_gguf(root / "other.gguf", seed=7)), "other:base"],
        ["push", str(adapter), f"{team}/orphan:a3", "--base", "other:base"],
    ):
        done = subprocess.run(
            [*INFERD, *argv], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
    return registry.host


@pytest.mark.parametrize("adapter", ["team/llm:a1", "team/chat:a2"])
def test_a_fresh_store_fetches_the_base_from_the_adapters_registry(
    published: str, adapter: str, tmp_path: Path
) -> None:
    server = start_serve(tmp_path / "fresh", f"{published}/{adapter}")
    try:
        wait_ready(server.url, 60)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        name = adapter.split(":", maxsplit=1)[0]  # the repository is the model's name: team/llm
        answer = client.completions.create(model=name, prompt="once", max_tokens=4, temperature=0)
        assert answer.choices[0].text
    finally:
        server.stop()


def test_a_base_the_registry_lacks_is_named_where_it_was_looked_for(
    published: str, tmp_path: Path
) -> None:
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "fresh")}
    done = subprocess.run(
        [*INFERD, "serve", f"{published}/team/orphan:a3", "--port", "0", "--grpc-port", "0",
         "--control-port", "0", "--control-grpc-port", "0"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    error = done.stderr.strip().splitlines()[-1]
    assert "orphan:a3 is an adapter over other@sha256:" in error, error
    assert f"{published}/team/other@sha256:" in error, error
    assert "inferd tag other@sha256:" in error and f"{published}/team/other:TAG" in error, error
