"""Engine replicas under a real ``inferd up``: llama.cpp's C++ ``llama-server`` as the replica
process of an ``llm.engine: llama-server`` deployment, reached through the gateway with the
official ``openai`` client, its metrics in inferd's schema on the gateway's ``/metrics``, and
brought back by the supervisor after a SIGKILL. Beside it, an ``engine: inferd`` deployment
whose ``max_model_len`` reaches the in-process runtime, and an ``engine: vllm`` spec refused
for want of a ``vllm`` executable.

``make test`` builds llama-server (scripts/llama-server) and names it in INFERD_LLAMA_SERVER;
in CI a missing one fails these tests rather than skipping them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from control.conftest import INFERD, UpProcess, start_up
from inferd.control.replicas.engines import find_engine
from inferd.errors import Unsupported
from llm_files import tiny_gguf

pytestmark = pytest.mark.slow

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")
    try:
        find_engine("llama-server")
    except Unsupported as missing:
        pytest.skip(missing.message, allow_module_level=True)

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 10s}
deployments:
  - name: chat
    llm: {engine: llama-server, max_num_seqs: 2, max_model_len: 4096}
    runtime: {threads: 1}
    versions: [{name: v1, model: "tiny:v1"}]
  - name: local
    llm: {engine: inferd, max_num_seqs: 2, max_model_len: 128}
    versions: [{name: v1, model: "tiny:v1"}]
"""

#: The tiny model's control tokens: banned, so a generation runs to max_tokens.
NO_END = {"263": -100, "264": -100, "265": -100}


def push_tiny(home: Path, root: Path) -> None:
    model = tiny_gguf(root / "tiny.gguf", context=4096)  # long streams for the kill
    env = {**os.environ, "INFERD_HOME": str(home)}
    subprocess.run([*INFERD, "push", str(model), "tiny:v1"], env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    root = tmp_path_factory.mktemp("engines")
    home = root / "home"
    push_tiny(home, root)
    spec = root / "inferd.yaml"
    spec.write_text(SPEC)
    running = start_up(home, spec, timeout=180)
    yield running
    assert running.stop() == 0


def client(up: UpProcess) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{up.gateway_port}/v1", api_key="unused", max_retries=0
    )


def stream_chat(up: UpProcess, model: str = "chat") -> tuple[str, str | None]:
    """A streamed chat completion through the gateway: (text, finish_reason)."""
    stream = client(up).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=12,
        temperature=0,
        logit_bias=NO_END,  # type: ignore[arg-type]
        stream=True,
    )
    text, finish = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    return text, finish


def engine_replica(up: UpProcess) -> dict[str, object]:
    (replica,) = [r for r in up.ps()["replicas"] if r["deployment"] == "chat"]  # type: ignore[attr-defined]
    return dict(replica)


def test_the_openai_client_streams_a_chat_from_llama_server(up: UpProcess) -> None:
    pid = engine_replica(up)["pid"]
    assert isinstance(pid, int)
    assert psutil.Process(pid).name() == "llama-server"  # the engine itself, not inferd serve
    text, finish = stream_chat(up)
    assert text and finish == "length"


def test_llama_servers_metrics_reach_the_gateway_in_inferds_schema(up: UpProcess) -> None:
    stream_chat(up)
    response = httpx.get(f"http://127.0.0.1:{up.gateway_port}/metrics", timeout=30)
    tokens = {
        s.labels["type"]: s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "inferd_llm_tokens_total" and s.labels.get("deployment") == "chat"
    }
    assert tokens["input"] > 0 and tokens["output"] >= 12
    assert "llamacpp:" not in response.text


def test_max_model_len_reaches_the_inferd_engine(up: UpProcess) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(up).chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Hello"}], max_tokens=200
        )
    assert "over the context of 128 tokens per sequence" in str(refused.value)


def test_a_killed_llama_server_loses_its_stream_is_restarted_and_serves_again(
    up: UpProcess,
) -> None:
    before = engine_replica(up)
    assert isinstance(before["pid"], int)
    stream = client(up).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=3000,
        temperature=0,
        logit_bias=NO_END,  # type: ignore[arg-type]
        stream=True,
    )
    pieces = 0
    with pytest.raises((openai.APIError, httpx.HTTPError)):  # the stream in flight is lost
        for _ in stream:
            pieces += 1
            if pieces == 3:
                os.kill(before["pid"], signal.SIGKILL)
        raise AssertionError(f"the stream ended whole after {pieces} pieces")
    deadline = time.monotonic() + 60
    while True:
        now = engine_replica(up)
        if now["state"] == "ready" and now["pid"] not in (None, before["pid"]):
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.2)
    assert now["restarts"] == before["restarts"] + 1  # type: ignore[operator]
    text, finish = stream_chat(up)
    assert text and finish == "length"


def test_engine_vllm_without_vllm_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    push_tiny(home, tmp_path)
    spec = tmp_path / "vllm.yaml"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ngateway: {port: 0}\ndeployments:\n"
        "  - name: chat\n    llm: {engine: vllm}\n    runtime: {device: cuda}\n"
        "    resources: {gpu: 1}\n    versions: [{name: v1, model: 'tiny:v1'}]\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "INFERD_VLLM"}
    env.update(INFERD_HOME=str(home), PATH=str(tmp_path))  # no vllm on it
    result = subprocess.run(
        [*INFERD, "up", str(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 10, result.stderr  # unsupported
    assert (
        "chat/v1: engine 'vllm' needs the vllm executable: set INFERD_VLLM to its path or put it "
        "on PATH"
    ) in result.stderr
