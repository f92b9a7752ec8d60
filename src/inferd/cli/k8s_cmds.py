"""Kubernetes commands: ``inferd k8s render``, ``inferd k8s rules`` and ``inferd k8s gpu-operator``
(the GPU capacity plan and ``inferd doctor`` are in :mod:`.gpu_cmds`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar, Unpack

import click

from inferd.cli._app import FILE, handles_errors, main, scale_option

if TYPE_CHECKING:
    from inferd.deploy.gpu_plan import Scale
    from inferd.deploy.k8s_options import RenderFlags

P = ParamSpec("P")
R = TypeVar("R")

#: Options ``k8s render`` and ``k8s rules`` share: the same flags, read by ``load_options``.
_OVERLAY = click.option("--overlay", type=FILE, help="YAML file of Kubernetes-only options.")
_GPU_PRODUCT = click.option(
    "--gpu-product", help="nvidia.com/gpu.product for every GPU deployment."
)
_MIG_PROFILE = click.option("--mig-profile", help="MIG slice per GPU, e.g. 1g.10gb.")
_TIME_SLICING = click.option(
    "--time-slicing", type=int, help="Replicas sharing one GPU by time-slicing."
)


def placement_options(command: Callable[P, R]) -> Callable[P, R]:
    """``--gpu-product``, ``--mig-profile`` and ``--time-slicing``: the shared GPU placement,
    for every command that must place pods as ``render`` does (the ``k8s`` commands, ``gpu
    plan``, ``doctor``)."""
    return _GPU_PRODUCT(_MIG_PROFILE(_TIME_SLICING(command)))


@main.group()
def k8s() -> None:
    """Render the spec for Kubernetes."""


@k8s.command()
@click.argument("file", type=FILE)
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
    "--registry-secret",
    help="Secret (type kubernetes.io/dockerconfigjson) with the registry's pull credentials.",
)
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
@placement_options
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
@click.argument("file", type=FILE)
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
@placement_options
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
    if flags.get("stage") and not flags.get("progressive"):
        raise InvalidArgument("--stage goes with --progressive argo (the stage it rendered)")
    if local:
        cluster = (
            "namespace",
            "progressive",
            "stage",
            "gpu_product",
            "mig_profile",
            "time_slicing",
        )
        cluster_only = sorted(f"--{k.replace('_', '-')}" for k in cluster if flags.get(k))
        if cluster_only:
            what = "is a cluster option" if len(cluster_only) == 1 else "are cluster options"
            raise InvalidArgument(
                f"{', '.join(cluster_only)} {what}: --local rules read inferd up's gateway, "
                "which has no namespace, Argo Rollouts or GPU placement"
            )
    text = rules_file(spec, load_options(overlay, flags), "local" if local else "kubernetes")
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} (check it with: promtool check rules {output})")


@k8s.command("gpu-operator")
@click.argument("file", type=FILE)
@_OVERLAY
@click.option(
    "--nodes",
    "nodes_file",
    type=FILE,
    help="Nodes file (as inferd gpu plan reads it): needed for MIG layouts, and for per-node "
    "labels.",
)
@scale_option("max", "Lay MIG slices out for the spec's replicas, or autoscaling's maximum.")
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
@placement_options
@handles_errors
def gpu_operator(
    file: Path,
    *,
    overlay: Path | None,
    nodes_file: Path | None,
    scale: Scale,
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
        scale=scale,
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
