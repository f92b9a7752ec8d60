"""An LLM autoscaling signal on a deployment whose model is not a language model is refused at
apply, once the card says what the model is (the spec alone cannot: an LLM needs no ``llm``
section)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.card import LlmCard, ModelCard
from inferd.control.autoscale.fit import GENERATION_SIGNALS, check_signals
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.errors import InvalidArgument, NotFound
from inferd.spec.loading import parse_spec

from ..conftest import fraud_store, spec_text

CARDS = {
    "fraud:v1": ModelCard(name="fraud", runtime="onnx"),
    "llm:base-1": ModelCard(
        name="llm",
        runtime="llamacpp",
        llm=LlmCard(format="gguf", architecture="llama", parameters=1000, context_length=512),
    ),
}


def card_of(reference: str) -> ModelCard:
    if reference not in CARDS:
        raise NotFound(f"model {reference!r} not found")
    return CARDS[reference]


def spec(model: str, metric: str, llm: bool = False) -> str:
    section = "    llm: {max_num_seqs: 4, max_model_len: 256}\n" if llm else ""
    return (
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: bot\n"
        f"{section}    versions: [{{name: v1, model: '{model}', replicas: 1}}]\n"
        f"    autoscaling: {{metric: {metric}, target: 2}}\n"
    )


@pytest.mark.parametrize("metric", sorted(GENERATION_SIGNALS))
def test_a_generation_signal_on_a_classic_model_is_refused(metric: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_signals(parse_spec(spec("fraud:v1", metric)), card_of)
    message = refused.value.message
    assert f"deployment 'bot': autoscaling.metric {metric}" in message
    assert "version 'v1' serves fraud:v1 (runtime onnx), which is not a language" in message
    assert "concurrency, queue_depth, rps or latency_p95" in message


@pytest.mark.parametrize(
    ("model", "metric", "llm"),
    [
        ("llm:base-1", "kv_cache_usage", False),  # its card says it is a language model
        ("fraud:v1", "concurrency", False),  # a signal every model gives
        ("fraud:v1", "requests_waiting", True),  # an llm section: the engine decides
        ("gone:v9", "ttft_p95", False),  # not in the store: the apply names it
    ],
)
def test_signals_that_can_be_measured_pass(model: str, metric: str, llm: bool) -> None:
    check_signals(parse_spec(spec(model, metric, llm)), card_of)


def test_an_apply_refuses_it_and_changes_nothing(tmp_path: Path) -> None:
    """Through the reconciler, with the store's real card of an ONNX model."""
    home = tmp_path / "home"
    text = spec_text({"v1": ("fraud:v1", 0, 100)}, drain="1s").replace(
        "deployments:\n  - name: fraud\n",
        "deployments:\n  - name: fraud\n"
        "    autoscaling: {min_replicas: 0, max_replicas: 2, metric: requests_waiting, "
        "target: 2}\n",
        1,
    )

    async def main() -> None:
        reconciler = Reconciler(
            Supervisor(), fraud_store(home), home / "up", settle_s=0.2, ready_timeout_s=60
        )
        try:
            with pytest.raises(InvalidArgument, match="requests_waiting measures a language"):
                await reconciler.apply(parse_spec(text))
            assert reconciler.spec is None
        finally:
            await reconciler.shutdown(5)

    asyncio.run(main())
