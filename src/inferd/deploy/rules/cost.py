"""Cost recording rules: what each version's pods cost per hour, and per 1,000 predictions.

Capacity held is what the pods *request* (kube-state-metrics'
``kube_pod_container_resource_requests``), as under ``inferd up``: a container without a CPU
request holds 1 core, one without a memory request the peak of its working set over the hour
(cAdvisor). It is priced with the spec's ``cost`` section as rule constants (the discount
applied). A pod belongs to a version by its ``inferd.dev/deployment`` and
``inferd.dev/version`` labels, read from ``kube_pod_labels`` (kube-state-metrics exports them when
allowed: ``--metric-labels-allowlist=pods=[inferd.dev/deployment,inferd.dev/version]``), and
only while it is Running. Work done is the replicas' ``inferd_requests_total{outcome="success"}``,
joined to the version the same way, so both sides count the same pods; a shadow's pods answer
mirrored copies, which are no predictions.

=====================================================  =========================================
series                                                 value
=====================================================  =========================================
``stack:inferd_cost_evaluation:info``                  1 at every evaluation of the group
``pod:inferd_version:info``                            1 per Running pod, with its version
``pod:inferd_node_share:ratio{resource}``              (per node) a pod's share of a node's cpu
                                                       or memory
``version_resource:inferd_cost_per_hour:sum{resource}``  per resource (cpu, memory, the GPU
                                                       resource) or ``node``: price per hour
``version:inferd_cost_per_hour:sum``                   the version's price per hour
``version:inferd_cost:sum1h``                          money spent over the last hour
``version:inferd_predictions:increase1h``              predictions over the last hour
``version:inferd_cost_per_1k_predictions:1h``          money per 1,000 predictions, last hour
=====================================================  =========================================

Per resource: cores * ``cpu_core_hour`` + GiB * ``memory_gib_hour`` + GPUs * ``gpu_hour`` of the
deployment's GPU family (from its placement's ``gpu_product``), a MIG slice at its share of the
GPU's compute slices and a time-sliced GPU at ``1 / time_slicing``. Per node: the larger of a pod's
cpu and memory shares of ``cost.node``, times ``price_per_node_hour``.

Money over the last hour is the sum of the hour's per-hour prices, one per evaluation of the
group (an evaluation without pods adds nothing, so a version that scaled down or to zero pays
only for the time it held pods), times each evaluation's share of the hours they cover: their
number times the evaluation interval, at most the hour, over their number. The interval is
measured, whatever Prometheus is configured with: the group records
``stack:inferd_cost_evaluation:timestamp`` at each evaluation, and the interval is the span of
the hour's timestamps over their gaps. Without the cover (the hour's prices averaged over its
evaluations), the first hour after the rules started was charged whole: 10 minutes of pods read
as an hour's money, 6x too much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from inferd.deploy.gpu import gpu_pod
from inferd.deploy.k8s_options import K8sOptions, Placement
from inferd.deploy.mig import MIG_GPUS
from inferd.deploy.rules.llm_alerts import inferd_serves
from inferd.deploy.rules.model import Need, Rule, record
from inferd.deploy.rules.promql import number
from inferd.errors import InvalidArgument
from inferd.spec.cost import CostSpec
from inferd.spec.model import DeploymentSpec, Spec
from inferd.spec.types import gpu_family, parse_quantity

_GIB = 2**30
_BY_VERSION = "namespace, deployment, version"
_BY_POD = "namespace, pod, deployment, version"

EVALUATION = "stack:inferd_cost_evaluation:timestamp"
POD_VERSION = "pod:inferd_version:info"
NODE_SHARE = "pod:inferd_node_share:ratio"
RESOURCE_COST = "version_resource:inferd_cost_per_hour:sum"
HOURLY_COST = "version:inferd_cost_per_hour:sum"
HOUR_COST = "version:inferd_cost:sum1h"
PREDICTIONS = "version:inferd_predictions:increase1h"
COST_PER_1K = "version:inferd_cost_per_1k_predictions:1h"

_KSM: frozenset[Need] = frozenset(
    {"kube-state-metrics"}
)  # every cost rule reads pod requests and labels


@dataclass(frozen=True, slots=True)
class GpuPrice:
    """What one unit of a deployment's GPU resource costs per hour."""

    #: The resource as kube-state-metrics labels it: ``nvidia_com_gpu``, ``nvidia_com_mig_1g_10gb``.
    resource: str
    #: Share of a whole GPU one unit is.
    fraction: float
    #: Price per unit per hour, discount applied.
    price: float


