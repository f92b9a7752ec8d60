"""RELIABILITY R1 for a language model: a stream still running when the drain times out ends
as OpenAI's streams end on an error, with an error event and ``data: [DONE]`` in a properly
terminated chunked body, and the server says the drain timed out. It used to be cut mid-chunk
(clients got "incomplete chunked read"), with no warning: the drain did not count
generations, so it "finished" at once and the connection was aborted at the timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from e2e.conftest import INFERD, _stop, start_serve, wait_ready
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

#: The tiny model's control tokens, kept out of the text so the generation runs to max_tokens.
CONTROL_TOKENS = ("263", "264", "265")


def test_a_stream_running_at_the_drain_timeout_ends_with_an_error_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    model = tiny_gguf(tmp_path / "tiny.gguf", context=4096)
    env = {**os.environ, "INFERD_HOME": str(home)}
    # 10 ms a token: 4000 tokens take 40 s, far beyond the drain timeout.
    subprocess.run(
        [*INFERD, "push", str(model), "llm:v1", "--label", "inferd.dev/test-token-delay-ms=10"],
        env=env, check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("INFERD_DRAIN_TIMEOUT_S", "3")
    monkeypatch.setenv("INFERD_DRAIN_DELAY_S", "0")
    server = start_serve(home, "llm:v1")
    try:
        wait_ready(server.url)
        body = {
            "model": "llm",
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 4000,
            "stream": True,
            "logit_bias": dict.fromkeys(CONTROL_TOKENS, -100),
        }
        events: list[bytes] = []
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60) as r:
            assert r.status_code == 200
            signalled = threading.Event()
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                events.append(line.removeprefix("data: ").encode())
                if len(events) == 5 and not signalled.is_set():
                    server.proc.send_signal(signal.SIGTERM)
                    signalled.set()
        assert events[-1] == b"[DONE]", events[-3:]
        error = orjson.loads(events[-2])
        assert "error" in error, events[-3:]
        assert "shutting down" in error["error"]["message"], error
        assert server.proc.wait(30) == 0
        log = "".join(server.log)
        assert "drain timed out" in log, log
    finally:
        _stop(server)
