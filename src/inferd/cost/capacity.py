"""Capacity: what a replica holds (its requests) and what it uses (measured).

A replica *holds* what its deployment's ``resources`` request, as Kubernetes reserves it on a
node whether used or not. Two requests may be left out of a spec, and then:

- no ``cpu`` request: the replica holds **one core** (a model server's event loop keeps one busy
  at most, and a pod without a request still lands on a node that must have room for it);
- no ``memory`` request: the replica holds its **measured peak resident memory** (``VmHWM``),
  the least a node would have to keep for it.

GPUs are held whole, or a MIG slice as its fraction of the GPU (passed in as a number: the
fraction is the renderer's business, not the accountant's).
"""

from __future__ import annotations

from dataclasses import dataclass

from inferd.spec.model import ResourcesSpec
from inferd.spec.types import parse_quantity

GIB = 2**30
#: Cores a replica without a ``cpu`` request is taken to hold.
DEFAULT_CORES = 1.0


@dataclass(frozen=True, slots=True)
class Capacity:
    """Resources at one moment: cores, GiB of memory, GPUs (a MIG slice is its fraction)."""

    cores: float = 0.0
    memory_gib: float = 0.0
    gpus: float = 0.0

    def capped(self, limit: Capacity) -> Capacity:
        """Each resource at most ``limit``'s: use beyond what is held costs nothing more."""
        return Capacity(
            min(self.cores, limit.cores),
            min(self.memory_gib, limit.memory_gib),
            min(self.gpus, limit.gpus),
        )


def requested_cores(resources: ResourcesSpec) -> float | None:
    """The ``cpu`` request in cores, or None when there is none."""
    return None if resources.cpu is None else float(parse_quantity(resources.cpu))


def requested_gib(resources: ResourcesSpec) -> float | None:
    """The ``memory`` request in GiB, or None when there is none."""
    return None if resources.memory is None else float(parse_quantity(resources.memory)) / GIB


def held(resources: ResourcesSpec, peak_rss_gib: float, gpu_fraction: float = 1.0) -> Capacity:
    """What one replica holds: its requests, one core and its peak RSS where none is set, and
    ``resources.gpu`` GPUs each counted as ``gpu_fraction`` of a GPU (1: whole GPUs)."""
    cores = requested_cores(resources)
    memory = requested_gib(resources)
    return Capacity(
        DEFAULT_CORES if cores is None else cores,
        peak_rss_gib if memory is None else memory,
        resources.gpu * gpu_fraction,
    )
