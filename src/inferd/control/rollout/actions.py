"""What a rollout's decisions do to the deployment: traffic and the promotion tag.

Traffic moves by editing the running spec's weights and shadow through the reconciler
(:meth:`~inferd.control.reconciler.Reconciler.change`), which publishes the new routing without
touching replicas; a rollout from a version change instead applies the deployment its
:class:`~.transition.Transition` planned for the outcome. Promotion also re-tags the
candidate's version ``production`` in the store (recorded in the store's tag history).

The controller decides *when* (:mod:`.controller`); these only carry a decision out, and keep
``candidate_weight`` of the rollout in step with the traffic they published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from inferd.control.reconciler import Reconciler
from inferd.control.rollout.state import Rollout
from inferd.control.rollout.strategies import Routing, promoted, rolled_back
from inferd.errors import InferdError, NotFound
from inferd.spec.edits import deployment_of, replace_deployment, with_routing
from inferd.spec.model import DeploymentSpec, Spec
from inferd.store import ModelStore, Reference

log = logging.getLogger(__name__)

#: The alias a promoted version is tagged with.
PRODUCTION_TAG = "production"


class RolloutActions:
    """Moves a rollout's traffic through the reconciler and tags promoted versions."""

    def __init__(self, reconciler: Reconciler, store: ModelStore) -> None:
        self.reconciler = reconciler
        self.store = store

    async def route(self, r: Rollout, routing: Routing) -> None:
        """Publish ``routing`` (weights and shadow) for the rollout's deployment."""

        def edit(spec: Spec) -> Spec:
            d = deployment_of(spec, r.deployment)
            return replace_deployment(spec, with_routing(d, routing.weights, routing.shadow))

        await self.reconciler.change(edit)
        r.candidate_weight = routing.weights.get(r.pair.candidate, 0)

    async def promote(self, r: Rollout) -> str | None:
        """All shared traffic to the candidate, which is tagged ``production``; the new tag,
        or None when it was there already (or tagging failed: the promotion stands)."""
        tagged = await self._retag(r)
        if r.transition is not None:
            await self._replace(r.transition.success)
            r.candidate_weight = 100
        else:
            await self.route(r, promoted(r.pair))
        return tagged

    async def roll_back(self, r: Rollout) -> None:
        """All shared traffic back to the stable version in one routing change."""
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
        ref = Reference.parse(pinned)
        target = str(Reference(ref.name, PRODUCTION_TAG, None, ref.registry))
        source = str(Reference(ref.name, None, ref.digest, ref.registry))

        def tag() -> str | None:
            with contextlib.suppress(NotFound):
                if self.store.resolve(target).digest == ref.digest:
                    return None
            self.store.tag(source, target)
            return target

        try:
            return await asyncio.to_thread(tag)
        except InferdError as exc:  # the promotion stands; the history says the tag failed
            log.warning("promoting %s: tagging %s failed: %s", r.deployment, target, exc.message)
            return None
