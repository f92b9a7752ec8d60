"""Cluster and GPU commands: ``inferd k8s render``, ``inferd gpu plan`` and ``inferd doctor``."""

from __future__ import annotations

import dataclasses
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import click

from inferd import __version__
from inferd.cli._app import emit_json, handles_errors, json_option, main, stdout

if TYPE_CHECKING:
    from inferd.deploy.gpu_plan import Plan
    from inferd.deploy.k8s_options import RenderFlags

_SPEC = click.Path(dir_okay=False, path_type=Path)
#: Options ``k8s render`` and ``k8s rules`` share: the same flags, read by ``load_options``.
_OVERLAY = click.option("--overlay", type=_SPEC, help="YAML file of Kubernetes-only options.")
_GPU_PRODUCT = click.option(
    "--gpu-product", help="nvidia.com/gpu.product for every GPU deployment."
)
_MIG_PROFILE = click.option("--mig-profile", help="MIG slice per GPU, e.g. 1g.10gb.")
_TIME_SLICING = click.option(
    "--time-slicing", type=int, help="Replicas sharing one GPU by time-slicing."
)


@main.group()
def k8s() -> None:
    """Render the spec for Kubernetes."""


@k8s.command()
@click.argument("file", type=_SPEC)
@click.option("--target", type=click.Choice(["plain", "kserve"]), help="Default: plain.")
@click.option("--namespace", help="Namespace written on every object.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a kustomize base into this directory instead of YAML on stdout.",
)
@_OVERLAY
@click.option("--image", help="Server image (GPU pods get its '-gpu' tag).")
@click.option("--gpu-image", help="Server image for GPU pods.")
@click.option("--registry", help="Registry prefixed to spec models that name none.")
@click.option(
    "--model-delivery",
    type=click.Choice(["init", "image-volume"]),
    help="How model files reach pods (default: init container).",
)
@click.option("--autoscaler", type=click.Choice(["keda", "hpa"]), help="Default: keda.")
@click.option(
    "--progressive",
    type=click.Choice(["argo"]),
    help="Hand canary rollout policies to Argo Rollouts (plain target).",
)
@click.option(
    "--stage",
    type=click.Choice(["stable", "canary"]),
    help="A deployment with a canary (kserve, --progressive): its stable version alone, to "
    "apply first, or the candidate rolled out over it (default: canary).",
)
@click.option("--prometheus-url", help="Prometheus that KEDA queries.")
@click.option("--gateway", help="Gateway the HTTPRoutes attach to (default: inferd).")
@click.option("--gateway-namespace", help="Namespace of that Gateway.")
@_GPU_PRODUCT
@_MIG_PROFILE
@_TIME_SLICING
@click.option("--runtime-class", help="runtimeClassName of the pods, e.g. nvidia.")
@handles_errors
def render(
    file: Path, output: Path | None, overlay: Path | None, **flags: Unpack[RenderFlags]
) -> None:
    """Render spec FILE as Kubernetes objects: YAML on stdout, or a kustomize base with -o.

    The output is a pure function of the spec and options: the same input gives the same
    bytes. Apply it with ``kubectl apply -f -`` or ``kubectl apply -k DIR``.
    """
    from inferd.deploy.k8s_options import load_options
    from inferd.deploy.kustomize import to_stream, write_base
    from inferd.deploy.objects import omissions
    from inferd.deploy.render import render as render_objects
    from inferd.spec.loading import load_spec

    spec = load_spec(file)
    objects = render_objects(spec, load_options(overlay, flags))
    for note in omissions(objects):
        click.echo(f"note: not rendered: {note}", err=True)
    if output is None:
        sys.stdout.write(to_stream(objects))
        return
    written = write_base(objects, output)
    click.echo(f"wrote {len(written)} files into {output} (kubectl apply -k {output})")


