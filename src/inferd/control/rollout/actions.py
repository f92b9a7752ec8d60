"""What a rollout's decisions do to the deployment: traffic and tags.

Traffic moves by editing the running spec's weights and shadow through the reconciler
(:meth:`~inferd.control.reconciler.Reconciler.change`), which publishes the new routing without
touching replicas; a rollout from a version change instead applies the deployment its
:class:`~.transition.Transition` planned for the outcome. Promotion also re-tags the
candidate's version ``production`` in the store, and the rollback of an alias move moves the
alias back; both by compare-and-set, recorded in the store's tag history (:mod:`.aliases`).

The controller decides *when* (:mod:`.controller`); these only carry a decision out, and keep
``candidate_weight`` of the rollout in step with the traffic they published.
"""

from __future__ import annotations

import logging

from inferd.control.reconciler import Reconciler
from inferd.control.rollout.aliases import Reverted, RolloutTags, alias_note, reverted_note
from inferd.control.rollout.history import DecisionNote
from inferd.control.rollout.state import Rollout
from inferd.control.rollout.strategies import Routing, promoted, rolled_back
from inferd.control.rollout.transition import Transition
from inferd.errors import InferdError
from inferd.spec.edits import deployment_of, replace_deployment, with_routing
from inferd.spec.model import DeploymentSpec, Spec
from inferd.store import ModelStore, Reference

log = logging.getLogger(__name__)


class RolloutActions:
    """Moves a rollout's traffic through the reconciler and tags promoted versions."""

    def __init__(self, reconciler: Reconciler, store: ModelStore) -> None:
        self.reconciler = reconciler
        self.tags = RolloutTags(store)

    async def watch_tags(self, r: Rollout) -> DecisionNote:
        """Record where the tags ``r`` may move point as it begins (:mod:`.aliases`); what its
        ``start`` records of them (an alias move's alias, for the restart after a kill)."""
        await self.tags.watch(r, self.reconciler.pinned(r.deployment, r.pair.candidate))
        return alias_note(r, self.reconciler.pinned(r.deployment, r.pair.stable))

    async def tag_moved(self, r: Rollout) -> str | None:
        """Why ``r`` must stop, when someone moved one of its tags (None: nobody did)."""
        return await self.tags.moved(r)

    async def route(self, r: Rollout, routing: Routing) -> None:
        """Publish ``routing`` (weights and shadow) for the rollout's deployment."""

        def edit(spec: Spec) -> Spec:
            d = deployment_of(spec, r.deployment)
            return replace_deployment(spec, with_routing(d, routing.weights, routing.shadow))

        await self.reconciler.change(edit)
        r.candidate_weight = routing.weights.get(r.pair.candidate, 0)

    async def promote(self, r: Rollout) -> str | None:
        """All shared traffic to the candidate, which is tagged ``production``; the new tag,
        or None when it was there already (or tagging failed: the promotion stands).

        Raises :class:`~.aliases.TagMoved`, before any traffic moves, when someone moved
        ``production`` since the rollout began.
        """
        tagged = await self._retag(r)
        if r.transition is not None:
            await self._replace(r.transition.success)
            r.candidate_weight = 100
        else:
            await self.route(r, promoted(r.pair))
        return tagged

    async def roll_back(self, r: Rollout) -> Reverted | None:
        """All shared traffic back to the stable version in one routing change; a rollout
        from an alias move also moves the alias back: what moved back, if it did."""
        stable = self.reconciler.pinned(r.deployment, r.pair.stable)
        await self.withdraw(r)
        return await self.tags.revert(r, stable)

    async def reject_start(self, r: Rollout) -> Reverted | None:
        """Move the alias whose move started ``r`` back, its candidate having failed to start
        (no traffic went to it): what moved back, if it did."""
        t = r.transition
        if t is None or t.alias is None:
            return None
        r.tags[t.alias] = _moved_to(t)
        return await self.tags.revert(r, self.reconciler.pinned(r.deployment, r.pair.stable))

    async def abandon(self, r: Rollout) -> DecisionNote:
        """At shutdown: move the alias whose move started ``r`` back (where one did), traffic
        left as it is (the replicas stop next); the abort's note. A rollout lives in this
        process only, so a restart would otherwise read the alias and serve its unchecked
        candidate to everyone."""
        t = r.transition
        if t is not None and t.alias is not None and t.alias not in r.tags:  # stopped so soon
            r.tags[t.alias] = _moved_to(t)  # that the loop has not recorded it yet
        reverted = await self.tags.revert(r, self.reconciler.pinned(r.deployment, r.pair.stable))
        return {"reason": "inferd up stopped mid-rollout", **reverted_note(r, reverted)}

    async def withdraw(self, r: Rollout) -> None:
        """All shared traffic back to the stable version; tags stay where they are."""
        if r.transition is not None:
            await self._replace(r.transition.failure)
            r.candidate_weight = 0
        else:
            await self.route(r, rolled_back(r.pair))

    async def _replace(self, deployment: DeploymentSpec) -> None:
        await self.reconciler.change(lambda s: replace_deployment(s, deployment))

    async def _retag(self, r: Rollout) -> str | None:
        pinned = self.reconciler.pinned(r.deployment, r.pair.candidate)
        if pinned is None:
            return None
        try:
            return await self.tags.promote(r, pinned)
        except InferdError as exc:  # the promotion stands; the history says the tag failed
            log.warning("promoting %s: tagging failed: %s", r.deployment, exc.message)
            return None


def _moved_to(t: Transition) -> str | None:
    """The digest the alias move that started ``t`` put the alias on (its candidate's)."""
    model = next(v.model for v in t.during.versions if v.name == t.candidate)
    return Reference.parse(model).digest
