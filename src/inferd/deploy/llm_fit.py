"""Which GPUs of the nodes hold a language-model replica: for ``inferd gpu plan``'s LLM rows.

An LLM deployment's replica needs :mod:`inferd.deploy.llm_memory`'s bytes on each of its GPUs.
:func:`llm_fits` lists the nodes' GPU products and MIG profiles large enough, smallest first,
and recommends the smallest (a MIG slice before a whole GPU of the same memory); when none is
large enough, it says over how many GPUs (tensor parallel) the replica would fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from inferd.deploy.gpu_capacity import GIB, Gpu, gib
from inferd.deploy.llm_memory import LlmMemory, llm_memory
from inferd.deploy.mig import mig_gpu
from inferd.spec.model import Spec


class LlmRow(TypedDict):
    """An LLM deployment's memory per GPU (bytes) and the GPUs of the nodes that hold it."""

    deployment: str
    tensor_parallel: int
    weights_per_gpu: int
    kv_cache_per_gpu: int
    overhead_per_gpu: int
    gpu_memory_utilization: float
    per_gpu: int
    gpus: list[str]
    mig_profiles: list[str]
    recommendation: str


@dataclass(frozen=True, slots=True)
class LlmFit:
    """Where an LLM replica fits: the nodes' GPU products and MIG profiles that hold its
    per-GPU memory, smallest first, and the one recommended."""

    memory: LlmMemory
    #: ``product (NGi)`` of whole GPUs large enough.
    gpus: list[str]
    #: ``profile on product`` of MIG slices large enough (one-GPU replicas only).
    mig_profiles: list[str]
    recommendation: str

    def row(self) -> LlmRow:
        m = self.memory
        return {
            "deployment": m.deployment,
            "tensor_parallel": m.tensor_parallel,
            "weights_per_gpu": m.weights_per_gpu,
            "kv_cache_per_gpu": m.kv_per_gpu,
            "overhead_per_gpu": m.used_per_gpu - m.weights_per_gpu - m.kv_per_gpu,
            "gpu_memory_utilization": float(m.utilization),
            "per_gpu": m.per_gpu,
            "gpus": self.gpus,
            "mig_profiles": self.mig_profiles,
            "recommendation": self.recommendation,
        }


def llm_sizes(spec: Spec) -> list[LlmMemory]:
    """The memory of each LLM deployment on GPUs, in spec order."""
    return [m for d in spec.deployments if (m := llm_memory(d)) is not None]


def llm_fits(sizes: list[LlmMemory], gpus: list[Gpu]) -> list[LlmFit]:
    """For each sized LLM deployment, the GPUs of the nodes that hold a replica's share."""
    return [_fit(m, gpus) for m in sizes]


#: Tensor-parallel sizes tried when a replica fits no single GPU of the nodes.
_TENSOR_PARALLEL = (2, 4, 8, 16)


def _fit(memory: LlmMemory, gpus: list[Gpu]) -> LlmFit:
    kinds = sorted({(g.memory, g.product) for g in gpus})
    need = memory.per_gpu
    whole = [(size, f"{product} ({gib(size)})") for size, product in kinds if size >= need]
    slices: list[tuple[int, str]] = []
    if memory.tensor_parallel == 1:
        # vLLM cannot run tensor parallel across MIG instances, so only one-GPU replicas.
        for size, product in kinds:
            table = mig_gpu(product, size)
            if table is None:
                continue
            fitting = [p for p in table.profiles if p.memory_gib * GIB >= need]
            if fitting:
                best = min(fitting, key=lambda p: (p.memory_gib, p.compute))
                slices.append((best.memory_gib * GIB, f"{best.name} on {product}"))
    # Smallest memory first; at equal memory a MIG slice before a whole GPU.
    options = sorted(
        [(size, 0, f"MIG {where}") for size, where in slices]
        + [(size, 1, where) for size, where in whole]
    )
    if options:
        recommendation = f"{options[0][2]}: {gib(need)} per GPU"
    else:
        recommendation = _more_gpus(memory, kinds)
    return LlmFit(memory, [w for _, w in whole], [w for _, w in sorted(slices)], recommendation)


def _more_gpus(memory: LlmMemory, kinds: list[tuple[int, str]]) -> str:
    largest = max((size for size, _ in kinds), default=0)
    head = f"no GPU of the nodes holds {gib(memory.per_gpu)} per GPU"
    for tp in _TENSOR_PARALLEL:
        if tp <= memory.tensor_parallel:
            continue
        wider = memory.with_tensor_parallel(tp)
        if wider.per_gpu <= largest:
            product = next(p for s, p in kinds if s >= wider.per_gpu)
            return (
                f"{head}; with resources.gpu: {tp} (tensor parallel) each GPU needs "
                f"{gib(wider.per_gpu)}, which {product} holds"
            )
    return f"{head}, nor over {_TENSOR_PARALLEL[-1]} GPUs"
