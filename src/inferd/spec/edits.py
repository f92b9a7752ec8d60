"""Small, pure edits of a running spec, for the controllers that change it while it runs.

The rollout controller moves traffic and swaps a deployment's versions; the autoscaler sets
replica counts. Each edit returns a new :class:`~inferd.spec.model.Spec` (specs are frozen)
and leaves every other deployment and field as it was. Edits build on values the spec already
validated, so they copy rather than re-validate (durations are held as seconds and would not
parse back from a dump); each edit keeps weights adding up to 100 itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from inferd.errors import InternalError, NotFound
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec
from inferd.spec.rules import duplicates


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
    """``deployment`` serving ``versions`` with ``weights`` (its shadow kept if still there).

    Raises InternalError for versions sharing a name: the spec would no longer say which
    replicas, weight or shadow is whose (validation refuses that in a user's spec; an edit
    must not bring it back)."""
    names = [v.name for v in versions]
    repeated = duplicates(names)
    if repeated:
        i, count = repeated[0]
        raise InternalError(
            f"deployment {deployment.name!r} would have {count} versions named {names[i]!r}"
        )
    shadow = deployment.traffic.shadow if deployment.traffic.shadow in names else None
    return with_routing(deployment.model_copy(update={"versions": versions}), weights, shadow)


def main_version_name(weights: Mapping[str, float], shadow: str | None) -> str | None:
    """The main version of a deployment: the one with the most primary traffic — the highest
    weight, the first in ``weights``' order on a tie — and never the ``shadow``; None when no
    other version is left.

    The one rule for "the version a deployment mostly serves": the version a rollout or the
    autoscaler acts on, the model ``inferd up``'s banner and demo traffic build requests for,
    and (among versions with a ready replica) the version the gateway answers metadata from.
    """
    candidates = [name for name in weights if name != shadow]
    return max(candidates, key=lambda name: weights[name]) if candidates else None


def main_version(deployment: DeploymentSpec) -> VersionSpec:
    """The deployment's version named by :func:`main_version_name` (its only version when
    that one is the shadow)."""
    weights = deployment.weights()
    name = main_version_name(
        {v.name: weights.get(v.name, 0) for v in deployment.versions}, deployment.traffic.shadow
    )
    found = deployment.version(name) if name is not None else None
    return found if found is not None else deployment.versions[0]
