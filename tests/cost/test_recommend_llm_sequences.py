"""Right-sizing a language model: a replica runs up to ``llm.max_num_seqs`` sequences at once
(it batches continuously; its deployment has no ``batching`` section), so the replicas that
carry the requests in flight are counted by it, not by the tensor models' ``max_batch_size``
default of 32, and batching is never advised for it."""

from __future__ import annotations

import dataclasses
import math

from inferd.cost.recommend import recommend, spec_changes
from inferd.cost.usage import Usage
from inferd.spec.loading import parse_spec

LLM = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    llm: {engine: vllm, max_num_seqs: 8}
    versions:
      - {name: base, model: "llm:base-1", replicas: 4}
    resources: {cpu: "2", memory: 8Gi, gpu: 1}
"""
SCALED = LLM.replace("replicas: 4}", "replicas: 2}") + (
    "    autoscaling: {min_replicas: 1, max_replicas: 6}\n"
)

#: A GPU engine: little CPU per request, so the rate needs one replica; 24 sequences in flight
#: at p95 need three replicas of eight sequences each.
BUSY = Usage(
    deployment="chat", version="base", seconds=600, replicas=4, requests=1200, predictions=1200,
    rps_p50=2, rps_p95=2.5, rps_max=3, concurrency_p50=16, concurrency_p95=24, cores_p95=0.4,
    cpu_seconds_per_request=0.05, peak_gib=2.0, gpu_busy_p95=0.6, gpu_memory_gib=30.0,
    batches=((1.0, 1200.0), (math.inf, 1200.0)),
)  # fmt: skip


def test_replicas_carry_the_sequences_in_flight_by_max_num_seqs() -> None:
    (advice,) = recommend(parse_spec(LLM, "inferd.yaml"), [BUSY])
    replicas = next(p for p in advice.proposals if p.field == "replicas")
    assert replicas.proposed == 3  # ceil(24 / 8); by max_batch_size's 32 it read 1
    assert "p95 in flight 24 / llm.max_num_seqs 8 → 3" in replicas.arithmetic
    assert "max_batch_size" not in replicas.arithmetic


def test_autoscaling_bounds_count_sequences_too() -> None:
    two = dataclasses.replace(BUSY, replicas=2)
    (advice,) = recommend(parse_spec(SCALED, "inferd.yaml"), [two])
    proposed = {p.field: p.proposed for p in advice.proposals}
    assert proposed["autoscaling.min_replicas"] == 2  # median 16 in flight / 8
    assert proposed["autoscaling.max_replicas"] == 6  # 2 x p95 24 in flight / 8


def test_no_batching_advice_for_a_language_model() -> None:
    # Every request a batch of one row: a tensor model's "batching never engaged" does not
    # apply, and a batching change would be one the spec refuses for a language model.
    (advice,) = recommend(parse_spec(LLM, "inferd.yaml"), [BUSY])
    assert not [n for n in advice.notes if "batch" in n]
    full = dataclasses.replace(BUSY, batches=((16.0, 0.0), (32.0, 1200.0), (math.inf, 1200.0)))
    (advice,) = recommend(parse_spec(LLM, "inferd.yaml"), [full])
    assert all(p.field != "batching.max_batch_size" for p in spec_changes([advice]))
