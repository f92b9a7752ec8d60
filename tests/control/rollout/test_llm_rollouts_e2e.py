"""Rollouts of fine-tuned adapters, judged on language-model signals, end to end: a real
``inferd up`` serving a tiny llama and LoRA adapters over it on llama.cpp, streamed chat
completions through the gateway's OpenAI routes, the CLI driving the rollouts.

* A rebuilt adapter that answers as the live one does is promoted from the mirror.
* An adapter with other weights is rolled back: its generations diverge from the live one's.
* An adapter that is slower (a test-only per-token delay, the card label
  ``inferd.dev/test-token-delay-ms``) is rolled back by its canary's time to first token and
  inter-token latency.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson
import pytest

from llm_files import tiny_adapter, tiny_gguf

from ..conftest import INFERD, UpProcess, start_up

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

FINISHED = ("promoted", "rolled_back", "aborted", "failed")
#: The tiny model's control tokens, banned so every answer runs to max_tokens.
CONTROL = {"263": -100, "264": -100, "265": -100}
PROMPTS = ("hello", "tell me a story", "what is this", "one more", "why")


def spec(candidate: str, *, strategy: str, analysis: str) -> str:
    steps = "      steps: [50, 100]\n" if strategy == "canary" else ""
    return f"""apiVersion: inferd.dev/v1
kind: Stack
gateway: {{port: 0, drain_timeout: 10s}}
deployments:
  - name: support-bot
    llm: {{max_num_seqs: 8}}
    versions:
      - {{name: live, model: "support:v1", replicas: 1}}
      - {{name: next, model: "{candidate}", replicas: 1}}
    traffic:
      weights: {{live: 100, next: 0}}
    rollout:
      strategy: {strategy}
{steps}      interval: 1s
      analysis: {analysis}
      failure_limit: 2
"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    root = tmp_path_factory.mktemp("llm-rollout")
    home = root / "home"
    env = {**os.environ, "INFERD_HOME": str(home)}

    def push(path: Path, ref: str, *extra: str) -> None:
        subprocess.run([*INFERD, "push", str(path), ref, *extra], env=env, check=True,
                       timeout=120, capture_output=True)  # fmt: skip

    push(tiny_gguf(root / "base.gguf", context=2048), "llm:base")
    support = tiny_adapter(root / "support.gguf", seed=1)
    push(support, "support:v1", "--base", "llm:base")
    # The same weights rebuilt (another card, so another digest): it answers as v1 does.
    push(support, "support:rebuilt", "--base", "llm:base", "--label", "build=2")
    push(tiny_adapter(root / "other.gguf", seed=9), "support:other", "--base", "llm:base")
    push(support, "support:slow", "--base", "llm:base",
         "--label", "inferd.dev/test-token-delay-ms=120")  # fmt: skip
    path = root / "inferd.yaml"
    path.write_text(spec("support:v1", strategy="blue-green", analysis="{min_requests: 5}"))
    running = start_up(home, path)
    yield running
    assert running.stop() == 0


class ChatLoad:
    """Closed-loop streamed chat completions through the gateway; counts statuses."""

    def __init__(self, port: int, workers: int = 3) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        self.statuses: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(workers)]

    def _run(self, worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            n = worker
            while not self._stop.is_set():
                body = {
                    "model": "support-bot", "max_tokens": 8, "temperature": 0, "stream": True,
                    "messages": [{"role": "user", "content": PROMPTS[n % len(PROMPTS)]}],
                    "logit_bias": CONTROL,
                }  # fmt: skip
                n += 1
                try:
                    with client.stream("POST", self.url, json=body) as answer:
                        for _ in answer.iter_raw():
                            pass
                        self.statuses[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    time.sleep(0.05)

    def __enter__(self) -> ChatLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def apply(up: UpProcess, text: str) -> None:
    path = up.home / "test-spec.yaml"
    path.write_text(text)
    up.cli("apply", str(path))


def rollout(up: UpProcess, *args: str) -> dict[str, Any]:
    return dict(orjson.loads(up.cli("rollout", *args, "support-bot", "--json").stdout))


def run_rollout(up: UpProcess, candidate: str, strategy: str, analysis: str) -> dict[str, Any]:
    """Apply ``candidate`` as the next version, roll it out under streamed load, and return
    its last decision once it finished."""
    apply(up, spec(candidate, strategy=strategy, analysis=analysis))
    with ChatLoad(up.gateway_port) as load:
        rollout(up, "start")
        deadline = time.monotonic() + 90
        while (status := rollout(up, "status"))["phase"] not in FINISHED:
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
    assert set(load.statuses) == {"200"}, load.statuses  # nothing lost either way
    history = orjson.loads(up.cli("rollout", "history", "support-bot", "--json").stdout)
    judged = [d for d in history["decisions"] if d["rollout"] == status["id"] and "verdict" in d]
    return {"status": status, "last": judged[-1]}


def check(decision: dict[str, Any], metric: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in decision["verdict"]["checks"] if c["metric"] == metric)
    return found


def test_a_rebuilt_adapter_is_promoted_from_the_mirror(up: UpProcess) -> None:
    analysis = "{max_error_rate: 0.01, max_divergence: 0.05, min_requests: 10}"
    done = run_rollout(up, "support:rebuilt", "blue-green", analysis)
    assert done["status"]["phase"] == "promoted", done
    divergence = check(done["last"], "divergence")
    assert divergence["passed"] is True and divergence["value"] == 0.0


def test_an_adapter_with_other_weights_is_rolled_back(up: UpProcess) -> None:
    analysis = "{max_error_rate: 0.01, max_divergence: 0.2, min_requests: 10}"
    done = run_rollout(up, "support:other", "blue-green", analysis)
    assert done["status"]["phase"] == "rolled_back", done
    divergence = check(done["last"], "divergence")
    assert divergence["passed"] is False and divergence["value"] > 0.5, divergence


def test_a_slower_adapter_is_rolled_back_by_its_latency(up: UpProcess) -> None:
    analysis = (
        "{max_error_rate: 0.01, max_ttft_p95: 100ms, max_inter_token_latency_p95: 100ms, "
        "min_requests: 5}"
    )
    done = run_rollout(up, "support:slow", "canary", analysis)
    assert done["status"]["phase"] == "rolled_back", done
    assert check(done["last"], "ttft_p95_s")["passed"] is False, done
    assert check(done["last"], "itl_p95_s")["passed"] is False, done
