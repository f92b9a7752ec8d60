"""A version change as a rollout: what runs during it, after promotion, after rollback.

Two things change the model a deployment serves, and with a ``rollout:`` policy neither
switches at once:

* ``inferd apply`` of a spec whose main version has a new model (another reference, or a
  new version taking the main version's traffic) — :func:`version_change`;
* the alias the main version follows moving in the store (``inferd tag fraud:v7
  fraud:production`` while the spec serves ``fraud:production``) — :func:`alias_move`.

Both give a :class:`Transition`: the deployment as it runs during the rollout (stable and
candidate side by side), as it should be on promotion, and as it should be on rollback. When
the candidate would reuse the stable version's name, it runs as ``<name>-next`` (or
``<name>-next-2``, ``-3``… when a version of the deployment already has that name) until the
promotion applies the final spec. Pure functions; the controller applies them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from inferd.spec.edits import main_version, with_versions
from inferd.spec.model import DeploymentSpec
from inferd.spec.types import DNS_LABEL_MAX

NEXT_SUFFIX = "-next"


@dataclass(frozen=True, slots=True)
class Transition:
    """A deployment before, during and after one rollout."""

    stable: str
    candidate: str
    during: DeploymentSpec
    success: DeploymentSpec
    failure: DeploymentSpec
    #: What started it, for the history ("apply", "alias fraud:production moved").
    cause: str
    #: The tag whose move started it (``fraud:production``); None for an apply.
    alias: str | None = None


def next_name(name: str, taken: Collection[str]) -> str:
    """``<name>-next``, or ``<name>-next-2``, ``-3``… when that is one of the ``taken`` names
    (a user may name a version ``v1-next``), shortened to stay a DNS label."""
    n = 1
    while True:
        suffix = NEXT_SUFFIX if n == 1 else f"{NEXT_SUFFIX}-{n}"
        candidate = f"{name[: DNS_LABEL_MAX - len(suffix)].rstrip('-')}{suffix}"
        if candidate not in taken:
            return candidate
        n += 1


def version_change(old: DeploymentSpec, new: DeploymentSpec) -> Transition | None:
    """The rollout an apply of ``new`` over ``old`` calls for; None when the main version's
    model is unchanged or ``new`` has no rollout policy."""
    if new.rollout is None:
        return None
    stable = main_version(old)
    target = main_version(new)
    if target.name == stable.name and target.model == stable.model:
        return None
    if target.name != stable.name and any(
        v.name == target.name and v.model == target.model for v in old.versions
    ):
        # The new main version already ran: weights moved, not a model. That is an apply.
        return None
    weights = dict(new.weights())
    if target.name == stable.name:
        # Neither a version that keeps running nor one the apply removes may share its name.
        taken = {v.name for v in (*old.versions, *new.versions)}
        candidate = target.model_copy(update={"name": next_name(target.name, taken)})
        versions = [stable if v.name == stable.name else v for v in new.versions] + [candidate]
        weights[candidate.name] = 0
    else:
        candidate = target
        versions = [v for v in new.versions if v.name != stable.name] + [stable]
        weights[stable.name] = weights.get(stable.name, 0) + weights[target.name]
        weights[target.name] = 0
    during = with_versions(new, versions, weights)
    return Transition(stable.name, candidate.name, during, new, old, "apply")


def alias_move(current: DeploymentSpec, pinned: str, alias: str) -> Transition:
    """The rollout of ``pinned`` (``name:tag@sha256:…``, where ``alias`` now points) against
    the main version of ``current``, which still serves what ``alias`` pointed at before."""
    stable = main_version(current)
    taken = {v.name for v in current.versions}
    candidate = stable.model_copy(update={"name": next_name(stable.name, taken), "model": pinned})
    weights = {**current.weights(), candidate.name: 0}
    during = with_versions(current, [*current.versions, candidate], weights)
    promoted = stable.model_copy(update={"model": pinned})
    success = with_versions(
        current,
        [promoted if v.name == stable.name else v for v in current.versions],
        current.weights(),
    )
    cause = f"alias {alias} moved"
    return Transition(stable.name, candidate.name, during, success, current, cause, alias)
