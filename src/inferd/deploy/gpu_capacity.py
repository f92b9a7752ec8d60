"""What one GPU holds and what it can still take: whole, by memory, MIG slices or time-slicing.

The unit a replica asks for follows its deployment's placement (the overlay), the way the
rendered pod asks for it:

- **MIG** (``mig_profile``): a slice of that profile. A GPU holds as many as its product's
  published MIG table allows (:mod:`inferd.deploy.mig`), and mixed profiles share its compute
  and memory slices. Placement start positions are not modelled, so an unusual mix of profiles
  may fit here and not on the GPU.
- **time-slicing** (``time_slicing: N``): one of the N replicas a GPU is advertised as. It is
  node configuration (GPU feature discovery's ``-SHARED`` product and replicas labels, the device
  plugin's config label), so a time-sliced node takes only replicas time-sliced N ways. Memory
  is not partitioned: ``gpu_memory`` still adds up, and a vLLM replica takes its
  ``--gpu-memory-utilization`` share of the GPU (what it claims at start).
- otherwise a whole unused GPU (with at least ``gpu_memory``): the device plugin allocates an
  ``nvidia.com/gpu`` to one pod, however little of its memory the pod uses.

A GPU is shared one way only: the first replica placed on it decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from inferd.deploy.mig import MigGpu, MigProfile, mig_gpu

GIB = 2**30


def gib(size: int) -> str:
    """Bytes in Gi as plans and their reasons print them: ``80Gi``, ``14.9Gi``."""
    value = Decimal(size) / Decimal(GIB)
    return f"{value.normalize():f}Gi" if value == value.to_integral_value() else f"{value:.1f}Gi"


@dataclass
class Gpu:
    """One GPU and what the plan has put on it."""

    node: str
    index: int
    product: str
    memory: int
    used: int = 0
    #: ``deployment/version#replica`` of each replica placed here.
    replicas: list[str] = field(default_factory=list)
    #: How replicas share it, decided by the first one placed (None: whole, or by memory).
    sharing: Literal["mig", "time-slicing"] | None = None
    #: Replicas it is advertised as, when time-sliced.
    time_slicing: int = 0
    #: MIG instances placed on it, by profile.
    mig: dict[str, int] = field(default_factory=dict)

    @property
    def free(self) -> int:
        return self.memory - self.used

    @property
    def mig_table(self) -> MigGpu | None:
        return mig_gpu(self.product, self.memory)

    def slices_used(self) -> tuple[int, int]:
        """Compute and memory slices its MIG instances take."""
        table = self.mig_table
        if table is None:
            return 0, 0
        profiles = [(table.profile(name), count) for name, count in self.mig.items()]
        return (
            sum(p.compute * n for p, n in profiles if p is not None),
            sum(p.memory * n for p, n in profiles if p is not None),
        )

    def describe_sharing(self) -> str | None:
        """``time-slicing 3/4`` or ``MIG 7x1g.10gb (7/7 compute, 7/8 memory slices)``."""
        if self.sharing == "time-slicing":
            return f"time-slicing {len(self.replicas)}/{self.time_slicing}"
        table = self.mig_table
        if self.sharing != "mig" or table is None:
            return None
        instances = ", ".join(f"{n}x{name}" for name, n in self.mig.items())
        compute, memory = self.slices_used()
        return (
            f"MIG {instances} ({compute}/{table.compute_slices} compute, "
            f"{memory}/{table.memory_slices} memory slices)"
        )


@dataclass(frozen=True, slots=True)
class Demand:
    """One replica to place: ``gpus`` units (GPUs, or MIG slices) of at least ``memory`` bytes."""

    deployment: str
    version: str
    replica: int
    gpus: int
    #: Bytes per GPU (None: any); whole GPUs are taken whole, a time-sliced one counts it.
    #: Not counted for MIG: a slice has its profile's memory (render refuses more).
    memory: int | None
    product: str | None
    #: MIG slices of this profile instead of whole GPUs.
    mig_profile: str | None = None
    #: Replicas per GPU of a time-sliced node.
    time_slicing: int | None = None
    #: Share of a time-sliced GPU's memory the replica claims whatever it uses (vLLM's
    #: ``--gpu-memory-utilization``); ``memory`` is then the GPU it needs to hold its use.
    share: float | None = None

    def claim(self, gpu: Gpu) -> int:
        """Bytes of ``gpu``'s memory one unit of the demand takes (time-sliced or whole)."""
        if self.share is not None:
            return int(gpu.memory * self.share)
        return self.memory or 0

    @property
    def label(self) -> str:
        return f"{self.deployment}/{self.version}#{self.replica}"


def _profile(demand: Demand, gpu: Gpu) -> MigProfile | None:
    table = gpu.mig_table
    if demand.mig_profile is None or table is None:
        return None
    return table.profile(demand.mig_profile)


def room(demand: Demand, gpu: Gpu, node: list[Gpu]) -> int:
    """How many of the demand's units ``gpu`` can still take (``node``: its node's GPUs)."""
    if demand.product is not None and gpu.product != demand.product:
        return 0
    if demand.time_slicing is not None:
        others = any(
            g.replicas and (g.sharing != "time-slicing" or g.time_slicing != demand.time_slicing)
            for g in node
        )
        if others or len(gpu.replicas) >= demand.time_slicing:
            return 0
        if demand.share is not None and demand.memory is not None and gpu.memory < demand.memory:
            return 0
        return int(gpu.free >= demand.claim(gpu))
    if any(g.sharing == "time-slicing" for g in node):
        return 0
    if demand.mig_profile is not None:
        return _mig_room(demand, gpu)
    if gpu.sharing is not None or gpu.replicas:
        return 0
    return int(demand.memory is None or gpu.memory >= demand.memory)


def _mig_room(demand: Demand, gpu: Gpu) -> int:
    profile, table = _profile(demand, gpu), gpu.mig_table
    if profile is None or table is None or (gpu.replicas and gpu.sharing != "mig"):
        return 0
    compute, memory = gpu.slices_used()
    return max(
        0,
        min(
            profile.instances - gpu.mig.get(profile.name, 0),
            (table.compute_slices - compute) // profile.compute,
            (table.memory_slices - memory) // profile.memory,
        ),
    )


def take(gpu: Gpu, demand: Demand) -> None:
    """Put one unit of ``demand`` on ``gpu``."""
    profile = _profile(demand, gpu)
    if profile is not None:
        gpu.sharing = "mig"
        gpu.mig[profile.name] = gpu.mig.get(profile.name, 0) + 1
        gpu.used += profile.memory_gib * GIB
    elif demand.time_slicing is not None:
        gpu.sharing, gpu.time_slicing = "time-slicing", demand.time_slicing
        gpu.used += demand.claim(gpu)
    else:
        gpu.used += gpu.memory if demand.memory is None else demand.memory
    if demand.label not in gpu.replicas:
        gpu.replicas.append(demand.label)
