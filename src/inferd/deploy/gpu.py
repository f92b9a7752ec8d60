"""GPUs on Kubernetes: resources, node selection, tolerations, MIG and time-slicing.

inferd targets the NVIDIA GPU operator, which installs the device plugin (``nvidia.com/gpu`` and,
with the *mixed* MIG strategy, ``nvidia.com/mig-<profile>`` resources) and GPU feature discovery
(GFD), whose node labels the pods select on:

- ``nvidia.com/gpu.present: "true"`` on every GPU node;
- ``nvidia.com/gpu.product`` (``Tesla-T4``, ``NVIDIA-A100-SXM4-80GB``…), with ``-SHARED``
  appended on nodes whose GPUs are time-sliced, and ``nvidia.com/gpu.replicas`` there;
- ``nvidia.com/gpu.memory`` in MiB, compared with the spec's ``gpu_memory`` by node affinity.

GPU nodes are usually tainted ``nvidia.com/gpu:NoSchedule`` so that CPU pods stay off them; GPU
pods tolerate it. Time-slicing is node configuration, not pod configuration: the device plugin
reads it from a ConfigMap (rendered here) and a node opts in with the label
``nvidia.com/device-plugin.config=<key>``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

import yaml

from inferd.deploy.k8s_options import MIG_PROFILE_PATTERN, K8sOptions, Placement
from inferd.deploy.llm_memory import gpu_memory_utilization, llm_memory
from inferd.deploy.mig import WITHOUT_MIG, label_tables
from inferd.deploy.objects import Obj, obj
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec
from inferd.spec.types import parse_quantity

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = "nvidia.com/gpu"
LABEL_PRESENT = "nvidia.com/gpu.present"
LABEL_PRODUCT = "nvidia.com/gpu.product"
LABEL_MEMORY = "nvidia.com/gpu.memory"
LABEL_REPLICAS = "nvidia.com/gpu.replicas"
LABEL_DEVICE_PLUGIN_CONFIG = "nvidia.com/device-plugin.config"
#: The ConfigMap the GPU operator's ClusterPolicy names in ``devicePlugin.config.name``.
TIME_SLICING_CONFIGMAP = "inferd-device-plugin-config"
SHARED_SUFFIX = "-SHARED"
_MIB = 2**20
#: Share of a GPU's memory that time-sliced vLLM replicas leave unclaimed: the driver's own
#: reservation (hundreds of MiB, more of a small GPU's share) is never free, and vLLM compares
#: its claim with the free memory at start.
SHARED_GPU_RESERVE = Fraction(5, 100)


@dataclass(frozen=True, slots=True)
class GpuPod:
    """What a deployment's pods need from GPU nodes (empty for CPU deployments)."""

    resources: dict[str, int]
    node_selector: dict[str, str]
    #: ``nvidia.com/gpu.memory`` lower bound in MiB (node affinity), if the spec set one.
    min_memory_mib: int | None
    tolerations: list[Obj]
    runtime_class: str | None

    @property
    def gpus(self) -> int:
        return sum(self.resources.values())

    def pod_fields(self) -> Obj:
        """The pod-spec fields that place a pod on its nodes (only those that apply), for a
        Deployment's pod template and a KServe predictor alike."""
        fields: Obj = {}
        if self.runtime_class is not None:
            fields["runtimeClassName"] = self.runtime_class
        if self.node_selector:
            fields["nodeSelector"] = self.node_selector
        affinity = self.affinity()
        if affinity is not None:
            fields["affinity"] = affinity
        if self.tolerations:
            fields["tolerations"] = self.tolerations
        return fields

    def affinity(self) -> Obj | None:
        """Node affinity requiring enough GPU memory, or None."""
        if self.min_memory_mib is None:
            return None
        requirement = {
            "key": LABEL_MEMORY,
            "operator": "Gt",
            # Gt is strict; GFD reports whole MiB, so "at least N" is "more than N - 1".
            "values": [str(self.min_memory_mib - 1)],
        }
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [requirement]}]
                }
            }
        }


def mig_memory_gib(profile: str) -> int:
    """Memory of a MIG slice from its profile name: ``1g.10gb`` → 10."""
    match = re.fullmatch(MIG_PROFILE_PATTERN, profile)
    if match is None:
        raise InvalidArgument(f"{profile!r} is not a MIG profile (e.g. '1g.10gb')")
    return int(match.group(2))


