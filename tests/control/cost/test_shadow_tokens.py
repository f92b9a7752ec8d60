"""A language model's shadow generates for mirrored copies of the primary's requests: those
tokens were served to nobody, as its copies are not predictions. A deployment's (and the
stack's) cost per 1M tokens counted them, so a shadowed LLM's cost per token read about half
what serving its users cost."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inferd.control.cost.documents import cost_report
from inferd.control.cost.proc import ProcessUse
from inferd.cost.capacity import GIB
from inferd.observe.llm_metrics import LlmMetrics

from .conftest import Fake, replica


def test_a_shadows_tokens_are_paid_for_but_not_counted_as_served(fake: Fake) -> None:
    primary, shadow = CollectorRegistry(), CollectorRegistry()
    v1 = LlmMetrics(primary).bind("fraud", "v1", "chat")
    v2 = LlmMetrics(shadow).bind("fraud", "v2", "chat")  # fraud's shadow in the spec
    a, b = replica("fraud-v1-1", "v1", 11, 50), replica("fraud-v2-1", "v2", 12, 50)
    fake.replicas = [a, b]
    fake.uses = {11: ProcessUse(1.0, GIB // 4, GIB // 4), 12: ProcessUse(1.0, GIB // 4, GIB // 4)}

    def scraped() -> dict[str, str]:
        return {a.id: generate_latest(primary).decode(), b.id: generate_latest(shadow).decode()}

    fake.texts = scraped()
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    for model in (v1, v2):  # the same 600 + 400 tokens, the shadow's a mirrored copy
        model.input_tokens.inc(600)
        model.output_tokens.inc(400)
    fake.texts = scraped()
    asyncio.run(sampler.tick())  # at 105
    fake.times = iter([110.0] * 10)

    report = cost_report(sampler, 60)
    rows = {v["version"]: v for v in report["versions"] if v["deployment"] == "fraud"}
    assert (rows["v1"]["tokens"], rows["v2"]["tokens"]) == (1_000, 1_000)
    # Each replica held 0.5 core and 1 GiB for 5 s at 3.6 EUR/core-h and 0.36 EUR/GiB-h.
    held = 2 * (0.5 * 3.6 + 1 * 0.36) * 5 / 3600
    (fraud, _churn) = report["deployments"]
    for summed in (fraud, report["total"]):
        assert summed["held"] == pytest.approx(held)
        assert summed["tokens"] == 1_000
        assert summed["per_1m_tokens"] == pytest.approx(held / 1_000 * 1e6)
