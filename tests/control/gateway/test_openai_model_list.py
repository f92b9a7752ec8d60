"""OpenAI's ``GET /v1/models`` through the gateway lists the deployments a client can call with
OpenAI's API: those serving a language model (a base or an adapter), each with vLLM's ``root``
and ``parent`` as its replica lists them (an adapter's parent: the deployment serving its base),
and not the classic ones (an ONNX model), which it listed too, without ``root``/``parent``. A
classic deployment named in ``/v1/chat/completions`` keeps its clear error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import openai
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from inferd.control.replicas.topology import Replica, VersionRoute
from llm_files import tiny_adapter, tiny_gguf

from .conftest import ReplicaProcess, deployment, run, started_gateway, topology

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")


@pytest.fixture(scope="module")
def llms(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServeProcess, ServeProcess, str, str]]:
    """A replica of ``llm:base-1`` and one of ``chat:a2``, an adapter over it; and their
    digests."""
    root = tmp_path_factory.mktemp("gateway-model-list")
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    digests = []
    for argv in (
        ["push", str(tiny_gguf(root / "base.gguf")), "llm:base-1"],
        ["push", str(tiny_adapter(root / "adapter.gguf")), "chat:a2", "--base", "llm:base-1"],
    ):
        done = subprocess.run(
            [*INFERD, *argv], env=env, check=True, timeout=120, capture_output=True, text=True
        )
        digests.append(done.stdout.strip())
    base = start_serve(root / "home", "llm:base-1")
    try:
        adapter = start_serve(root / "home", "chat:a2")
    except BaseException:
        _stop(base)
        raise
    try:
        wait_ready(base.url, 60)
        wait_ready(adapter.url, 60)
        yield base, adapter, digests[0], digests[1]
    finally:
        _stop(adapter)
        _stop(base)


def _version(
    model: str, reference: str, server: ServeProcess, name: str, digest: str | None
) -> VersionRoute:
    port = int(server.url.rsplit(":", 1)[1])
    replica = Replica(f"{name}-0", name, "v1", "127.0.0.1", port, "ready")
    return VersionRoute("v1", model, reference, 100, (replica,), digest=digest)


def test_models_lists_language_models_with_root_and_parent(
    llms: tuple[ServeProcess, ServeProcess, str, str],
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    base, adapter, base_digest, adapter_digest = llms
    classic = replicas["v1"][0]
    fraud = VersionRoute("v1", "fraud", "fraud:v1", 100, (classic.replica("v1-0", "fraud", "v1"),))
    topo = topology(
        deployment("support-bot", _version("llm", "llm:base-1", base, "support-bot", base_digest)),
        deployment("helper", _version("chat", "chat:a2", adapter, "helper", adapter_digest)),
        deployment("fraud", fraud),
    )

    async def scenario() -> tuple[dict[str, tuple[object, object]], list[str], httpx.Response]:
        gateway = await started_gateway(topo)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with openai.AsyncOpenAI(
                base_url=url + "/v1", api_key="unused", max_retries=0
            ) as client:
                listed = {
                    m.id: ((m.model_extra or {}).get("root"), (m.model_extra or {}).get("parent"))
                    async for m in client.models.list()
                }
                again = [m.id async for m in client.models.list()]
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                chat = await http.post(
                    "/v1/chat/completions",
                    json={"model": "fraud", "messages": [{"role": "user", "content": "hi"}]},
                )
            return listed, again, chat
        finally:
            await gateway.stop(5)

    listed, again, chat = run(scenario)
    assert listed == {
        "helper": ("chat:a2", "support-bot"),
        "support-bot": ("llm:base-1", None),
    }
    assert again == ["helper", "support-bot"]  # from what the gateway learnt, the same
    assert 400 <= chat.status_code < 500, chat.text
    assert "language model" in chat.json()["error"]["message"], chat.text
