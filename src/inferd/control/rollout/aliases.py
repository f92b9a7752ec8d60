"""The tags a rollout moves in the store, and how it keeps off a person's moves.

A rollout may move two tags: promotion tags the candidate's version ``production``, and the
rollback or abort of an alias move (``inferd tag fraud:v7 fraud:production`` under a deployment
that follows ``fraud:production``) moves the alias back to the version still serving, so that
a restart, ``inferd serve fraud:production`` or a publish of the alias never picks the
rejected version up again.

People move tags too, while rollouts run. So when a rollout begins, :meth:`RolloutTags.watch`
records where each tag it may move points; every later move is a compare-and-set against that
record (:meth:`~inferd.store.ModelStore.compare_and_tag`), and a tag someone else moved is
never overwritten. The controller also asks :meth:`RolloutTags.moved` each interval: a moved
tag supersedes the rollout (it stops, traffic returns to the stable version, and the move
stands; a deployment that follows the tag then rolls out where it points now).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import NamedTuple

from inferd.control.rollout.history import DecisionNote
from inferd.control.rollout.state import Rollout
from inferd.errors import InferdError, NotFound
from inferd.store import ModelStore, Reference

log = logging.getLogger(__name__)

#: The alias a promoted version is tagged with.
PRODUCTION_TAG = "production"


class Reverted(NamedTuple):
    """An alias a rollback moved back, and the model it names again."""

    alias: str
    #: ``fraud@sha256:…``: the model, not the version that serves it (versions come and go).
    reference: str


class TagMoved(Exception):
    """A tag the rollout was about to move had been moved by someone else."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RolloutTags:
    """Reads and moves, by compare-and-set only, the tags of rollouts in one store."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    async def watch(self, r: Rollout, candidate: str | None) -> None:
        """Record in ``r.tags`` where its tags point now. ``candidate`` is the candidate's
        pinned reference (``name:tag@sha256:…``; None: not running, nothing to promote)."""
        if candidate is None:
            return
        ref = Reference.parse(candidate)
        if ref.registry is None:
            production = str(Reference(ref.name, PRODUCTION_TAG))
            r.tags[production] = await self._digest(production)
        if r.transition is not None and r.transition.alias is not None:
            # The alias that moved to the candidate: expected there, even if it moved again
            # since the watcher looked (the next check then supersedes the rollout).
            r.tags[r.transition.alias] = ref.digest

    async def moved(self, r: Rollout) -> str | None:
        """Why the rollout must stop: a tag it watches points elsewhere now (None: none)."""
        for alias, expected in r.tags.items():
            try:
                now = await self._digest(alias)
            except InferdError as exc:  # an unreadable store says nothing about the tag
                log.warning("rollout %s: reading %s failed: %s", r.id, alias, exc.message)
                continue
            if now != expected:
                return _moved(alias, expected, now)
        return None

    async def promote(self, r: Rollout, candidate: str) -> str | None:
        """Tag the candidate's version ``production``: the tag moved, or None when it was
        there already. Raises TagMoved (nothing changed) when someone moved it meanwhile."""
        ref = Reference.parse(candidate)
        production = str(Reference(ref.name, PRODUCTION_TAG, None, ref.registry))
        source = str(Reference(ref.name, None, ref.digest, ref.registry))
        if ref.registry is not None:
            return await asyncio.to_thread(self._tag_remote, source, production, ref.digest)
        expected = r.tags.get(production)
        detail = f"rollout {r.id} of {r.deployment} promoted {r.pair.candidate}"
        if not await self._move(source, production, expected, detail):
            raise TagMoved(_moved(production, expected, await self._digest(production)))
        r.tags[production] = ref.digest
        return production if expected != ref.digest else None

    async def revert(self, r: Rollout, stable: str | None) -> Reverted | None:
        """Move the alias whose move started ``r`` back to the model ``stable`` (the stable
        version's pinned reference) serves: what moved back, or None (not an alias move, or
        the alias has moved on since and is left where it is)."""
        alias = r.transition.alias if r.transition is not None else None
        if alias is None or stable is None:
            return None
        ref = Reference.parse(stable)
        source = str(Reference(ref.name, None, ref.digest))
        detail = f"rollout {r.id} of {r.deployment} rejected the version it named"
        try:
            moved = await self._move(source, alias, r.tags.get(alias), detail)
        except InferdError as exc:  # the rollback stands; the history says the alias stayed
            log.warning("rollout %s: moving %s back failed: %s", r.id, alias, exc.message)
            return None
        if not moved:
            return None
        r.tags[alias] = ref.digest
        return Reverted(alias, source)

    async def _digest(self, alias: str) -> str | None:
        def read() -> str | None:
            with contextlib.suppress(NotFound):
                return self.store.resolve(alias).digest
            return None

        return await asyncio.to_thread(read)

    def _tag_remote(self, source: str, target: str, digest: str | None) -> str | None:
        """A registry has no compare-and-set: its tag moves as ``inferd tag`` moves it."""
        with contextlib.suppress(NotFound):
            if self.store.resolve(target).digest == digest:
                return None
        self.store.tag(source, target)
        return target

    async def _move(self, source: str, alias: str, expected: str | None, detail: str) -> bool:
        return await asyncio.to_thread(
            self.store.compare_and_tag, source, alias, expected, detail=detail
        )


def reverted_note(r: Rollout, reverted: Reverted | None) -> DecisionNote:
    """What the decision that rejects an alias move records of the alias moved back."""
    if r.transition is None or r.transition.alias is None:
        return {}
    if reverted is None:
        return {"reverted": None}
    return {"reverted": reverted.alias, "reverted_to": reverted.reference}


def alias_note(r: Rollout, stable: str | None) -> DecisionNote:
    """What the ``start`` of a rollout from an alias move records, so that the next ``inferd
    up`` can move the alias back if this one is killed (:mod:`.recovery`): the alias, the
    digest it names (the candidate's), and the model ``stable`` (the stable version's pinned
    reference) serves. Empty for other rollouts."""
    alias = r.transition.alias if r.transition is not None else None
    digest = r.tags.get(alias) if alias is not None else None
    if alias is None or digest is None or stable is None:
        return {}
    ref = Reference.parse(stable)
    return {
        "alias": alias,
        "alias_digest": digest,
        "stable_model": str(Reference(ref.name, None, ref.digest)),
    }


def _moved(alias: str, expected: str | None, now: str | None) -> str:
    def named(digest: str | None) -> str:
        return digest[:19] if digest is not None else "nothing"

    return (
        f"{alias} was moved to {named(now)} by someone else (it named {named(expected)} when "
        "the rollout began); the move stands"
    )
