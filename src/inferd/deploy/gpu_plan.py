"""``inferd gpu plan``: which GPU each replica would land on, first-fit decreasing.

A capacity check before ``kubectl apply``, not a scheduler: Kubernetes places pods. It answers
"do my GPU replicas fit these nodes, and which GPUs sit idle?" from the spec and a nodes file::

    nodes:
      - name: gpu-node-a
        gpus:
          - {product: NVIDIA-A100-SXM4-80GB, memory: 80Gi, count: 8}
      - name: gpu-node-b
        gpus:
          - {product: Tesla-T4, memory: 16Gi, count: 4}

Each GPU replica asks for ``resources.gpu`` units on one node: whole GPUs (with at least its
``gpu_memory``), MIG slices or time-sliced replicas of a GPU (:mod:`inferd.deploy.gpu_capacity`
says what each GPU can take). Replicas are placed largest first (first-fit decreasing, the
classic bin-packing heuristic), each on the first node and GPUs, in file order, where it
fits; a deployment placed on a product (``gpu_product``) only uses GPUs of that product.

A language-model deployment (an ``llm:`` section with ``shape`` and ``max_model_len``) asks for
the memory :mod:`inferd.deploy.llm_memory` computes (weights, KV cache, overhead) on each of its
GPUs, or its ``gpu_memory`` if that is larger; on a MIG slice, the slice must hold it. The plan
also says which GPU product or MIG profile of the nodes holds such a replica
(:func:`inferd.deploy.llm_fit.llm_fits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferd.deploy.gpu import gpu_placements, mig_memory_gib
from inferd.deploy.gpu_capacity import GIB, Demand, Gpu, gib, room, take
from inferd.deploy.k8s_options import K8sOptions, LabelValue, ObjectName
from inferd.deploy.llm_fit import LlmFit, LlmRow, llm_fits
from inferd.deploy.llm_memory import LlmMemory, llm_memory
from inferd.deploy.vllm_serve import bases
from inferd.errors import InvalidArgument
from inferd.settings_file import read_settings_file, unknown_key, yaml_position
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec
from inferd.spec.types import Quantity, parse_quantity

#: How many replicas a plan places: the spec's, or as many as autoscaling may reach.
Scale = Literal["replicas", "max"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuGroup(_Strict):
    """``count`` identical GPUs of one node."""

    product: LabelValue
    memory: Quantity
    count: int = Field(default=1, ge=1, le=64)


class NodeSpec(_Strict):
    name: ObjectName
    gpus: list[GpuGroup] = Field(min_length=1)


class NodesFile(_Strict):
    nodes: list[NodeSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Assignment:
    """One replica's demand assigned to a node and the indices of the GPUs it takes (an index
    appears once per MIG slice taken on that GPU)."""

    demand: Demand
    node: str
    gpus: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Unplaced:
    demand: Demand
    reason: str


class PlacementRow(TypedDict):
    replica: str
    node: str
    gpus: list[int]


class UnplacedRow(TypedDict):
    replica: str
    reason: str


class IdleGpu(TypedDict):
    node: str
    index: int
    product: str


class GpuRow(IdleGpu):
    #: Bytes in all, and taken by the replicas placed.
    memory: int
    used: int
    sharing: str | None
    replicas: list[str]


class PlanDocument(TypedDict):
    """A :class:`Plan` as JSON: placements, what does not fit, every GPU, the idle ones, and
    the sizing of LLM deployments."""

    placements: list[PlacementRow]
    unplaced: list[UnplacedRow]
    gpus: list[GpuRow]
    idle: list[IdleGpu]
    llm: list[LlmRow]


@dataclass(frozen=True, slots=True)
class Plan:
    assignments: list[Assignment]
    unplaced: list[Unplaced]
    gpus: list[Gpu]
    llm: list[LlmFit] = field(default_factory=list)

    @property
    def idle(self) -> list[Gpu]:
        return [g for g in self.gpus if not g.replicas]

    def document(self) -> PlanDocument:
        """The plan as ``inferd gpu plan --json`` prints it."""
        return {
            "placements": [
                {"replica": p.demand.label, "node": p.node, "gpus": list(p.gpus)}
                for p in self.assignments
            ],
            "unplaced": [{"replica": u.demand.label, "reason": u.reason} for u in self.unplaced],
            "gpus": [
                {
                    "node": g.node,
                    "index": g.index,
                    "product": g.product,
                    "memory": g.memory,
                    "used": g.used,
                    "sharing": g.describe_sharing(),
                    "replicas": g.replicas,
                }
                for g in self.gpus
            ],
            "idle": [{"node": g.node, "index": g.index, "product": g.product} for g in self.idle],
            "llm": [fit.row() for fit in self.llm],
        }


def load_nodes(path: Path) -> list[Gpu]:
    """The GPUs of a nodes file, in file order (indexes count per node from 0)."""
    loaded = read_settings_file(path, "nodes file")  # not there, not UTF-8, not YAML: named
    try:
        nodes = NodesFile.model_validate(loaded)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            loc = tuple(str(p) for p in e["loc"])
            message = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "missing":
                message = f"required key {loc[-1]!r} is missing (see docs/kubernetes.md#gpus)"
            elif e["type"] == "extra_forbidden":
                message = unknown_key(NodesFile, loc)
            problems.append(f"{path}:{yaml_position(path, loc)}: {'.'.join(loc)}: {message}")
        raise InvalidArgument("; ".join(problems)) from None
    names: set[str] = set()
    for i, node in enumerate(nodes.nodes):
        if node.name in names:
            where = yaml_position(path, ("nodes", str(i), "name"))
            raise InvalidArgument(
                f"{path}:{where}: nodes.{i}.name: node {node.name!r} is listed twice (list a "
                "node once, with a gpus entry per product)"
            )
        names.add(node.name)
    gpus: list[Gpu] = []
    for node in nodes.nodes:
        index = 0
        for group in node.gpus:
            for _ in range(group.count):
                gpus.append(Gpu(node.name, index, group.product, _bytes(group.memory)))
                index += 1
    return gpus


def _bytes(quantity: str) -> int:
    return int(parse_quantity(quantity).to_integral_value())


def demands(spec: Spec, options: K8sOptions, scale: Scale = "replicas") -> list[Demand]:
    """Every GPU replica of the spec (``scale="max"``: as many as autoscaling may reach).

    Raises InvalidArgument for a placement ``inferd k8s render`` would refuse.
    """
    out: list[Demand] = []
    placements = gpu_placements(spec, options)
    for deployment in spec.deployments:
        placement = placements.get(deployment.name)
        if placement is None:  # no GPU
            continue
        memory = _memory(deployment)
        share = _share(deployment) if placement.time_slicing is not None else None
        for version in pod_versions(deployment):
            for replica in range(replicas_at(deployment, version.replicas, scale)):
                out.append(
                    Demand(
                        deployment.name,
                        version.name,
                        replica,
                        deployment.resources.gpu,
                        memory,
                        placement.gpu_product,
                        placement.mig_profile,
                        placement.time_slicing,
                        share,
                    )
                )
    return out


def _memory(deployment: DeploymentSpec) -> int | None:
    """Bytes per GPU a replica asks for: ``gpu_memory``, or what an LLM needs if more."""
    declared = deployment.resources.gpu_memory
    size = None if declared is None else _bytes(declared)
    sized = llm_memory(deployment)
    if sized is None:
        return size
    return sized.per_gpu if size is None else max(size, sized.per_gpu)


def _share(deployment: DeploymentSpec) -> float | None:
    """The share of a GPU's memory a vLLM replica claims at start; None for other engines."""
    sized = llm_memory(deployment)
    if sized is None or deployment.llm is None or deployment.llm.engine != "vllm":
        return None
    return float(sized.utilization)


