"""``inferd doctor --kubectl``: does a live cluster have the GPUs the rendered pods ask for?

It reads the nodes with one read-only call, ``kubectl get nodes -o json`` (kubectl's current
context, or ``--context``), and reports, per node, what GPU feature discovery (GFD) labelled
(``nvidia.com/gpu.product``, ``gpu.count``, ``gpu.memory``, ``gpu.replicas``, ``mig.strategy``,
``mig.config`` and its state, ``device-plugin.config``) and what the device plugin made
allocatable (``nvidia.com/gpu``, ``nvidia.com/mig-<profile>``).

With the spec, it checks each GPU deployment's pods as :mod:`inferd.deploy.gpu` renders them:
the resource and count a replica asks for, the node selector (product, ``-SHARED`` and
``gpu.replicas`` for time-slicing) and the GPU memory affinity. Deployments are checked in spec
order against the nodes' allocatable units, each taking what its replicas use, so two
deployments on the same nodes do not count the same GPUs twice. Allocatable is capacity, not
what is free: pods already running are not read (that would need to list every pod).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from inferd.deploy.gpu import (
    GPU_RESOURCE,
    LABEL_DEVICE_PLUGIN_CONFIG,
    LABEL_MEMORY,
    LABEL_PRODUCT,
    gpu_placements,
    gpu_pod,
)
from inferd.deploy.gpu_operator import LABEL_MIG_CONFIG
from inferd.deploy.gpu_plan import Scale, pod_versions, replicas_at
from inferd.deploy.k8s_options import K8sOptions
from inferd.errors import InvalidArgument, Unavailable, Unsupported
from inferd.spec.model import Spec

#: GFD (and the MIG manager's) labels the report shows, in this order.
GFD_LABELS = (
    LABEL_PRODUCT,
    "nvidia.com/gpu.count",
    LABEL_MEMORY,
    "nvidia.com/gpu.replicas",
    "nvidia.com/mig.strategy",
    LABEL_MIG_CONFIG,
    "nvidia.com/mig.config.state",
    LABEL_DEVICE_PLUGIN_CONFIG,
)
_MIG_PREFIX = "nvidia.com/mig-"
#: How long kubectl may take to answer.
KUBECTL_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class NodeGpus:
    """What one node offers GPU pods."""

    name: str
    #: The GFD labels it carries (only those in :data:`GFD_LABELS`).
    gfd: dict[str, str]
    #: Allocatable ``nvidia.com/gpu`` and ``nvidia.com/mig-*`` units.
    allocatable: dict[str, int]
    #: All its labels, for node selectors.
    labels: dict[str, str] = field(repr=False)

    @property
    def has_gfd(self) -> bool:
        return LABEL_PRODUCT in self.gfd


@dataclass(frozen=True, slots=True)
class NeedCheck:
    """One GPU deployment's replicas against the nodes its pods may land on."""

    deployment: str
    resource: str
    per_replica: int
    replicas: int
    node_selector: dict[str, str]
    min_memory_mib: int | None
    #: Replicas each matching node can still take, after the deployments before it.
    fits: dict[str, int]
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class ClusterReport:
    nodes: list[NodeGpus]
    needs: list[NeedCheck]
    #: Everything missing, in words (empty: the cluster has what the spec needs).
    missing: list[str]

    def document(self) -> dict[str, Any]:
        """The report as ``inferd doctor --kubectl --json`` prints it."""
        return {
            "nodes": [
                {"name": n.name, "gfd": n.gfd, "allocatable": n.allocatable} for n in self.nodes
            ],
            "needs": [
                {
                    "deployment": c.deployment,
                    "resource": c.resource,
                    "per_replica": c.per_replica,
                    "replicas": c.replicas,
                    "node_selector": c.node_selector,
                    "min_memory_mib": c.min_memory_mib,
                    "fits": c.fits,
                    "problem": c.problem,
                }
                for c in self.needs
            ],
            "missing": self.missing,
        }


