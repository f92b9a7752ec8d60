"""Alias moves as rollouts: watch the store for tags that moved under a deployment.

A deployment with a ``rollout:`` policy whose main version names a tag (``fraud:production``,
or ``fraud:production@sha256:…`` after an earlier promotion) follows that tag: when the tag
points at another version than the one its replicas serve, the watcher starts the rollout of
the new version (:func:`~.transition.alias_move`) instead of leaving the old one in place.

Rolling such a rollout back (or aborting it) moves the tag back to the version still serving
(:mod:`.aliases`); should the tag stay on the rejected version all the same (moving it back
failed), that version is not retried while it does. Moving the tag elsewhere starts afresh.
References pinned by digest alone (``fraud@sha256:…``) and remote references are not watched.
"""

from __future__ import annotations

import asyncio
import logging

from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.recovery import pending
from inferd.control.rollout.state import Rollout
from inferd.control.rollout.transition import alias_move
from inferd.control.tasks import cancel_and_wait
from inferd.errors import InferdError, NotFound
from inferd.spec.edits import main_version
from inferd.spec.model import DeploymentSpec
from inferd.store import ModelStore, Reference

log = logging.getLogger(__name__)

#: How often the store is read for moved tags.
DEFAULT_POLL_S = 1.0


class AliasWatcher:
    """Starts a rollout whenever a followed tag moves (see the module docstring)."""

    def __init__(
        self,
        rollouts: RolloutController,
        reconciler: Reconciler,
        store: ModelStore,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.rollouts = rollouts
        self.reconciler = reconciler
        self.store = store
        self.poll_s = poll_s
        #: The rollout each deployment's last alias move started, and the digest it rolled out.
        self._started: dict[str, tuple[str, Rollout]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alias-watcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def check(self) -> list[Rollout]:
        """Look once; the rollouts started."""
        spec = self.reconciler.spec
        started = []
        for d in spec.deployments if spec is not None else ():
            if d.rollout is None or self.rollouts.active(d.name) is not None:
                continue
            try:
                rollout = await self._check(d)
            except InferdError as exc:  # e.g. the new version cannot start: say so, keep going
                log.error("following the tag of %s failed: %s", d.name, exc.message)
                continue
            if rollout is not None:
                started.append(rollout)
        return started

    async def _check(self, d: DeploymentSpec) -> Rollout | None:
        main = main_version(d)
        ref = Reference.parse(main.model)
        running = self.reconciler.pinned(d.name, main.name)
        if ref.tag is None or ref.registry is not None or running is None:
            return None
        alias = str(Reference(ref.name, ref.tag, None, None))
        try:
            digest = (await asyncio.to_thread(self.store.resolve, alias)).digest
        except NotFound:
            return None
        if digest == Reference.parse(running).digest or self._rejected(d.name, digest):
            return None
        log.info("%s: %s moved to %s: starting its rollout", d.name, alias, digest)
        pinned = str(Reference(ref.name, ref.tag, digest, None))
        stable = Reference.parse(running)
        model = str(Reference(stable.name, None, stable.digest))
        with pending(self.rollouts.history, d.name, alias, digest, model):  # should we be killed
            rollout = await self.rollouts.begin(alias_move(d, pinned, alias))
        self._started[d.name] = (digest, rollout)
        return rollout

    def _rejected(self, deployment: str, digest: str) -> bool:
        last = self._started.get(deployment)
        return last is not None and last[0] == digest and last[1].phase != "promoted"

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self.check()