def gpu_placements(spec: Spec, options: K8sOptions) -> dict[str, Placement]:
    """The placement of each GPU deployment of ``spec``, by name, once every deployment's (GPU
    or not) has passed :func:`gpu_pod`: the GPU commands refuse what ``k8s render`` refuses."""
    options.check_placements(spec)
    placements: dict[str, Placement] = {}
    for deployment in spec.deployments:
        placement = options.placement_of(deployment)
        gpu_pod(deployment, placement)
        if deployment.resources.gpu > 0:
            placements[deployment.name] = placement
    return placements


def gpu_pod(deployment: DeploymentSpec, placement: Placement) -> GpuPod:
    """The GPU side of a deployment's pods; raise InvalidArgument on an impossible placement."""
    count = deployment.resources.gpu
    where = f"deployment {deployment.name!r}"
    if count == 0:
        if placement.mig_profile or placement.time_slicing or placement.gpu_product:
            raise InvalidArgument(f"{where}: GPU placement options are set but resources.gpu is 0")
        return GpuPod({}, {}, None, [], placement.runtime_class)
    if placement.mig_profile is not None and placement.time_slicing is not None:
        raise InvalidArgument(
            f"{where}: choose MIG slices or time-slicing, not both (a GPU is partitioned one way)"
        )
    if deployment.llm is not None and deployment.llm.engine == "inferd":
        # The -gpu image resolves device auto to cuda, which the llama.cpp runtime refuses.
        raise InvalidArgument(
            f"{where}: llm.engine 'inferd' serves GGUF models on llama.cpp, which inferd runs on "
            f"the CPU (built without CUDA): its pods would hold resources.gpu {count} GPU(s) and "
            "never load the model; drop resources.gpu (CPU pods), or serve the model's Hugging "
            "Face files with engine 'vllm' on GPUs"
        )
    memory_mib = _memory_mib(deployment)
    selector = {LABEL_PRESENT: "true"}
    resource = GPU_RESOURCE
    if placement.mig_profile is not None:
        resource = f"nvidia.com/mig-{placement.mig_profile}"
        if count > 1 and deployment.llm is not None and deployment.llm.engine == "vllm":
            raise InvalidArgument(
                f"{where}: vLLM shards a model over whole GPUs (tensor parallelism), not over "
                f"{count} MIG slices: use one slice, or whole GPUs"
            )
        slice_gib = mig_memory_gib(placement.mig_profile)
        if memory_mib is not None and memory_mib > slice_gib * 1024:
            raise InvalidArgument(
                f"{where}: gpu_memory {deployment.resources.gpu_memory} does not fit a "
                f"{placement.mig_profile} MIG slice ({slice_gib} GB)"
            )
        # The slice's size is guaranteed by the resource itself; the whole GPU's memory label
        # says nothing about it.
        memory_mib = None
        if placement.gpu_product is not None:
            _check_profile(where, placement.gpu_product, placement.mig_profile)
    else:
        memory_mib = _with_llm_need(deployment, memory_mib)
    if placement.gpu_product is not None:
        product = placement.gpu_product
        if placement.time_slicing is not None:
            product += SHARED_SUFFIX
        selector[LABEL_PRODUCT] = product
    if placement.time_slicing is not None:
        if count != 1:
            raise InvalidArgument(
                f"{where}: a time-sliced pod asks for 1 GPU (more slices of the same GPU add no "
                f"compute), got resources.gpu {count}"
            )
        selector[LABEL_REPLICAS] = str(placement.time_slicing)
        _check_vllm_share(deployment, placement.time_slicing)
    toleration = {"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}
    return GpuPod({resource: count}, selector, memory_mib, [toleration], placement.runtime_class)


def _check_vllm_share(deployment: DeploymentSpec, replicas: int) -> None:
    """Refuse time-sliced vLLM replicas whose claims add up to more than the GPU: vLLM takes
    ``--gpu-memory-utilization`` of a GPU's memory at start and refuses to start with less
    free ("Free memory on device ... is less than desired GPU memory utilization"), so the
    replicas after the first on a shared GPU would crash-loop. Free memory is counted without
    the driver's reservation, so the shares must leave :data:`SHARED_GPU_RESERVE` of it."""
    llm = deployment.llm
    if llm is None or llm.engine != "vllm":
        return
    share = gpu_memory_utilization(deployment.name, llm)
    room = 1 - SHARED_GPU_RESERVE
    if share * replicas <= room:
        return
    most = math.floor(100 * room / replicas) / 100
    start = min(replicas, math.floor(room / share))
    raise InvalidArgument(
        f"deployment {deployment.name!r}: vLLM claims --gpu-memory-utilization {float(share):g} "
        f"of a GPU's memory at start and refuses to start with less free, so with time_slicing "
        f"{replicas} only {start} of the {replicas} replicas sharing a GPU would start; set "
        f"llm.engine_args [--gpu-memory-utilization, '{most:g}'] (at most {most:g} each), or "
        "use MIG slices or whole GPUs"
    )


def _check_profile(where: str, product: str, profile: str) -> None:
    """Refuse a MIG profile the product's published table lacks: no node of it would ever
    advertise ``nvidia.com/mig-{profile}``, and the pods would stay Pending. A product without
    a table here is not second-guessed."""
    if product in WITHOUT_MIG:
        raise InvalidArgument(
            f"{where}: {product} has no MIG (no node of it advertises nvidia.com/mig-{profile}): "
            "drop mig_profile, or place the deployment on an A30, A100, H100 or H200"
        )
    tables = label_tables(product)
    if tables and all(t.profile(profile) is None for t in tables):
        offered = ", ".join(dict.fromkeys(p.name for t in tables for p in t.profiles))
        raise InvalidArgument(f"{where}: {product} has no MIG profile {profile} (it has {offered})")


def _with_llm_need(deployment: DeploymentSpec, declared_mib: int | None) -> int | None:
    """The larger of the declared GPU memory and what one GPU of a language model's replica
    needs (:mod:`.llm_memory`, when its llm section sizes it), in MiB: the plan places it so."""
    llm = deployment.llm
    if llm is None or llm.shape is None or llm.max_model_len is None:
        return declared_mib
    sized = llm_memory(deployment)
    if sized is None:
        return declared_mib
    need = math.ceil(sized.per_gpu / _MIB)
    return need if declared_mib is None else max(declared_mib, need)


def _memory_mib(deployment: DeploymentSpec) -> int | None:
    text = deployment.resources.gpu_memory
    if text is None:
        return None
    return math.ceil(parse_quantity(text) / _MIB)


def time_slicing_key(placement: Placement) -> str:
    """The device-plugin config a node must be labelled with for this placement."""
    product = (placement.gpu_product or "any").lower()
    return f"{product}-x{placement.time_slicing}"


def time_slicing_configmap(placements: list[Placement], options: K8sOptions) -> Obj | None:
    """The GPU operator's device-plugin ConfigMap with one time-slicing config per distinct
    (product, replicas) placement; None when no deployment is time-sliced."""
    configs: dict[str, str] = {}
    for placement in placements:
        if placement.time_slicing is None:
            continue
        config = {
            "version": "v1",
            "flags": {"migStrategy": "none"},
            "sharing": {
                "timeSlicing": {
                    "resources": [{"name": GPU_RESOURCE, "replicas": placement.time_slicing}]
                }
            },
        }
        configs[time_slicing_key(placement)] = yaml.safe_dump(config, sort_keys=False)
    if not configs:
        return None
    return operator_configmap(
        TIME_SLICING_CONFIGMAP,
        options,
        "name this ConfigMap in the ClusterPolicy's devicePlugin.config.name and label each "
        f"node {LABEL_DEVICE_PLUGIN_CONFIG}=<key>",
        dict(sorted(configs.items())),
    )


def operator_configmap(name: str, options: K8sOptions, usage: str, data: dict[str, str]) -> Obj:
    """A ConfigMap the GPU Operator's components read, with how to use it (``usage``) in an
    annotation. It lives in the operator's namespace, whatever the stack's: the device plugin
    and the MIG manager read it from there."""
    meta = {
        "name": name,
        "namespace": options.gpu_operator_namespace,
        "labels": {"app.kubernetes.io/managed-by": "inferd"},
        "annotations": {"inferd.dev/usage": usage},
    }
    return obj("v1", "ConfigMap", meta, data=data)
