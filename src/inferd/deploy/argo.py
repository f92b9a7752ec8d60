"""Argo Rollouts: a deployment's canary policy as a Rollout, a canary Service and an analysis.

With ``--progressive argo`` (plain target) a deployment whose ``rollout.strategy`` is
``canary`` is handed to the Argo Rollouts controller and its Gateway API traffic-router plugin
(``argoproj-labs/gatewayAPI``), instead of waiting for ``inferd up``'s rollout controller:

- the main version's Deployment becomes a **Rollout** of the same name and pod. Its canary
  steps are the spec's: ``setWeight`` for each step below 100, each followed by a ``pause`` of
  ``rollout.interval``; after the last step Argo promotes. A change of the pod (a new model for
  the main version, or ``--stage canary``, see :mod:`.canary`) is what Argo rolls out;
- the main version's **Service** is the stable service and ``{name}-canary`` the canary service
  (Argo adds each ReplicaSet's pod-template hash to their selectors);
- the **HTTPRoute**'s weighted split gets the canary service as a second backend at weight 0;
  at each step the plugin sets it to the step's weight and the stable backend to the rest
  (every backend that names either service, so the split must hold no other weighted version).
  The rules that reach the stable service alone move to a ``{route}-pinned`` HTTPRoute the
  plugin is not given, which it would otherwise set to weight 0 just before promotion;
- an **AnalysisTemplate** runs in the background from the first step: one Prometheus metric per
  check of ``rollout.analysis`` measurable on the cluster, over the canary Service's series
  (``service="{name}-canary"``, what the ServiceMonitor scrapes), each ``interval``. A language
  model's requests are its generations (``inferd_llm_requests_total``, the ``gen_ai_server_*``
  histograms), with time to first token and per output token checked at p95.

Analysis semantics, mapped from :mod:`inferd.control.rollout.analysis`: fewer than
``min_requests`` canary requests in the interval (or none) make a traffic measurement
inconclusive, which pauses the rollout (``kubectl argo rollouts promote`` resumes it) instead of
advancing on no evidence; ``failure_limit`` failed measurements abort it (Argo fails an analysis
after ``failureLimit`` + 1); input drift that is not measured yet counts as 0. Divergence and
score checks compare mirrored answers, which only ``inferd up``'s gateway does: they are named
in the Rollout's ``inferd.dev/not-rendered`` annotation.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from inferd.deploy.canary import Canary
from inferd.deploy.gateway_api import openai_route_name
from inferd.deploy.gpu import GpuPod
from inferd.deploy.k8s_options import K8sOptions, Stage
from inferd.deploy.objects import (
    HTTP_PORT,
    LABEL_VERSION,
    Obj,
    labels,
    metadata,
    obj,
    selector_labels,
    workload_name,
)
from inferd.deploy.services import service
from inferd.deploy.workloads import PROGRESS_DEADLINE_S, autoscaled, pod_template
from inferd.errors import InternalError, InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec
from inferd.spec.policies import AnalysisSpec, RolloutSpec

API_VERSION = "argoproj.io/v1alpha1"
GATEWAY_PLUGIN = "argoproj-labs/gatewayAPI"
#: The route of the rules that reach the stable Service alone, kept from the plugin.
PINNED_SUFFIX = "-pinned"
#: Server outcomes that are the version's errors (client errors are the client's).
ERROR_OUTCOMES = "error|deadline|unavailable"
#: The longest Service name (a DNS-1035 label).
MAX_NAME = 63


@dataclass(frozen=True, slots=True)
class _Traffic:
    """The series a version's requests are counted and timed in."""

    requests: str
    errors: str
    duration: str


_INFERENCE = _Traffic(
    "inferd_requests_total", f'outcome=~"{ERROR_OUTCOMES}"', "inferd_request_duration_seconds"
)
#: A language model's OpenAI requests are counted and timed as generations (by how they
#: ended), never in ``inferd_requests_total``: measured there, the canary would have no traffic.
_GENERATIONS = _Traffic(
    "inferd_llm_requests_total",
    'finish_reason=~"error|shed"',
    "gen_ai_server_request_duration_seconds",
)
#: The language-model checks: the candidate's p95 of each histogram.
_TOKEN_CHECKS = (
    ("ttft-p95", "max_ttft_p95", "gen_ai_server_time_to_first_token_seconds"),
    (
        "inter-token-latency-p95",
        "max_inter_token_latency_p95",
        "gen_ai_server_time_per_output_token_seconds",
    ),
)


def handles(deployment: DeploymentSpec, options: K8sOptions) -> bool:
    """Whether ``deployment`` is handed to Argo Rollouts (``--progressive argo``, canary policy)."""
    policy = deployment.rollout
    return options.progressive == "argo" and policy is not None and policy.strategy == "canary"