@k8s.command()
@click.argument("file", type=_SPEC)
@click.option(
    "--local",
    is_flag=True,
    help="Rules for a Prometheus scraping inferd up's gateway /metrics, not a cluster.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rules file here instead of stdout.",
)
@_OVERLAY
@click.option("--namespace", help="Namespace the rules read (as rendered).")
@click.option(
    "--progressive",
    type=click.Choice(["argo"]),
    help="Canary rollouts are Argo Rollouts (as rendered with --progressive argo).",
)
@click.option(
    "--stage",
    type=click.Choice(["stable", "canary"]),
    help="With --progressive: the stage rendered (default: canary).",
)
@_GPU_PRODUCT
@_MIG_PROFILE
@_TIME_SLICING
@handles_errors
def rules(
    file: Path, local: bool, output: Path | None, overlay: Path | None, **flags: Unpack[RenderFlags]
) -> None:
    """Write the Prometheus rules of spec FILE as a plain rules file (rule_files).

    The same alerts, SLO and cost rules as the PrometheusRule that `k8s render` emits, for a
    Prometheus the operator does not run; with --local, those that a Prometheus scraping
    `inferd up` can evaluate. docs/alerts.md lists them.
    """
    from inferd.deploy.k8s_options import load_options
    from inferd.deploy.rules import rules_file
    from inferd.errors import InvalidArgument
    from inferd.spec.loading import load_spec

    spec = load_spec(file)
    if local:
        cluster_only = sorted(
            f"--{k.replace('_', '-')}"
            for k in ("namespace", "progressive", "stage")
            if flags.get(k)
        )
        if cluster_only:
            what = "is a cluster option" if len(cluster_only) == 1 else "are cluster options"
            raise InvalidArgument(
                f"{', '.join(cluster_only)} {what}: --local rules read inferd up's gateway, "
                "which has no namespace or Argo Rollouts"
            )
    text = rules_file(spec, load_options(overlay, flags), "local" if local else "kubernetes")
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} (check it with: promtool check rules {output})")


@k8s.command("gpu-operator")
@click.argument("file", type=_SPEC)
@_OVERLAY
@click.option(
    "--nodes",
    "nodes_file",
    type=_SPEC,
    help="Nodes file (as inferd gpu plan reads it): needed for MIG layouts, and for per-node "
    "labels.",
)
@click.option(
    "--scale",
    type=click.Choice(["replicas", "max"]),
    default="max",
    show_default=True,
    help="Lay MIG slices out for the spec's replicas, or autoscaling's maximum.",
)
@click.option(
    "--driver/--no-driver",
    default=True,
    show_default=True,
    help="Let the operator install the NVIDIA driver (off when the node image has one).",
)
@click.option(
    "--toolkit/--no-toolkit",
    default=True,
    show_default=True,
    help="Let the operator install the NVIDIA container toolkit.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write values.yaml and the ConfigMaps into this directory instead of stdout.",
)
@_GPU_PRODUCT
@_MIG_PROFILE
@_TIME_SLICING
@handles_errors
def gpu_operator(
    file: Path,
    *,
    overlay: Path | None,
    nodes_file: Path | None,
    scale: str,
    driver: bool,
    toolkit: bool,
    output: Path | None,
    **flags: Unpack[RenderFlags],
) -> None:
    """Render the NVIDIA GPU Operator's setup for the GPUs spec FILE's deployments need.

    The chart's Helm values (driver and toolkit, device plugin config, MIG strategy, MIG
    manager, DCGM exporter with its ServiceMonitor), the device plugin's time-slicing
    ConfigMap and the MIG manager's mig-parted config with each node's layout from the GPU
    plan. Apply the ConfigMaps, then install the chart with the values; the node labels that
    select each config are printed on stderr.
    """
    from inferd.deploy.gpu_operator import operator_setup
    from inferd.deploy.gpu_plan import load_nodes
    from inferd.deploy.k8s_options import load_options
    from inferd.deploy.kustomize import file_name, to_stream
    from inferd.spec.loading import load_spec

    spec = load_spec(file)
    setup = operator_setup(
        spec,
        load_options(overlay, flags),
        None if nodes_file is None else load_nodes(nodes_file),
        scale="max" if scale == "max" else "replicas",
        driver=driver,
        toolkit=toolkit,
    )
    for note in setup.notes:
        click.echo(f"note: {note}", err=True)
    if setup.labels:
        click.echo("label the nodes:", err=True)
        for label in setup.labels:
            click.echo(f"  {label.command()}", err=True)
    if output is None:
        sys.stdout.write(setup.values_yaml() + to_stream(setup.objects))
        return
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "values.yaml"]
    written[0].write_text(setup.values_yaml(), encoding="utf-8")
    for o in setup.objects:
        path = output / file_name(o)
        path.write_text(to_stream([o]), encoding="utf-8")
        written.append(path)
    click.echo(f"wrote {', '.join(str(p) for p in written)}")


