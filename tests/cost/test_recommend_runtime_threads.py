"""A replica whose model runs on ``runtime.threads`` intra-op threads keeps that many cores busy,
not one: its measured throughput is ``threads cores / CPU seconds per request``. Counted as one
core, four-thread replicas were proposed four times the replicas the load needed, each
requesting a quarter of the CPU it used while serving."""

from __future__ import annotations

import math

from inferd.cost.recommend import recommend
from inferd.cost.usage import Usage
from inferd.spec.loading import parse_spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: ranker
    versions: [{name: v1, model: "ranker:v1", replicas: 4}]
    runtime: {threads: 4}
    resources: {cpu: "4", memory: 2Gi}
"""

#: 2 requests a second of 1 CPU second each (a quarter second on four threads): 2 cores busy.
LOAD = Usage(
    deployment="ranker", version="v1", seconds=600, replicas=4, requests=1200, predictions=1200,
    rps_p50=2, rps_p95=2, rps_max=2.5, concurrency_p50=1, concurrency_p95=1, cores_p95=2.0,
    cpu_seconds_per_request=1.0, peak_gib=1.0, gpu_busy_p95=None, gpu_memory_gib=None,
    batches=((1.0, 1200.0), (math.inf, 1200.0)),
)  # fmt: skip


def _proposals(text: str) -> dict[str, object]:
    (advice,) = recommend(parse_spec(text, "inferd.yaml"), [LOAD])
    return {p.field: p for p in advice.proposals}


def test_a_replica_serves_with_its_threads() -> None:
    replicas = _proposals(SPEC)["replicas"]
    assert replicas.proposed == 1  # 2 req/s x 1.3 / (4 cores / 1 s) -> 1, not 3
    assert "a replica serves up to 4 cores (runtime.threads 4) / 1e+03 ms CPU" in (
        replicas.arithmetic
    )
    cpu = _proposals(SPEC)["resources.cpu"]
    assert cpu.proposed == "2600m"  # 2 cores / 1 replica x 1.3


def test_one_thread_or_the_runtimes_choice_counts_one_core() -> None:
    for threads in ("1", "0"):
        text = SPEC.replace("threads: 4", f"threads: {threads}")
        replicas = _proposals(text)["replicas"]
        assert replicas.proposed == 3  # 2 x 1.3 / (1 core / 1 s)
        assert "a replica serves up to 1 core / " in replicas.arithmetic