def kubectl_nodes(context: str | None = None) -> dict[str, Any]:
    """``kubectl get nodes -o json``, parsed; raises Unsupported when kubectl is not on PATH
    (as for a missing engine executable), Unavailable when it fails (its message included)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise Unsupported(
            "kubectl is not on PATH: inferd doctor --kubectl reads the cluster with "
            "'kubectl get nodes -o json' (install kubectl and point it at the cluster)"
        )
    command = [kubectl, "get", "nodes", "-o", "json"]
    if context is not None:
        command += ["--context", context]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(
            f"'kubectl get nodes -o json' did not answer within {KUBECTL_TIMEOUT_S:g} s"
        ) from None
    if done.returncode != 0:
        # kubectl logs each retry of a cluster it cannot reach (E1207 … lines), then says why
        # on its last line.
        said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise Unavailable(
            f"'kubectl get nodes -o json' failed (exit {done.returncode}): "
            f"{said[-1] if said else 'no message'}"
        )
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise Unavailable(f"'kubectl get nodes -o json' printed no JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise Unavailable("'kubectl get nodes -o json' printed no JSON object")
    return document


def read_nodes(document: dict[str, Any]) -> list[NodeGpus]:
    """The nodes of a ``kubectl get nodes -o json`` document (a ``List`` of ``Node``)."""
    items = document.get("items")
    if not isinstance(items, list):
        raise InvalidArgument("not a node list: no 'items' (expected kubectl get nodes -o json)")
    nodes: list[NodeGpus] = []
    for item in items:
        meta = item.get("metadata") or {}
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        allocatable = (item.get("status") or {}).get("allocatable") or {}
        gpus = {
            str(k): _count(v)
            for k, v in allocatable.items()
            if k == GPU_RESOURCE or str(k).startswith(_MIG_PREFIX)
        }
        nodes.append(
            NodeGpus(
                str(meta.get("name", "?")),
                {k: labels[k] for k in GFD_LABELS if k in labels},
                dict(sorted(gpus.items())),
                labels,
            )
        )
    return nodes


def _count(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def check(
    nodes: list[NodeGpus],
    spec: Spec | None,
    options: K8sOptions,
    scale: Scale = "replicas",
) -> ClusterReport:
    """What the nodes offer, and (with ``spec``) whether its GPU deployments fit them."""
    missing: list[str] = []
    placements = {} if spec is None else gpu_placements(spec, options)
    gpu_deployments = [] if spec is None else [d for d in spec.deployments if d.resources.gpu]
    if (spec is None or gpu_deployments) and not any(n.has_gfd for n in nodes):
        missing.append(
            f"no node carries GPU feature discovery labels ({LABEL_PRODUCT}): install the "
            "NVIDIA GPU Operator (inferd k8s gpu-operator renders its values)"
        )
    left = {n.name: dict(n.allocatable) for n in nodes}
    needs: list[NeedCheck] = []
    for deployment in gpu_deployments:
        pod = gpu_pod(deployment, placements[deployment.name])
        ((resource, per_replica),) = pod.resources.items()
        replicas = sum(replicas_at(deployment, v.replicas, scale) for v in pod_versions(deployment))
        selected = [n for n in nodes if _selects(pod.node_selector, pod.min_memory_mib, n)]
        fits: dict[str, int] = {}
        wanted = replicas
        for node in selected:
            room = left[node.name].get(resource, 0) // per_replica
            taken = min(room, wanted)
            fits[node.name] = room
            left[node.name][resource] = left[node.name].get(resource, 0) - taken * per_replica
            wanted -= taken
        need = NeedCheck(
            deployment.name,
            resource,
            per_replica,
            replicas,
            pod.node_selector,
            pod.min_memory_mib,
            fits,
            None,
        )
        if wanted > 0:
            problem = _problem(need, replicas - wanted, nodes, selected)
            need = dataclasses.replace(need, problem=problem)
            missing.append(problem)
        needs.append(need)
    return ClusterReport(nodes, needs, missing)


def _selects(selector: dict[str, str], min_mib: int | None, node: NodeGpus) -> bool:
    if any(node.labels.get(k) != v for k, v in selector.items()):
        return False
    if min_mib is None:
        return True
    return _count(node.labels.get(LABEL_MEMORY, "0")) >= min_mib


def _problem(need: NeedCheck, held: int, nodes: list[NodeGpus], selected: list[NodeGpus]) -> str:
    resource, selector = need.resource, need.node_selector
    head = f"{need.deployment}: {need.replicas} replica(s) x {need.per_replica} {resource}"
    wanted = ", ".join(f"{k}={v}" for k, v in selector.items())
    if not selected:
        products = sorted({n.gfd[LABEL_PRODUCT] for n in nodes if n.has_gfd})
        memory = (
            "" if need.min_memory_mib is None else f" and {LABEL_MEMORY} >= {need.min_memory_mib}"
        )
        return (
            f"{head}: no node is labelled {wanted}{memory} (GPU products labelled: "
            f"{', '.join(products) or 'none'}){_hint(resource, selector)}"
        )
    if not any(n.allocatable.get(resource, 0) > 0 for n in selected):
        return (
            f"{head}: the nodes labelled {wanted} ({', '.join(n.name for n in selected)}) "
            f"advertise no {resource}{_hint(resource, selector)}"
        )
    offered = ", ".join(f"{n.name}: {n.allocatable.get(resource, 0)}" for n in selected)
    return (
        f"{head}: the nodes labelled {wanted} hold {held} ({resource} allocatable: {offered}; "
        "deployments earlier in the spec counted first)"
    )


def _hint(resource: str, selector: dict[str, str]) -> str:
    if resource.startswith(_MIG_PREFIX):
        return (
            f"; {resource} is advertised by the device plugin with mig.strategy mixed on a GPU "
            f"whose MIG manager applied a layout with that profile ({LABEL_MIG_CONFIG})"
        )
    if "nvidia.com/gpu.replicas" in selector:
        return (
            f"; time-sliced nodes are labelled by GFD once the device plugin config is applied "
            f"({LABEL_DEVICE_PLUGIN_CONFIG}=<key> on the node)"
        )
    return ""
