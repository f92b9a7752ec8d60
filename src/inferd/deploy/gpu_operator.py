"""``inferd k8s gpu-operator``: set up the NVIDIA GPU Operator for the GPUs a spec needs.

What the rendered pods assume (:mod:`inferd.deploy.gpu`) is installed by the GPU Operator's Helm
chart (``nvidia/gpu-operator``). From the spec and its placements this renders:

- the chart's **values**: the driver and container-toolkit toggles (off where the nodes' image
  already has them, e.g. GKE's or EKS's GPU images), GPU feature discovery and node feature
  discovery on, the device plugin reading inferd's time-slicing ConfigMap when a deployment is
  time-sliced, ``mig.strategy``, the MIG manager reading inferd's mig-parted config when a
  deployment uses MIG, and the DCGM exporter on with its ServiceMonitor (the GPU dashboard and
  cost rules read its ``DCGM_FI_DEV_*`` series);
- the device plugin's **time-slicing ConfigMap**, one config per (product, replicas), exactly
  as ``inferd k8s render`` renders it (:func:`inferd.deploy.gpu.time_slicing_configmap`);
- the MIG manager's **mig-parted config** (``version: v1``, ``mig-configs``) with one config per
  node that hosts MIG slices: the layout ``inferd gpu plan`` chose for each of its GPUs (GPUs it
  left whole have MIG disabled), and ``all-disabled``, the chart's default for other nodes.

``mig.strategy`` is ``mixed`` whenever a deployment uses MIG: rendered pods ask for
``nvidia.com/mig-<profile>``, a resource only the mixed strategy advertises (``single`` exposes
slices as ``nvidia.com/gpu``). Without MIG it stays ``single``, the chart's default, which
changes nothing on GPUs not in MIG mode.

MIG partitions are node state: which GPU of which node carries which slices is the plan's
answer, so MIG needs the nodes file (``--nodes``) and plans for autoscaling's maximum by
default (a layout is not changed while pods run on it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from inferd.deploy.gpu import (
    LABEL_DEVICE_PLUGIN_CONFIG,
    TIME_SLICING_CONFIGMAP,
    gpu_placements,
    operator_configmap,
    time_slicing_configmap,
    time_slicing_key,
)
from inferd.deploy.gpu_capacity import Gpu
from inferd.deploy.gpu_plan import Scale, demands, plan
from inferd.deploy.k8s_options import K8sOptions, Placement
from inferd.deploy.kustomize import to_yaml
from inferd.deploy.llm_fit import llm_sizes
from inferd.deploy.objects import Obj
from inferd.errors import InvalidArgument
from inferd.spec.model import Spec

#: The ConfigMap (in the operator's namespace) the MIG manager reads, key ``config.yaml``.
MIG_PARTED_CONFIGMAP = "inferd-mig-parted-config"
MIG_PARTED_KEY = "config.yaml"
#: The mig-parted config of nodes without MIG slices (the chart's ``migManager.config.default``).
MIG_DISABLED = "all-disabled"
#: The node label the MIG manager applies a mig-parted config from.
LABEL_MIG_CONFIG = "nvidia.com/mig.config"
_LABEL_VALUE_MAX = 63


@dataclass(frozen=True, slots=True)
class NodeLabel:
    """A label a node needs for its GPUs to be shared as the plan says."""

    node: str
    key: str
    value: str

    def command(self) -> str:
        return f"kubectl label node {self.node} --overwrite {self.key}={self.value}"


@dataclass(frozen=True, slots=True)
class OperatorSetup:
    """The chart's values, the ConfigMaps to apply before installing it, and node labels."""

    values: Obj
    objects: list[Obj]
    labels: list[NodeLabel]
    #: What the operator's user must still do by hand, in words.
    notes: list[str]

    def values_yaml(self) -> str:
        header = (
            "# NVIDIA GPU Operator Helm values, rendered by inferd k8s gpu-operator.\n"
            "# helm install gpu-operator nvidia/gpu-operator -n gpu-operator "
            "--create-namespace -f values.yaml\n"
        )
        return header + to_yaml(self.values)


def operator_setup(
    spec: Spec,
    options: K8sOptions,
    gpus: list[Gpu] | None = None,
    *,
    scale: Scale = "max",
    driver: bool = True,
    toolkit: bool = True,
) -> OperatorSetup:
    """Everything the GPU Operator needs for ``spec``'s GPU deployments.

    ``gpus`` (the nodes file) is required when a deployment uses MIG; raises InvalidArgument
    when it is missing then, or when the plan cannot place every replica.
    """
    placements = list(gpu_placements(spec, options).values())
    uses_mig = any(p.mig_profile is not None for p in placements)
    time_sliced = any(p.time_slicing is not None for p in placements)
    objects: list[Obj] = []
    labels: list[NodeLabel] = []
    notes: list[str] = []
    configmap = time_slicing_configmap(placements, options)
    if configmap is not None:
        objects.append(configmap)
    if gpus is not None:
        placed = _placed(spec, options, gpus, scale)
        labels += _time_slicing_labels(spec, options, placed)
    elif time_sliced:
        keys = sorted({time_slicing_key(p) for p in placements if p.time_slicing is not None})
        notes.append(
            f"label each time-sliced node {LABEL_DEVICE_PLUGIN_CONFIG}=<key> (keys: "
            f"{', '.join(keys)}); with --nodes the labels are listed per node"
        )
    if uses_mig:
        if gpus is None:
            raise InvalidArgument(
                "a deployment uses MIG slices: their layout is chosen per node, so pass "
                "--nodes (the nodes file inferd gpu plan reads)"
            )
        configs, mig_labels = _mig_layouts(placed)
        objects.append(_mig_configmap(configs, options))
        labels += mig_labels
    values = _values(uses_mig=uses_mig, time_sliced=time_sliced, driver=driver, toolkit=toolkit)
    return OperatorSetup(values, objects, labels, notes)