def canary_service_name(deployment: DeploymentSpec, main: VersionSpec) -> str:
    """``{deployment}-{version}-canary``; refused when longer than a Service name may be."""
    name = f"{workload_name(deployment, main)}-canary"
    if len(name) > MAX_NAME:
        raise InvalidArgument(
            f"deployment {deployment.name!r} version {main.name!r}: the canary Service name "
            f"{name!r} ({len(name)} characters) is longer than the {MAX_NAME} Kubernetes "
            "allows; shorten the deployment or version name"
        )
    return name


def rollout(
    deployment: DeploymentSpec,
    canary: Canary,
    spec: Spec,
    options: K8sOptions,
    gpu: GpuPod,
    *,
    stage: Stage,
) -> Obj:
    """The Rollout that replaces the main version's Deployment."""
    policy = _policy(deployment)
    main = canary.stable
    name = workload_name(deployment, main)
    runs = canary.serving(stage)
    template = pod_template(deployment, runs, spec, options, gpu)
    # The pod belongs to the main version's workload whichever model it serves: its Service,
    # PodDisruptionBudget and the Rollout's selector pick it by that version's label.
    template["metadata"]["labels"][LABEL_VERSION] = main.name
    # A language model's OpenAI paths have a route of their own (the plugin's httpRoutes list).
    plugin: Obj = (
        {"httpRoute": deployment.name}
        if deployment.llm is None
        else {"httpRoutes": [{"name": deployment.name}, {"name": openai_route_name(deployment)}]}
    )
    if options.namespace is not None:
        plugin["namespace"] = options.namespace
    steps: list[Obj] = []
    for weight in (w for w in policy.steps if w < 100):
        steps += [{"setWeight": weight}, {"pause": {"duration": _duration(policy.interval)}}]
    body: Obj = {}
    if not autoscaled(deployment, main):
        body["replicas"] = main.replicas
    body.update(
        {
            "selector": {"matchLabels": selector_labels(spec, deployment.name, main.name)},
            "template": template,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_S,
            "strategy": {
                "canary": {
                    "stableService": name,
                    "canaryService": canary_service_name(deployment, main),
                    "trafficRouting": {"plugins": {GATEWAY_PLUGIN: plugin}},
                    "analysis": {"templates": [{"templateName": name}]},
                    "steps": steps,
                }
            },
        }
    )
    meta = metadata(name, options, labels(spec, deployment.name, main.name, model=runs.model))
    meta["annotations"] = {"inferd.dev/model": runs.model}
    return obj(API_VERSION, "Rollout", meta, body)


def notes(deployment: DeploymentSpec, canary: Canary, stage: Stage) -> list[str]:
    """What the Argo rendering of this deployment leaves out, and the step it is."""
    candidate = canary.candidate
    out = []
    if candidate is not None and stage == "stable":
        out.append(
            f"candidate {candidate.name!r} (weight {canary.weight}): the next step, "
            "rolled out by rendering with --stage canary"
        )
    if candidate is not None and stage == "canary":
        out.append(
            f"the Rollout rolls {candidate.name!r} out over {canary.stable.name!r}: on a "
            "cluster that does not run it yet, apply --stage stable first"
        )
        if any(r.version == candidate.name for r in deployment.traffic.header_routes):
            out.append(f"header routes to {candidate.name!r}: it has no Service of its own")
    policy = _policy(deployment)
    analysis = policy.analysis
    if analysis.max_divergence is not None or analysis.max_score_difference is not None:
        out.append(
            "rollout.analysis divergence and score checks: they compare mirrored answers, "
            "which only inferd up's gateway does"
        )
    if policy.progress_deadline is not None:
        out.append(
            "rollout.progress_deadline: Argo pauses on a measurement without min_requests "
            "for a person to resume (it has no deadline for gathering them; its "
            "progressDeadlineSeconds bounds the pods)"
        )
    return out


