"""GPU commands: ``inferd gpu plan`` (capacity on a nodes file) and ``inferd doctor`` (the GPUs
of this machine, or of the cluster kubectl points at)."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import click

from inferd import __version__
from inferd.cli._app import (
    FILE,
    emit_json,
    handles_errors,
    json_option,
    main,
    print_whole,
    scale_option,
    stdout,
)
from inferd.cli.k8s_cmds import placement_options

if TYPE_CHECKING:
    from inferd.deploy.gpu_plan import Plan, Scale
    from inferd.deploy.k8s_options import RenderFlags


@main.group()
def gpu() -> None:
    """Plan GPU capacity."""


@gpu.command()
@click.argument("file", type=FILE)
@click.option(
    "--nodes",
    "nodes_file",
    type=FILE,
    required=True,
    help="YAML file listing nodes and their GPUs.",
)
@click.option("--overlay", type=FILE, help="Kubernetes overlay (per-deployment gpu_product).")
@scale_option("replicas", "Plan for the spec's replicas, or autoscaling's maximum.")
@click.option(
    "--explain",
    is_flag=True,
    help="Print the memory arithmetic of each LLM deployment (weights, KV cache, overhead).",
)
@json_option
@placement_options
@handles_errors
def plan(
    file: Path,
    *,
    nodes_file: Path,
    overlay: Path | None,
    scale: Scale,
    explain: bool,
    as_json: bool,
    **flags: Unpack[RenderFlags],
) -> None:
    """Place the GPU replicas of spec FILE on the GPUs of --nodes.

    A replica takes whole GPUs of its own (with at least its gpu_memory), MIG slices (as many
    per GPU as the product's MIG table allows) or one of a time-sliced GPU's replicas, as its
    placement says; an LLM deployment's replica needs the memory its llm section sizes
    (weights + KV cache + overhead).
    First-fit decreasing: the largest replicas first, each on the first GPUs where it fits.
    Reports what does not fit, which GPUs stay idle and which GPU or MIG profile holds each
    LLM replica; exits 1 when something does not fit.
    """
    from inferd.deploy.gpu_plan import demands, load_nodes
    from inferd.deploy.gpu_plan import plan as make_plan
    from inferd.deploy.k8s_options import load_options
    from inferd.deploy.llm_fit import llm_sizes
    from inferd.spec.loading import load_spec

    spec = load_spec(file)
    options = load_options(overlay, flags)
    items = demands(spec, options, scale)  # first: a placement render refuses is named as such
    sizes = llm_sizes(spec)
    result = make_plan(items, load_nodes(nodes_file), sizes)
    if as_json:
        emit_json(result.document())
    else:
        if explain:
            for size in sizes:
                for line in size.explain():
                    stdout().print(line, markup=False)
        _print_plan(result)
    if result.unplaced:
        raise SystemExit(1)


def _print_plan(result: Plan) -> None:
    from rich.table import Table

    table = Table("node", "gpu", "product", "memory used", "sharing", "replicas", box=None)
    for g in result.gpus:
        used = f"{g.used / 2**30:.1f}/{g.memory / 2**30:.1f}Gi"
        sharing = g.describe_sharing() or "-"
        table.add_row(
            g.node, str(g.index), g.product, used, sharing, ", ".join(g.replicas) or "idle"
        )
    print_whole(table)  # each GPU whole on its line, as the other tables print
    console = stdout()
    placed, missing = len(result.assignments), len(result.unplaced)
    console.print(
        f"{placed} replica(s) placed, {missing} not placed, {len(result.idle)} GPU(s) idle"
    )
    for u in result.unplaced:
        console.print(f"does not fit: {u.demand.label}: {u.reason}", markup=False)
    for fit in result.llm:
        console.print(f"LLM {fit.memory.deployment}: {fit.recommendation}", markup=False)


@main.command()
@click.option(
    "--kubectl",
    "use_kubectl",
    is_flag=True,
    help="Check the cluster kubectl points at (read-only: kubectl get nodes -o json) instead "
    "of this machine.",
)
@click.option(
    "--spec",
    "spec_file",
    type=FILE,
    help="With --kubectl: the spec whose GPU deployments the nodes must hold.",
)
@click.option("--overlay", type=FILE, help="With --kubectl --spec: the Kubernetes overlay.")
@scale_option(
    "replicas", "With --kubectl --spec: check the spec's replicas, or autoscaling's maximum."
)
@click.option("--context", help="With --kubectl: the kubeconfig context (default: current).")
@json_option
@placement_options
@handles_errors
def doctor(
    *,
    use_kubectl: bool,
    spec_file: Path | None,
    overlay: Path | None,
    scale: Scale,
    context: str | None,
    as_json: bool,
    **flags: Unpack[RenderFlags],
) -> None:
    """Report the GPUs NVML sees, onnxruntime's execution providers, and what inferd will use.

    With --kubectl, report the cluster's GPU nodes instead: GPU feature discovery labels,
    allocatable nvidia.com/gpu and MIG resources, and (with --spec) whether the rendered
    deployments' GPU pods fit them; exits 1 when something is missing.
    """
    if use_kubectl:
        placement = [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
        spec_only = [*(["--overlay"] if overlay is not None else []), *placement]
        if spec_only and spec_file is None:
            from inferd.errors import InvalidArgument

            what = "goes" if len(spec_only) == 1 else "go"
            raise InvalidArgument(
                f"{', '.join(spec_only)} {what} with --spec (the deployments to check the "
                "nodes for)"
            )
        _doctor_cluster(spec_file, overlay, flags, scale, context, as_json=as_json)
        return
    given = [
        flag
        for flag, value in (("--spec", spec_file), ("--overlay", overlay), ("--context", context))
        if value is not None
    ] + [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
    if given:
        from inferd.errors import InvalidArgument

        verb = "goes" if len(given) == 1 else "go"
        raise InvalidArgument(f"{', '.join(given)} {verb} with --kubectl (a cluster check)")
    from inferd.observe.gpu import device_report

    report = device_report()
    if as_json:
        emit_json(dataclasses.asdict(report))
        return
    console = stdout()
    console.print(f"inferd {__version__} on Python {platform.python_version()}")
    nvml = report.nvml
    console.print(f"NVML: {nvml.reason}", markup=False)
    if nvml.driver_version:
        console.print(f"  driver {nvml.driver_version}, CUDA {nvml.cuda_driver_version}")
    for g in report.gpus:
        console.print(
            f"  GPU {g.index}: {g.name} ({g.uuid}), "
            f"{g.memory_used_mib:.0f}/{g.memory_total_mib:.0f} MiB used",
            markup=False,
        )
    ort = report.onnxruntime
    console.print(f"onnxruntime {ort.version}: {', '.join(ort.providers)}")
    console.print(f"device auto → {report.device_auto}: {report.reason}", markup=False)


def _doctor_cluster(
    spec_file: Path | None,
    overlay: Path | None,
    flags: RenderFlags,
    scale: Scale,
    context: str | None,
    *,
    as_json: bool,
) -> None:
    from rich.table import Column, Table

    from inferd.deploy.cluster_check import check, kubectl_nodes, read_nodes
    from inferd.deploy.k8s_options import load_options
    from inferd.spec.loading import load_spec

    spec = None if spec_file is None else load_spec(spec_file)
    options = load_options(overlay, flags)
    report = check(
        read_nodes(kubectl_nodes(context)),
        spec,
        options,
        scale,
    )
    if as_json:
        emit_json(report.document())
    else:
        console = stdout()
        table = Table(
            "node",
            Column("GFD labels", overflow="fold"),
            Column("allocatable", overflow="fold"),
            box=None,
        )
        for node in report.nodes:
            labels = ", ".join(f"{k.removeprefix('nvidia.com/')}={v}" for k, v in node.gfd.items())
            units = ", ".join(f"{k}: {v}" for k, v in node.allocatable.items())
            table.add_row(node.name, labels or "none (no GPU feature discovery)", units or "-")
        console.print(table)
        for need in report.needs:
            where = ", ".join(f"{n}: {k}" for n, k in need.fits.items()) or "none"
            status = "ok" if need.ok else "MISSING"
            console.print(
                f"{status} {need.deployment}: {need.replicas} replica(s) x {need.per_replica} "
                f"{need.resource} (replicas per node {where})",
                markup=False,
            )
        for problem in report.missing:
            console.print(f"missing: {problem}", markup=False)
    if report.missing:
        raise SystemExit(1)