@main.group()
def gpu() -> None:
    """Plan GPU capacity."""


@gpu.command()
@click.argument("file", type=_SPEC)
@click.option(
    "--nodes",
    "nodes_file",
    type=_SPEC,
    required=True,
    help="YAML file listing nodes and their GPUs.",
)
@click.option("--overlay", type=_SPEC, help="Kubernetes overlay (per-deployment gpu_product).")
@click.option(
    "--scale",
    type=click.Choice(["replicas", "max"]),
    default="replicas",
    show_default=True,
    help="Plan for the spec's replicas, or autoscaling's maximum.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Print the memory arithmetic of each LLM deployment (weights, KV cache, overhead).",
)
@json_option
@handles_errors
def plan(
    file: Path,
    *,
    nodes_file: Path,
    overlay: Path | None,
    scale: str,
    explain: bool,
    as_json: bool,
) -> None:
    """Place the GPU replicas of spec FILE on the GPUs of --nodes.

    A replica takes whole GPUs, GPU memory, MIG slices (as many per GPU as the product's MIG
    table allows) or one of a time-sliced GPU's replicas, as its placement says; an LLM
    deployment's replica the memory its llm section sizes (weights + KV cache + overhead).
    First-fit decreasing: the largest replicas first, each on the first GPUs where it fits.
    Reports what does not fit, which GPUs stay idle and which GPU or MIG profile holds each
    LLM replica; exits 1 when something does not fit.
    """
    from inferd.deploy.gpu_plan import demands, llm_sizes, load_nodes
    from inferd.deploy.gpu_plan import plan as make_plan
    from inferd.deploy.k8s_options import load_options
    from inferd.spec.loading import load_spec

    spec = load_spec(file)
    options = load_options(overlay, {})
    sizes = llm_sizes(spec)
    result = make_plan(
        demands(spec, options, "max" if scale == "max" else "replicas"),
        load_nodes(nodes_file),
        sizes,
    )
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

    console = stdout()
    table = Table("node", "gpu", "product", "memory used", "sharing", "replicas", box=None)
    for g in result.gpus:
        used = f"{g.used / 2**30:.1f}/{g.memory / 2**30:.1f}Gi"
        sharing = g.describe_sharing() or "-"
        table.add_row(
            g.node, str(g.index), g.product, used, sharing, ", ".join(g.replicas) or "idle"
        )
    console.print(table)
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
    type=_SPEC,
    help="With --kubectl: the spec whose GPU deployments the nodes must hold.",
)
@click.option("--overlay", type=_SPEC, help="With --kubectl --spec: the Kubernetes overlay.")
@click.option(
    "--scale",
    type=click.Choice(["replicas", "max"]),
    default="replicas",
    show_default=True,
    help="With --kubectl --spec: check the spec's replicas, or autoscaling's maximum.",
)
@click.option("--context", help="With --kubectl: the kubeconfig context (default: current).")
@json_option
@handles_errors
def doctor(
    *,
    use_kubectl: bool,
    spec_file: Path | None,
    overlay: Path | None,
    scale: str,
    context: str | None,
    as_json: bool,
) -> None:
    """Report the GPUs NVML sees, onnxruntime's execution providers, and what inferd will use.

    With --kubectl, report the cluster's GPU nodes instead: GPU feature discovery labels,
    allocatable nvidia.com/gpu and MIG resources, and (with --spec) whether the rendered
    deployments' GPU pods fit them; exits 1 when something is missing.
    """
    if use_kubectl:
        _doctor_cluster(spec_file, overlay, scale, context, as_json=as_json)
        return
    given = [
        flag
        for flag, value in (("--spec", spec_file), ("--overlay", overlay), ("--context", context))
        if value is not None
    ]
    if given:
        from inferd.errors import InvalidArgument

        raise InvalidArgument(f"{', '.join(given)} go with --kubectl (a cluster check)")
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
    scale: str,
    context: str | None,
    *,
    as_json: bool,
) -> None:
    from rich.table import Column, Table

    from inferd.deploy.cluster_check import check, kubectl_nodes, read_nodes
    from inferd.deploy.k8s_options import load_options
    from inferd.spec.loading import load_spec

    spec = None if spec_file is None else load_spec(spec_file)
    options = load_options(overlay, {})
    report = check(
        read_nodes(kubectl_nodes(context)),
        spec,
        options,
        "max" if scale == "max" else "replicas",
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
