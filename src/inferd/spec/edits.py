"""Small, pure edits of a running spec, for the controllers that change it while it runs.

The rollout controller moves traffic and swaps a deployment's versions; the autoscaler sets
replica counts. Each edit returns a new :class:`~inferd.spec.model.Spec` (specs are frozen)
and leaves every other deployment and field as it was. Edits build on values the spec already
validated, so they copy rather than re-validate (durations are held as seconds and would not
parse back from a dump); each edit keeps weights adding up to 100 itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from inferd.errors import NotFound
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec


def deployment_of(spec: Spec, name: str) -> DeploymentSpec:
    """The deployment ``name``; NotFound naming it when the spec has none."""
    found = spec.deployment(name)
    if found is None:
        raise NotFound(f"deployment {name!r} not found")
    return found


def replace_deployment(spec: Spec, deployment: DeploymentSpec) -> Spec:
    """``spec`` with the deployment of the same name replaced by ``deployment``."""
    deployments = [deployment if d.name == deployment.name else d for d in spec.deployments]
    return spec.model_copy(update={"deployments": deployments})


def with_routing(
    deployment: DeploymentSpec, weights: Mapping[str, int], shadow: str | None
) -> DeploymentSpec:
    """``deployment`` with these weights (percent per version) and this shadow."""
    traffic = deployment.traffic.model_copy(update={"weights": dict(weights), "shadow": shadow})
    return deployment.model_copy(update={"traffic": traffic})


def with_replicas(deployment: DeploymentSpec, version: str, replicas: int) -> DeploymentSpec:
    """``deployment`` with ``replicas`` replicas of ``version``."""
    versions = [
        v.model_copy(update={"replicas": replicas}) if v.name == version else v
        for v in deployment.versions
    ]
    return deployment.model_copy(update={"versions": versions})


def with_versions(
    deployment: DeploymentSpec, versions: list[VersionSpec], weights: Mapping[str, int]
) -> DeploymentSpec:
    """``deployment`` serving ``versions`` with ``weights`` (its shadow kept if still there)."""
    names = {v.name for v in versions}
    shadow = deployment.traffic.shadow if deployment.traffic.shadow in names else None
    return with_routing(deployment.model_copy(update={"versions": versions}), weights, shadow)


def primary_version(deployment: DeploymentSpec) -> VersionSpec:
    """The version with the most primary traffic (the first on a tie; never the shadow)."""
    weights = deployment.weights()
    candidates = [v for v in deployment.versions if v.name != deployment.traffic.shadow]
    return max(candidates or deployment.versions, key=lambda v: weights.get(v.name, 0))
