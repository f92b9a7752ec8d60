"""The machine's GPUs as the cost sampler reads them: how busy, how full, what product.

NVML reports a GPU's utilisation and memory for the whole device, not per process, and
``inferd up`` does not pin replicas to GPUs: a replica that holds a GPU is charged the average
busy share of the machine's GPUs, and an even share of their memory in use among the GPU
replicas (docs/cost.md says so where it lists what is estimated).
"""

from __future__ import annotations

from dataclasses import dataclass

from inferd.observe.gpu import GpuSample

_MIB_PER_GIB = 1024.0


@dataclass(frozen=True, slots=True)
class GpuReading:
    """The GPUs at one moment."""

    #: NVML's name of the first GPU (``NVIDIA H100 80GB HBM3``), which prices them.
    product: str
    #: Mean utilisation over the GPUs, 0 to 1.
    busy: float
    memory_used_gib: float
    #: Memory of one GPU, GiB.
    memory_total_gib: float


def gpu_reading(samples: list[GpuSample]) -> GpuReading | None:
    """What ``samples`` (one per GPU) add up to; None without GPUs."""
    if not samples:
        return None
    utils = [s.utilization_percent for s in samples if s.utilization_percent is not None]
    return GpuReading(
        product=samples[0].name,
        busy=sum(utils) / len(utils) / 100 if utils else 0.0,
        memory_used_gib=sum(s.memory_used_mib for s in samples) / _MIB_PER_GIB,
        memory_total_gib=samples[0].memory_total_mib / _MIB_PER_GIB,
    )
