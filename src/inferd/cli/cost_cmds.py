"""``inferd cost report`` and ``inferd cost recommend``: what each version of the running
``inferd up`` costs, and how to size it.

Both are one call to the admin API (:mod:`inferd.control.cost.api`), where the sampler's
measurements are; the arithmetic is :mod:`inferd.cost`'s. ``recommend`` writes its changes into
the user's spec file (:mod:`inferd.cost.patch`) and, for GPU versions, fits the measured use to
the machine's GPU's MIG profiles (``inferd gpu plan``'s tables, passed in as data).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inferd.cli._app import emit_json, handles_errors, json_option, main, stdout
from inferd.cli.cost_table import NOTHING_YET, print_report
from inferd.config import store_settings
from inferd.errors import InvalidArgument

if TYPE_CHECKING:
    from inferd.control.cost.documents import (
        GpuRow,
        ProposalRow,
        Recommendations,
    )
    from inferd.cost.prices import PriceBook
    from inferd.cost.recommend import GpuOption
    from inferd.spec.model import Spec

#: Advice from less measurement than this is printed with a caution.
SHORT_MEASUREMENT_S = 600.0
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
    print_report(doc)


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


def _print_advice(doc: Recommendations, fits: dict[str, str]) -> None:
    from inferd.control.cost.documents import proposal
    from inferd.control.cost.sampler import DEFAULT_INTERVAL_S

    out = stdout()
    out.print(f"measured over the last {doc['covered_s']:.0f} s")
    if not doc["advice"] and not doc["covered_s"]:
        out.print(NOTHING_YET.format(interval=DEFAULT_INTERVAL_S))
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
