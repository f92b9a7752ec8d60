"""A deployment's canary as a cluster rolls it out: the stable version, the candidate, two steps.

KServe (``canaryTrafficPercent``) and Argo Rollouts both roll a new version out over the one a
workload already runs: the previous revision is whatever was applied before. A spec that lists
both versions, weighted, therefore becomes two applies, chosen with ``--stage``:

- ``stable``: the workload on the main version alone (the one with the most traffic, the rule
  :func:`~inferd.spec.edits.main_version` states) — what a cluster must run first;
- ``canary``: the candidate (the one other version with a weight, the shadow aside) rolled out
  over it.

A deployment without a candidate renders the same in both stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferd.deploy.k8s_options import Stage
from inferd.errors import InvalidArgument
from inferd.spec.edits import main_version
from inferd.spec.model import DeploymentSpec, TrafficSpec, VersionSpec
from inferd.spec.policies import RolloutSpec


@dataclass(frozen=True, slots=True)
class Canary:
    """The stable version of a deployment, and its candidate with its weight (if any)."""

    stable: VersionSpec
    candidate: VersionSpec | None
    weight: int

    def serving(self, stage: Stage) -> VersionSpec:
        """The version the workload runs in ``stage``."""
        if stage == "canary" and self.candidate is not None:
            return self.candidate
        return self.stable


def canary_of(deployment: DeploymentSpec) -> Canary:
    """Raises InvalidArgument when more than one version besides the main one has a weight:
    a rollout moves traffic from one revision to one other."""
    weights = deployment.weights()
    stable = main_version(deployment)
    others = [
        v
        for v in deployment.versions
        if weights.get(v.name, 0) > 0 and v.name not in {stable.name, deployment.traffic.shadow}
    ]
    if len(others) > 1:
        names = ", ".join(repr(v.name) for v in [stable, *others])
        raise InvalidArgument(
            f"deployment {deployment.name!r}: a rollout moves traffic between two revisions, "
            f"and {names} all have a weight"
        )
    if not others:
        return Canary(stable, None, 0)
    return Canary(stable, others[0], weights[others[0].name])


def without_candidate(deployment: DeploymentSpec, canary: Canary) -> DeploymentSpec:
    """The deployment as the cluster routes it when the candidate lives inside the stable
    version's workload: the candidate's weight goes to the stable version, and header routes
    to the candidate are dropped (the caller reports them)."""
    candidate = canary.candidate
    if candidate is None:
        return deployment
    weights = {
        v.name: deployment.weights().get(v.name, 0)
        for v in deployment.versions
        if v.name != candidate.name
    }
    weights[canary.stable.name] += canary.weight
    traffic = deployment.traffic
    routed = TrafficSpec(
        weights=weights,
        shadow=traffic.shadow,
        sticky_header=traffic.sticky_header,
        header_routes=[r for r in traffic.header_routes if r.version != candidate.name],
    )
    versions = [v for v in deployment.versions if v.name != candidate.name]
    return deployment.model_copy(update={"versions": versions, "traffic": routed})


def policy_name(policy: RolloutSpec) -> str:
    """``rollout (canary, steps 10, 50, 100)``: how a not-rendered note names a policy."""
    steps = f", steps {', '.join(map(str, policy.steps))}" if policy.steps else ""
    return f"rollout ({policy.strategy}{steps})"
