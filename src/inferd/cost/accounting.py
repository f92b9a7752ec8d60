"""Accounting over a window: capacity held and used, work done, and what it cost.

The sampler (``inferd up``) cuts time into intervals of a few seconds and records, per version,
a :class:`VersionInterval`: each replica's slice of it (what it held and what it used), the
predictions it answered, rows and tokens, and whether the deployment sat at zero replicas.
:func:`account` adds a window's intervals up per version:

- **held** = Σ over replica slices of seconds * held capacity (core-, GiB- and GPU-seconds);
- **used** = Σ seconds * measured use, each resource capped at what the replica held;
- **money held** = Σ seconds / 3600 * price per hour of the held capacity
  (:meth:`~inferd.cost.prices.PriceBook.hourly`); **money used** the same of the used capacity;
  **idle** = held - used: money for capacity held and not used;
- **cost per 1k predictions** = money held / predictions * 1000 (None without predictions),
  **per 1M tokens** = money held / tokens * 10⁶ (None without tokens);
- **scale-to-zero savings** = Σ seconds at zero / 3600 * price per hour of one replica: the
  least the deployment would have held had it not scaled to zero (``min_replicas`` would be 1).

Each interval is priced at the prices of its time (:attr:`VersionInterval.prices`), unless they
were in another currency than now's. Pricing each slice on its own keeps node prices exact
(their ``max`` of CPU and memory shares is not linear), and lets replicas of one version hold
different memory (their own peak RSS).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from inferd.cost.capacity import Capacity
from inferd.cost.prices import PriceBook

HOUR = 3600.0
#: Buckets of a histogram: (upper bound, observations at or below it), by bound.
Buckets = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class ReplicaSlice:
    """One replica during one interval."""

    #: How long in the interval the replica's process ran (held its capacity).
    seconds: float
    held: Capacity
    #: Average use over those seconds: cores (CPU seconds / seconds), GiB of RSS, GPUs busy.
    used: Capacity
    #: Peak resident memory of the replica's processes so far, GiB.
    peak_gib: float = 0.0
    #: GPU memory in use by the replica, GiB (its share of what its GPUs have in use).
    gpu_memory_gib: float = 0.0


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens an LLM read and wrote."""

    prompt: int = 0
    generated: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.generated


@dataclass(frozen=True, slots=True)
class VersionInterval:
    """What one version held, used and did during one sampling interval."""

    deployment: str
    version: str
    #: Wall-clock time (time.time()) the interval ended, and its length in seconds.
    end: float
    seconds: float
    replicas: tuple[ReplicaSlice, ...] = ()
    #: Requests it answered successfully (primary traffic: a shadow's copies are not predictions).
    predictions: int = 0
    #: Requests it received, whatever their outcome, mirrored copies included (its load).
    requests: int = 0
    #: Rows its model ran (a request may carry several).
    rows: int = 0
    #: LLM tokens; None for models that have none.
    tokens: Tokens | None = None
    #: The product of the GPUs its replicas use (NVML's name), if any.
    gpu_product: str | None = None
    #: Seconds of the interval the deployment sat at zero replicas, and one replica as it would
    #: have been held then.
    zero_seconds: float = 0.0
    zero: Capacity | None = None
    #: Requests in flight to its replicas, sampled through the interval.
    concurrency: tuple[float, ...] = ()
    #: Batch sizes its replicas ran in the interval (cumulative buckets).
    batches: Buckets = ()
    #: It is the deployment's shadow (mirrored traffic only).
    shadow: bool = False
    #: The prices in effect when it was measured (None: none then, or not known).
    prices: PriceBook | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.deployment, self.version)

    def book(self, now: PriceBook | None) -> PriceBook | None:
        """The prices this interval is priced at, given the prices ``now``: those of its time,
        unless they were in another currency (amounts in two cannot be added) or there were
        none; None while there are none now."""
        if now is None or self.prices is None or self.prices.currency != now.currency:
            return now
        return self.prices


@dataclass(frozen=True, slots=True)
class CapacitySeconds:
    """Capacity over time: core-seconds, GiB-seconds, GPU-seconds."""

    cores: float = 0.0
    memory_gib: float = 0.0
    gpus: float = 0.0

    def plus(self, capacity: Capacity, seconds: float) -> CapacitySeconds:
        return CapacitySeconds(
            self.cores + capacity.cores * seconds,
            self.memory_gib + capacity.memory_gib * seconds,
            self.gpus + capacity.gpus * seconds,
        )

    def __add__(self, other: CapacitySeconds) -> CapacitySeconds:
        return CapacitySeconds(
            self.cores + other.cores, self.memory_gib + other.memory_gib, self.gpus + other.gpus
        )


@dataclass(frozen=True, slots=True)
class Money:
    """Money over a window, in the price book's currency."""

    held: float = 0.0
    used: float = 0.0
    saved_scale_to_zero: float = 0.0

    @property
    def idle(self) -> float:
        """Money for capacity held and not used."""
        return max(self.held - self.used, 0.0)


class UnitCosts:
    """What a window's money comes to per unit of work, for :class:`Account` and
    :class:`Total` alike."""

    __slots__ = ()
    money: Money | None
    predictions: int
    tokens: Tokens | None

    @property
    def per_1k_predictions(self) -> float | None:
        return per_1k(self.money, self.predictions)

    @property
    def per_1m_tokens(self) -> float | None:
        return per_1m(self.money, self.tokens)

    @property
    def idle_share(self) -> float | None:
        """Share of the money held that paid for idle capacity."""
        return idle_share(self.money)


