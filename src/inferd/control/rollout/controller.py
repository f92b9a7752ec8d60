"""The rollout controller: the thin loop around :func:`~.analysis.analyse`.

Per rollout, every ``interval``: measure the interval just ended (:mod:`.observe`), analyse,
record the decision with its numbers in the history, and act — next step, promote, hold or roll
back (:mod:`.strategies`) — through :class:`~.actions.RolloutActions`, which moves traffic by
editing the running spec and tags a promoted version ``production``. A rollout from a version
change then applies the spec as the user wrote it. Rollback and abort give the stable version
all shared traffic in one routing change (and move an alias whose move started the rollout
back). A tag the rollout would move that someone else moved supersedes it: it stops, the
stable version gets the traffic back, and the move stands (:mod:`.aliases`).

One rollout per deployment at a time. Person and loop never act at once: each holds the
rollout's lock while it decides and moves traffic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from dataclasses import dataclass, field
from typing import Unpack

from prometheus_client import CollectorRegistry

from inferd.control.apply_plan import Applied
from inferd.control.gateway.readings import GatewayReading
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.actions import RolloutActions
from inferd.control.rollout.aliases import TagMoved, reverted_note
from inferd.control.rollout.analysis import Observations, Verdict, analyse
from inferd.control.rollout.applying import plan_apply
from inferd.control.rollout.history import (
    DecisionNote,
    DecisionRecord,
    Event,
    RolloutHistory,
    events_counter,
)
from inferd.control.rollout.observe import ReadGateway, ReadReplicas, drift_psi, observations
from inferd.control.rollout.state import (
    ROLLBACK_EVENTS,
    Phase,
    Rollout,
    RolloutStatus,
    policy_of,
    versions_of,
)
from inferd.control.rollout.strategies import Pair, move, stage_routing
from inferd.control.rollout.transition import Transition
from inferd.control.tasks import cancel_and_wait
from inferd.errors import AlreadyExists, InferdError, InvalidArgument, NotFound
from inferd.spec.edits import deployment_of, replace_deployment
from inferd.spec.model import DeploymentSpec, Spec
from inferd.store import ModelStore

log = logging.getLogger(__name__)


@dataclass
class _Run:
    rollout: Rollout
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Set once the first stage's routing is published (or the rollout failed before).
    routed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class RolloutController:
    """Starts, runs and answers for the rollouts of one ``inferd up``."""

    def __init__(
        self,
        reconciler: Reconciler,
        store: ModelStore,
        gateway: ReadGateway,
        history: RolloutHistory,
        *,
        replicas: ReadReplicas | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.actions = RolloutActions(reconciler, store)
        self.gateway = gateway
        self.history = history
        #: Replicas' readings, for input drift (None: drift is not measured).
        self.replicas = replicas
        self._runs: dict[str, _Run] = {}
        self._events = events_counter(registry)

    # -- what people and the admin API call -----------------------------------------------------

    def status(self, deployment: str | None = None) -> list[RolloutStatus]:
        """The latest rollout of ``deployment`` (NotFound when it has none), or of every
        deployment when None."""
        if deployment is not None:
            return [self._run(deployment).rollout.status()]
        return [r.rollout.status() for _, r in sorted(self._runs.items())]

    def decisions(self, deployment: str, limit: int | None = None) -> list[DecisionRecord]:
        """The recorded decisions of ``deployment``'s rollouts, oldest first (the last
        ``limit``); NotFound, as :meth:`status`, for a name that no deployment has and that
        has no history (a removed deployment's history stays readable)."""
        records = self.history.read(deployment, limit)
        if not records:
            deployment_of(self._spec(), deployment)
        return records

    def active(self, deployment: str) -> Rollout | None:
        run = self._runs.get(deployment)
        return run.rollout if run is not None and run.rollout.active else None

    async def start(self, deployment: str, candidate: str | None = None) -> RolloutStatus:
        """Roll ``candidate`` (default: the one other serving version) out against the main
        version, by the deployment's ``rollout:`` policy. AlreadyExists while one runs (its
        routing would make the versions look otherwise: a mirrored candidate is no candidate)."""
        spec = self._spec()
        d = deployment_of(spec, deployment)
        self._check_idle(deployment)
        stable, version = versions_of(d, candidate)
        candidate = version.name
        # At zero, a version with a weight is woken by its requests where min_replicas is 0.
        if version.replicas == 0 and (d.autoscaling is None or d.autoscaling.min_replicas > 0):
            raise InvalidArgument(
                f"candidate {candidate!r} has 0 replicas to send traffic to (and the "
                "deployment does not scale from zero: autoscaling.min_replicas is not 0)"
            )
        run = self._launch(self._rollout(d, stable, candidate, None, base=d))
        await run.routed.wait()
        return run.rollout.status()

    async def apply(self, spec: Spec) -> Applied:
        """Apply ``spec``; a deployment whose main version gets a new model starts its
        rollout policy instead of switching, and the apply names each promotion by
        ``inferd rollout`` it undoes (see :mod:`.applying`). Raises AlreadyExists for a
        change to a deployment whose rollout is still running."""
        latest = {name: run.rollout for name, run in self._runs.items()}
        plan = plan_apply(spec, self.reconciler.spec, latest)
        applied = await self.reconciler.apply(plan.spec)
        for r in plan.settled:
            r.applied_over = True
        for undone in plan.undone:
            log.warning("apply: %s", undone.describe())
        runs = [
            self._launch(self._rollout(t.during, t.stable, t.candidate, t, base=t.success))
            for t in plan.transitions
        ]
        started = [run.rollout.started() for run in runs]
        return dataclasses.replace(applied, rollouts=started, undone=plan.undone)

    async def begin(self, transition: Transition) -> Rollout:
        """Start candidate replicas (``transition.during``), then the rollout. Replicas that
        cannot start (a model that does not load) fail it before anything is routed: recorded
        as ``failed`` with the reason, the alias moved back as on rollback (so nothing reading
        it deploys that version, nor does the watcher retry it)."""
        d = transition.during
        try:
            await self.reconciler.change(lambda s: replace_deployment(s, d))
        except InferdError as exc:
            r = self._rollout(d, transition.stable, transition.candidate, transition, base=d)
            self._runs[d.name], r.phase = _Run(r), "failed"
            reverted = await self.actions.reject_start(r)
            note: DecisionNote = {"reason": exc.message, **reverted_note(r, reverted)}
            self._record(r, "failed", **note)
            return r
        r = self._rollout(
            d, transition.stable, transition.candidate, transition, base=transition.failure
        )
        return self._launch(r).rollout

    async def start_failed(self, deployment: str, version: str, reason: str) -> None:
        """The autoscaler could not start ``version``: a canary of it fails now, rolled back."""
        run = self._runs.get(deployment)
        if run is not None and run.rollout.pair.candidate == version:
            async with run.lock:
                try:
                    if run.rollout.active:
                        await self._rollback(run.rollout, "failed", reason, None)
                except InferdError as exc:  # the analyses go on judging it
                    log.error("rollout %s of %s: %s", run.rollout.id, deployment, exc.message)

    async def promote(self, deployment: str) -> RolloutStatus:
        """Promote now, skipping the remaining steps."""
        run = self._run(deployment)
        async with run.lock:
            self._check_active(run.rollout)
            await self._promote(run.rollout, "promoted by hand")
        return run.rollout.status()

    async def abort(self, deployment: str) -> RolloutStatus:
        """All shared traffic back to the stable version at once."""
        run = self._run(deployment)
        async with run.lock:
            self._check_active(run.rollout)
            await self._rollback(run.rollout, "aborted", "aborted by hand", None)
        return run.rollout.status()

    async def pause(self, deployment: str) -> RolloutStatus:
        """Hold the current step: traffic stays, no analysis acts until resumed."""
        return await self._set_paused(deployment, True)

    async def resume(self, deployment: str) -> RolloutStatus:
        return await self._set_paused(deployment, False)

    async def stop(self) -> None:
        """Stop every loop (on shutdown; traffic stays as it is). A rollout under way is
        aborted, recorded so in its history (a restart runs none); one from an alias move has
        its alias moved back (:meth:`RolloutActions.abandon`)."""
        await cancel_and_wait(*(r.task for r in self._runs.values()))
        for r in (run.rollout for run in self._runs.values()):
            if r.active:
                note, r.phase = await self.actions.abandon(r), "aborted"
                self._record(r, "abort", **note)

    # -- the loop -------------------------------------------------------------------------------

    def _launch(self, rollout: Rollout) -> _Run:
        """Run ``rollout`` (from :meth:`_rollout`): its loop starts now."""
        run = _Run(rollout)
        self._runs[rollout.deployment] = run
        run.task = asyncio.get_running_loop().create_task(self._loop(run), name=rollout.id)
        return run

    def _rollout(
        self,
        d: DeploymentSpec,
        stable: str,
        candidate: str,
        transition: Transition | None,
        *,
        base: DeploymentSpec,
    ) -> Rollout:
        if d.rollout is None:
            raise InvalidArgument(f"deployment {d.name!r} has no rollout: section")
        self._check_idle(d.name)
        return Rollout(
            id=f"r-{secrets.token_hex(4)}",
            deployment=d.name,
            strategy=d.rollout.strategy,
            steps=tuple(d.rollout.steps),
            pair=Pair(stable, candidate, d.weights(), d.traffic.shadow),
            policy=policy_of(d.rollout),
            interval_s=d.rollout.interval,
            transition=transition,
            base=base,
        )

    async def _loop(self, run: _Run) -> None:
        r = run.rollout
        try:
            async with run.lock:
                note = await self.actions.watch_tags(r)
                await self.actions.route(r, stage_routing(r.strategy, r.steps, r.pair, 0))
                note["cause"] = r.status()["cause"]
                self._record(r, "start", **note)
            run.routed.set()
            # The gateway's counts when the interval being analysed began, and how many
            # intervals it has spanned (several while too few requests came to judge).
            baseline, spanned = self.gateway(), 0
            while r.active:
                await asyncio.sleep(r.interval_s)
                async with run.lock:
                    if not r.active:
                        return
                    moved = await self.actions.tag_moved(r)
                    if moved is not None:
                        await self._supersede(r, moved)
                        return
                    now = self.gateway()
                    if r.phase == "paused":
                        baseline, spanned = now, 0
                        continue
                    spanned += 1
                    if await self._step(r, now.since(baseline), spanned):
                        baseline, spanned = now, 0
        except InferdError as exc:
            log.error("rollout %s of %s failed: %s", r.id, r.deployment, exc.message)
            r.phase = "failed"
            self._record(r, "failed", reason=exc.message)
        except Exception:  # a bug must not leave the deployment locked in a dead rollout
            log.exception("rollout %s of %s failed", r.id, r.deployment)
            r.phase = "failed"
            self._record(r, "failed", reason="internal error (see the log)")
        finally:
            run.routed.set()

    async def _step(self, r: Rollout, delta: GatewayReading, intervals: int) -> bool:
        """Analyse the ``intervals`` ``delta`` spans and act; True when the next interval
        starts afresh."""
        drift = None
        if r.policy.max_drift_psi is not None and self.replicas is not None:
            drift = drift_psi(await self.replicas(r.deployment), r.deployment, r.pair.candidate)
        obs = observations(r, delta, drift, intervals * r.interval_s)
        verdict = analyse(r.policy, obs)
        r.failures = verdict.failures
        where = move(r.strategy, r.stage, r.stages, verdict.action)
        if where == "advance":
            r.stage += 1
            await self.actions.route(r, stage_routing(r.strategy, r.steps, r.pair, r.stage))
            self._record(r, "advance", verdict, obs)
        elif where == "promote":
            self._record(r, "analysis", verdict, obs)
            await self._promote(r, "every step passed")
        elif where == "rollback":
            await self._rollback(r, "rolled_back", "analysis failed", (verdict, obs))
        elif where == "pause":
            r.phase = "paused"
            reason = "failure_limit reached: an ab rollout waits for promote, abort or resume"
            self._record(r, "pause", verdict, obs, reason=reason)
        else:
            self._record(r, "hold", verdict, obs)
        # Too few requests to judge: keep counting the same interval until there are enough.
        return verdict.judged

    async def _promote(self, r: Rollout, reason: str) -> None:
        try:
            tagged = await self.actions.promote(r)
        except TagMoved as moved:
            await self._supersede(r, moved.reason)
            return
        r.phase = "promoted"
        self._record(r, "promote", reason=reason, tagged=tagged)

    async def _supersede(self, r: Rollout, reason: str) -> None:
        await self.actions.withdraw(r)
        r.phase = "superseded"
        self._record(r, "supersede", reason=reason)

    async def _rollback(
        self, r: Rollout, phase: Phase, reason: str, why: tuple[Verdict, Observations] | None
    ) -> None:
        reverted = await self.actions.roll_back(r)
        r.phase = phase
        verdict, obs = why if why is not None else (None, None)
        note: DecisionNote = {"reason": reason, **reverted_note(r, reverted)}
        self._record(r, ROLLBACK_EVENTS.get(phase, "rollback"), verdict, obs, **note)

    def _record(
        self,
        r: Rollout,
        event: Event,
        verdict: Verdict | None = None,
        obs: Observations | None = None,
        **note: Unpack[DecisionNote],
    ) -> None:
        record = r.record(event, verdict, obs, **note)
        self.history.append(record)
        r.remember(record)
        if self._events is not None:
            self._events.labels(r.deployment, event).inc()
        reasons = verdict.reasons if verdict else ""
        log.info("rollout %s of %s: %s %s", r.id, r.deployment, event, reasons)

    # -- helpers --------------------------------------------------------------------------------

    def _spec(self) -> Spec:
        if self.reconciler.spec is None:
            raise NotFound("nothing has been applied yet")
        return self.reconciler.spec

    def _run(self, deployment: str) -> _Run:
        run = self._runs.get(deployment)
        if run is None:
            deployment_of(self._spec(), deployment)  # a name no deployment has: "not found"
            raise NotFound(self.history.no_rollout(deployment))
        return run

    def _check_idle(self, deployment: str) -> None:
        running = self.active(deployment)
        if running is not None:
            raise AlreadyExists(
                f"deployment {deployment!r} already has rollout {running.id} running; promote "
                "or abort it first"
            )

    @staticmethod
    def _check_active(r: Rollout) -> None:
        if not r.active:
            raise InvalidArgument(f"rollout {r.id} of {r.deployment!r} is already {r.phase}")

    async def _set_paused(self, deployment: str, paused: bool) -> RolloutStatus:
        run = self._run(deployment)
        async with run.lock:
            self._check_active(run.rollout)
            phase: Phase = "paused" if paused else "running"
            if run.rollout.phase != phase:  # pausing a paused rollout records nothing
                run.rollout.phase = phase
                self._record(run.rollout, "pause" if paused else "resume")
        return run.rollout.status()