def _values(*, uses_mig: bool, time_sliced: bool, driver: bool, toolkit: bool) -> Obj:
    device_plugin: Obj = {"enabled": True}
    if time_sliced:
        device_plugin["config"] = {"create": False, "name": TIME_SLICING_CONFIGMAP}
    mig_manager: Obj = {"enabled": uses_mig}
    if uses_mig:
        mig_manager["config"] = {
            "create": False,
            "name": MIG_PARTED_CONFIGMAP,
            "default": MIG_DISABLED,
        }
    return {
        "driver": {"enabled": driver},
        "toolkit": {"enabled": toolkit},
        "nfd": {"enabled": True},
        "gfd": {"enabled": True},
        "devicePlugin": device_plugin,
        "mig": {"strategy": "mixed" if uses_mig else "single"},
        "migManager": mig_manager,
        "dcgmExporter": {
            "enabled": True,
            "serviceMonitor": {"enabled": True, "interval": "15s", "honorLabels": False},
        },
    }


def _placed(spec: Spec, options: K8sOptions, gpus: list[Gpu], scale: Scale) -> list[Gpu]:
    result = plan(demands(spec, options, scale), gpus, llm_sizes(spec))
    if result.unplaced:
        first = result.unplaced[0]
        more = len(result.unplaced) - 1
        raise InvalidArgument(
            f"{len(result.unplaced)} GPU replica(s) at {scale} scale do not fit the nodes "
            f"({first.demand.label}: {first.reason}"
            f"{f'; and {more} more' if more else ''}); inferd gpu plan "
            f"{'--scale max ' if scale == 'max' else ''}shows the whole plan"
        )
    return result.gpus


def _time_slicing_labels(spec: Spec, options: K8sOptions, gpus: list[Gpu]) -> list[NodeLabel]:
    """``nvidia.com/device-plugin.config`` for each node the plan time-slices."""
    placement_of: dict[str, Placement] = {d.name: options.placement_of(d) for d in spec.deployments}
    keys: dict[str, str] = {}
    for gpu in gpus:
        if gpu.sharing != "time-slicing":
            continue
        deployment = gpu.replicas[0].split("/", 1)[0]
        keys.setdefault(gpu.node, time_slicing_key(placement_of[deployment]))
    return [NodeLabel(node, LABEL_DEVICE_PLUGIN_CONFIG, key) for node, key in keys.items()]


def _mig_layouts(gpus: list[Gpu]) -> tuple[Obj, list[NodeLabel]]:
    """mig-parted configs, one per node with MIG slices, and the label selecting each."""
    configs: Obj = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    labels: list[NodeLabel] = []
    nodes = list(dict.fromkeys(g.node for g in gpus if g.sharing == "mig"))
    for node in nodes:
        layouts: dict[tuple[tuple[str, int], ...], list[int]] = {}
        for gpu in (g for g in gpus if g.node == node):
            key = tuple(sorted(gpu.mig.items())) if gpu.sharing == "mig" else ()
            layouts.setdefault(key, []).append(gpu.index)
        entries: list[Obj] = []
        for layout, indexes in layouts.items():
            entry: Obj = {"devices": indexes, "mig-enabled": bool(layout)}
            if layout:
                entry["mig-devices"] = dict(layout)
            entries.append(entry)
        name = _config_name(node)
        configs[name] = entries
        labels.append(NodeLabel(node, LABEL_MIG_CONFIG, name))
    return configs, labels


def _config_name(node: str) -> str:
    """``inferd-<node>``, shortened with a hash of the node's name to fit a label value."""
    name = f"inferd-{node}"
    if len(name) <= _LABEL_VALUE_MAX:
        return name
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    return f"{name[: _LABEL_VALUE_MAX - 9].rstrip('.-_')}-{digest}"


def _mig_configmap(configs: Obj, options: K8sOptions) -> Obj:
    document = {"version": "v1", "mig-configs": configs}
    return operator_configmap(
        MIG_PARTED_CONFIGMAP,
        options,
        "name this ConfigMap in the GPU Operator's migManager.config.name and label each node "
        f"{LABEL_MIG_CONFIG}=<its config>",
        {MIG_PARTED_KEY: to_yaml(document)},
    )
