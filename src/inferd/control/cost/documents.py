"""The cost documents of ``inferd up``: the status document's ``cost`` section (the dashboard
draws it), the report ``inferd cost report`` prints, and the recommendations of ``inferd cost
recommend``. Built from the sampler's intervals by :mod:`inferd.cost`'s pure functions.
"""

from __future__ import annotations

from typing import TypedDict

from inferd.control.cost.sampler import CostSampler
from inferd.control.cost.series import RECENT_S
from inferd.cost.accounting import (
    Account,
    CapacitySeconds,
    Money,
    Total,
    VersionInterval,
    account,
    idle_share,
    total,
)
from inferd.cost.prices import PriceBook
from inferd.cost.recommend import Proposal, recommend, spec_changes
from inferd.cost.usage import Usage, usage

_MIB_PER_GIB = 1024.0


class CostVersionStatus(TypedDict):
    deployment: str
    version: str
    #: Replicas held on average over the window.
    replicas: float
    #: Money for capacity held, and for the part of it not used.
    held: float
    idle: float
    #: idle / held (0 when nothing was held).
    idle_share: float
    predictions: int
    per_1k_predictions: float | None
    per_1m_tokens: float | None
    saved_scale_to_zero: float


class CostTotalStatus(TypedDict):
    held: float
    idle: float
    per_1k_predictions: float | None


class CostStatus(TypedDict):
    """The status document's ``cost``: every version over the last 5 minutes."""

    currency: str
    window_s: float
    versions: list[CostVersionStatus]
    total: CostTotalStatus


class CapacityRow(TypedDict):
    cpu_core_seconds: float
    memory_gib_seconds: float
    gpu_seconds: float


class ReportMoney(TypedDict):
    """Money over the window, in the spec's currency: each field None without prices."""

    held: float | None
    used: float | None
    idle: float | None
    idle_share: float | None
    saved_scale_to_zero: float | None


class ReportVersion(ReportMoney):
    """One version in ``inferd cost report``; money fields are None without prices."""

    deployment: str
    version: str
    shadow: bool
    replicas: float
    replica_seconds: float
    held_capacity: CapacityRow
    used_capacity: CapacityRow
    predictions: int
    rows: int
    tokens: int | None
    per_1k_predictions: float | None
    per_1m_tokens: float | None
    #: Money per replica-hour held, and the arithmetic for its latest replica.
    replica_hour: float | None
    replica_hour_formula: str | None
    #: Why part of what it held has no price.
    unpriced: str | None


class ReportTotal(ReportMoney):
    predictions: int
    per_1k_predictions: float | None
    tokens: int | None
    per_1m_tokens: float | None


class ReportDeployment(ReportTotal):
    """Every version of one deployment, its shadow included."""

    deployment: str


class CostReport(TypedDict):
    """``GET /admin/cost?window=``: every version over the window."""

    #: None when the spec has no ``cost:`` section (capacity is still reported).
    currency: str | None
    #: How capacity is priced, in words.
    pricing: str | None
    #: The window asked for, the time its intervals cover, and the sampling interval.
    window_s: float
    covered_s: float
    interval_s: float
    versions: list[ReportVersion]
    #: Per deployment (in the order of ``versions``), and the whole stack.
    deployments: list[ReportDeployment]
    total: ReportTotal


class ProposalRow(TypedDict):
    path: str
    deployment: str
    version: str | None
    field: str
    current: int | str | None
    proposed: int | str
    arithmetic: str


class UsageRow(TypedDict):
    replicas: float
    requests: int
    predictions: int
    rps_p50: float
    rps_p95: float
    rps_max: float
    concurrency_p95: float
    concurrency_max: float
    cores_p95: float
    cpu_seconds_per_request: float | None
    peak_rss_mib: float | None
    gpu_busy_p95: float | None
    gpu_memory_gib: float | None


class AdviceRow(TypedDict):
    deployment: str
    version: str
    usage: UsageRow
    proposals: list[ProposalRow]
    notes: list[str]


