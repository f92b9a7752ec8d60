"""Prices per replica-hour from the spec's ``cost:`` section, as a table: per resource, per
node (the spec's node or this machine), GPUs by family with MIG slices as fractions, the
discount on every way of pricing, and what is left unpriced."""

from __future__ import annotations

import pytest

from inferd.cost.capacity import Capacity, held
from inferd.cost.prices import Node, PriceBook
from inferd.spec.cost import CostSpec
from inferd.spec.model import ResourcesSpec

MACHINE = Node(cores=2, memory_gib=8)
PER_RESOURCE = CostSpec(cpu_core_hour=0.04, memory_gib_hour=0.005, gpu_hour={"A100": 3.5})

CASES = [
    # (id, cost, capacity, gpu product, per hour, formula fragment)
    ("cores and memory", PER_RESOURCE, Capacity(0.5, 0.5), None, 0.0225,
     "0.5 core * 0.04 + 0.5 GiB * 0.005 = 0.0225"),
    ("discount off every price", PER_RESOURCE.model_copy(update={"discount": 0.3}),
     Capacity(0.5, 0.5), None, 0.01575, "less 30% = 0.01575"),
    ("a whole GPU by its family", PER_RESOURCE, Capacity(1, 2, 1), "NVIDIA-A100-SXM4-80GB",
     0.04 + 0.01 + 3.5, "1 GPU * 3.5"),
    ("a MIG slice pays its fraction", PER_RESOURCE, Capacity(0, 0, 1 / 7), "NVIDIA A100 80GB PCIe",
     0.5, "0.1429 GPU * 3.5"),
    ("only cores priced: memory is free", CostSpec(cpu_core_hour=0.1), Capacity(2, 64), None,
     0.2, "2 core * 0.1 = 0.2"),
    ("the spec's node, CPU-bound share",
     CostSpec(price_per_node_hour=0.4, node={"cpu": "8", "memory": "32Gi"}),
     Capacity(2, 4), None, 0.1, "0.4/node-h * max(2 / 8 cores, 4 / 32 GiB)"),
    ("the spec's node, memory-bound share",
     CostSpec(price_per_node_hour=0.4, node={"cpu": "8", "memory": "32Gi"}),
     Capacity(1, 16), None, 0.2, "= 0.2"),
    ("no node in the spec: this machine", CostSpec(price_per_node_hour=0.4),
     Capacity(0.5, 0.5), None, 0.1, "max(0.5 / 2 cores, 0.5 / 8 GiB)"),
    ("node price with a discount", CostSpec(price_per_node_hour=0.4, discount=0.25),
     Capacity(1, 1), None, 0.15, "less 25% = 0.15"),
    ("GPUs come with the node's price", CostSpec(price_per_node_hour=0.4),
     Capacity(0.5, 0.5, 1), "NVIDIA H100 80GB HBM3", 0.1, "0.4/node-h"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cost", "capacity", "product", "amount", "formula"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hourly_price_of_a_capacity(
    cost: CostSpec, capacity: Capacity, product: str | None, amount: float, formula: str
) -> None:
    hourly = PriceBook.of(cost, MACHINE).hourly(capacity, product)
    assert hourly.amount == pytest.approx(amount)
    assert formula in hourly.formula, hourly.formula
    assert hourly.unpriced is None


@pytest.mark.parametrize(
    ("product", "why"),
    [
        (None, "the GPU product is unknown"),
        (
            "Radeon-X",
            "of no family cost.gpu_hour can name, so it is not priced: price it "
            "with price_per_node_hour (a node's price covers its GPUs)",
        ),
        ("NVIDIA-L4", "cost.gpu_hour has no price for L4 (it prices: A100)"),
    ],
)
def test_a_gpu_without_a_price_costs_nothing_and_says_why(product: str | None, why: str) -> None:
    hourly = PriceBook.of(PER_RESOURCE, MACHINE).hourly(Capacity(1, 1, 1), product)
    assert hourly.amount == pytest.approx(0.045)
    assert hourly.unpriced is not None and why in hourly.unpriced


def test_the_currency_is_the_specs() -> None:
    assert PriceBook.of(CostSpec(cpu_core_hour=1, currency="EUR"), MACHINE).currency == "EUR"


@pytest.mark.parametrize(
    ("resources", "peak", "fraction", "expected"),
    [
        (ResourcesSpec(cpu="500m", memory="512Mi"), 0.1, 1.0, Capacity(0.5, 0.5, 0)),
        (ResourcesSpec(), 0.25, 1.0, Capacity(1.0, 0.25, 0)),
        (ResourcesSpec(cpu="2", gpu=2), 3.0, 1.0, Capacity(2.0, 3.0, 2)),
        (ResourcesSpec(memory="1Gi", gpu=1), 0.5, 3 / 7, Capacity(1.0, 1.0, 3 / 7)),
    ],
    ids=["requests", "no requests: one core, peak RSS", "no memory request", "MIG 3g slice"],
)
def test_what_a_replica_holds(
    resources: ResourcesSpec, peak: float, fraction: float, expected: Capacity
) -> None:
    assert held(resources, peak, fraction) == expected
