"""What one replica costs per hour, from the spec's ``cost:`` prices and what it holds.

Two ways to price, as the spec allows one or the other (docs/cost.md):

- **per resource**: ``cores * cpu_core_hour + GiB * memory_gib_hour + GPUs * gpu_hour[family]``,
  a MIG slice counting as its fraction of a GPU;
- **per node**: ``price_per_node_hour * max(cores / node cores, GiB / node GiB)``: the share of a
  node the replica keeps others from using, by whichever of CPU or memory it takes more of
  (GPUs are taken to come with the node's price).

``discount`` then takes its share off, whichever way. A price that is not set costs nothing (a
spec may price only cores); a GPU of a family ``gpu_hour`` does not name, or of no known family,
is *unpriced*: it costs nothing and :attr:`Hourly.unpriced` says why, so a report can show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferd.cost.capacity import GIB, Capacity
from inferd.spec.cost import CostSpec
from inferd.spec.types import gpu_family, parse_quantity


@dataclass(frozen=True, slots=True)
class Node:
    """What one node holds (``cost.node``, or the machine ``inferd up`` runs on)."""

    cores: float
    memory_gib: float


@dataclass(frozen=True, slots=True)
class Hourly:
    """The price of some capacity for an hour, and how it was reached."""

    amount: float
    #: The arithmetic, e.g. ``0.5 core * 0.04 + 0.5 GiB * 0.005 = 0.0225, less 30% = 0.01575``.
    formula: str
    #: Why part of the capacity has no price (a GPU family ``gpu_hour`` does not name); None
    #: when everything is priced.
    unpriced: str | None = None


@dataclass(frozen=True, slots=True)
class PriceBook:
    """The spec's prices, ready to apply to capacities."""

    cost: CostSpec
    #: The node ``price_per_node_hour`` buys: ``cost.node``, else the machine's.
    node: Node

    @property
    def currency(self) -> str:
        return self.cost.currency

    @classmethod
    def of(cls, cost: CostSpec, machine: Node) -> PriceBook:
        """``cost``'s prices; node pricing without ``cost.node`` uses ``machine``."""
        shape = cost.node
        node = (
            machine
            if shape is None
            else Node(float(parse_quantity(shape.cpu)), float(parse_quantity(shape.memory)) / GIB)
        )
        return cls(cost, node)

    def hourly(self, capacity: Capacity, gpu_product: str | None = None) -> Hourly:
        """What ``capacity`` costs for an hour; ``gpu_product`` names its GPUs (an NVML name or
        a feature-discovery label: priced by the family it contains)."""
        cost = self.cost
        if cost.price_per_node_hour is not None:
            share = max(
                capacity.cores / self.node.cores, capacity.memory_gib / self.node.memory_gib
            )
            gross = cost.price_per_node_hour * share
            formula = (
                f"{cost.price_per_node_hour:g}/node-h * max({capacity.cores:.4g} / "
                f"{self.node.cores:g} cores, {capacity.memory_gib:.4g} / "
                f"{self.node.memory_gib:.4g} GiB) = {gross:.6g}"
            )
            return self._discounted(gross, formula, None)
        parts: list[tuple[float, str]] = []
        if cost.cpu_core_hour is not None:
            parts.append(
                (
                    capacity.cores * cost.cpu_core_hour,
                    f"{capacity.cores:.4g} core * {cost.cpu_core_hour:g}",
                )
            )
        if cost.memory_gib_hour is not None:
            parts.append(
                (
                    capacity.memory_gib * cost.memory_gib_hour,
                    f"{capacity.memory_gib:.4g} GiB * {cost.memory_gib_hour:g}",
                )
            )
        unpriced = None
        if capacity.gpus > 0:
            price, unpriced = self.gpu_hour(gpu_product)
            if price is not None:
                parts.append((capacity.gpus * price, f"{capacity.gpus:.4g} GPU * {price:g}"))
        gross = sum(amount for amount, _ in parts)
        formula = " + ".join(text for _, text in parts) or "nothing priced"
        return self._discounted(gross, f"{formula} = {gross:.6g}", unpriced)

    def gpu_hour(self, product: str | None) -> tuple[float | None, str | None]:
        """The price of one whole GPU of ``product`` for an hour, or None and why not."""
        if product is None:
            return None, "the GPU product is unknown (no NVML here), so GPUs are not priced"
        family = gpu_family(product)
        if family is None:
            return None, (
                f"GPU {product!r} is of no family cost.gpu_hour can name, so it is not priced: "
                "price it with price_per_node_hour (a node's price covers its GPUs)"
            )
        price = self.cost.gpu_hour.get(family)
        if price is None:
            named = ", ".join(self.cost.gpu_hour) or "none"
            return None, f"cost.gpu_hour has no price for {family} (it prices: {named})"
        return price, None

    def _discounted(self, gross: float, formula: str, unpriced: str | None) -> Hourly:
        discount = self.cost.discount
        if discount == 0:
            return Hourly(gross, formula, unpriced)
        net = gross * (1 - discount)
        return Hourly(net, f"{formula}, less {discount * 100:g}% = {net:.6g}", unpriced)
