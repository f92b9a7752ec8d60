"""A base and an adapter over it, served together by one real ``inferd serve``: each version
answers through the OIP generate extension, the adapter changes the answers, and the base's
weights are loaded once (the server's resident memory grows by the adapter's context, not by
another copy of the weights)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from llm_files import tiny_adapter, tiny_gguf

from .conftest import wait_ready
from .test_readme_tour import _free_port

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

INFERD = str(Path(sys.executable).with_name("inferd"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "home")}
    for argv in (
        [INFERD, "push", str(tiny_gguf(tmp_path / "base.gguf")), "llm:base-1"],
        [INFERD, "push", str(tiny_adapter(tmp_path / "support.gguf")), "llm:support-v3",
         "--base", "llm:base-1"],
    ):  # fmt: skip
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    server = subprocess.Popen(
        [INFERD, "serve", "llm:base-1", "llm:support-v3", "--port", str(port),
         "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", 60)
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0


def generate(url: str, version: str) -> str:
    answer = httpx.post(
        f"{url}/v2/models/llm/versions/{version}/generate",
        json={"text_input": "hello there", "parameters": {"max_tokens": 12, "temperature": 0}},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_name"] == "llm" and body["model_version"] == version
    text: str = body["text_output"]
    return text


def test_a_base_and_its_adapter_answer_side_by_side(served: tuple[str, int]) -> None:
    url, _ = served
    base, adapted = generate(url, "base-1"), generate(url, "support-v3")
    assert base and adapted and base != adapted
    assert generate(url, "support-v3") == adapted  # greedy: the same answer again
    metadata = httpx.get(f"{url}/v2/models/llm", timeout=10).json()
    assert set(metadata["versions"]) == {"base-1", "support-v3"}


def test_the_adapter_shares_the_base_weights_in_the_server(served: tuple[str, int]) -> None:
    url, pid = served
    # Both versions loaded: the process maps the base's weights file once, from the base
    # version's materialized directory.
    maps = [m.path for m in psutil.Process(pid).memory_maps() if m.path.endswith(".gguf")]
    assert sum(1 for m in maps if m.endswith("base.gguf")) == 1, maps
    assert generate(url, "support-v3")


def test_tensor_routes_refuse_a_language_model_naming_its_routes(served: tuple[str, int]) -> None:
    """Tensor inference on a language model is 501 naming the generate and OpenAI routes (it
    was a 500 'failed to run the batch', and KServe v1 :predict an IndexError's 500)."""
    url, _ = served
    infer = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}
    for path, body in [
        ("/v2/models/llm/infer", infer),
        ("/v2/models/llm/versions/support-v3/infer", infer),
        ("/v1/models/llm:predict", {"instances": ["a"]}),
    ]:
        answer = httpx.post(url + path, json=body, timeout=30)
        assert answer.status_code == 501, (path, answer.text)
        error = answer.json()["error"]
        assert "/v2/models/llm/generate" in error and "/v1/chat/completions" in error, error
