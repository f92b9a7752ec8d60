"""One engine replica, a real llama.cpp ``llama-server`` under :class:`ReplicaProcess`: ready
only once its ``/health`` says the model is loaded, no gRPC port, and stopped by draining — a
generation streaming when the stop comes runs to its end before the engine gets SIGTERM.
(Sent SIGTERM mid-stream, this llama-server stops sending and does not exit until SIGKILL:
the drain is what keeps the answer whole.)"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import orjson
import pytest

from inferd.control.replicas.engines import EngineLaunch, EngineModel, find_engine
from inferd.control.replicas.launch import ReplicaLaunch
from inferd.control.replicas.replica import ReplicaProcess
from inferd.errors import Unsupported
from inferd.spec.llm import LlmSpec
from llm_files import tiny_gguf

pytestmark = pytest.mark.slow

if os.environ.get("CI") != "true":
    try:
        find_engine("llama-server")
    except Unsupported as missing:
        pytest.skip(missing.message, allow_module_level=True)

#: The tiny model's control tokens: banned, so a generation runs to max_tokens.
NO_END = {"263": -100, "264": -100, "265": -100}
LONG = 3000


def launch(tmp_path: Path) -> ReplicaLaunch:
    model = tiny_gguf(tmp_path / "tiny.gguf", context=4096)
    (tmp_path / "logs").mkdir()
    engine = EngineLaunch(
        engine="llama-server",
        executable=find_engine("llama-server"),
        model=EngineModel(model, "tiny", trained_context=4096),
        llm=LlmSpec(engine="llama-server", max_num_seqs=1, max_model_len=4096),
        threads=1,
    )
    return ReplicaLaunch(
        deployment="chat", version="v1", model="tiny", reference="tiny:v1",
        pinned="tiny:v1@sha256:" + "0" * 64, config=None, log_dir=tmp_path / "logs",
        home=tmp_path, engine=engine,
    )  # fmt: skip


async def stream(url: str, started: asyncio.Event) -> tuple[int, str | None]:
    """A long streamed completion: (pieces of text received, finish_reason)."""
    body = {"model": "tiny", "prompt": "once", "max_tokens": LONG, "temperature": 0,
            "logit_bias": NO_END, "stream": True}  # fmt: skip
    pieces, finish = 0, None
    async with (
        httpx.AsyncClient(timeout=120) as client,
        client.stream("POST", f"{url}/v1/completions", json=body) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = orjson.loads(line[6:])["choices"][0]
            pieces += 1
            finish = choice.get("finish_reason") or finish
            started.set()
    return pieces, finish


def test_a_stop_drains_the_engine_before_sigterm(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str | None, str]:
        replica = ReplicaProcess("chat-v1-1", launch(tmp_path), lambda: None)
        replica.start()
        await asyncio.wait_for(replica.wait_ready(), 60)
        snapshot = replica.snapshot()
        assert snapshot.grpc_port is None and snapshot.engine is not None
        started = asyncio.Event()
        answer = asyncio.create_task(stream(snapshot.url, started))
        await asyncio.wait_for(started.wait(), 30)
        await replica.stop(60)
        assert answer.done()  # the stop waited for it
        pieces, finish = await answer
        return pieces, finish, replica.state

    pieces, finish, state = asyncio.run(scenario())
    assert finish == "length" and pieces >= LONG // 2  # ran to max_tokens
    assert state == "stopped"
