"""What an apply does to the deployments rollouts move: pure planning for
:meth:`~.controller.RolloutController.apply`.

Per deployment of the applied spec that runs already:

* a rollout still running owns its traffic: re-applying the deployment it began from keeps it
  as it runs, any other change (its removal included) is refused (AlreadyExists) until it is
  promoted or aborted.
  The count of the version an autoscaler scales is the autoscaler's, not the file's
  (:func:`~inferd.control.apply_plan.keep_autoscaled`), so it is no change;
* a new model for the main version is a version change: the rollout policy starts
  (:func:`~.transition.version_change`);
* a rollout started by ``inferd rollout start`` and promoted moved the traffic in the running
  spec only, never in the user's file. The first apply after it reconciles the two: the file's
  traffic stands (an apply is declarative, as ``kubectl apply`` is over a
  ``kubectl argo rollouts`` promotion), and when that takes the traffic off the promoted
  version, the apply says so (:class:`~inferd.control.apply_plan.UndonePromotion`). A rollout
  from a version change needs none of this: its promotion applies the user's spec as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inferd.control.apply_plan import UndonePromotion
from inferd.control.rollout.state import Rollout
from inferd.control.rollout.strategies import promoted
from inferd.control.rollout.transition import Transition, version_change
from inferd.errors import AlreadyExists
from inferd.spec.edits import main_version, replace_deployment, with_replicas
from inferd.spec.model import DeploymentSpec, Spec


@dataclass(frozen=True, slots=True)
class ApplyPlan:
    """The spec the reconciler applies, the rollouts it starts, and what it settles."""

    spec: Spec
    transitions: list[Transition]
    #: Promotions by hand the apply reconciles with the file (undone or agreed with).
    settled: list[Rollout]
    undone: list[UndonePromotion]


def plan_apply(spec: Spec, current: Spec | None, latest: Mapping[str, Rollout]) -> ApplyPlan:
    """How ``spec`` applies over ``current`` given each deployment's ``latest`` rollout."""
    transitions: list[Transition] = []
    settled: list[Rollout] = []
    undone: list[UndonePromotion] = []
    for running in latest.values():
        if running.active and spec.deployment(running.deployment) is None:
            raise AlreadyExists(
                f"deployment {running.deployment!r} is in rollout {running.id}; promote or "
                "abort it before removing the deployment"
            )
    for d in spec.deployments:
        old = current.deployment(d.name) if current is not None else None
        if old is None:
            continue
        r = latest.get(d.name)
        if r is not None and r.active:
            if not unchanged(d, old, r.base):
                raise AlreadyExists(
                    f"deployment {d.name!r} is in rollout {r.id}; promote or abort "
                    "it before changing the deployment"
                )
            spec = replace_deployment(spec, old)
            continue
        if r is not None and holds_promotion(r, old):
            settled.append(r)
            undoing = undone_promotion(r, old, d)
            if undoing is not None:
                undone.append(undoing)
        t = version_change(old, d)
        if t is not None:
            transitions.append(t)
            spec = replace_deployment(spec, t.during)
    return ApplyPlan(spec, transitions, settled, undone)


def unchanged(applied: DeploymentSpec, running: DeploymentSpec, base: DeploymentSpec) -> bool:
    """Whether ``applied`` leaves a deployment in rollout as it is: as it runs now, or as the
    user's spec had it when the rollout began (``base``), the count of its autoscaled main
    version aside."""
    return any(autoscaled_as(applied, d) == d for d in (running, base))


def autoscaled_as(applied: DeploymentSpec, like: DeploymentSpec) -> DeploymentSpec:
    """``applied`` with its main version's count as ``like`` runs it, where both autoscale:
    that count is the autoscaler's, whatever the file's ``replicas`` says."""
    if applied.autoscaling is None or like.autoscaling is None:
        return applied
    version = main_version(applied)
    found = like.version(version.name)
    return applied if found is None else with_replicas(applied, version.name, found.replicas)


def holds_promotion(r: Rollout, running: DeploymentSpec) -> bool:
    """Whether ``running`` routes as promotion by hand ``r`` left it, no apply since."""
    if r.phase != "promoted" or r.transition is not None or r.applied_over:
        return False
    return running.weights().get(r.pair.candidate, 0) == _promoted_weight(r)


def undone_promotion(
    r: Rollout, running: DeploymentSpec, applied: DeploymentSpec
) -> UndonePromotion | None:
    """What applying ``applied`` over ``running`` undoes of promotion ``r``: None when the
    file leaves the promoted version its traffic."""
    after = applied.weights()
    if after.get(r.pair.candidate, 0) >= _promoted_weight(r):
        return None
    before = running.weights()
    # The version the traffic goes back to: the one whose share the file raises most.
    gained = {v: w - before.get(v, 0) for v, w in after.items() if v != r.pair.candidate}
    restored = max(gained, key=lambda v: gained[v], default=r.pair.stable)
    return UndonePromotion(r.deployment, r.id, r.pair.candidate, restored, after)


def _promoted_weight(r: Rollout) -> int:
    return promoted(r.pair).weights[r.pair.candidate]
