"""Cost under ``inferd up``: the sampler that measures each replica, the ``inferd_cost_*``
series, the status section, the report and recommendations documents, and their admin routes.
The arithmetic is :mod:`inferd.cost`'s; this package only measures and serves it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferd.control.cost.gpus import gpu_reading
from inferd.control.cost.proc import this_machine
from inferd.control.cost.sampler import CostSampler, Sources
from inferd.control.cost.series import CostSeries
from inferd.control.gateway.aggregate import scrape
from inferd.control.replicas.topology import Replica
from inferd.observe.gpu import Nvml

if TYPE_CHECKING:
    from inferd.control.gateway import Gateway
    from inferd.control.reconciler import Reconciler
    from inferd.control.replicas.supervisor import Supervisor

__all__ = ["CostSampler", "cost_sampler"]


def cost_sampler(reconciler: Reconciler, supervisor: Supervisor, gateway: Gateway) -> CostSampler:
    """The sampler of one ``inferd up``, its series registered on the gateway's registry."""
    nvml = Nvml()

    def replicas() -> list[Replica]:  # and those retired lately: charged up to their exit
        return [process.snapshot() for process in supervisor.replicas()] + supervisor.gone()

    async def scraped() -> list[tuple[Replica, str]]:
        ready = supervisor.topology.ready_replicas()
        return await scrape((r, gateway.proxy.pool(r)) for r in ready)

    sources = Sources(
        spec=lambda: reconciler.priced,
        replicas=replicas,
        traffic=gateway.metrics.reading,
        in_flight=lambda: gateway.proxy.outstanding,
        scrape=scraped,
        gpus=lambda: gpu_reading(nvml.samples()),
    )
    sampler = CostSampler(sources, this_machine())
    CostSeries(sampler).register(gateway.metrics.registry)
    return sampler
