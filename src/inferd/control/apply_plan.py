"""What an apply changes: the replica sets a spec wants, and one change per version.

Pure functions of the spec and of what runs; :class:`~inferd.control.reconciler.Reconciler`
carries the changes out. A version's replicas are interchangeable while its
:func:`fingerprint` stays the same, so re-applying a spec plans only ``keep``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from inferd.spec.model import DeploymentSpec, Spec, VersionSpec

#: A version as the spec names it: (deployment name, version name).
DeploymentVersion = tuple[str, str]
Action = Literal["add", "replace", "scale", "keep", "remove"]


@dataclass(frozen=True, slots=True)
class ReplicaSet:
    """Interchangeable replicas of one version: what they run (``fingerprint``) and how many
    (what :func:`plan` compares, running against desired)."""

    fingerprint: str
    replicas: int


@dataclass(frozen=True, slots=True)
class Change:
    """What to do to one version: start ``start`` new replicas, retire ``retire`` old ones."""

    deployment: str
    version: str
    action: Action
    start: int = 0
    retire: int = 0


def plan(
    actual: Mapping[DeploymentVersion, ReplicaSet], desired: Mapping[DeploymentVersion, ReplicaSet]
) -> list[Change]:
    """One :class:`Change` per version in either state (desired order first, then removals)."""
    changes: list[Change] = []
    for key, want in desired.items():
        have = actual.get(key)
        if have is None:
            changes.append(Change(*key, "add", start=want.replicas))
        elif have.fingerprint != want.fingerprint:
            changes.append(Change(*key, "replace", start=want.replicas, retire=have.replicas))
        elif have.replicas != want.replicas:
            diff = want.replicas - have.replicas
            changes.append(Change(*key, "scale", start=max(diff, 0), retire=max(-diff, 0)))
        else:
            changes.append(Change(*key, "keep"))
    for key, have in actual.items():
        if key not in desired:
            changes.append(Change(*key, "remove", retire=have.replicas))
    return changes


def fingerprint(deployment: DeploymentSpec, version: VersionSpec) -> str:
    """What makes two replicas interchangeable: same reference, runtime, batching, resources,
    code trust, request timeout, llm settings and (for an adapter) base reference."""
    parts = [
        version.model,
        deployment.runtime.model_dump_json(),
        deployment.batching.model_dump_json(),
        deployment.resources.model_dump_json(),
    ]
    if version.trust_code:  # only then, so fingerprints of untrusted versions stay as they were
        parts.append("trust_code")
    if deployment.request_timeout is not None:  # likewise
        parts.append(f"request_timeout={deployment.request_timeout!r}")
    if deployment.llm is not None:  # likewise
        parts.append(f"llm={deployment.llm.model_dump_json()}")
    base = deployment.version(version.adapter_of) if version.adapter_of else None
    if base is not None:  # a new base is new replicas for its adapters too
        parts.append(f"adapter_of={base.model}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def desired_state(spec: Spec) -> dict[DeploymentVersion, ReplicaSet]:
    return {
        (d.name, v.name): ReplicaSet(fingerprint(d, v), v.replicas)
        for d in spec.deployments
        for v in d.versions
    }
