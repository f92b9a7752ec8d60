"""``inferd cost report`` and ``inferd cost recommend``: what each version of the running
``inferd up`` costs, and how to size it.

Both are one call to the admin API (:mod:`inferd.control.cost.api`), where the sampler's
measurements are; the arithmetic is :mod:`inferd.cost`'s. ``recommend`` writes its changes into
the user's spec file (:mod:`inferd.cost.patch`) and, for GPU versions, fits the measured use to
the machine's GPU's MIG profiles (``inferd gpu plan``'s tables, passed in as data).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click
from rich.table import Table

from inferd.cli._app import emit_json, handles_errors, json_option, main, print_whole, stdout
from inferd.config import store_settings
from inferd.errors import InvalidArgument

if TYPE_CHECKING:
    from inferd.control.cost.documents import (
        CostReport,
        GpuRow,
        ProposalRow,
        Recommendations,
        ReportTotal,
        ReportVersion,
    )
    from inferd.cost.prices import PriceBook
    from inferd.cost.recommend import GpuOption
    from inferd.spec.model import Spec

#: Advice from less measurement than this is printed with a caution.
SHORT_MEASUREMENT_S = 600.0
#: Until the sampler's second reading (``inferd up`` just started) a window holds nothing.
_NOTHING_YET = (
    "no measurement in the window yet: inferd up measures every {interval:g} s and closes its "
    "first interval at its second reading; ask again in a few seconds"
)
#: The report's amounts that add up: its deployment and total rows print the sums of the rows
#: above them as printed, each column to one number of decimals, so a reader's sums foot.
Amount = Literal["held", "idle", "saved_scale_to_zero"]
_AMOUNTS: tuple[Amount, ...] = ("held", "idle", "saved_scale_to_zero")
_MOST_PLACES = 12
_WINDOW = click.option(
    "--window",
    default="1h",
    show_default=True,
    help="How far back to look: a duration such as 20s, 5m or 1h (5s to 2h).",
)


@main.group()
def cost() -> None:
    """What each version of the running `inferd up` costs, and how to size it (docs/cost.md)."""


@cost.command("report")
@_WINDOW
@json_option
@handles_errors
def report(*, window: str, as_json: bool) -> None:
    """Capacity held and used, predictions, money, cost per 1k predictions, idle money and
    scale-to-zero savings per deployment and version over the window."""
    from inferd.control.admin.client import AdminClient
    from inferd.control.cost.api import parse_window

    parse_window(window)
    doc = AdminClient(store_settings().root).cost_report(window)
    if as_json:
        emit_json(doc)
        return
    _print_report(doc)


@cost.command("recommend")
@_WINDOW
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The spec file to patch (default: the file `inferd up` was started with).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="Write the patched spec here ('-': stdout), ready for `inferd apply`.",
)
@json_option
@handles_errors
def recommend(*, window: str, spec_file: Path | None, output: Path | None, as_json: bool) -> None:
    """Right-size requests, replicas and batching from what the window measured, showing the
    arithmetic; -o FILE writes the spec with the changes made, for `inferd apply FILE`."""
    import yaml

    from inferd.control.admin.client import AdminClient
    from inferd.control.cost.api import parse_window
    from inferd.control.cost.documents import proposal
    from inferd.cost.patch import patch_text
    from inferd.spec.loading import load_spec, parse_spec

    parse_window(window)
    if as_json and str(output) == "-":
        raise InvalidArgument(
            "-o - prints the patched spec alone on stdout, so --json goes without it "
            "(-o FILE --json writes the spec and prints the JSON)"
        )
    client = AdminClient(store_settings().root)
    doc = client.cost_recommendations(window)
    path = spec_file or Path(client.state.spec)
    if spec_file is not None and not path.is_file():
        raise InvalidArgument(f"--spec {str(path)!r}: no such file")
    if not path.is_file():
        raise InvalidArgument(
            f"the spec file {str(path)!r} that `inferd up` was started with is gone; name it "
            "with --spec"
        )
    spec = load_spec(path)
    _keep_written_replicas(doc, spec, path.name)
    _against_file(doc, spec)
    changes = [proposal(row) for row in doc["changes"]]
    patch = patch_text(yaml.safe_load(path.read_text(encoding="utf-8")), changes, path.name)
    parse_spec(patch, f"{path.name} (patched)")  # never write a spec `inferd apply` refuses
    fits = _gpu_fits(doc, spec)
    if str(output) == "-":  # the patched spec alone, for a pipe
        sys.stdout.write(patch)
        return
    if output is not None:
        output.write_text(patch, encoding="utf-8")
    if as_json:
        emit_json({**doc, "gpu_fits": fits, "patch": patch if changes else None})
        return
    _print_advice(doc, fits)
    out = stdout()
    if not changes:
        out.print("nothing to change")
    elif output is None:
        out.print("write the patched spec with -o FILE ('-': stdout), then: inferd apply FILE")
    else:
        out.print(f"wrote {output}; apply it with: inferd apply {output}")


def _keep_written_replicas(doc: Recommendations, spec: Spec, file: str) -> None:
    """Raise each proposed ``autoscaling.max_replicas`` to the largest ``replicas`` the spec file
    starts a version of its deployment with, and drop the changes that then change nothing.

    The server sizes from the running spec, where an autoscaled version's ``replicas`` is what
    the autoscaler chose; the file keeps the count the version starts with, and a spec whose
    ``replicas`` exceed ``max_replicas`` is refused (by ``inferd apply`` and by the check here).
    """
    rows = [row for a in doc["advice"] for row in a["proposals"]] + doc["changes"]
    for row in rows:
        deployment = spec.deployment(row["deployment"])
        if row["field"] != "autoscaling.max_replicas" or deployment is None:
            continue
        widest = max(deployment.versions, key=lambda v: v.replicas)
        proposed = row["proposed"]
        if isinstance(proposed, int) and proposed < widest.replicas:
            row["proposed"] = widest.replicas
            row["arithmetic"] += (
                f"; {file} starts {deployment.name}/{widest.name} with {widest.replicas} "
                f"replicas → {widest.replicas}"
            )
    doc["changes"] = [row for row in doc["changes"] if row["proposed"] != row["current"]]


def _against_file(doc: Recommendations, spec: Spec) -> None:
    """Read each proposal's current value from the spec file being patched, and make the changes
    those that change it.

    The server compares with the running spec; after an ``inferd apply`` of another file, the
    file ``inferd up`` was started with may still hold the values that apply replaced, and a
    patch of it without the proposals the running spec already has would undo them.
    """
    from inferd.control.cost.documents import proposal, proposal_row
    from inferd.cost.recommend import Advice, current_value, spec_changes

    advice = []
    for a in doc["advice"]:
        for row in a["proposals"]:
            row["current"] = current_value(spec, proposal(row))
        proposals = tuple(proposal(row) for row in a["proposals"])
        advice.append(Advice(a["deployment"], a["version"], proposals, ()))
    doc["changes"] = [proposal_row(p) for p in spec_changes(advice)]


def _money(value: float | None, currency: str | None) -> str:
    return "-" if value is None or currency is None else _number(value)


def _number(value: float) -> str:
    """Four significant digits, whole numbers from 10,000 on (not ``1.44e+04``: an hour of four
    replicas of a core, or an amount in won or yen); small amounts keep their exponent."""
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _print_report(doc: CostReport) -> None:
    out = stdout()
    currency = doc["currency"]
    out.print(
        f"over the last {doc['covered_s']:.0f} s (window {doc['window_s']:g} s, sampled every "
        f"{doc['interval_s']:g} s)"
    )
    out.print(f"prices: {doc['pricing']}" if doc["pricing"] else "no cost: section: capacity only")
    if not doc["versions"]:
        out.print(_NOTHING_YET.format(interval=doc["interval_s"]))
        return
    table = Table(box=None, header_style="bold")
    money = f" ({currency})" if currency else ""
    for column in (
        "DEPLOYMENT", "VERSION", "REPLICAS", "CPU USED/HELD", "MEM USED/HELD", "PREDICTIONS",
        f"HELD{money}", "IDLE", "IDLE %", "PER 1K", "PER 1M TOKENS", "SAVED AT ZERO",
    ):  # fmt: skip
        table.add_column(column)
    # An `inferd up` started before the report had deployments sends none: versions alone.
    subtotals = {d["deployment"]: d for d in doc.get("deployments", [])}
    names = dict.fromkeys(v["deployment"] for v in doc["versions"])
    places = {k: _places(v[k] for v in doc["versions"]) for k in _AMOUNTS}
    for name in names:
        versions = [v for v in doc["versions"] if v["deployment"] == name]
        for v in versions:
            held, used = v["held_capacity"], v["used_capacity"]
            table.add_row(
                v["deployment"], v["version"] + (" (shadow)" if v["shadow"] else ""),
                f"{v['replicas']:.2f}",
                _share(used["cpu_core_seconds"], held["cpu_core_seconds"], "core-s"),
                _share(used["memory_gib_seconds"], held["memory_gib_seconds"], "GiB-s"),
                str(v["predictions"]), *(_sum([v], k, currency, places) for k in _AMOUNTS[:2]),
                _percent(v["idle_share"]), _money(v["per_1k_predictions"], currency),
                _money(v["per_1m_tokens"], currency),
                _sum([v], "saved_scale_to_zero", currency, places),
            )  # fmt: skip
        subtotal = subtotals.get(name)
        if subtotal and len(names) > 1 and len(versions) > 1:  # one alone is the total
            cells = _total_cells(subtotal, versions, currency, places)
            table.add_row(name, "(all versions)", *cells)
    table.add_row("total", "", *_total_cells(doc["total"], doc["versions"], currency, places))
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
        "", "", "", str(t["predictions"]), _sum(rows, "held", currency, places),
        _sum(rows, "idle", currency, places), _percent(t["idle_share"]),
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


def _print_advice(doc: Recommendations, fits: dict[str, str]) -> None:
    from inferd.control.cost.documents import proposal
    from inferd.control.cost.sampler import DEFAULT_INTERVAL_S

    out = stdout()
    out.print(f"measured over the last {doc['covered_s']:.0f} s")
    if not doc["advice"] and not doc["covered_s"]:
        out.print(_NOTHING_YET.format(interval=DEFAULT_INTERVAL_S))
    elif doc["covered_s"] < SHORT_MEASUREMENT_S:
        out.print(
            f"caution: only {doc['covered_s']:.0f} s measured: advice from minutes misses the "
            "peaks and quiet hours of a day (VPA and Kubecost size from days); let it measure "
            "longer before applying it"
        )
    for a in doc["advice"]:
        u = a["usage"]
        out.print(
            f"\n{a['deployment']}/{a['version']}: {u['replicas']:.2f} replicas, "
            f"{u['requests']} requests (p95 {u['rps_p95']:.3g}/s, "
            f"{u['concurrency_p95']:.3g} in flight), p95 {u['cores_p95']:.3g} cores, "
            f"peak RSS {_mib(u['peak_rss_mib'])}"
        )
        for p in a["proposals"]:
            # By value, as the changes are: 0.25 and 250m are one CPU request.
            mark = "->" if proposal(p).changes else "=="
            out.print(f"  {p['field']}: {_value(p)} {mark} {p['proposed']}  ({p['arithmetic']})")
        for note in a["notes"]:
            out.print(f"  note: {note}")
        fit = fits.get(f"{a['deployment']}/{a['version']}")
        if fit:
            out.print(f"  GPU: {fit}")
    if doc["changes"]:
        out.print("\nchanges:")
        for p in doc["changes"]:
            out.print(f"  {p['path']}: {_value(p)} -> {p['proposed']}")


def _value(p: ProposalRow) -> object:
    """A proposal's current value as printed: ``unset`` where the spec sets none."""
    return "unset" if p["current"] is None else p["current"]


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MiB"