def discounted(price: float, cost: CostSpec) -> float:
    """``price`` with the spec's discount taken off."""
    return price * (1 - cost.discount)


def ksm_resource(name: str) -> str:
    """A resource name as kube-state-metrics writes it in its ``resource`` label."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def gpu_fraction(placement: Placement) -> float:
    """Share of a whole GPU one unit of the placement's GPU resource is: a MIG slice's compute
    slices out of its GPU's, ``1 / time_slicing`` of a time-sliced GPU, else 1."""
    if placement.time_slicing is not None:
        return 1 / placement.time_slicing
    if placement.mig_profile is None:
        return 1.0
    family = gpu_family(placement.gpu_product or "")
    slices = {g.compute_slices for g in MIG_GPUS if g.family == family}
    if len(slices) != 1:
        raise InvalidArgument(
            f"MIG profile {placement.mig_profile}: cannot price a slice of "
            f"{placement.gpu_product or 'an unnamed GPU product'}; set gpu_product to a MIG GPU "
            "(A30, A100, H100, H200) in the overlay"
        )
    compute = int(placement.mig_profile.split("g.", 1)[0])
    return compute / slices.pop()


def gpu_price(deployment: DeploymentSpec, placement: Placement, cost: CostSpec) -> GpuPrice:
    """The price of the deployment's GPU resource (per-resource pricing).

    Raises InvalidArgument when its GPUs cannot be priced: no ``gpu_product`` to name the
    family, or no ``gpu_hour`` for that family (rendering a cost without them would leave the
    largest part out, silently).
    """
    (resource,) = gpu_pod(deployment, placement).resources
    product = placement.gpu_product
    where = f"deployment {deployment.name!r} requests GPUs ({resource})"
    if product is None:
        raise InvalidArgument(
            f"{where} but its placement names no gpu_product, so the cost rules cannot tell "
            "which cost.gpu_hour price applies; set gpu_product in the overlay"
        )
    family = gpu_family(product)
    if family is None or family not in cost.gpu_hour:
        known = ", ".join(sorted(cost.gpu_hour)) or "none"
        raise InvalidArgument(
            f"{where} on {product} (family {family or 'unknown'}), and cost.gpu_hour has no price "
            f"for it (priced: {known}); add one"
        )
    fraction = gpu_fraction(placement)
    return GpuPrice(
        ksm_resource(resource), fraction, discounted(cost.gpu_hour[family] * fraction, cost)
    )


def node_price(cost: CostSpec) -> tuple[float, float, float]:
    """``(price per node-hour after discount, cores, memory bytes)`` of per-node pricing.

    Raises InvalidArgument without ``cost.node``: on a cluster a pod pays its share of a node,
    and only the spec says what a node holds.
    """
    if cost.price_per_node_hour is None:
        raise ValueError("node_price needs price_per_node_hour")
    if cost.node is None:
        raise InvalidArgument(
            "cost.price_per_node_hour: the cost rules price a pod by its share of a node, and "
            "cost.node says what one node holds; add it (e.g. node: {cpu: 8, memory: 32Gi}) or "
            "price per resource (cpu_core_hour, memory_gib_hour, gpu_hour)"
        )
    cores = float(parse_quantity(cost.node.cpu))
    memory = float(parse_quantity(cost.node.memory))
    return discounted(cost.price_per_node_hour, cost), cores, memory


@dataclass(frozen=True, slots=True)
class _Stack:
    """Matchers that keep every rule to this stack's series, so two stacks' rules in one
    Prometheus never record the same series."""

    namespace: str | None
    deployments: tuple[str, ...]

    def sel(self, *extra: str, label: str = "deployment") -> str:
        """``{namespace="…",deployment=~"a|b",extra…}`` (``label`` names the deployment label)."""
        matchers = [f'{label}=~"{"|".join(self.deployments)}"', *extra]
        if self.namespace is not None:
            matchers.insert(0, f'namespace="{self.namespace}"')
        return "{" + ",".join(matchers) + "}"

    def namespaced(self, *extra: str) -> str:
        """``{namespace="…",extra…}``, or nothing without a namespace and ``extra``."""
        matchers = list(extra)
        if self.namespace is not None:
            matchers.insert(0, f'namespace="{self.namespace}"')
        return "{" + ",".join(matchers) + "}" if matchers else ""


