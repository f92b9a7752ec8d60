"""Rollouts a killed ``inferd up`` left under way, ended by the next one before it applies.

A rollout lives in its ``inferd up`` process, and a stop ends one under way: an ``abort`` in
its history, and the alias an alias move had moved put back on the stable version's model
(:meth:`~.controller.RolloutController.stop`). SIGKILL, the OOM killer or a reboot run no
stop: the history ended at the rollout's last decision as if it ran on, and the alias still
named the unchecked candidate, which a restart then served to everyone with no rollout.

:func:`end_interrupted` records, at the next start (under the store's ``up.lock``: no other
``inferd up`` runs, so a rollout whose history has no ending is one whose process died), the
abort that stop would have recorded, and moves the alias back by compare-and-set from the
digest its ``start`` recorded: an alias someone moved since stays where they put it.

An alias move's rollout has no ``start`` while its candidate's replicas start (minutes, for a
language model: the load the OOM killer often ends). For that while, :func:`pending` leaves a
file beside the history naming the alias, the digest it moved to and the stable version's
model; the next ``inferd up`` that finds one moves the alias back the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import orjson

from inferd.control.rollout.history import ENDINGS, DecisionRecord, RolloutHistory
from inferd.errors import InferdError
from inferd.protocols.v2.auth import write_private
from inferd.store import ModelStore

#: Why the rollout ended, in its history.
KILLED = "inferd up was killed mid-rollout (it ran no stop); ended by the next inferd up"


#: Beside a deployment's history while its alias move's candidate starts.
PENDING_SUFFIX = ".pending"


@contextlib.contextmanager
def pending(
    history: RolloutHistory, deployment: str, alias: str, digest: str, stable: str
) -> Iterator[None]:
    """While the block starts the candidate of an alias move (``alias`` now on ``digest``;
    ``stable``: the stable version's model, ``fraud@sha256:…``), a file that has the next
    ``inferd up`` move the alias back should this one be killed meanwhile. It stays when the
    block is cancelled (a stop mid-way abandons the rollout before it began, as a kill does)."""
    path = history.path(deployment).with_suffix(PENDING_SUFFIX)
    note = {
        "deployment": deployment,
        "alias": alias,
        "alias_digest": digest,
        "stable_model": stable,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, orjson.dumps(note))
    try:
        yield
    except asyncio.CancelledError:
        raise
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)


async def end_interrupted(history: RolloutHistory, store: ModelStore) -> list[str]:
    """End each rollout whose history stops short of an ending with an ``abort``, moving an
    alias move's alias back, and move back the alias of each move whose candidate was still
    starting; one line per rollout ended, for the operator."""
    lines = await asyncio.to_thread(_unstarted, history, store)
    for deployment in await asyncio.to_thread(history.deployments):
        records = await asyncio.to_thread(history.read, deployment)
        if not records or records[-1]["event"] in ENDINGS:
            continue
        last = records[-1]
        start = next(
            (r for r in records if r["rollout"] == last["rollout"] and r["event"] == "start"),
            last,
        )
        record: DecisionRecord = {
            "time": time.time(),
            "deployment": deployment,
            "rollout": last["rollout"],
            "event": "abort",
            "strategy": last["strategy"],
            "stable": last["stable"],
            "candidate": last["candidate"],
            "stage": last["stage"],
            "candidate_weight": last["candidate_weight"],
            "reason": f"{KILLED}; {_what_now(start, deployment)}",
        }
        moved = ""
        if "alias" in start and "alias_digest" in start and "stable_model" in start:
            alias, model = start["alias"], start["stable_model"]
            back = await asyncio.to_thread(
                _move_back, store, model, alias, start["alias_digest"], record
            )
            record["reverted"] = alias if back else None
            if back:
                record["reverted_to"] = model
                moved = f"; {alias} moved back to {_short(model)}"
            else:
                moved = f"; {alias} left where it is (moved since)"
        try:
            await asyncio.to_thread(history.append, record)
            recorded = f"recorded as aborted{moved} (inferd rollout history {deployment})"
        except OSError as exc:  # a full disk must not keep inferd up from starting
            recorded = f"its abort could not be recorded ({exc}){moved}"
        lines.append(
            f"{deployment}: rollout {last['rollout']} was under way when inferd up was killed:"
            f" {recorded}; {_what_now(start, deployment)}"
        )
    return lines


def _what_now(start: DecisionRecord, deployment: str) -> str:
    """What the restart serves instead of the rollout its ``start`` began (a rollout is not
    resumed: one from an apply left no record of the stable version's model), and how to roll
    the candidate out again."""
    if "alias" in start and "alias_digest" in start:
        name = start["alias"].partition(":")[0]
        return (
            "the restart serves the stable version; to roll the candidate out again, move the "
            f"alias to it again: inferd tag {name}@{start['alias_digest']} {start['alias']}"
        )
    cause = start.get("cause")
    if cause == "inferd rollout start":
        return (
            f"the restart serves the spec file's weights; to roll {start['candidate']} out "
            f"again: inferd rollout start {deployment} --candidate {start['candidate']}"
        )
    if cause == "apply":
        return (
            "the restart serves the spec file as written: the applied model takes all of its "
            "version's traffic, with no analysis; to roll it out again, put the previous model "
            "back in the file, inferd apply it, then apply the new one"
        )
    return "the restart serves the spec file as written (inferd ps)"  # an older record


def _unstarted(history: RolloutHistory, store: ModelStore) -> list[str]:
    """Move back the alias of each :func:`pending` move; a line for each."""
    lines = []
    for path in sorted(history.directory.glob(f"*{PENDING_SUFFIX}")):
        try:
            note = orjson.loads(path.read_bytes())
            deployment, alias = str(note["deployment"]), str(note["alias"])
            digest, model = str(note["alias_digest"]), str(note["stable_model"])
        except (OSError, ValueError, KeyError, TypeError):  # torn: nothing to act on
            path.unlink(missing_ok=True)
            continue
        detail = f"inferd up was killed while the candidate of {alias} ({digest[:19]}) started"
        back = False
        with contextlib.suppress(InferdError):
            back = store.compare_and_tag(model, alias, digest, detail=detail)
        moved = f"moved back to {_short(model)}" if back else "left where it is (moved since)"
        lines.append(f"{deployment}: {detail}, before its rollout began: {alias} {moved}")
        path.unlink(missing_ok=True)
    return lines


def _move_back(
    store: ModelStore, model: str, alias: str, digest: str, record: DecisionRecord
) -> bool:
    """Move ``alias`` to ``model`` while it still names ``digest``: whether it moved."""
    detail = f"rollout {record['rollout']} of {record['deployment']} rejected the version it named"
    with contextlib.suppress(InferdError):
        return store.compare_and_tag(model, alias, digest, detail=detail)
    return False


def _short(model: str) -> str:
    """``fraud@sha256:0a1b2c3d4e5f``: a model with the start of its digest."""
    name, at, digest = model.partition("@")
    return f"{name}{at}{digest[:19]}"