def _gpu_fits(doc: Recommendations, spec: Spec) -> dict[str, str]:
    """For each GPU version, the cheapest MIG profile (or the whole GPU) of the machine's GPU
    that covers its measured use, with the arithmetic."""
    from inferd.control.cost.proc import this_machine
    from inferd.cost.prices import PriceBook
    from inferd.cost.recommend import gpu_fit

    gpu = doc["gpu"]
    if gpu is None:
        return {}
    book = None if spec.cost is None else PriceBook.of(spec.cost, this_machine())
    options = _gpu_options(gpu, book)
    fits = {}
    for a in doc["advice"]:
        busy, d = a["usage"]["gpu_busy_p95"], spec.deployment(a["deployment"])
        if busy is None or d is None:
            continue
        memory = a["usage"]["gpu_memory_gib"] or 0.0
        _, arithmetic = gpu_fit(busy, memory, float(d.resources.gpu), options)
        fits[f"{a['deployment']}/{a['version']}"] = arithmetic
    return fits


def _gpu_options(gpu: GpuRow, book: PriceBook | None) -> list[GpuOption]:
    """The whole GPU and every MIG profile of its product (``inferd gpu plan``'s tables)."""
    from inferd.cost.capacity import Capacity
    from inferd.cost.recommend import GpuOption
    from inferd.deploy.mig import mig_gpu

    product = gpu["product"]

    def hourly(fraction: float) -> float | None:
        if book is None or book.cost.price_per_node_hour is not None:
            return None
        price = book.hourly(Capacity(gpus=fraction), product)
        return None if price.unpriced else price.amount

    options = [GpuOption(f"a whole {product}", 1.0, gpu["memory_total_gib"], hourly(1.0))]
    table = mig_gpu(product.replace(" ", "-"), int(gpu["memory_total_gib"] * 2**30))
    for p in table.profiles if table is not None else ():
        fraction = p.compute / table.compute_slices if table is not None else 1.0
        options.append(GpuOption(f"MIG {p.name}", fraction, p.memory_gib, hourly(fraction)))
    return options
