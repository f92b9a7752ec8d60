"""The spec's ``cost`` section: what capacity costs, in the user's own prices (docs/cost.md).

:mod:`inferd.cost` applies these prices to what ``inferd up`` measures, and the Kubernetes
renderer writes them into recording rules.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from inferd.spec.rules import Problem, raise_problems
from inferd.spec.types import GpuFamily, Memory, Quantity, StrictModel

#: An ISO 4217 currency code, as prices are written in: ``USD``, ``EUR``.
CURRENCY_PATTERN = r"^[A-Z]{3}$"

#: The codes of ISO 4217's list one in use (2025): a code of the right shape outside it
#: (``XYZ``, a withdrawn ``HRK``) is a typo or a currency no bill is in.
ACTIVE_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA
    XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - 180 codes as words, not 180 lines of quoted strings
)


class NodeShape(StrictModel):
    """What one node that ``cost.price_per_node_hour`` buys holds."""

    cpu: Quantity = Field(description="cores of one node, e.g. '8'")
    memory: Memory = Field(description="memory of one node, e.g. '32Gi'")


#: A price per hour: a non-negative amount in ``cost.currency``.
Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CostSpec(StrictModel):
    """What capacity costs: the user's own prices, never a built-in list (docs/cost.md).

    Either by resource (``cpu_core_hour``, ``memory_gib_hour``, ``gpu_hour`` per GPU family) or
    by node (``price_per_node_hour``; a replica pays the share of the node it requests, by CPU or
    memory, whichever is larger). ``discount`` (spot, committed use) takes a share off every price.
    ``inferd cost``, the gateway's ``inferd_cost_*`` series and the rendered recording rules read
    these numbers.
    """

    currency: str = Field(default="USD", pattern=CURRENCY_PATTERN, description="ISO 4217 code")
    cpu_core_hour: Price | None = Field(default=None, description="price of one core for an hour")
    memory_gib_hour: Price | None = Field(
        default=None, description="price of one GiB of memory for an hour"
    )
    gpu_hour: dict[GpuFamily, Price] = Field(
        default_factory=dict,
        description="price of one whole GPU for an hour, by family (H100, A10G, L4…); a MIG "
        "slice pays its fraction of the GPU",
    )
    price_per_node_hour: Price | None = Field(
        default=None, description="price of one node for an hour (instead of per-resource prices)"
    )
    node: NodeShape | None = Field(
        default=None,
        description="what one node holds; unset under inferd up: this machine's cores and memory "
        "(inferd k8s render needs it)",
    )
    discount: float = Field(
        default=0.0, ge=0, lt=1, description="share off every price (spot, committed use), e.g. 0.3"
    )

    @field_validator("currency")
    @classmethod
    def _currency_in_use(cls, code: str) -> str:
        if code in ACTIVE_CURRENCIES:
            return code
        close = sorted(difflib.get_close_matches(code, sorted(ACTIVE_CURRENCIES), n=3))
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else "e.g. 'USD', 'EUR' or 'JPY'"
        )
        raise ValueError(f"{code!r} is not an ISO 4217 currency code in use; {hint}")

    @field_validator("discount", mode="before")
    @classmethod
    def _discount_is_a_share(cls, value: object) -> object:
        """A discount written in percent (``30``) is refused saying so, not only as out of
        range: the range check alone reads as if 30 were merely too big."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
            shown = f"{value:g}"
            if value < 100:
                raise ValueError(
                    f"a share off every price, less than 1: for {shown}% off write {value / 100:g}"
                )
            raise ValueError(f"a share off every price, less than 1 (0.3 is 30% off), got {shown}")
        return value

    @model_validator(mode="after")
    def _one_way_to_price(self) -> Self:
        per_resource = (
            self.cpu_core_hour is not None or self.memory_gib_hour is not None or self.gpu_hour
        )
        prices = frozenset({"price_per_node_hour", "cpu_core_hour", "memory_gib_hour", "gpu_hour"})
        problems = []
        if self.price_per_node_hour is not None and per_resource:
            problems.append(
                Problem(
                    ("price_per_node_hour",),
                    "price either per node or per resource (cpu_core_hour, memory_gib_hour, "
                    "gpu_hour), not both: a replica would be charged twice",
                    reads=prices,
                )
            )
        elif self.price_per_node_hour is None and not per_resource:
            problems.append(
                Problem(
                    (),
                    "no price is set: give price_per_node_hour or per-resource prices "
                    "(cpu_core_hour, memory_gib_hour, gpu_hour)",
                    reads=prices,
                )
            )
        if self.node is not None and self.price_per_node_hour is None:
            problems.append(
                Problem(
                    ("node",),
                    "node describes what price_per_node_hour buys; set that price",
                    reads=frozenset({"node", "price_per_node_hour"}),
                )
            )
        raise_problems("CostSpec", problems)
        return self