@dataclass(frozen=True, slots=True)
class Account(UnitCosts):
    """One version over a window."""

    deployment: str
    version: str
    #: The time its intervals cover.
    seconds: float
    replica_seconds: float
    held: CapacitySeconds
    used: CapacitySeconds
    predictions: int
    rows: int
    tokens: Tokens | None
    #: None without prices.
    money: Money | None
    #: Why part of what it held has no price (see :class:`~inferd.cost.prices.Hourly`).
    unpriced: str | None = None
    shadow: bool = False

    @property
    def replicas(self) -> float:
        """Replicas held on average over the window."""
        return self.replica_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Total(UnitCosts):
    """Every version over the window."""

    seconds: float
    predictions: int
    money: Money | None
    #: Tokens of the language-model versions, shadows' left out; None when none has any.
    tokens: Tokens | None = None


def per_1k(money: Money | None, predictions: int) -> float | None:
    """Money held per thousand predictions; None without prices or predictions."""
    if money is None or predictions == 0:
        return None
    return money.held / predictions * 1000


def per_1m(money: Money | None, tokens: Tokens | None) -> float | None:
    """Money held per million tokens; None without prices or tokens."""
    if money is None or tokens is None or tokens.total == 0:
        return None
    return money.held / tokens.total * 1e6


def idle_share(money: Money | None) -> float | None:
    if money is None or money.held <= 0:
        return None
    return money.idle / money.held


def spanned(spans: Iterable[tuple[float, float]]) -> float:
    """The time ``spans`` (start, end) cover together, overlaps counted once: how long at least
    one of some replicas ran."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        covered += max(end - max(start, reach), 0.0)
        reach = max(reach, end)
    return covered


def window(
    intervals: Iterable[VersionInterval], now: float, seconds: float
) -> list[VersionInterval]:
    """The intervals that ended in the last ``seconds`` before ``now``."""
    since = now - seconds
    return [i for i in intervals if i.end > since]


@dataclass
class _Sums:
    seconds: dict[float, float] = field(default_factory=dict)
    replica_seconds: float = 0.0
    held: CapacitySeconds = CapacitySeconds()
    used: CapacitySeconds = CapacitySeconds()
    predictions: int = 0
    rows: int = 0
    tokens: Tokens | None = None
    money: Money = Money()
    unpriced: str | None = None
    shadow: bool = False

    def account(self, key: tuple[str, str], *, priced: bool) -> Account:
        return Account(
            deployment=key[0],
            version=key[1],
            seconds=sum(self.seconds.values()),
            replica_seconds=self.replica_seconds,
            held=self.held,
            used=self.used,
            predictions=self.predictions,
            rows=self.rows,
            tokens=self.tokens,
            money=self.money if priced else None,
            unpriced=self.unpriced,
            shadow=self.shadow,
        )


def account(intervals: Iterable[VersionInterval], now: PriceBook | None) -> list[Account]:
    """Per version (in the order first seen), what the intervals add up to; money only with
    prices ``now``, each interval at the prices of its time (:meth:`VersionInterval.book`)."""
    sums: defaultdict[tuple[str, str], _Sums] = defaultdict(_Sums)
    for interval in intervals:
        book = interval.book(now)
        s = sums[interval.key]
        s.seconds[interval.end] = interval.seconds
        s.predictions += interval.predictions
        s.rows += interval.rows
        s.shadow = s.shadow or interval.shadow
        if interval.tokens is not None:
            before = s.tokens or Tokens()
            s.tokens = Tokens(
                before.prompt + interval.tokens.prompt,
                before.generated + interval.tokens.generated,
            )
        for r in interval.replicas:
            used = r.used.capped(r.held)
            s.replica_seconds += r.seconds
            s.held = s.held.plus(r.held, r.seconds)
            s.used = s.used.plus(used, r.seconds)
            if book is not None:
                held = book.hourly(r.held, interval.gpu_product)
                spent = book.hourly(used, interval.gpu_product).amount
                s.unpriced = s.unpriced or held.unpriced
                s.money = Money(
                    s.money.held + held.amount * r.seconds / HOUR,
                    s.money.used + spent * r.seconds / HOUR,
                    s.money.saved_scale_to_zero,
                )
        if book is not None and interval.zero is not None and interval.zero_seconds > 0:
            saved = book.hourly(interval.zero, interval.gpu_product).amount
            s.money = Money(
                s.money.held,
                s.money.used,
                s.money.saved_scale_to_zero + saved * interval.zero_seconds / HOUR,
            )
    return [s.account(key, priced=now is not None) for key, s in sums.items()]


def total(accounts: Iterable[Account], seconds: float, *, priced: bool = False) -> Total:
    """The accounts added up over a window of ``seconds``; with ``priced`` (a price book is
    set) its money is 0 when no account has any (nothing measured yet), not None."""
    listed = list(accounts)
    monies = [a.money for a in listed if a.money is not None]
    money = (
        Money(
            sum(m.held for m in monies),
            sum(m.used for m in monies),
            sum(m.saved_scale_to_zero for m in monies),
        )
        if monies or priced
        else None
    )
    # A shadow's tokens answer mirrored copies: paid for (its money counts), served to nobody.
    counted = [a.tokens for a in listed if a.tokens is not None and not a.shadow]
    tokens = (
        Tokens(sum(t.prompt for t in counted), sum(t.generated for t in counted))
        if counted
        else None
    )
    return Total(seconds, sum(a.predictions for a in listed), money, tokens)
