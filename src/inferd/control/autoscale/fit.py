"""Whether a deployment's autoscaling signal can be measured for the models it serves.

The generation signals (``tokens_in_flight``, ``requests_waiting``, ``ttft_p95``,
``kv_cache_usage``) are read from a language model's own series and its streamed answers. A
classic model has none, so the autoscaler would read 0 for ever: the deployment would never
scale up, and with ``min_replicas: 0`` it would scale to zero under load. Whether a model is a
language model is its card's to say (a deployment needs no ``llm`` section), so this is checked
when an apply has read the cards, not by the spec's rules.
"""

from __future__ import annotations

from collections.abc import Callable

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, NotFound
from inferd.spec.model import Spec

#: The signals only a language model gives (docs/autoscaling.md#language-models).
GENERATION_SIGNALS = frozenset(
    {"tokens_in_flight", "requests_waiting", "ttft_p95", "kv_cache_usage"}
)


def check_signals(spec: Spec, card_of: Callable[[str], ModelCard]) -> None:
    """InvalidArgument for a deployment that scales on a generation signal but serves a model
    that is not a language model. ``card_of`` reads a reference's card; a reference it does
    not find is left to the apply, which names it when it starts the version."""
    for deployment in spec.deployments:
        scaling = deployment.autoscaling
        if scaling is None or scaling.metric not in GENERATION_SIGNALS or deployment.llm:
            continue
        for version in deployment.versions:
            try:
                card = card_of(version.model)
            except NotFound:
                continue
            if card.llm is None:
                raise InvalidArgument(
                    _unmeasurable(
                        deployment.name, scaling.metric, version.name, version.model, card
                    )
                )


def _unmeasurable(deployment: str, metric: str, version: str, model: str, card: ModelCard) -> str:
    return (
        f"deployment {deployment!r}: autoscaling.metric {metric} measures a language "
        f"model's generations, but version {version!r} serves {model} (runtime {card.runtime}), "
        "which is not a language model: the autoscaler would read 0 and never scale up; scale "
        "it on concurrency, queue_depth, rps or latency_p95"
    )
