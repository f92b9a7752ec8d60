"""A cost sampler over fake sources the test sets between ticks, on a clock that is a list of
times (so nothing waits)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from inferd.control.cost.gpus import GpuReading
from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler, Sources
from inferd.control.gateway.readings import GatewayReading
from inferd.control.replicas.topology import Replica
from inferd.cost.prices import Node
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 2}
      - {name: v2, model: "fraud:v2", replicas: 1}
    traffic: {weights: {v1: 100}, shadow: v2}
    resources: {cpu: 500m, memory: 1Gi}
  - name: churn
    versions: [{name: v1, model: "churn:v1", replicas: 0}]
    autoscaling: {min_replicas: 0, max_replicas: 2, scale_to_zero_after: 1m}
cost: {cpu_core_hour: 3.6, memory_gib_hour: 0.36, currency: EUR}
"""
BATCHES = """\
# TYPE inferd_batch_size histogram
inferd_batch_size_bucket{{model="fraud",version="v1",le="1.0"}} {ones}
inferd_batch_size_bucket{{model="fraud",version="v1",le="2.0"}} {all}
inferd_batch_size_bucket{{model="fraud",version="v1",le="+Inf"}} {all}
inferd_batch_size_count{{model="fraud",version="v1"}} {all}
inferd_batch_size_sum{{model="fraud",version="v1"}} {rows}
"""


def replica(rid: str, version: str, pid: int, started: float, deployment: str = "fraud") -> Replica:
    return Replica(rid, deployment, version, "127.0.0.1", 1, "ready", pid=pid, started_at=started)


@dataclass
class Fake:
    """Everything the sampler reads, set by the test between ticks."""

    spec: Spec
    times: Iterator[float]
    replicas: list[Replica] = field(default_factory=list)
    uses: dict[int, ProcessUse] = field(default_factory=dict)
    traffic: GatewayReading = field(default_factory=GatewayReading)
    in_flight: dict[str, int] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    gpu: GpuReading | None = None
    #: Called while the replicas are scraped (a scrape that takes time, and what happens then).
    during_scrape: Callable[[], None] | None = None

    def use(self, pid: int) -> ProcessUse | None:
        """The use of ``pid`` as the test last set it."""
        return self.uses.get(pid)

    def sampler(self) -> CostSampler:
        async def scrape() -> list[tuple[Replica, str]]:
            if self.during_scrape is not None:
                self.during_scrape()
            return [(r, self.texts[r.id]) for r in self.replicas if r.id in self.texts]

        sources = Sources(
            spec=lambda: self.spec,
            replicas=lambda: list(self.replicas),
            traffic=lambda: self.traffic,
            in_flight=lambda: self.in_flight,
            scrape=scrape,
            gpus=lambda: self.gpu,
            process=self.use,
        )
        return CostSampler(sources, Node(2, 8), keep_s=60, clock=lambda: next(self.times))


@pytest.fixture
def fake() -> Fake:
    return Fake(parse_spec(SPEC, "inferd.yaml"), iter([100.0, 105.0, 110.0, 115.0, 200.0]))
