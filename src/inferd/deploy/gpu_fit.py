"""Whether a deployment's GPU memory need fits the GPU its placement names, for ``k8s render``.

A pod whose need is larger than its GPU never runs: a ``gpu_memory`` above the product's memory
gives a node affinity no node of that product matches (Pending forever), and a language model
larger than its GPU or MIG slice fails to load (CUDA out of memory, a crash loop). ``render``
refuses both, with the arithmetic of :mod:`inferd.deploy.llm_memory` for a language model.

The memory of a placement is known for a MIG slice (its profile's name states it), for a product
label that states it (``NVIDIA-A100-SXM4-80GB``: 80 GiB, an upper bound), and for the common
products in :data:`PRODUCT_MEMORY_MIB`; any other product is not second-guessed, and neither is
a language model without ``llm.shape`` and ``llm.max_model_len`` (``inferd gpu plan`` names what
it needs).
"""

from __future__ import annotations

import re

from inferd.deploy.gpu import mig_memory_gib
from inferd.deploy.k8s_options import Placement
from inferd.deploy.llm_memory import GIB, llm_memory
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec
from inferd.spec.types import parse_quantity

_MIB = 2**20
#: The whole memory of common GPUs, in MiB as NVML reports it (``nvidia-smi``'s total, GFD's
#: ``nvidia.com/gpu.memory``): for products whose label does not state it, and for the H100, whose
#: "80GB" is 81,559 MiB (79.6 GiB), so a ``gpu_memory: 80Gi`` pod would never schedule on it.
PRODUCT_MEMORY_MIB = {
    "NVIDIA-H100-80GB-HBM3": 81_559,
    "Tesla-T4": 15_360,
    "NVIDIA-L4": 23_034,
    "NVIDIA-A10": 23_028,
    "NVIDIA-A10G": 23_028,
    "NVIDIA-L40": 46_068,
    "NVIDIA-L40S": 46_068,
    "NVIDIA-H200": 143_771,
}
#: The memory a product label states (``NVIDIA-H100-80GB-HBM3`` → 80).
_LABEL_GB = re.compile(r"-([0-9]+)GB(?:-|$)")


def product_memory(product: str) -> int | None:
    """Bytes of one GPU of ``product`` (a GFD product label, ``-SHARED`` or not); None when
    not known here."""
    product = product.removesuffix("-SHARED")
    if product in PRODUCT_MEMORY_MIB:
        return PRODUCT_MEMORY_MIB[product] * _MIB
    stated = _LABEL_GB.search(product)
    return None if stated is None else int(stated.group(1)) * GIB


def check_memory(deployment: DeploymentSpec, placement: Placement) -> None:
    """Raise InvalidArgument when the deployment's GPU memory need is larger than one GPU (or
    MIG slice) of its placement; nothing when either is unknown."""
    if deployment.resources.gpu == 0:
        return
    unit, size = _unit(placement)
    if size is None:
        return
    where = f"deployment {deployment.name!r}"
    declared = deployment.resources.gpu_memory
    # (A MIG slice's own check is gpu.gpu_pod's.)
    if declared is not None and placement.mig_profile is None and parse_quantity(declared) > size:
        raise InvalidArgument(
            f"{where}: gpu_memory {declared} does not fit one GPU: {unit} has "
            f"{_gib(size)} ({size // 2**20} MiB: its nodes' nvidia.com/gpu.memory label is lower "
            "than the pods' node affinity asks, so they would stay Pending); lower gpu_memory "
            "or choose a larger gpu_product"
        )
    slices = placement.time_slicing
    if declared is not None and slices is not None and parse_quantity(declared) * slices > size:
        fit = int(size // parse_quantity(declared))
        instead = (
            f"time_slicing {fit} or fewer" if fit >= 2 else "a GPU of its own (no time_slicing)"
        )
        raise InvalidArgument(
            f"{where}: time_slicing {slices} x gpu_memory {declared} = "
            f"{_gib(int(parse_quantity(declared) * slices))}, but {unit.removeprefix('a ')} has "
            f"{_gib(size)}: time-slicing does not partition memory, so {slices} pods on one GPU "
            f"would run out of it; use {instead}, or a smaller gpu_memory"
        )
    llm = deployment.llm
    if llm is None or llm.shape is None or llm.max_model_len is None:
        return
    memory = llm_memory(deployment)
    if memory is None or memory.per_gpu <= size:
        return
    raise InvalidArgument(
        f"{where}: one replica needs {_gib(memory.per_gpu)} of GPU memory per GPU; {unit} has "
        f"{_gib(size)}, so the model would not load (CUDA out of memory). The arithmetic "
        f"(docs/kubernetes.md#planning-language-models): "
        + "; ".join(" ".join(line.split()) for line in memory.explain())
        + ". Shard it over more GPUs (resources.gpu), lower llm.max_model_len or "
        "llm.max_num_seqs, or choose a larger GPU (inferd gpu plan --nodes … recommends one)"
    )


def _unit(placement: Placement) -> tuple[str, int | None]:
    """What one GPU unit of the placement is, and its bytes (None: unknown)."""
    if placement.mig_profile is not None:
        return f"a {placement.mig_profile} MIG slice", mig_memory_gib(placement.mig_profile) * GIB
    if placement.gpu_product is None:
        return "", None
    return f"a {placement.gpu_product}", product_memory(placement.gpu_product)


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"
