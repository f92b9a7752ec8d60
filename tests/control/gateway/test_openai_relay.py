"""OpenAI's API through the gateway, to a real ``inferd serve`` of the tiny GGUF on llama.cpp:
the body's ``model`` picks the deployment, streams are relayed chunk by chunk (and timed), a
client that leaves cancels the generation on the replica, mistakes get OpenAI's error shape,
``/v1/models`` lists the deployments, ``user`` is sticky, and a shadow's generations are
compared with the primary's."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import INFERD, ServeProcess, _stop, start_serve, wait_ready
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute
from llm_files import tiny_gguf

from .conftest import deployment, started_gateway, topology

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

#: The tiny model's control tokens: banned, a generation runs to max_tokens.
CONTROL = {"263": -100, "264": -100, "265": -100}


@contextmanager
def serving_pushed(home: Path, *models: tuple[Path, str]) -> Iterator[ServeProcess]:
    """A ready ``inferd serve`` of ``models`` (file, reference), each pushed first with
    ``inferd push`` into the store at ``home``; stopped when the block ends."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    for path, ref in models:
        subprocess.run([*INFERD, "push", str(path), ref], env=env, check=True, timeout=120,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    served = start_serve(home, *(ref for _, ref in models))
    wait_ready(served.url)
    yield served
    _stop(served)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("llm-relay")
    model = tiny_gguf(root / "tiny.gguf", context=4096)
    other = tiny_gguf(root / "other.gguf", seed=5, context=4096)  # different weights
    with serving_pushed(root / "home", (model, "llm:v1"), (other, "other:v1")) as served:
        yield served


class GatewayThread:
    """A gateway on a loop of its own thread, routing deployment ``support-bot`` to the
    replica (the deployment name differs from the replica's model name on purpose), or the
    deployments ``routes`` builds from the replica."""

    def __init__(
        self, port: int, routes: Callable[[Replica], list[DeploymentRoute]] | None = None
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        rep = Replica("v1-0", "support-bot", "v1", "127.0.0.1", port, "ready")
        found = routes(rep) if routes else [
            deployment("support-bot", VersionRoute("v1", "llm", "llm:v1", 100, (rep,)))
        ]  # fmt: skip
        topo = topology(*found)
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
    # Retrieved by the deployment's name, as listed (the replica names its model "llm").
    assert client.models.retrieve("support-bot").id == "support-bot"
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


def _shadowed(rep: Replica) -> list[DeploymentRoute]:
    """``twin``: its shadow serves the same model; ``rival``: its shadow another model;
    ``split``: two versions half and half, sticky by ``x-user`` (or the body's ``user``)."""

    def version(name: str, model: str, weight: float) -> VersionRoute:
        return VersionRoute(name, model, f"{model}:v1", weight, (rep,))

    return [
        deployment("twin", version("v1", "llm", 100), version("copy", "llm", 0), shadow="copy"),
        deployment("rival", version("v1", "llm", 100), version("new", "other", 0), shadow="new"),
        deployment("split", version("a", "llm", 50), version("b", "llm", 50),
                   sticky_header="x-user"),
    ]  # fmt: skip


@pytest.fixture
def shadowed(replica: ServeProcess) -> Iterator[GatewayThread]:
    running = GatewayThread(int(replica.url.rsplit(":", 1)[1]), _shadowed)
    yield running
    running.stop()


def total(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def _settled(gateway: GatewayThread, deployment: str, copies: int) -> str:
    """The gateway's exposition once ``copies`` shadow copies of ``deployment`` were compared."""
    for _ in range(300):
        text = httpx.get(gateway.url + "/metrics", timeout=10).text
        done = total(text, "inferd_gateway_shadow_requests_total", deployment=deployment,
                      outcome="compared")  # fmt: skip
        if done >= copies:
            return text
        threading.Event().wait(0.1)
    shadow = [line for line in text.splitlines() if "shadow_requests_total{" in line]
    raise AssertionError(f"{copies} copies of {deployment} were never compared: {shadow}")


def test_a_shadow_of_the_same_model_matches_even_when_sampling(shadowed: GatewayThread) -> None:
    """Sampled (temperature 1, no seed) and streamed: the gateway gives primary and copy the
    same seed, so the same weights give the same answer."""
    client = openai.OpenAI(base_url=shadowed.url + "/v1", api_key="unused", max_retries=0)
    for i in range(4):
        stream = client.chat.completions.create(
            model="twin", messages=[{"role": "user", "content": f"tell {i}"}], max_tokens=12,
            temperature=1.0, stream=True, logit_bias=CONTROL,
        )  # fmt: skip
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    client.embeddings.create(model="twin", input=["a b", "c d e"])
    text = _settled(shadowed, "twin", 5)
    labels = {"deployment": "twin", "primary": "v1", "shadow": "copy"}
    assert total(text, "inferd_gateway_shadow_compared_elements_total", output="text",
                  **labels) == 4  # fmt: skip
    assert total(text, "inferd_gateway_shadow_differing_elements_total", output="text",
                  **labels) == 0  # fmt: skip
    cosine = "inferd_gateway_shadow_divergence"
    assert total(text, cosine + "_count", kind="cosine_distance", **labels) == 2
    # The same embeddings: a distance of 0 each, as every kind reads answers that agree.
    assert total(text, cosine + "_sum", kind="cosine_distance", **labels) == pytest.approx(0.0)
    # Streamed answers are timed at the gateway: one time to first token per stream.
    ttft = "inferd_gateway_time_to_first_token_seconds_count"
    assert total(text, ttft, deployment="twin", version="v1") == 4
    # So are their copies, streamed too: what a blue-green rollout judges its candidate by.
    shadow_ttft = "inferd_gateway_shadow_time_to_first_token_seconds_count"
    assert total(text, shadow_ttft, deployment="twin", shadow="copy") == 4
    shadow_itl = "inferd_gateway_shadow_inter_token_latency_seconds_count"
    assert total(text, shadow_itl, deployment="twin", shadow="copy") == 4
    status = httpx.get(shadowed.url + "/api/status", timeout=10).json()
    twin = next(d for d in status["deployments"] if d["name"] == "twin")
    tally = twin["shadow_comparisons"][0]["divergence"]
    assert tally["text"] == {"kind": "share", "mean": 0.0, "comparisons": 4}
    assert tally["edit distance"]["mean"] == 0.0


def test_a_stream_read_to_its_done_is_compared_however_fast_its_client_hangs_up(
    shadowed: GatewayThread,
) -> None:
    """Clients stop reading at ``data: [DONE]`` and may close before the stream's last bytes
    are relayed: the primary was whole, so its copy is compared, not dropped as cut short."""
    body = {"model": "twin", "messages": [{"role": "user", "content": "bye"}], "max_tokens": 6,
            "temperature": 0, "stream": True, "logit_bias": CONTROL}  # fmt: skip
    for _ in range(3):
        with httpx.stream("POST", shadowed.url + "/v1/chat/completions", json=body) as answer:
            for line in answer.iter_lines():
                if line == "data: [DONE]":
                    break  # and hang up at once
    text = _settled(shadowed, "twin", 3)
    assert total(text, "inferd_gateway_shadow_compared_elements_total", output="text",
                  deployment="twin", primary="v1", shadow="copy") == 3  # fmt: skip


def test_a_shadow_of_other_weights_diverges(shadowed: GatewayThread) -> None:
    for i in range(3):
        body = {"model": "rival", "prompt": f"once {i}", "max_tokens": 12, "temperature": 0,
                "logit_bias": CONTROL}  # fmt: skip
        assert httpx.post(shadowed.url + "/v1/completions", json=body, timeout=30).is_success
    text = _settled(shadowed, "rival", 3)
    labels = {"deployment": "rival", "primary": "v1", "shadow": "new"}
    differing = total(text, "inferd_gateway_shadow_differing_elements_total", output="text",
                       **labels)  # fmt: skip
    assert differing == 3  # other weights: no answer the same
    edit = total(text, "inferd_gateway_shadow_divergence_sum", kind="edit_distance", **labels)
    assert 0 < edit <= 3
    # Not streamed: no time to first token is measured at the gateway.
    assert total(text, "inferd_gateway_time_to_first_token_seconds_count",
                  deployment="rival", version="v1") == 0  # fmt: skip


def test_models_lists_the_deployments_and_user_is_sticky(shadowed: GatewayThread) -> None:
    client = openai.OpenAI(base_url=shadowed.url + "/v1", api_key="unused", max_retries=0)
    assert sorted(m.id for m in client.models.list()) == ["rival", "split", "twin"]
    for user in ("alice", "bob", "carol"):
        for _ in range(4):
            client.completions.create(model="split", prompt="x", max_tokens=1, user=user)
    text = httpx.get(shadowed.url + "/metrics", timeout=10).text
    served = {
        v: total(
            text, "inferd_gateway_requests_total", deployment="split", version=v, outcome="success"
        )
        for v in ("a", "b")
    }
    # Each user's four requests went to one version: every count is a multiple of four.
    assert sum(served.values()) == 12 and all(n % 4 == 0 for n in served.values()), served


def test_streams_that_fail_midway_are_not_compared(shadowed: GatewayThread) -> None:
    """A stream whose generation fails after it began (here its deadline passes) ends with an
    error event and ``[DONE]``: the primary's text is not a whole answer, so it is not compared,
    and the shadow's copy, failing alike, counts as failed, not as an exact match."""
    body = {"model": "twin", "messages": [{"role": "user", "content": "go"}], "max_tokens": 3000,
            "stream": True, "logit_bias": CONTROL}  # fmt: skip
    for _ in range(2):
        with httpx.stream("POST", shadowed.url + "/v1/chat/completions", json=body,
                          headers={"Inference-Timeout-Ms": "1"}, timeout=30) as answer:  # fmt: skip
            lines = [line for line in answer.iter_lines() if line]
        assert '"code":"deadline_exceeded"' in lines[-2] and lines[-1] == "data: [DONE]"
    labels = {"deployment": "twin", "primary": "v1", "shadow": "copy"}
    for _ in range(300):
        text = httpx.get(shadowed.url + "/metrics", timeout=10).text
        if total(text, "inferd_gateway_shadow_requests_total", **labels) >= 2:
            break
        threading.Event().wait(0.1)
    shadowed_requests = "inferd_gateway_shadow_requests_total"
    outcomes = [line for line in text.splitlines() if line.startswith(shadowed_requests)]
    assert total(text, shadowed_requests, outcome="failed", **labels) == 2, outcomes
    assert total(text, shadowed_requests, outcome="compared", **labels) == 0
    assert total(text, "inferd_gateway_shadow_compared_elements_total", **labels) == 0


def test_several_prompts_relay_and_compare_choice_by_choice(shadowed: GatewayThread) -> None:
    """A text completion of several prompts (vLLM's list) is relayed as it is, whole or
    streamed, and its shadow's copy is compared choice by choice: every choice of every
    prompt (``index`` ``i * n + j``), sampled with the seed the gateway gives both."""
    client = openai.OpenAI(base_url=shadowed.url + "/v1", api_key="unused", max_retries=0)
    prompts = ["once", "upon a time"]
    asked = {"model": "twin", "prompt": prompts, "n": 2, "max_tokens": 6, "temperature": 1.0,
             "logit_bias": CONTROL}  # fmt: skip
    whole = client.completions.create(**asked)
    assert whole.model == "twin" and [c.index for c in whole.choices] == [0, 1, 2, 3]
    counted = [
        httpx.post(shadowed.url + "/tokenize", json={"model": "twin", "prompt": p}).json()
        for p in prompts
    ]
    assert whole.usage is not None
    assert whole.usage.prompt_tokens == sum(c["count"] for c in counted)  # each prompt once
    streamed = client.completions.create(**asked, stream=True)
    assert {c.choices[0].index for c in streamed if c.choices} == {0, 1, 2, 3}
    text = _settled(shadowed, "twin", 2)
    labels = {"deployment": "twin", "primary": "v1", "shadow": "copy"}
    assert total(text, "inferd_gateway_shadow_compared_elements_total", output="text",
                  **labels) == 8  # fmt: skip
    assert total(text, "inferd_gateway_shadow_differing_elements_total", output="text",
                  **labels) == 0  # fmt: skip
