"""``autoscaling.max_replicas`` covers twice the *peak* load, as docs/cost.md says and its
arithmetic reads ("2 * peak in flight"): the most requests in flight sampled, not their p95.
Bursts of slow requests fill the replicas for seconds in a minute; a p95 of the one-second
samples misses them, and a max_replicas sized by it caps the autoscaler below what a burst
measured in the window already needed."""

from __future__ import annotations

import dataclasses
import math

from inferd.cost.accounting import Capacity, ReplicaSlice, VersionInterval
from inferd.cost.recommend import recommend
from inferd.cost.usage import Usage, usage
from inferd.spec.loading import parse_spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1", replicas: 2}]
    batching: {max_batch_size: 8}
    resources: {cpu: 500m, memory: 512Mi}
    autoscaling: {min_replicas: 1, max_replicas: 10}
"""


def _interval(end: float, concurrency: tuple[float, ...]) -> VersionInterval:
    held = Capacity(0.5, 0.5)
    busy = ReplicaSlice(5.0, held, Capacity(0.05, 0.1), peak_gib=0.1)
    return VersionInterval(
        "fraud", "v1", end, 5.0, (busy, busy), predictions=10, requests=10,
        concurrency=concurrency,
    )  # fmt: skip


def test_usage_keeps_the_most_in_flight() -> None:
    # 60 one-second samples: quiet but for one burst of 40 in flight
    quiet = [_interval(5.0 * n, (0.0,) * 5) for n in range(1, 12)]
    (u,) = usage([*quiet, _interval(60.0, (0.0, 0.0, 0.0, 0.0, 40.0))])
    assert (u.concurrency_p95, u.concurrency_max) == (0.0, 40.0)


def test_max_replicas_covers_twice_the_most_in_flight() -> None:
    (u,) = usage([_interval(5.0 * n, (0.0,) * 5) for n in range(1, 12)])
    burst = dataclasses.replace(u, concurrency_p95=1.0, concurrency_max=40.0)
    (advice,) = recommend(parse_spec(SPEC, "inferd.yaml"), [burst])
    bound = next(p for p in advice.proposals if p.field == "autoscaling.max_replicas")
    assert bound.proposed == math.ceil(2 * 40 / 8)  # 10, not ceil(2 x 1 / 8) = 1 -> 2
    assert "2 * peak in flight 80 / max_batch_size 8 → 10" in bound.arithmetic


def test_a_usage_without_a_most_in_flight_reads_its_p95() -> None:
    u = Usage(
        deployment="fraud", version="v1", seconds=60, replicas=2, requests=120, predictions=120,
        rps_p50=2, rps_p95=2, rps_max=2, concurrency_p50=1, concurrency_p95=12, cores_p95=0.1,
        cpu_seconds_per_request=0.01, peak_gib=0.1, gpu_busy_p95=None, gpu_memory_gib=None,
        batches=(),
    )  # fmt: skip
    (advice,) = recommend(parse_spec(SPEC, "inferd.yaml"), [u])
    bound = next(p for p in advice.proposals if p.field == "autoscaling.max_replicas")
    assert bound.proposed == 3  # 2 x 12 / 8