def canary_service(
    deployment: DeploymentSpec, main: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """The canary Service: the stable one's twin, under the canary name."""
    out = service(deployment, main, spec, options)
    out["metadata"]["name"] = canary_service_name(deployment, main)
    return out


def route_canary(route: Obj, deployment: DeploymentSpec, main: VersionSpec) -> list[Obj]:
    """``route`` (the deployment's, or a language model's ``-openai`` one) with the canary
    Service beside the stable one in its weighted split, at weight 0 and with the same
    filters; and, when it has any, the rules that reach the stable Service alone (the main
    version's pinned path, a header route to it) in a route of their own, ``{route}-pinned``.

    The plugin sets every stable-Service backend of the routes it is given to ``100 - canary
    weight``, which is 0 just before promotion, when Argo sends the canary everything. A rule
    whose only backend has weight 0 is answered 500 by the Gateway API, so those rules must
    not be in the plugin's routes. Path length and header matches rank rules across routes,
    so they still win over the split."""
    stable = workload_name(deployment, main)
    canary = canary_service_name(deployment, main)
    kept: list[Obj] = []
    pinned: list[Obj] = []
    for rule in route["spec"]["rules"]:
        refs = rule["backendRefs"]
        weighted = [b for b in refs if b["name"] == stable and "weight" in b]
        refs += [{**ref, "name": canary, "port": HTTP_PORT, "weight": 0} for ref in weighted]
        alone = not weighted and any(b["name"] == stable for b in refs)
        (pinned if alone else kept).append(rule)
    route["spec"]["rules"] = kept
    if not pinned:
        return [route]
    own = copy.deepcopy(route)
    own["metadata"]["name"] += PINNED_SUFFIX
    own["metadata"].pop("annotations", None)  # the notes stay on the deployment's route
    own["spec"]["rules"] = pinned
    return [route, own]


def retarget(autoscaler: Obj) -> Obj:
    """A KEDA ScaledObject or an HPA made to scale the Rollout (it has a scale subresource)."""
    autoscaler["spec"]["scaleTargetRef"].update({"apiVersion": API_VERSION, "kind": "Rollout"})
    return autoscaler


def analysis_template(
    deployment: DeploymentSpec, main: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """The background analysis of the Rollout (named like it)."""
    policy = _policy(deployment)
    name = workload_name(deployment, main)
    canary = _matchers(canary_service_name(deployment, main), options)
    stable = _matchers(name, options)
    window = _duration(policy.interval)
    analysis = policy.analysis
    traffic = _INFERENCE if deployment.llm is None else _GENERATIONS
    gate = _gate(traffic, canary, window, analysis)
    errors = (
        f"sum(rate({traffic.requests}{{{canary},{traffic.errors}}}[{window}]))"
        f" / sum(rate({traffic.requests}{{{canary}}}[{window}]))"
    )
    metrics = [_metric("error-rate", errors, analysis.max_error_rate, policy, options, gate=gate)]
    p99 = _quantile(0.99, traffic.duration, canary, window)
    if analysis.max_latency_p99 is not None:
        limit = analysis.max_latency_p99
        metrics.append(_metric("latency-p99", p99, limit, policy, options, gate=gate))
    if analysis.max_latency_ratio is not None:
        ratio = f"{p99} / {_quantile(0.99, traffic.duration, stable, window)}"
        limit = analysis.max_latency_ratio
        metrics.append(_metric("latency-ratio", ratio, limit, policy, options, gate=gate))
    for label, field, histogram in _TOKEN_CHECKS:
        token_limit: float | None = getattr(analysis, field)
        if token_limit is not None:
            p95 = _quantile(0.95, histogram, canary, window)
            metrics.append(_metric(label, p95, token_limit, policy, options, gate=gate))
    if analysis.max_drift_psi is not None:
        # Absent until the input has seen enough rows: not measured counts as no drift.
        drift = f"max(inferd_input_drift_psi{{{canary}}}) or on() vector(0)"
        limit = analysis.max_drift_psi
        metrics.append(_metric("input-drift-psi", drift, limit, policy, options, gate=None))
    meta = metadata(name, options, labels(spec, deployment.name, main.name, model=main.model))
    return obj(API_VERSION, "AnalysisTemplate", meta, {"metrics": metrics})


def _metric(
    label: str,
    query: str,
    limit: float,
    policy: RolloutSpec,
    options: K8sOptions,
    *,
    gate: str | None,
) -> Obj:
    """One Prometheus metric; ``gate`` (traffic metrics) turns too little traffic into NaN,
    which satisfies neither condition: the measurement is inconclusive."""
    entry: Obj = {
        "name": label,
        "interval": _duration(policy.interval),
        "successCondition": f"result[0] <= {_number(limit)}",
    }
    if gate is not None:
        entry["failureCondition"] = f"result[0] > {_number(limit)}"
        query = f"({query}){gate} or on() vector(NaN)"
    entry["failureLimit"] = max(policy.failure_limit, 1) - 1
    entry["provider"] = {"prometheus": {"address": options.prometheus_url, "query": query}}
    return entry


def _policy(deployment: DeploymentSpec) -> RolloutSpec:
    if deployment.rollout is None:  # render hands over only deployments with a policy
        raise InternalError(f"deployment {deployment.name!r} has no rollout policy")
    return deployment.rollout


def _matchers(service_name: str, options: K8sOptions) -> str:
    matchers = f'service="{service_name}"'
    if options.namespace is not None:
        matchers = f'namespace="{options.namespace}",{matchers}'
    return matchers


def _gate(traffic: _Traffic, matchers: str, window: str, analysis: AnalysisSpec) -> str:
    """The ``and`` that empties a traffic measurement below ``min_requests``."""
    if analysis.min_requests == 0:
        return ""
    return (
        f" and on() (sum(increase({traffic.requests}{{{matchers}}}[{window}]))"
        f" >= {analysis.min_requests})"
    )


def _quantile(q: float, histogram: str, matchers: str, window: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{{{matchers}}}[{window}])))"
    )


def _duration(seconds: float) -> str:
    return f"{math.ceil(seconds)}s"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