def cost_rules(spec: Spec, options: K8sOptions) -> list[Rule]:
    """The cost recording rules of the stack (none without a ``cost`` section).

    Raises InvalidArgument when the spec's prices cannot price its pods (:func:`node_price`,
    :func:`gpu_price`).
    """
    cost = spec.cost
    if cost is None:
        return []
    stack = _Stack(options.namespace, tuple(d.name for d in spec.deployments))
    clock = {"stack": spec.metadata.name}
    if options.namespace is not None:  # two stacks of one name in two namespaces
        clock = {"namespace": options.namespace, **clock}
    mine = ",".join(f'{k}="{v}"' for k, v in clock.items())
    times = f"{EVALUATION}{{{mine}}}[1h]"
    # Each evaluation's share of the money: the hours the evaluations cover (their number times
    # the interval, the span of their timestamps over their gaps; at most the hour) over their
    # number. 0 with one evaluation: no interval is measured yet.
    share = (
        f"clamp_max(\n  count_over_time({times})\n"
        f"  * (max_over_time({times}) - min_over_time({times}))\n"
        f"  / clamp_min(count_over_time({times}) - 1, 1) / 3600,\n  1\n)\n"
        f"/ count_over_time({times})"
    )
    rules = [record(EVALUATION, "vector(time())", labels=clock), _pod_version(stack)]
    if cost.price_per_node_hour is not None:
        rules += _per_node(stack, cost)
    else:
        rules += _per_resource(spec, options, stack, cost)
    currency = {"currency": cost.currency}
    rules += [
        record(
            HOURLY_COST,
            f"sum by ({_BY_VERSION}) ({RESOURCE_COST}{stack.sel()})",
            labels=currency,
        ),
        record(
            HOUR_COST,
            f"sum_over_time({HOURLY_COST}{stack.sel()}[1h])\n* on () group_left ()\n({share})",
            labels=currency,
        ),
        record(
            PREDICTIONS,
            f"sum by ({_BY_VERSION}) (\n"
            f"  {_predictions(spec, stack)}\n"
            f"  * on (namespace, pod) group_left (deployment, version)\n"
            f"  {_serving_pods(spec, stack)}\n)",
        ),
        record(
            COST_PER_1K,
            f"{HOUR_COST}{stack.sel()}\n/ on ({_BY_VERSION})\n"
            f"({PREDICTIONS}{stack.sel()} > 0)\n* 1000",
            labels=currency,
        ),
    ]
    return [replace(r, needs=_KSM) for r in rules]


def _serving_pods(spec: Spec, stack: _Stack) -> str:
    """The pods of the last hour whose answers are predictions: a shadow's are not (it
    answers mirrored copies; it is paid for all the same)."""
    pods = f"max_over_time({POD_VERSION}{stack.sel()}[1h])"
    for d in spec.deployments:
        if d.traffic.shadow is not None:
            shadow = stack.namespaced(f'deployment="{d.name}"', f'version="{d.traffic.shadow}"')
            pods = f"({pods}\n  unless max_over_time({POD_VERSION}{shadow}[1h]))"
    return pods


def _predictions(spec: Spec, stack: _Stack) -> str:
    """Each pod's predictions over the last hour: requests answered successfully, and a
    language model's generations that completed (``stop`` or ``length``, embeddings included:
    its OpenAI requests never reach ``inferd_requests_total``)."""
    # One pod serves one version; ``max`` also folds a pod that two Services scrape (an Argo
    # Rollout's stable and canary) into one series.
    success = stack.sel('outcome="success"', 'version!=""')
    answered = f"max by (namespace, pod) (increase(inferd_requests_total{success}[1h]))"
    if not any(d.llm is not None and inferd_serves(d) for d in spec.deployments):
        return answered
    completed = stack.sel('finish_reason=~"stop|length"', 'version!=""')
    per_scrape = "sum without (model, version, operation, finish_reason) "
    generated = (
        f"max by (namespace, pod) ({per_scrape}"
        f"(increase(inferd_llm_requests_total{completed}[1h])))"
    )
    # A pod that generated nothing yet has no generation series: its requests alone count.
    return f"(\n    {answered}\n    + on (namespace, pod) {generated}\n    or {answered}\n  )"


def _pod_version(stack: _Stack) -> Rule:
    pods = (
        "label_replace(\n    label_replace(\n"
        f"      kube_pod_labels{stack.sel(label='label_inferd_dev_deployment')},\n"
        '      "deployment", "$1", "label_inferd_dev_deployment", "(.+)"\n    ),\n'
        '    "version", "$1", "label_inferd_dev_version", "(.+)"\n  )'
    )
    running = f"kube_pod_status_phase{stack.namespaced(_RUNNING)}"
    return record(
        POD_VERSION,
        f"max by ({_BY_POD}) (\n  {pods}\n)\n"
        f"* on (namespace, pod) group_left ()\n(max by (namespace, pod) ({running}) == 1)",
    )


