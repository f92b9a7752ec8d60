"""A language model's generations stamp ``inferd_model_last_inference_timestamp_seconds`` as a
batch does for other models: without it a busy language model read as idle since 1970 (0), and
the per-model dashboard's "Idle for" panel showed nothing for it."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from inferd.observe.metrics import ServerMetrics

_LAST = "inferd_model_last_inference_timestamp_seconds"


def _last_inference(metrics: ServerMetrics) -> dict[tuple[str, str], float]:
    return {
        (s.labels["model"], s.labels["version"]): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        if family.name == _LAST
        for s in family.samples
    }


def test_a_finished_generation_stamps_its_versions_last_inference() -> None:
    metrics = ServerMetrics()
    metrics.bind("llm", "v1")  # the version's series, as loading binds them
    assert _last_inference(metrics)[("llm", "v1")] == 0
    before = time.time()
    metrics.llm.bind("llm", "v1", "chat").duration.observe(0.25)
    stamped = _last_inference(metrics)[("llm", "v1")]
    assert before <= stamped <= time.time()


def test_embeddings_stamp_it_too() -> None:
    metrics = ServerMetrics()
    before = time.time()
    metrics.llm.bind("llm", "v1", "embeddings").duration.observe(0.01)
    assert _last_inference(metrics)[("llm", "v1")] >= before


def test_a_forgotten_version_leaves_no_stamp() -> None:
    metrics = ServerMetrics()
    metrics.llm.bind("llm", "v1", "chat").duration.observe(0.25)
    metrics.forget("llm", "v1")
    assert ("llm", "v1") not in _last_inference(metrics)