def pod_versions(deployment: DeploymentSpec) -> list[VersionSpec]:
    """The versions that run pods: a vLLM deployment's adapter versions are served by their
    base's pods (:mod:`.vllm`), every other version runs its own."""
    if deployment.llm is not None and deployment.llm.engine == "vllm":
        return bases(deployment)
    return list(deployment.versions)


def replicas_at(deployment: DeploymentSpec, replicas: int, scale: str) -> int:
    """A version's replicas, or autoscaling's maximum with ``scale="max"`` (not from zero)."""
    if scale == "max" and deployment.autoscaling is not None and replicas > 0:
        return max(replicas, deployment.autoscaling.max_replicas)
    return replicas


def plan(items: list[Demand], gpus: list[Gpu], llm: list[LlmMemory] | None = None) -> Plan:
    """Place ``items`` on ``gpus`` (mutated: what each holds), largest first; ``llm``: the
    sizes of LLM deployments (:func:`.llm_fit.llm_sizes`), for which the plan says what GPUs fit.

    Size is the memory a replica takes in all (a MIG slice its profile's memory, a whole GPU
    the largest there is, a time-sliced one its share of it); ties keep spec order, so the
    result is deterministic.
    """
    fits = llm_fits(llm or [], gpus)
    largest = max((g.memory for g in gpus), default=0)
    order = sorted(enumerate(items), key=lambda pair: (-_size(pair[1], largest), pair[0]))
    assignments: list[Assignment] = []
    unplaced: list[Unplaced] = []
    nodes = list(dict.fromkeys(g.node for g in gpus))
    for _, demand in order:
        small = _slice_too_small(demand)
        if small is not None:
            unplaced.append(Unplaced(demand, small))
            continue
        spot = _first_fit(demand, gpus, nodes)
        if spot is None:
            unplaced.append(Unplaced(demand, _why(demand, gpus, nodes)))
            continue
        node, chosen = spot
        for gpu in chosen:
            take(gpu, demand)
        assignments.append(Assignment(demand, node, tuple(g.index for g in chosen)))
    return Plan(assignments, unplaced, gpus, fits)