def _requests(
    stack: _Stack, held: str, *, deployment: str | None = None, by: str = _BY_VERSION
) -> str:
    """``held`` (per container) of the stack's Running pods (one deployment's, if given),
    summed by ``by``."""
    pods = stack.sel() if deployment is None else stack.namespaced(f'deployment="{deployment}"')
    return (
        f"sum by ({by}) (\n"
        f"  {held}\n"
        f"  * on (namespace, pod) group_left (deployment, version) {POD_VERSION}{pods}\n)"
    )


def _requested(stack: _Stack, selector: str) -> str:
    return f"kube_pod_container_resource_requests{stack.namespaced(selector)}"


def _held(stack: _Stack, selector: str, unrequested: str) -> str:
    """Each container's request ``selector``, or ``unrequested`` for a container without one."""
    return (
        f"(\n    {_requested(stack, selector)}\n    or on (namespace, pod, container)\n"
        f"    {unrequested}\n  )"
    )


def _cpu_held(stack: _Stack) -> str:
    """Each container's CPU request, or 1 core without one, as ``inferd up`` holds for a
    replica without a ``cpu`` request. kube-state-metrics has a restart counter for every
    container of a started pod: it names those that request nothing."""
    containers = f"kube_pod_container_status_restarts_total{stack.namespaced()}"
    return _held(stack, _CPU, f"group by (namespace, pod, container) ({containers})")


def _memory_held(stack: _Stack) -> str:
    """Each container's memory request, or without one the peak of its working set over the
    hour (cAdvisor exports no peak of the working set: ``container_memory_max_usage_bytes``
    is one of usage, page cache included, which the kernel reclaims), as ``inferd up`` holds
    a replica's peak RSS."""
    working = stack.namespaced('container!=""', 'container!="POD"')
    peak = (
        "max by (namespace, pod, container) "
        f"(max_over_time(container_memory_working_set_bytes{working}[1h]))"
    )
    return _held(stack, _MEMORY, peak)


_RUNNING = 'phase="Running"'
_CPU = 'resource="cpu",unit="core"'
_MEMORY = 'resource="memory",unit="byte"'


def _per_node(stack: _Stack, cost: CostSpec) -> list[Rule]:
    price, cores, memory = node_price(cost)
    cpu = _requests(stack, _cpu_held(stack), by=_BY_POD)
    mem = _requests(stack, _memory_held(stack), by=_BY_POD)
    share = f"max by ({_BY_POD}) ({NODE_SHARE}{stack.sel()})"
    return [
        record(NODE_SHARE, f"{cpu}\n/ {number(cores)}", labels={"resource": "cpu"}),
        record(NODE_SHARE, f"{mem}\n/ {number(memory)}", labels={"resource": "memory"}),
        record(
            RESOURCE_COST,
            f"sum by ({_BY_VERSION}) ({share})\n* {number(price)}",
            labels={"resource": "node"},
        ),
    ]


def _per_resource(spec: Spec, options: K8sOptions, stack: _Stack, cost: CostSpec) -> list[Rule]:
    out = []
    if cost.cpu_core_hour is not None:
        cpu = _requests(stack, _cpu_held(stack))
        price = number(discounted(cost.cpu_core_hour, cost))
        out.append(record(RESOURCE_COST, f"{cpu}\n* {price}", labels={"resource": "cpu"}))
    if cost.memory_gib_hour is not None:
        memory = _requests(stack, _memory_held(stack))
        price = number(discounted(cost.memory_gib_hour, cost))
        per_gib = f"{memory}\n/ {_GIB} * {price}"
        out.append(record(RESOURCE_COST, per_gib, labels={"resource": "memory"}))
    for d in spec.deployments:
        if d.resources.gpu == 0:
            continue
        gpu = gpu_price(d, options.placement_of(d), cost)
        requested = _requested(stack, f'resource="{gpu.resource}"')
        held = _requests(stack, requested, deployment=d.name)
        # Each GPU deployment has its own price, so its own rule; the deployment label (which
        # its series carry anyway) keeps two such rules from being duplicates to promtool.
        labels = {"resource": gpu.resource, "deployment": d.name}
        out.append(record(RESOURCE_COST, f"{held}\n* {number(gpu.price)}", labels=labels))
    return out
