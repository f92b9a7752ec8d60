"""What an apply changes: the replica sets a spec wants, one change per version, the
deployments whose routing changes, and the gateway settings an apply may not change.

Pure functions of the spec and of what runs; :class:`~inferd.control.reconciler.Reconciler`
carries the changes out. A version's replicas are interchangeable while its
:func:`fingerprint` stays the same, so re-applying a spec plans only ``keep`` and no
:class:`RouteChange` — an autoscaled version included, whose count is the autoscaler's
(:func:`keep_autoscaled`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict, get_args

from inferd.errors import PermissionDenied
from inferd.spec.edits import main_version, replace_deployment, with_replicas
from inferd.spec.model import DeploymentSpec, GatewaySpec, Spec, VersionSpec

#: A version as the spec names it: (deployment name, version name).
DeploymentVersion = tuple[str, str]
Action = Literal["add", "replace", "scale", "keep", "remove"]
#: The parts of a deployment that its published routing carries, as the spec names them.
RoutePart = Literal["weights", "shadow", "sticky_header", "header_routes", "logging"]
#: The gateway settings an apply changes: the drain timeout is read at each stop of a replica
#: (by an apply, the autoscaler, a rollout; replicas started before included) and when
#: ``inferd up`` stops. Every other is read once, when it starts.
LIVE_GATEWAY_SETTINGS = frozenset({"drain_timeout"})


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


@dataclass(frozen=True, slots=True)
class RouteChange:
    """A deployment whose routing an apply changes: its traffic split, shadow, header routing
    or payload logging. Publishing it starts and stops no replica, so it is reported beside the
    versions' :class:`Change` (all ``keep`` when only traffic changes)."""

    deployment: str
    #: Percent per version after the apply (0: no primary traffic).
    weights: Mapping[str, int]
    #: The shadow version after the apply (None: none).
    shadow: str | None
    #: What differs, in :data:`RoutePart`'s order.
    changed: tuple[RoutePart, ...]

    def describe(self) -> str:
        """``fraud: traffic v1 80%, v2 20%, shadow v2-shadow (changed: weights)``."""
        return describe_route(self.deployment, self.weights, self.shadow, self.changed)


class UndoneRecord(TypedDict):
    """:class:`UndonePromotion` as ``inferd apply --json`` and the admin API give it."""

    deployment: str
    rollout: str
    promoted: str
    restored: str
    weights: dict[str, int]


