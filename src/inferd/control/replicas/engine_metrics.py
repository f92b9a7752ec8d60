"""Engine replicas' metrics in inferd's schema: llama.cpp's ``llamacpp:*`` and vLLM's
``vllm:*`` series mapped onto the ``inferd_llm_*`` series inferd's own replicas expose.

The gateway scrapes every ready replica; an engine replica's exposition is passed through
:func:`to_inferd`, which gives the inferd series it maps to, labelled with the served model and
version as inferd's replicas label theirs. The autoscaler and the dashboards then read one
schema whatever the engine (docs/llm.md#engine-metrics holds the table). The engine's own series
are not passed on: their names hold colons, which Prometheus keeps for recording rules
(``promtool check metrics`` refuses them), and on Kubernetes they are scraped from the pods.

:data:`MAPPINGS` is the mapping. Several samples of one engine series (vLLM labels each
engine core with ``engine``) are summed, except the KV-cache ratio, whose largest value is
taken. A series the engine does not export is left out rather than reported as zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from inferd.control.replicas.engines import ExternalEngine
from inferd.observe.llm_metrics import KV_CACHE_USAGE, REQUESTS_WAITING

log = logging.getLogger(__name__)

#: The inferd series engines map onto (names as inferd's replicas export them).
REQUESTS_RUNNING: Final = "inferd_llm_requests_running"
TOKENS: Final = "inferd_llm_tokens"

Combine = Literal["sum", "max"]


@dataclass(frozen=True, slots=True)
class SeriesMap:
    """One inferd sample: which engine samples make it, and how they combine."""

    family: str
    #: Extra labels of the inferd sample (``type`` of the token counter).
    labels: tuple[tuple[str, str], ...]
    #: Engine sample names (as exposed, ``_total`` included) that add up to it.
    sources: tuple[str, ...]
    combine: Combine = "sum"


_INPUT = (("type", "input"),)
_OUTPUT = (("type", "output"),)

#: Per engine, every inferd sample and where it comes from (the module doc's table).
MAPPINGS: Final[Mapping[ExternalEngine, tuple[SeriesMap, ...]]] = {
    "llama-server": (
        SeriesMap(REQUESTS_RUNNING, (), ("llamacpp:requests_processing",)),
        SeriesMap(REQUESTS_WAITING, (), ("llamacpp:requests_deferred",)),
        SeriesMap(
            TOKENS, _INPUT, ("llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total")
        ),
        SeriesMap(TOKENS, _OUTPUT, ("llamacpp:tokens_predicted_total",)),
        SeriesMap(KV_CACHE_USAGE, (), ("llamacpp:kv_cache_usage_ratio",), "max"),
    ),
    "vllm": (
        SeriesMap(REQUESTS_RUNNING, (), ("vllm:num_requests_running",)),
        SeriesMap(REQUESTS_WAITING, (), ("vllm:num_requests_waiting",)),
        SeriesMap(TOKENS, _INPUT, ("vllm:prompt_tokens_total",)),
        SeriesMap(TOKENS, _OUTPUT, ("vllm:generation_tokens_total",)),
        SeriesMap(
            KV_CACHE_USAGE, (), ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), "max"
        ),
    ),
}

#: How each inferd family is typed and described (as inferd's replicas describe them).
_FAMILIES: Final[Mapping[str, tuple[str, str]]] = {
    REQUESTS_RUNNING: ("gauge", "Generations decoding now (in the engine's batch)."),
    REQUESTS_WAITING: ("gauge", "Generations queued for a slot in the engine's batch."),
    TOKENS: ("counter", "Tokens read (type=input: prompts) and generated (type=output)."),
    KV_CACHE_USAGE: ("gauge", "Share of the engine's KV cache cells in use."),
}


@dataclass(frozen=True, slots=True)
class EngineSeries:
    """Which engine a replica runs, and the labels its inferd series get."""

    engine: ExternalEngine
    #: The served model's name and version, as inferd's replicas label their series.
    model: str
    version: str


def to_inferd(series: EngineSeries, text: str) -> str:
    """The inferd series the engine's exposition ``text`` maps to (empty: none, or the text
    does not parse)."""
    try:
        values = _sample_values(text_string_to_metric_families(text))
    except ValueError as exc:
        log.warning("%s metrics do not parse: %s", series.engine, exc)
        return ""
    families: dict[str, Metric] = {}
    base = {"model": series.model, "version": series.version}
    for mapping in MAPPINGS[series.engine]:
        found = [values[name] for name in mapping.sources if name in values]
        if not found:
            continue
        value = sum(sum(v) for v in found) if mapping.combine == "sum" else max(map(max, found))
        kind, help_text = _FAMILIES[mapping.family]
        family = families.setdefault(mapping.family, Metric(mapping.family, help_text, kind))
        sample = f"{mapping.family}_total" if kind == "counter" else mapping.family
        family.add_sample(sample, {**base, **dict(mapping.labels)}, value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))
    return generate_latest(registry).decode()


def in_flight(engine: ExternalEngine, text: str) -> float | None:
    """Requests the engine is running or holding in its queue, from its exposition ``text``;
    None when the text does not say (it does not parse, or lacks both series)."""
    try:
        values = _sample_values(text_string_to_metric_families(text))
    except ValueError:
        return None
    sources = [
        name
        for mapping in MAPPINGS[engine]
        if mapping.family in (REQUESTS_RUNNING, REQUESTS_WAITING)
        for name in mapping.sources
    ]
    found = [sum(values[name]) for name in sources if name in values]
    return sum(found) if found else None


def _sample_values(families: Iterable[Metric]) -> dict[str, list[float]]:
    """Every sample's value by sample name."""
    values: dict[str, list[float]] = {}
    for family in families:
        for sample in family.samples:
            values.setdefault(sample.name, []).append(float(sample.value))
    return values


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
