"""vLLM's ``/tokenize`` and ``/detokenize`` through the gateway, to a real ``inferd serve`` of
the tiny GGUF: the body's ``model`` names the deployment, as on the OpenAI routes, and the
replica's answer comes back; a deployment with a shadow does not mirror them (they generate
nothing to compare)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from e2e.conftest import ServeProcess
from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute
from llm_files import tiny_gguf

from .conftest import deployment
from .test_openai_relay import GatewayThread, serving_pushed

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("tokenize-relay")
    with serving_pushed(root / "home", (tiny_gguf(root / "tiny.gguf"), "llm:v1")) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(served: ServeProcess) -> Iterator[GatewayThread]:
    def routes(replica: Replica) -> list[DeploymentRoute]:
        v1 = VersionRoute("v1", "llm", "llm:v1", 100, (replica,))
        shadow = VersionRoute("v2", "llm", "llm:v1", 0, (replica,))
        return [deployment("chat", v1, shadow, shadow="v2")]

    running = GatewayThread(int(served.url.rsplit(":", 1)[1]), routes)
    yield running
    running.stop()


def test_tokens_through_the_gateway(gateway: GatewayThread, served: ServeProcess) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}]}
    relayed = httpx.post(gateway.url + "/tokenize", json=body, timeout=30)
    assert relayed.status_code == 200, relayed.text
    direct = httpx.post(served.url + "/tokenize", json={**body, "model": "llm"}, timeout=30)
    assert relayed.json() == direct.json()
    tokens = relayed.json()["tokens"]
    back = httpx.post(gateway.url + "/detokenize", json={"model": "chat", "tokens": tokens})
    assert back.status_code == 200, back.text
    assert back.json()["prompt"].startswith("<|im_start|>user\nHi")


def test_the_replicas_refusals_come_back(gateway: GatewayThread) -> None:
    answer = httpx.post(gateway.url + "/detokenize", json={"model": "chat", "tokens": [999]})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "tokens[0]"
    unknown = httpx.post(gateway.url + "/tokenize", json={"model": "nobody", "prompt": "a"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


def test_the_shadow_gets_no_copy(gateway: GatewayThread) -> None:
    body = {"model": "chat", "prompt": "Hi"}
    for _ in range(3):
        assert httpx.post(gateway.url + "/tokenize", json=body, timeout=30).status_code == 200
    metrics = httpx.get(gateway.url + "/metrics", timeout=10).text
    mirrored = [
        line for line in metrics.splitlines()
        if line.startswith("inferd_gateway_shadow") and 'deployment="chat"' in line
        and not line.endswith(" 0.0")
    ]  # fmt: skip
    assert mirrored == []