@dataclass(frozen=True, slots=True)
class UndonePromotion:
    """A promotion an apply undoes: rollout ``rollout`` (started by ``inferd rollout start``)
    had given ``deployment``'s traffic to ``promoted``, and the file gives it back to
    ``restored``. Applying a file is declarative, as ``kubectl apply`` is: the file's traffic
    stands, and the apply says what it undid."""

    deployment: str
    rollout: str
    #: The version the promotion had given the traffic to.
    promoted: str
    #: The version the file gives the traffic back to.
    restored: str
    #: Percent per version after the apply, as the file says.
    weights: Mapping[str, int]

    def describe(self) -> str:
        """One line for ``inferd apply``: what it undid, and how to keep the promotion."""
        split = ", ".join(f"{v} {w:g}%" for v, w in self.weights.items() if w)
        return (
            f"{self.deployment}: this apply undoes the promotion of {self.promoted!r} by rollout "
            f"{self.rollout}: the file gives the traffic back to {self.restored!r} ({split}); to "
            f"keep {self.promoted!r}, give it the traffic in the file and apply again"
        )

    def to_json(self) -> UndoneRecord:
        return {"deployment": self.deployment, "rollout": self.rollout,
                "promoted": self.promoted, "restored": self.restored,
                "weights": dict(self.weights)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Applied:
    """What an apply did: one :class:`Change` per version (kept ones included) and one
    :class:`RouteChange` per deployment whose routing it changed."""

    changes: list[Change]
    routes: list[RouteChange]
    #: Policy sections an apply changed that take effect at once and start, stop and reroute
    #: nothing (:func:`settings_changes`), e.g. ``fraud.autoscaling`` or ``cost``.
    settings: list[str] = field(default_factory=list)
    #: Sections the apply changed that ``inferd up`` does not act on (:func:`rules_only_changes`).
    rules_only: list[str] = field(default_factory=list)
    #: Sections the apply changed that only ``inferd k8s render`` reads
    #: (:func:`render_only_changes`).
    render_only: list[str] = field(default_factory=list)
    #: Versions whose ``replicas`` in the file the autoscaler's count stands over
    #: (:func:`autoscaled_counts`), one line each.
    autoscaled: list[str] = field(default_factory=list)
    #: Rollouts the apply started, one line each (a main version's new model arrives through
    #: its deployment's rollout policy, which routes traffic from then on).
    rollouts: list[str] = field(default_factory=list)
    #: Promotions by ``inferd rollout`` whose traffic the apply gave back to another version.
    undone: list[UndonePromotion] = field(default_factory=list)


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


def keep_autoscaled(running: Spec | None, spec: Spec) -> Spec:
    """``spec`` as an apply runs it: the version an autoscaler scales keeps the count it runs
    with, clamped to ``spec``'s ``min_replicas`` and ``max_replicas``, instead of the file's
    ``replicas``.

    Within its bounds the count is the autoscaler's: taking the file's would undo its work
    (stop replicas under load, start one at zero) only for the autoscaler to redo it, and an
    unchanged spec would not apply as nothing. It applies to the main version of a deployment
    autoscaled in ``running`` and in ``spec``, the same version in both, running unchanged (same
    :func:`fingerprint`); a new or replaced version starts with the file's ``replicas``.
    """
    if running is None:
        return spec
    for d in spec.deployments:
        old = running.deployment(d.name)
        if d.autoscaling is None or old is None or old.autoscaling is None:
            continue
        version, was = main_version(d), main_version(old)
        if version.name != was.name or fingerprint(d, version) != fingerprint(old, was):
            continue
        bounds = d.autoscaling
        count = min(max(was.replicas, bounds.min_replicas), bounds.max_replicas)
        if count != version.replicas:
            spec = replace_deployment(spec, with_replicas(d, version.name, count))
    return spec


def autoscaled_counts(file: Spec, kept: Spec) -> list[str]:
    """One line per version whose ``replicas`` in ``file`` the apply did not take, because
    :func:`keep_autoscaled` kept the autoscaler's count (``kept``): without it, an apply that
    changed only such a count said "no changes" and looked ignored."""
    lines = []
    for d in file.deployments:
        ran, bounds = kept.deployment(d.name), d.autoscaling
        if ran is None or bounds is None:
            continue
        for v in d.versions:
            count = next((k.replicas for k in ran.versions if k.name == v.name), v.replicas)
            if count != v.replicas:
                lines.append(
                    f"{d.name}/{v.name}: keeps the autoscaler's {count} replicas (the file's "
                    f"{v.replicas} applies only to a new model; bounds "
                    f"{bounds.min_replicas}-{bounds.max_replicas})"
                )
    return lines


def route_changes(before: Spec | None, after: Spec) -> list[RouteChange]:
    """One :class:`RouteChange` per deployment of both specs whose routing differs, in
    ``after``'s order. A deployment new in ``after`` (every version ``add``) or gone from it
    (every version ``remove``) is said by its versions' changes."""
    if before is None:
        return []
    changes: list[RouteChange] = []
    for d in after.deployments:
        old = before.deployment(d.name)
        if old is None:
            continue
        changed = tuple(p for p in get_args(RoutePart) if _route_part(old, p) != _route_part(d, p))
        if changed:
            changes.append(RouteChange(d.name, d.weights(), d.traffic.shadow, changed))
    return changes


#: A deployment's sections that its replicas and routes do not depend on: the rollout and
#: autoscaling policies, read by their loops at each decision.
POLICY_SECTIONS = ("rollout", "autoscaling")


def rules_only_changes(before: Spec | None, after: Spec) -> list[str]:
    """The sections that differ between the specs which ``inferd up`` itself does not act on
    (``fraud.slo``: SLOs become alerting rules, ``inferd k8s rules FILE --local``), so an apply
    must not say they are in effect."""
    if before is None:
        return []
    return [
        f"{d.name}.slo"
        for d in after.deployments
        if (old := before.deployment(d.name)) is not None and old.slo != d.slo
    ]


#: The spec's sections that only ``inferd k8s render`` reads: the stack's name and labels, and
#: the registry a cluster pulls models from (``inferd up`` serves them from the local store).
RENDER_ONLY_SECTIONS = ("metadata", "registry")


def render_only_changes(before: Spec | None, after: Spec) -> list[str]:
    """The sections of :data:`RENDER_ONLY_SECTIONS` that differ between the specs, so an apply
    says they are for rendering rather than "no changes"."""
    if before is None:
        return []
    return [s for s in RENDER_ONLY_SECTIONS if getattr(before, s) != getattr(after, s)]


def settings_changes(before: Spec | None, after: Spec) -> list[str]:
    """The policy sections (``fraud.autoscaling``, ``cost``…) and live gateway settings
    (``gateway.drain_timeout``) that differ between the specs, in ``after``'s order: in effect
    once applied, though no replica or route changes, so an apply must say so rather than "no
    changes"."""
    if before is None:
        return []
    changed = [
        f"{d.name}.{section}"
        for d in after.deployments
        if (old := before.deployment(d.name)) is not None
        for section in POLICY_SECTIONS
        if getattr(old, section) != getattr(d, section)
    ]
    if before.cost != after.cost:
        changed.append("cost")
    changed += [
        f"gateway.{name}"
        for name in sorted(LIVE_GATEWAY_SETTINGS)
        if getattr(before.gateway, name) != getattr(after.gateway, name)
    ]
    return changed


def _route_part(deployment: DeploymentSpec, part: RoutePart) -> object:
    """One part of what the gateway is given for ``deployment``, as it compares: header names
    are case-insensitive, and a version at weight 0 takes no traffic whether named or not."""
    traffic = deployment.traffic
    if part == "weights":
        return {name: weight for name, weight in deployment.weights().items() if weight}
    if part == "shadow":
        return traffic.shadow
    if part == "sticky_header":
        return traffic.sticky_header.lower() if traffic.sticky_header else None
    if part == "header_routes":
        return [(r.header.lower(), r.value, r.version) for r in traffic.header_routes]
    return deployment.logging


def describe_route(
    deployment: str, weights: Mapping[str, int], shadow: str | None, changed: tuple[str, ...]
) -> str:
    """A :class:`RouteChange` in words, as ``inferd apply`` and the log say it (the banner's
    ``v1 80%, v2 20%, shadow v2-shadow``, and what changed)."""
    text = ", ".join(f"{v} {w:g}%" for v, w in weights.items() if w)
    if shadow:
        text += f", shadow {shadow}"
    elif "shadow" in changed:
        text += ", no shadow"
    return f"{deployment}: traffic {text} (changed: {', '.join(changed)})"


def fixed_gateway_changes(before: GatewaySpec, after: GatewaySpec) -> list[str]:
    """The gateway settings (``gateway.port``…) that differ between the specs and that an apply
    cannot change: all but :data:`LIVE_GATEWAY_SETTINGS` (one added later is fixed too until
    something reads it live)."""
    return [
        f"gateway.{name}"
        for name in GatewaySpec.model_fields
        if name not in LIVE_GATEWAY_SETTINGS and getattr(before, name) != getattr(after, name)
    ]


def check_fixed(running: Spec, spec: Spec) -> None:
    """Refuse (PermissionDenied) a change to what ``inferd up`` reads once, at start: an apply
    that went ahead would say it applied the spec while the gateway kept the old setting."""
    if set(spec.registries.allow) != set(running.registries.allow):  # an order means nothing
        raise PermissionDenied(
            "registries: is read once, when inferd up starts (its store allows only those "
            "registries); restart inferd up to change it"
        )
    if (spec.gateway.auth, spec.gateway.tls) != (running.gateway.auth, running.gateway.tls):
        raise PermissionDenied(
            "gateway.auth and gateway.tls are read once, when inferd up starts (keys and "
            "certificates reload from their files); restart inferd up to change them"
        )
    fixed = fixed_gateway_changes(running.gateway, spec.gateway)
    if fixed:
        one = len(fixed) == 1
        raise PermissionDenied(
            f"{', '.join(fixed)} {'is' if one else 'are'} read once, when inferd up starts "
            f"(an apply changes only gateway.drain_timeout); restart inferd up to change "
            f"{'it' if one else 'them'}"
        )
