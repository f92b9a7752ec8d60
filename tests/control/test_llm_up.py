"""A language model through ``inferd up``, as issue 14's "done when" puts it: the official
``openai`` client, pointed at the gateway, streams chat completions from a two-version LLM
deployment split 90/10 with a shadow; the shadow's exact-match rate is in ``/metrics`` and on
the dashboard (screenshot kept in test-artifacts/); a deployment scaled to zero holds the first
streamed request while its replica loads, first byte included."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_files import tiny_adapter, tiny_gguf

from .conftest import INFERD, UpProcess, banner_curl, start_up
from .gateway.conftest import run
from .test_dashboard import ARTIFACTS, browse, chromium, vendored

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow
__all__ = ["chromium", "vendored"]  # fixtures, used by name

#: The tiny model's control tokens, banned so every answer runs to max_tokens.
CONTROL = {"263": -100, "264": -100, "265": -100}
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 10s, shadow_timeout: 30s}
deployments:
  - name: support-bot
    llm: {max_num_seqs: 4}
    versions:
      - {name: v1, model: "support:v1", replicas: 1}
      - {name: v2, model: "support:v2", replicas: 1}
      - {name: candidate, model: "support:v2", replicas: 1}
    traffic:
      weights: {v1: 90, v2: 10}
      shadow: candidate
  - name: cold-bot
    versions:
      - {name: v1, model: "llm:base", replicas: 0}
    autoscaling:
      min_replicas: 0
      max_replicas: 1
      metric: requests_waiting
      target: 2
      scale_to_zero_after: 10m
      cold_start_timeout: 60s
"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    root = tmp_path_factory.mktemp("llm-up")
    home = root / "home"
    env = {**os.environ, "INFERD_HOME": str(home)}

    def push(path: Path, ref: str, *extra: str) -> None:
        subprocess.run([*INFERD, "push", str(path), ref, *extra], env=env, check=True,
                       timeout=120, capture_output=True)  # fmt: skip

    push(tiny_gguf(root / "base.gguf", context=2048), "llm:base")
    push(tiny_adapter(root / "v1.gguf", seed=1), "support:v1", "--base", "llm:base")
    push(tiny_adapter(root / "v2.gguf", seed=2), "support:v2", "--base", "llm:base")
    spec = root / "inferd.yaml"
    spec.write_text(SPEC)
    running = start_up(home, spec)
    yield running
    assert running.stop() == 0


def total(exposition: str, name: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def test_streamed_chats_split_and_shadowed_through_the_gateway(
    up: UpProcess, chromium: str, vendored: None, tmp_path: Path
) -> None:
    base = up.state.gateway_url
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    assert {m.id for m in client.models.list()} == {"support-bot", "cold-bot"}
    calls = 40
    for i in range(calls):
        stream = client.chat.completions.create(
            model="support-bot", messages=[{"role": "user", "content": f"question {i % 5}"}],
            max_tokens=8, temperature=0, stream=True, logit_bias=CONTROL,
        )  # fmt: skip
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    deadline = time.monotonic() + 60
    while True:
        text = httpx.get(base + "/metrics", timeout=10).text
        copies = total(text, "inferd_gateway_shadow_requests_total", deployment="support-bot")
        if copies >= calls or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    served = {
        v: total(text, "inferd_gateway_requests_total", deployment="support-bot", version=v)
        for v in ("v1", "v2")
    }
    assert sum(served.values()) == calls and served["v1"] > served["v2"], served
    compared = total(text, "inferd_gateway_shadow_requests_total", deployment="support-bot",
                     outcome="compared")  # fmt: skip
    assert compared == calls, text
    # The shadow serves v2's adapter: it answers as v2 does, never as v1 (other weights).
    differing = {
        v: total(text, "inferd_gateway_shadow_differing_elements_total", primary=v, output="text")
        for v in ("v1", "v2")
    }
    assert differing == {"v1": served["v1"], "v2": 0.0}, differing
    streams = total(text, "inferd_gateway_time_to_first_token_seconds_count",
                    deployment="support-bot")  # fmt: skip
    assert streams == calls

    dom = run(lambda: browse(chromium, base, tmp_path / "dom", "--dump-dom"))
    # One row per primary that was served: v1's answers never match the shadow's, v2's always
    # do. (The split is random: 1.5 % of runs send v2, at 10 %, none of the 40.)
    rates = re.findall(r"(v\d) → candidate.*?text: exact match (\d+(?:\.\d+)?)%", dom, re.S)
    expected = [(v, rate) for v, rate in (("v1", 0.0), ("v2", 100.0)) if served[v]]
    assert sorted((v, float(rate)) for v, rate in rates) == expected, (rates, served)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-llm-shadow.png"
    shot.unlink(missing_ok=True)
    run(lambda: browse(chromium, base, tmp_path / "shot", f"--screenshot={shot}",
                       "--window-size=1280,1700"))  # fmt: skip
    assert shot.stat().st_size > 10_000


def test_a_deployment_at_zero_holds_the_first_stream_while_its_replica_loads(
    up: UpProcess,
) -> None:
    base = up.state.gateway_url
    body = {
        "model": "cold-bot", "prompt": "wake up", "max_tokens": 6, "temperature": 0,
        "stream": True, "logit_bias": CONTROL,
    }  # fmt: skip
    started = time.monotonic()
    with httpx.stream("POST", base + "/v1/completions", json=body, timeout=90) as answer:
        assert answer.status_code == 200, answer.read()
        events = [line for line in answer.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) >= 3
    text = httpx.get(base + "/metrics", timeout=10).text
    assert total(text, "inferd_autoscaler_decisions_total", deployment="cold-bot",
                 reason="scale_from_zero") >= 1  # fmt: skip
    assert time.monotonic() - started < 90


def test_the_banners_curl_answers_as_printed(up: UpProcess) -> None:
    """A language model's banner offers a chat completion: OIP's infer, the banner's request
    for other models, refuses one with no inputs. Last: the tests above count requests."""
    assert "/v1/chat/completions" in next(
        line for line in up.log.read_text().splitlines() if line.startswith("try: ")
    )
    status, body = banner_curl(up)
    assert status == 200, body
    answer = orjson.loads(body)
    assert answer["object"] == "chat.completion"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    assert answer["usage"]["completion_tokens"] <= 16