def _slice_too_small(demand: Demand) -> str | None:
    """Why a MIG slice cannot hold the demand's memory (an LLM's computed need; render refuses
    a larger ``gpu_memory`` before this), or None."""
    if demand.mig_profile is None or demand.memory is None:
        return None
    slice_bytes = mig_memory_gib(demand.mig_profile) * GIB
    if demand.memory <= slice_bytes:
        return None
    return (
        f"needs {gib(demand.memory)} per GPU; a {demand.mig_profile} MIG slice has "
        f"{gib(slice_bytes)}"
    )


def _size(demand: Demand, largest: int) -> int:
    if demand.mig_profile is not None:
        each = mig_memory_gib(demand.mig_profile) * GIB
    elif demand.memory is not None:
        each = demand.memory
    else:
        each = largest // (demand.time_slicing or 1)
    return demand.gpus * each


def _units(demand: Demand, gpus: list[Gpu], node: str) -> list[Gpu]:
    """Up to ``demand.gpus`` units on ``node``, first GPUs first; MIG slices may share a GPU."""
    on_node = [g for g in gpus if g.node == node]
    taken: list[Gpu] = []
    for gpu in on_node:
        units = room(demand, gpu, on_node)
        if demand.mig_profile is None:
            units = min(units, 1)
        taken += [gpu] * min(units, demand.gpus - len(taken))
    return taken


def _first_fit(demand: Demand, gpus: list[Gpu], nodes: list[str]) -> tuple[str, list[Gpu]] | None:
    for node in nodes:
        taken = _units(demand, gpus, node)
        if len(taken) == demand.gpus:
            return node, taken
    return None


def _why(demand: Demand, gpus: list[Gpu], nodes: list[str]) -> str:
    candidates = [g for g in gpus if demand.product is None or g.product == demand.product]
    if not candidates:
        return f"no node has a {demand.product} GPU"
    most = max(len(_units(demand, gpus, n)) for n in nodes)
    left = f"at most {most} left on any node"
    if demand.mig_profile is not None:
        return _why_mig(demand, candidates, left)
    need = "a whole GPU" if demand.memory is None else f"{gib(demand.memory)} free"
    if demand.share is not None and demand.memory is not None:
        need = f"{gib(demand.memory)} (it claims {demand.share:g} of a GPU)"
    if demand.memory is not None and all(g.memory < demand.memory for g in candidates):
        return f"needs {need} per GPU; the largest GPU has {gib(max(g.memory for g in candidates))}"
    if demand.time_slicing is not None:
        memory = "" if demand.memory is None else f" with {need}"
        return (
            f"needs {demand.gpus} time-sliced GPU ({demand.time_slicing} replicas per GPU)"
            f"{memory} on one node; {left}"
        )
    size = "" if demand.memory is None else f" of at least {gib(demand.memory)}"
    return (
        f"needs {demand.gpus} whole GPU(s){size} on one node; {left} (an nvidia.com/gpu is one "
        "pod's; share GPUs with time_slicing or mig_profile)"
    )


def _why_mig(demand: Demand, candidates: list[Gpu], left: str) -> str:
    name = str(demand.mig_profile)
    per: set[str] = set()
    has: dict[str, str] = {}
    for gpu in candidates:
        table = gpu.mig_table
        profile = None if table is None else table.profile(name)
        if table is not None and profile is not None:
            per.add(f"{profile.instances} per {table.name} GPU")
        elif table is None:
            has[gpu.product] = f"{gpu.product} has no MIG"
        else:
            has[gpu.product] = f"{gpu.product} has " + ", ".join(p.name for p in table.profiles)
    if not per:
        return f"no GPU offers MIG {name} ({'; '.join(has.values())})"
    return f"needs {demand.gpus} MIG {name} slice(s) on one node; {left} ({', '.join(sorted(per))})"
