"""MIG geometry per GPU product: which profiles exist and how many fit one GPU.

A MIG-capable GPU is cut into compute slices (7; 4 on the A30) and memory slices (8; 4 on the
A30). A profile ``<c>g.<m>gb`` takes ``c`` compute slices and a fixed number of memory slices,
and the product's table caps how many instances of it one GPU holds. The numbers below are
NVIDIA's published ones:

- the MIG User Guide, "Supported MIG Profiles"
  (docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html): fraction of
  memory, fraction of SMs and number of instances available, per product;
- NVIDIA's mig-parted default configuration (``deployments/systemd/config-default.yaml`` in
  NVIDIA/mig-parted, what the GPU operator's MIG manager applies), whose ``all-<profile>``
  layouts give the same instance counts per product, including the H100 94 GB and H200.

The ``+me`` (media extension) variants are left out: a deployment cannot ask for them (the
overlay's profile pattern has no ``+me``). The same profile name can mean different slices on
different products (``1g.10gb`` is a seventh of an A100-80GB but needs two memory slices of an
A100-40GB), so a profile is only ever looked up in its product's table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GIB = 2**30
#: The GPU family in a GPU feature-discovery product label (``NVIDIA-A100-SXM4-80GB``).
_FAMILY = re.compile(r"(?:^|-)(A30|A100|H100|H200)(?:-|$)")
#: The memory a product label states, if any (``NVIDIA-H100-80GB-HBM3`` → 80).
_LABEL_GB = re.compile(r"-([0-9]+)GB(?:-|$)")


@dataclass(frozen=True, slots=True)
class MigProfile:
    """One row of a product's MIG table."""

    name: str
    #: Compute slices taken (the fraction of SMs times the GPU's compute slices).
    compute: int
    #: Memory slices taken (the fraction of memory times the GPU's memory slices).
    memory: int
    #: Most instances of this profile one GPU holds.
    instances: int

    @property
    def memory_gib(self) -> int:
        """The slice's memory as its name states it (``1g.10gb`` → 10)."""
        return int(self.name.split(".")[1].removesuffix("gb"))


@dataclass(frozen=True, slots=True)
class MigGpu:
    """The MIG table of one product."""

    name: str
    family: str
    memory_gb: int
    compute_slices: int
    memory_slices: int
    profiles: tuple[MigProfile, ...]

    def profile(self, name: str) -> MigProfile | None:
        return next((p for p in self.profiles if p.name == name), None)


def _seven_slices(family: str, memory_gb: int, sizes: tuple[int, int, int, int]) -> MigGpu:
    """A100, H100 and H200: seven compute and eight memory slices; only the profiles' memory
    differs.

    ``sizes`` are the GB of a seventh (``1g``), of ``1g``/``2g`` with two memory slices, of
    ``3g``/``4g`` with half the memory, and of the whole GPU.
    """
    seventh, quarter, half, whole = sizes
    return MigGpu(
        f"{family}-{memory_gb}GB",
        family,
        memory_gb,
        compute_slices=7,
        memory_slices=8,
        profiles=(
            MigProfile(f"1g.{seventh}gb", 1, 1, 7),
            MigProfile(f"1g.{quarter}gb", 1, 2, 4),
            MigProfile(f"2g.{quarter}gb", 2, 2, 3),
            MigProfile(f"3g.{half}gb", 3, 4, 2),
            MigProfile(f"4g.{half}gb", 4, 4, 1),
            MigProfile(f"7g.{whole}gb", 7, 8, 1),
        ),
    )


MIG_GPUS: tuple[MigGpu, ...] = (
    MigGpu(
        "A30-24GB",
        "A30",
        24,
        compute_slices=4,
        memory_slices=4,
        profiles=(
            MigProfile("1g.6gb", 1, 1, 4),
            MigProfile("2g.12gb", 2, 2, 2),
            MigProfile("4g.24gb", 4, 4, 1),
        ),
    ),
    # The guide's A100-40GB table prints 1/8 of the memory for 1g.10gb; its name (10 of 40 GB)
    # and its 4 instances per GPU both make it 2/8, which is what the driver allocates.
    _seven_slices("A100", 40, (5, 10, 20, 40)),
    _seven_slices("A100", 80, (10, 20, 40, 80)),
    _seven_slices("H100", 80, (10, 20, 40, 80)),
    _seven_slices("H100", 94, (12, 24, 47, 94)),
    _seven_slices("H200", 141, (18, 35, 71, 141)),
)


#: GPU feature-discovery products known to have no MIG (it is a feature of the A30, A100, H100,
#: H200 and later data-centre GPUs): no node of these advertises ``nvidia.com/mig-*``.
WITHOUT_MIG = frozenset(
    {"Tesla-T4", "Tesla-V100-SXM2-16GB", "Tesla-V100-SXM2-32GB", "NVIDIA-L4", "NVIDIA-A10",
     "NVIDIA-A10G", "NVIDIA-L40", "NVIDIA-L40S"}
)  # fmt: skip


def mig_gpu(product: str, memory: int) -> MigGpu | None:
    """The MIG table of a GPU from its product label and memory in bytes (which picks between
    the 40 and 80 GB A100, or the 80 and 94 GB H100); None for a GPU without MIG."""
    match = _FAMILY.search(product)
    if match is None:
        return None
    tables = [g for g in MIG_GPUS if g.family == match.group(1)]
    return min(tables, key=lambda g: abs(g.memory_gb - memory / _GIB))


def label_tables(product: str) -> tuple[MigGpu, ...]:
    """The MIG tables a product label may mean: its family's, narrowed to the memory the label
    states (``-80GB``) when one matches; none for a product without a table here."""
    match = _FAMILY.search(product)
    if match is None:
        return ()
    tables = tuple(g for g in MIG_GPUS if g.family == match.group(1))
    stated = _LABEL_GB.search(product)
    narrowed = tuple(g for g in tables if stated and g.memory_gb == int(stated.group(1)))
    return narrowed or tables
