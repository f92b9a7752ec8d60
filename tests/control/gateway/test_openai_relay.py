"""OpenAI's API through the gateway, to a real ``inferd serve`` of the tiny GGUF on llama.cpp:
the body's ``model`` picks the deployment, streams are relayed chunk by chunk, a client that
leaves cancels the generation on the replica, and mistakes get OpenAI's error shape."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
from collections.abc import Iterator

import httpx
import openai
import pytest

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import Replica, VersionRoute
from llm_files import tiny_gguf

from .conftest import deployment, started_gateway, topology

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

#: The tiny model's control tokens: banned, a generation runs to max_tokens.
CONTROL = {"263": -100, "264": -100, "265": -100}


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("llm-relay")
    model = tiny_gguf(root / "tiny.gguf", context=4096)
    env = {**os.environ, "INFERD_HOME": str(root / "home")}
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    served = start_serve(root / "home", "llm:v1")
    wait_ready(served.url)
    yield served
    _stop(served)


class GatewayThread:
    """A gateway on a loop of its own thread, routing deployment ``support-bot`` to the
    replica (the deployment name differs from the replica's model name on purpose)."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        rep = Replica("v1-0", "support-bot", "v1", "127.0.0.1", port, "ready")
        topo = topology(deployment("support-bot", VersionRoute("v1", "llm", "llm:v1", 100, (rep,))))
        self.gateway: Gateway = asyncio.run_coroutine_threadsafe(
            started_gateway(topo), self.loop
        ).result(30)
        self.url = f"http://127.0.0.1:{self.gateway.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(5), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def gateway(replica: ServeProcess) -> Iterator[GatewayThread]:
    port = int(replica.url.rsplit(":", 1)[1])
    running = GatewayThread(port)
    yield running
    running.stop()


def test_a_streamed_chat_through_the_gateway(gateway: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "hi"}], max_tokens=16,
        temperature=0, stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens <= 16
    whole = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "hi"}], max_tokens=16,
        temperature=0,
    )  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert whole.choices[0].message.content == text  # greedy: the same answer, whole or streamed
    embedded = client.embeddings.create(model="support-bot", input=["a b", "c"])
    assert len(embedded.data) == 2


def test_a_client_that_leaves_cancels_the_generation_on_the_replica(
    gateway: GatewayThread, replica: ServeProcess
) -> None:
    def cancelled() -> float:
        text = httpx.get(replica.url + "/metrics", timeout=10).text
        found = re.search(r'inferd_llm_requests_total\{finish_reason="cancelled",model="llm",'
                          r'operation="text_completion",version="v1"\} ([\d.]+)', text)  # fmt: skip
        return float(found.group(1)) if found else 0.0

    before = cancelled()
    body = {"model": "support-bot", "prompt": "go", "max_tokens": 4000, "stream": True,
            "logit_bias": CONTROL}  # fmt: skip
    with httpx.stream("POST", gateway.url + "/v1/completions", json=body, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        next(answer.iter_raw())  # the first event came before the generation ended
    for _ in range(100):
        if cancelled() > before:
            break
        threading.Event().wait(0.1)
    assert cancelled() == before + 1


def test_mistakes_get_openais_error_shape(gateway: GatewayThread) -> None:
    for body, status, words in (
        (b"{nope", 400, "not JSON"),
        (b'{"prompt": "hi"}', 400, "names no model"),
        (b'{"model": "nobody", "prompt": "hi"}', 404, "nobody"),
    ):
        answer = httpx.post(gateway.url + "/v1/completions", content=body, timeout=10)
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert words in error["message"] and error["type"] == "invalid_request_error"