class GpuRow(TypedDict):
    """The machine's GPU, for fitting a MIG profile (``inferd cost recommend``)."""

    product: str
    memory_total_gib: float


class Recommendations(TypedDict):
    """``GET /admin/cost/recommendations?window=``: per version, and the changes to make."""

    window_s: float
    covered_s: float
    advice: list[AdviceRow]
    #: One per setting that changes (what the spec patch writes).
    changes: list[ProposalRow]
    gpu: GpuRow | None


def cost_status(sampler: CostSampler) -> CostStatus | None:
    """The last 5 minutes, or None when the spec prices nothing."""
    book = sampler.book()
    if book is None:
        return None
    intervals = sampler.intervals(RECENT_S)
    accounts = account(intervals, book)
    versions: list[CostVersionStatus] = []
    for a in accounts:
        assert a.money is not None
        versions.append(
            {
                "deployment": a.deployment,
                "version": a.version,
                "replicas": a.replicas,
                "held": a.money.held,
                "idle": a.money.idle,
                "idle_share": a.idle_share or 0.0,
                "predictions": a.predictions,
                "per_1k_predictions": a.per_1k_predictions,
                "per_1m_tokens": a.per_1m_tokens,
                "saved_scale_to_zero": a.money.saved_scale_to_zero,
            }
        )
    t = total(accounts, covered(intervals))
    return {
        "currency": book.currency,
        "window_s": t.seconds,
        "versions": versions,
        "total": {
            "held": t.money.held if t.money else 0.0,
            "idle": t.money.idle if t.money else 0.0,
            "per_1k_predictions": t.per_1k_predictions,
        },
    }


def cost_report(sampler: CostSampler, window_s: float) -> CostReport:
    book = sampler.book()
    intervals = sampler.intervals(window_s)
    accounts = account(intervals, book)
    t = total(accounts, covered(intervals), priced=book is not None)
    return {
        "currency": book.currency if book else None,
        "pricing": pricing(book) if book else None,
        "window_s": window_s,
        "covered_s": t.seconds,
        "interval_s": sampler.interval_s,
        "versions": [_report_version(a, intervals, book) for a in accounts],
        "deployments": [
            {
                "deployment": name,
                **_report_total(total([a for a in accounts if a.deployment == name], t.seconds)),
            }
            for name in dict.fromkeys(a.deployment for a in accounts)
        ],
        "total": _report_total(t),
    }


def _report_total(t: Total) -> ReportTotal:
    return {
        **_report_money(t.money),
        "predictions": t.predictions,
        "per_1k_predictions": t.per_1k_predictions,
        "tokens": t.tokens.total if t.tokens is not None else None,
        "per_1m_tokens": t.per_1m_tokens,
    }


def recommendations(sampler: CostSampler, window_s: float) -> Recommendations:
    spec = sampler.sources.spec()
    intervals = sampler.intervals(window_s)
    usages = usage(intervals)
    advice = recommend(spec, usages) if spec is not None else []
    measured = {(u.deployment, u.version): u for u in usages}
    gpu = sampler.gpu
    return {
        "window_s": window_s,
        "covered_s": covered(intervals),
        "advice": [
            {
                "deployment": a.deployment,
                "version": a.version,
                "usage": _usage_row(measured[(a.deployment, a.version)]),
                "proposals": [proposal_row(p) for p in a.proposals],
                "notes": list(a.notes),
            }
            for a in advice
        ],
        "changes": [proposal_row(p) for p in spec_changes(advice)],
        "gpu": (
            {"product": gpu.product, "memory_total_gib": gpu.memory_total_gib}
            if gpu is not None
            else None
        ),
    }


def covered(intervals: list[VersionInterval]) -> float:
    """The time a window's intervals cover (each tick counted once)."""
    return sum({i.end: i.seconds for i in intervals}.values())


