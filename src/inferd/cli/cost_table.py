"""``inferd cost report``'s table: a row per version, a row per deployment of several versions
when the stack has several, and the stack's total, its money columns footing as printed; a
language model's tokens and cost per 1M tokens only when some version has tokens."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from rich.table import Table

from inferd.cli._app import print_whole, stdout

if TYPE_CHECKING:
    from inferd.control.cost.documents import CostReport, ReportTotal, ReportVersion

#: Until the sampler's second reading (``inferd up`` just started) a window holds nothing.
NOTHING_YET = (
    "no measurement in the window yet: inferd up measures every {interval:g} s and closes its "
    "first interval at its second reading; ask again in a few seconds"
)
#: The report's amounts that add up: its deployment and total rows print the sums of the rows
#: above them as printed, each column to one number of decimals, so a reader's sums foot.
Amount = Literal["held", "idle", "saved_scale_to_zero"]
_AMOUNTS: tuple[Amount, ...] = ("held", "idle", "saved_scale_to_zero")
_MOST_PLACES = 12
#: Columns of a language model's tokens (prompt plus generated), shown when a version has any.
_TOKENS, _PER_1M = "TOKENS", "PER 1M TOKENS"


def _money(value: float | None, currency: str | None) -> str:
    return "-" if value is None or currency is None else _number(value)


def _number(value: float) -> str:
    """Four significant digits, whole numbers from 10,000 on (not ``1.44e+04``: an hour of four
    replicas of a core, or an amount in won or yen); small amounts keep their exponent."""
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def print_report(doc: CostReport) -> None:
    out = stdout()
    currency = doc["currency"]
    out.print(
        f"over the last {doc['covered_s']:.0f} s (window {doc['window_s']:g} s, sampled every "
        f"{doc['interval_s']:g} s)"
    )
    out.print(f"prices: {doc['pricing']}" if doc["pricing"] else "no cost: section: capacity only")
    if not doc["versions"]:
        out.print(NOTHING_YET.format(interval=doc["interval_s"]))
        return
    table = Table(box=None, header_style="bold")
    money = f" ({currency})" if currency else ""
    columns = (
        "DEPLOYMENT", "VERSION", "REPLICAS", "CPU USED/HELD", "MEM USED/HELD", "PREDICTIONS",
        _TOKENS, f"HELD{money}", "IDLE", "IDLE %", "PER 1K", _PER_1M, "SAVED AT ZERO",
    )  # fmt: skip
    # A stack of classic models alone has no token: no column of dashes for it.
    llm = any(v["tokens"] is not None for v in doc["versions"])
    shown = [i for i, c in enumerate(columns) if llm or c not in (_TOKENS, _PER_1M)]
    for i in shown:
        table.add_column(columns[i])

    def add_row(*cells: str) -> None:
        table.add_row(*(cells[i] for i in shown))

    # An `inferd up` started before the report had deployments sends none: versions alone.
    subtotals = {d["deployment"]: d for d in doc.get("deployments", [])}
    names = dict.fromkeys(v["deployment"] for v in doc["versions"])
    places = {k: _places(v[k] for v in doc["versions"]) for k in _AMOUNTS}
    for name in names:
        versions = [v for v in doc["versions"] if v["deployment"] == name]
        for v in versions:
            held, used = v["held_capacity"], v["used_capacity"]
            add_row(
                v["deployment"], v["version"] + (" (shadow)" if v["shadow"] else ""),
                f"{v['replicas']:.2f}",
                _share(used["cpu_core_seconds"], held["cpu_core_seconds"], "core-s"),
                _share(used["memory_gib_seconds"], held["memory_gib_seconds"], "GiB-s"),
                str(v["predictions"]), _count(v["tokens"]),
                *(_sum([v], k, currency, places) for k in _AMOUNTS[:2]),
                _percent(v["idle_share"]), _money(v["per_1k_predictions"], currency),
                _money(v["per_1m_tokens"], currency),
                _sum([v], "saved_scale_to_zero", currency, places),
            )  # fmt: skip
        subtotal = subtotals.get(name)
        if subtotal and len(names) > 1 and len(versions) > 1:  # one alone is the total
            cells = _total_cells(subtotal, versions, currency, places)
            add_row(name, "(all versions)", *cells)
    add_row("total", "", *_total_cells(doc["total"], doc["versions"], currency, places))
    print_whole(table)  # each row whole on its line: the table is often piped or logged
    for v in doc["versions"]:
        if v["replica_hour_formula"]:
            out.print(f"{v['deployment']}/{v['version']} replica-hour: {v['replica_hour_formula']}")
        if v["unpriced"]:
            out.print(f"{v['deployment']}/{v['version']}: {v['unpriced']}")


def _total_cells(
    t: ReportTotal, rows: list[ReportVersion], currency: str | None, places: dict[Amount, int]
) -> list[str]:
    """The cells of a deployment's or the stack's row after its name: its amounts the sums of
    its versions' ``rows`` as printed."""
    return [
        "", "", "", str(t["predictions"]), _count(t["tokens"]),
        _sum(rows, "held", currency, places), _sum(rows, "idle", currency, places),
        _percent(t["idle_share"]),
        _money(t["per_1k_predictions"], currency), _money(t["per_1m_tokens"], currency),
        _sum(rows, "saved_scale_to_zero", currency, places),
    ]  # fmt: skip


def _places(amounts: Iterable[float | None]) -> int:
    """The decimals a column needs to show each of its amounts to four significant digits
    (none from 1,000 on, nor for whole ones): every amount of the column gets as many."""
    places = 0
    for a in amounts:
        if a:
            most = min(max(3 - math.floor(math.log10(abs(a))), 0), _MOST_PLACES)
            places = max(places, len(f"{a:.{most}f}".rstrip("0").partition(".")[2]))
    return places


def _sum(
    rows: list[ReportVersion], key: Amount, currency: str | None, places: dict[Amount, int]
) -> str:
    """The ``key`` amounts of ``rows``, each rounded to its column's decimals, added up."""
    amounts = [v[key] for v in rows]
    if currency is None or any(a is None for a in amounts):
        return "-"
    digits = places[key]
    summed = sum(round(a, digits) for a in amounts if a is not None)
    return f"{summed:.{digits}f}" if summed else "0"


def _count(tokens: int | None) -> str:
    return "-" if tokens is None else str(tokens)


def _share(used: float, held: float, unit: str) -> str:
    return f"{_number(used)}/{_number(held)} {unit}"


def _percent(share: float | None) -> str:
    """A whole percent; a share that is not none or all never reads 0% or 100%."""
    if share is None:
        return "-"
    if 0 < share < 0.005:
        return "<1%"
    if 0.995 <= share < 1:
        return ">99%"
    return f"{share:.0%}"
