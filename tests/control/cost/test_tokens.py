"""Cost per 1M tokens of a language-model version: the sampler reads the tokens its replicas
counted (``inferd_llm_tokens_total``, written here by the real :class:`LlmMetrics`) from their
``/metrics``, per interval, so the report prices them instead of leaving them null."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inferd.control.cost.documents import cost_report
from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.scrapes import llm_tokens
from inferd.cost.accounting import Tokens
from inferd.cost.capacity import GIB
from inferd.observe.llm_metrics import LlmMetrics

from .conftest import BATCHES, Fake, replica


def test_an_exposition_without_a_language_model_has_no_tokens() -> None:
    assert llm_tokens(BATCHES.format(ones=1, all=1, rows=1)) is None
    # Every server declares the family (an ONNX model's too): no samples, no tokens.
    registry = CollectorRegistry()
    metrics = LlmMetrics(registry)
    assert llm_tokens(generate_latest(registry).decode()) is None
    metrics.bind("chat", "v1", "chat")  # a language model's first request
    assert llm_tokens(generate_latest(registry).decode()) == Tokens(0, 0)


def test_tokens_of_each_interval_are_priced_per_million(fake: Fake) -> None:
    registry = CollectorRegistry()
    chat = LlmMetrics(registry).bind("fraud", "v1", "chat")
    a = replica("fraud-v1-1", "v1", 11, 50)
    fake.replicas = [a]
    fake.uses = {11: ProcessUse(1.0, GIB // 4, GIB // 4)}
    chat.input_tokens.inc(1_000)  # before the baseline: not in any interval
    fake.texts = {a.id: generate_latest(registry).decode()}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())
    chat.input_tokens.inc(300)
    chat.output_tokens.inc(200)
    fake.texts = {a.id: generate_latest(registry).decode()}
    first = {i.key: i for i in asyncio.run(sampler.tick())}
    assert first[("fraud", "v1")].tokens == Tokens(300, 200)
    assert first[("fraud", "v2")].tokens is None  # no replica serves a language model there
    chat.output_tokens.inc(500)
    fake.texts = {a.id: generate_latest(registry).decode()}
    second = {i.key: i for i in asyncio.run(sampler.tick())}
    assert second[("fraud", "v1")].tokens == Tokens(0, 500)

    report = cost_report(sampler, 60)
    v1 = next(v for v in report["versions"] if v["version"] == "v1")
    # One replica held 0.5 core and 1 GiB for 10 s at 3.6 EUR/core-h and 0.36 EUR/GiB-h.
    held = (0.5 * 3.6 + 1 * 0.36) * 10 / 3600
    assert v1["held"] == pytest.approx(held)
    assert v1["tokens"] == 1_000
    assert v1["per_1m_tokens"] == pytest.approx(held / 1_000 * 1e6)
    # The total row: every version's money over every language-model version's tokens.
    assert report["total"]["tokens"] == 1_000
    assert report["total"]["per_1m_tokens"] == pytest.approx(held / 1_000 * 1e6)


def test_a_total_without_language_models_has_no_tokens(fake: Fake) -> None:
    a = replica("fraud-v1-1", "v1", 11, 50)
    fake.replicas = [a]
    fake.uses = {11: ProcessUse(1.0, GIB // 4, GIB // 4)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())
    asyncio.run(sampler.tick())
    total = cost_report(sampler, 60)["total"]
    assert (total["tokens"], total["per_1m_tokens"]) == (None, None)