def pricing(book: PriceBook) -> str:
    """How ``book`` prices capacity, in words."""
    cost = book.cost
    if cost.price_per_node_hour is not None:
        where = "cost.node" if cost.node is not None else "this machine"
        text = (
            f"per node: {cost.price_per_node_hour:g} {cost.currency}/node-hour for "
            f"{book.node.cores:g} cores and {book.node.memory_gib:.4g} GiB ({where}), a replica "
            "paying its larger share of CPU or memory"
        )
    else:
        parts = []
        if cost.cpu_core_hour is not None:
            parts.append(f"{cost.cpu_core_hour:g}/core-hour")
        if cost.memory_gib_hour is not None:
            parts.append(f"{cost.memory_gib_hour:g}/GiB-hour")
        parts += [f"{family} {price:g}/GPU-hour" for family, price in cost.gpu_hour.items()]
        text = f"per resource ({cost.currency}): " + ", ".join(parts)
    if cost.discount:
        text += f"; discount {cost.discount * 100:g}% off every price"
    return text


def _report_version(
    a: Account, intervals: list[VersionInterval], book: PriceBook | None
) -> ReportVersion:
    m = a.money
    formula = None
    latest = next(
        (i for i in reversed(intervals) if i.key == (a.deployment, a.version) and i.replicas),
        None,
    )
    prices = latest.book(book) if latest is not None else None
    if prices is not None and latest is not None:
        formula = prices.hourly(latest.replicas[-1].held, latest.gpu_product).formula
    return {
        "deployment": a.deployment,
        "version": a.version,
        "shadow": a.shadow,
        "replicas": a.replicas,
        "replica_seconds": a.replica_seconds,
        "held_capacity": _capacity(a.held),
        "used_capacity": _capacity(a.used),
        "predictions": a.predictions,
        "rows": a.rows,
        "tokens": a.tokens.total if a.tokens is not None else None,
        **_report_money(m),
        "per_1k_predictions": a.per_1k_predictions,
        "per_1m_tokens": a.per_1m_tokens,
        "replica_hour": m.held / a.replica_seconds * 3600 if m and a.replica_seconds else None,
        "replica_hour_formula": formula,
        "unpriced": a.unpriced,
    }


def _report_money(m: Money | None) -> ReportMoney:
    return {
        "held": m.held if m else None,
        "used": m.used if m else None,
        "idle": m.idle if m else None,
        "idle_share": idle_share(m),
        "saved_scale_to_zero": m.saved_scale_to_zero if m else None,
    }


def _capacity(c: CapacitySeconds) -> CapacityRow:
    return {"cpu_core_seconds": c.cores, "memory_gib_seconds": c.memory_gib, "gpu_seconds": c.gpus}


def _usage_row(u: Usage) -> UsageRow:
    return {
        "replicas": u.replicas,
        "requests": u.requests,
        "predictions": u.predictions,
        "rps_p50": u.rps_p50,
        "rps_p95": u.rps_p95,
        "rps_max": u.rps_max,
        "concurrency_p95": u.concurrency_p95,
        "concurrency_max": u.concurrency_max,
        "cores_p95": u.cores_p95,
        "cpu_seconds_per_request": u.cpu_seconds_per_request,
        "peak_rss_mib": u.peak_gib * _MIB_PER_GIB if u.peak_gib is not None else None,
        "gpu_busy_p95": u.gpu_busy_p95,
        "gpu_memory_gib": u.gpu_memory_gib,
    }


def proposal_row(p: Proposal) -> ProposalRow:
    """A proposal as the documents carry it."""
    return {
        "path": p.path,
        "deployment": p.deployment,
        "version": p.version,
        "field": p.field,
        "current": p.current,
        "proposed": p.proposed,
        "arithmetic": p.arithmetic,
    }


def proposal(row: ProposalRow) -> Proposal:
    """A proposal back from its row (the CLI writes the spec patch from these)."""
    return Proposal(
        row["deployment"],
        row["version"],
        row["field"],
        row["current"],
        row["proposed"],
        row["arithmetic"],
    )
