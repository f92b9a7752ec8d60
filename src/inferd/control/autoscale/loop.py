"""The autoscaling loop of ``inferd up``: every tick, per deployment with ``autoscaling:``,
sample its metric, ask the :class:`~.scaler.Autoscaler`, and apply a new replica count to the
deployment's main version through the reconciler (which routes to new replicas once they are
ready, and drains those it removes).

Another version a request woke from zero (a canary, an A/B version: :meth:`AutoscaleLoop.wake`),
or that was the main one until a promotion, is scaled the same way on its own traffic until it
is back at zero, whatever its weight; the next request wakes it again. The main version is
scaled on the deployment's total — on its own traffic while another version scales on its own
(the total would count that one's load twice).

A start that fails (a model that cannot load) is retried no sooner than a crashed replica would
be restarted — the supervisor's backoff, 0.5 s doubling to 30 s, reset by a start that succeeds
— the requests held for it get its reason at once (:meth:`~.coldstart.ColdStart.fail`), and
``start_failure_listeners`` are told when the version has no ready replica (a rollout whose
candidate it is fails). Each version starts and backs off on its own (:mod:`.starts`): one that
cannot start holds back no other. What the loop keeps of a version goes with it (:meth:`.applied`).

Every decision is logged with its inputs (at debug; a change at info) and exported:
``inferd_autoscaler_desired_replicas``, ``…_actual_replicas``, ``…_ready_replicas``,
``…_metric_value`` (stable and panic windows), ``…_panic`` and ``…_decisions_total`` by reason,
per scaled version — the main one, and each woken one while it scales on its own (:mod:`.status`,
which also reports them in the status document); a version no longer scaled leaves both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Set

from prometheus_client import CollectorRegistry

from inferd.control.autoscale.decision import Decision, ScalingPolicy
from inferd.control.autoscale.scaler import Autoscaler
from inferd.control.autoscale.signals import GatewaySignals, Sample
from inferd.control.autoscale.starts import StartFailureListener, StartFailures
from inferd.control.autoscale.status import ScaledOn, ScalingMetrics, ScalingStatus
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.topology import Topology
from inferd.control.tasks import cancel_and_wait
from inferd.errors import InferdError, Unavailable
from inferd.spec.edits import deployment_of, main_version, replace_deployment, with_replicas
from inferd.spec.model import DeploymentSpec, Spec

log = logging.getLogger(__name__)

#: The longest and shortest time between two decisions.
DEFAULT_TICK_S = 1.0
MIN_TICK_S = 0.1


class AutoscaleLoop:
    """Runs the autoscalers of every deployment that has an ``autoscaling:`` section."""

    def __init__(
        self,
        reconciler: Reconciler,
        signals: GatewaySignals,
        topology: Callable[[], Topology],
        registry: CollectorRegistry,
        tick_s: float = DEFAULT_TICK_S,
    ) -> None:
        self.reconciler = reconciler
        self.signals = signals
        self._topology = topology
        self.tick_s = tick_s
        #: Per (deployment, version), the version's autoscaler; version None: the main
        #: version's, on the deployment's total (it follows the main version when that changes).
        self._scalers: dict[tuple[str, str | None], Autoscaler] = {}
        #: Per deployment, the versions other than the main one that a request woke and that
        #: are scaled on their own traffic until they are back at zero.
        self._woken: dict[str, set[str]] = {}
        self._main: dict[str, str] = {}  # per deployment, its main version at the last tick
        self._scaling: dict[str, asyncio.Task[None]] = {}
        #: Per (deployment, version) scaled, its last decision.
        self._status: dict[tuple[str, str], ScalingStatus] = {}
        self._starts = StartFailures(lambda: reconciler.supervisor.backoff)
        self.start_failure_listeners: list[StartFailureListener] = []
        self._task: asyncio.Task[None] | None = None
        self._metrics = ScalingMetrics(registry)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="autoscaler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task, *self._scaling.values())

    def status(self) -> list[ScalingStatus]:
        """The last decision per scaled version, with its inputs: by deployment, its main
        version first, then the woken ones."""
        return sorted(
            self._status.values(), key=lambda s: (s["deployment"], not s["main"], s["version"])
        )

    def cold_start_timeout(self, deployment: str) -> float | None:
        """How long a request may wait for ``deployment`` to start a replica; None when it
        does not scale from zero (``min_replicas`` above 0, or no ``autoscaling:``)."""
        d = self._deployment(deployment)
        if d is None or d.autoscaling is None or d.autoscaling.min_replicas > 0:
            return None
        return d.autoscaling.cold_start_timeout

    def wake(self, deployment: str) -> None:
        """Scale from zero: start one replica of each version at zero that takes traffic (a
        weight) or that requests are held for (a header route's version, one named in the path,
        at weight 0 too; once a scale that runs already is done).

        Each such version, not only the main one: the gateway holds a request routed to a
        version at zero until that version starts (a stable version at zero beside a canary
        that runs included). The autoscaler scales each under the deployment's policy: the main
        version on the deployment's total, another on its own traffic, until back at zero."""
        d = self._deployment(deployment)
        if d is None or d.autoscaling is None or d.autoscaling.min_replicas > 0:
            return
        held = self._held_versions(deployment)
        asleep = [v for v in scaled_to_zero(d, held) if not self._starts.backing_off((d.name, v))]
        if not asleep or deployment in self._scaling:
            return
        log.info("%s/%s: a request arrived with no replica: scaling from zero", deployment,
                 ",".join(asleep))  # fmt: skip
        main = main_version(d).name
        for version in asleep:
            # Ticks pause while a scale runs, so the decision is exported here: the desired
            # count reads 1 for the whole cold start, not only after the replica is ready.
            status = self._status.get((deployment, version))
            if status is not None:
                self._status[deployment, version] = {
                    **status, "desired": 1, "reason": "scale_from_zero"
                }  # fmt: skip
            self._metrics.woken(deployment, version)
        self._woken.setdefault(deployment, set()).update(v for v in asleep if v != main)
        self._scale(d, dict.fromkeys(sorted(asleep, key=lambda v: v != main), 1))  # main first

    def applied(self) -> None:
        """Forget what is kept about deployments and versions the running spec no longer has
        (an apply removed them): a deployment added again under the same name starts afresh,
        not in the backoff of a start that failed before. Called after every apply, and at
        every tick for the versions a rollout removed."""
        spec = self.reconciler.spec
        deployments = spec.deployments if spec is not None else []
        cold = self.signals.gateway.cold_start
        for deployment, version in self._starts.keep_only(
            (d.name, v.name) for d in deployments for v in d.versions
        ):
            if cold is not None:
                cold.forget(deployment, version)
        names = {d.name for d in deployments}
        for deployment, version in [k for k in self._status if k[0] not in names]:
            self._unreport(deployment, version)
        for gone in (self._woken.keys() | self._main.keys()) - names:
            self._woken.pop(gone, None)
            self._main.pop(gone, None)
        for key in [k for k in self._scalers if k[0] not in names]:
            del self._scalers[key]
            self.signals.forget(*key)

    def _deployment(self, name: str) -> DeploymentSpec | None:
        spec = self.reconciler.spec
        return spec.deployment(name) if spec is not None else None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s(self.reconciler.spec))
            self.applied()
            spec = self.reconciler.spec
            for name in [d.name for d in spec.deployments] if spec is not None else []:
                try:
                    await self._tick(name)
                except InferdError as exc:  # e.g. a scrape that failed: next tick retries
                    log.warning("autoscaling %s: %s", name, exc.message)
                except Exception:  # one deployment's bug must not stop every autoscaler
                    log.exception("autoscaling %s failed", name)

    def _tick_s(self, spec: Spec | None) -> float:
        """A third of the shortest panic window (bursts are seen), within [MIN_TICK_S, tick_s]."""
        windows = [
            d.autoscaling.panic_window
            for d in (spec.deployments if spec is not None else ())
            if d.autoscaling is not None
        ]
        return min(max(min(windows, default=self.tick_s) / 3, MIN_TICK_S), self.tick_s)

    def _current(self, name: str) -> DeploymentSpec | None:
        """Deployment ``name`` as it runs now, when it autoscales and no scale of it runs
        (ticks pause while one does: the counts a decision starts from are changing)."""
        d = self._deployment(name)
        if d is None or d.autoscaling is None or name in self._scaling:
            return None
        return d

    async def _tick(self, name: str) -> None:
        """Sample the main version's signal and each woken version's, then decide their counts
        on the spec as it runs after the samples (a wake may have started a scale meanwhile),
        and apply what changed."""
        d = self._current(name)
        if d is None or d.autoscaling is None:
            return
        metric = d.autoscaling.metric
        main = main_version(d).name
        woken = self._still_woken(d, main)
        # The main version's signal (None): the deployment's total, or, while other versions
        # scale on their own traffic, its own (the total would count theirs twice).
        samples: dict[str | None, Sample] = {
            None: await self.signals.sample(name, metric, main if woken else None)
        }
        for other in woken:
            samples[other] = await self.signals.sample(name, metric, other)
        d = self._current(name)
        if d is None or d.autoscaling is None:
            return
        now = time.monotonic()
        policy = ScalingPolicy.from_spec(d.autoscaling)
        version = main_version(d)
        decision = self._decide(d, policy, version.name, samples[None], now, per_version=False)
        on: ScaledOn = "version" if woken else "deployment"
        total = samples[None]  # or the main version's own traffic (``on``)
        self._report(d, version.name, decision, policy=policy, sample=total, now=now, scaled_on=on)
        counts: dict[str, int] = {}
        if decision.desired != version.replicas:
            counts[version.name] = decision.desired
        reported = {version.name}
        for other in self._still_woken(d, version.name):
            sample = samples.get(other)
            if sample is None:  # woken while the others were sampled: decided next tick
                continue
            decided = self._decide(d, policy, other, sample, now, per_version=True)
            self._report(
                d, other, decided, policy=policy, sample=sample, now=now, scaled_on="version"
            )
            reported.add(other)
            if decided.desired != replicas_of(d, other):
                counts[other] = decided.desired
        for gone in [v for (name, v) in self._status if name == d.name and v not in reported]:
            self._unreport(d.name, gone)  # back at zero, no longer the main version, or removed
        if counts:
            self._scale(d, counts)

    def _report(
        self,
        d: DeploymentSpec,
        version: str,
        decision: Decision,
        *,
        policy: ScalingPolicy,
        sample: Sample,
        now: float,
        scaled_on: ScaledOn,
    ) -> None:
        """Keep and export ``version``'s decision with its inputs (its status entry)."""
        key = (d.name, version)
        main = version == main_version(d).name
        scaler = self._scalers[(d.name, None if main else version)]  # as :meth:`_decide` keys it
        status: ScalingStatus = {
            "deployment": d.name, "version": version, "main": main,
            "scaled_on": scaled_on, "actual": replicas_of(d, version),
            "ready": self._ready(d.name, version), **decision.to_json(),
            "metric": d.autoscaling.metric if d.autoscaling is not None else "",
            "value": sample.value,
            "stable": scaler.average(now, policy.stable_window_s),
            "panic_value": scaler.average(now, policy.panic_window_s),
            "idle_s": round(sample.idle_s, 3), "min_replicas": policy.min_replicas,
            "max_replicas": policy.max_replicas,
            "cold_start_timeout_s": self.cold_start_timeout(d.name),
            "held": self.signals.held(d.name), "start_failure": self._starts.failure(key),
        }  # fmt: skip
        self._status[key] = status
        self._metrics.record(status)

    def _unreport(self, deployment: str, version: str) -> None:
        """Drop the status entry and the gauges of a version no longer scaled."""
        self._status.pop((deployment, version), None)
        self._metrics.forget(deployment, version)

    def _decide(
        self,
        d: DeploymentSpec,
        policy: ScalingPolicy,
        version: str,
        sample: Sample,
        now: float,
        *,
        per_version: bool,
    ) -> Decision:
        """Decide ``version``'s count from ``sample``: the deployment's total, or
        (``per_version``) the version's own traffic; logged with its inputs."""
        key = (d.name, version if per_version else None)
        scaler = self._scalers.get(key)
        if scaler is None or scaler.policy != policy:
            scaler = self._scalers[key] = Autoscaler(policy)
        scaler.observe(now, sample.value)
        ready = self._ready(d.name, version)
        current = replicas_of(d, version)
        backing_off = self._starts.backing_off((d.name, version))
        decision = scaler.decide(now, current, ready, sample.idle_s, start_backoff=backing_off)
        log.log(
            logging.INFO if decision.desired != current else logging.DEBUG,
            "%s/%s: %d -> %d replicas (%s; %s %.2f stable %.2f panic %.2f, ready %d, idle %.1fs)",
            d.name, version, current, decision.desired, decision.reason,
            d.autoscaling.metric if d.autoscaling is not None else "", sample.value,
            scaler.average(now, policy.stable_window_s),
            scaler.average(now, policy.panic_window_s), ready, sample.idle_s,
        )  # fmt: skip
        return decision

    def _still_woken(self, d: DeploymentSpec, main: str) -> list[str]:
        """The woken versions of ``d`` still scaled on their own, with the one ``main`` just
        took over from where ``d`` scales to zero; forgets those back at zero, now the main
        version, gone or the shadow. Weight 0 (a rollback, a promotion) forgets none: it would
        run on idle at the count it has."""
        woken = self._woken.get(d.name, set())
        before, self._main[d.name] = self._main.get(d.name), main
        if before not in (None, main) and d.autoscaling and d.autoscaling.min_replicas == 0:
            woken = woken | {before}
        keep = {v for v in woken if v not in (main, d.traffic.shadow) and replicas_of(d, v)}
        for gone in woken - keep:
            self._scalers.pop((d.name, gone), None)
            self.signals.forget(d.name, gone)
        self._woken[d.name] = keep
        return sorted(keep)

    def _scale(self, d: DeploymentSpec, counts: Mapping[str, int]) -> None:
        """Set the replica counts of ``d``'s versions (version → count), one version after
        the other in ``counts``' order, each in a change of its own: a version that cannot
        start fails its own change only, and backs off alone."""

        async def run() -> None:
            try:
                for version, replicas in counts.items():
                    await self._scale_version(d.name, version, replicas)
            finally:
                self._scaling.pop(d.name, None)
            if self._held_versions(d.name):  # held meanwhile for a version at zero
                self.wake(d.name)

        self._scaling[d.name] = asyncio.get_running_loop().create_task(run())

    async def _scale_version(self, deployment: str, version: str, replicas: int) -> None:
        key = (deployment, version)
        starts = False

        def edit(spec: Spec) -> Spec:
            nonlocal starts
            current = deployment_of(spec, deployment)
            found = current.version(version)
            starts = found is not None and replicas > found.replicas
            return replace_deployment(spec, with_replicas(current, version, replicas))

        try:
            await self.reconciler.change(edit)
        except InferdError as exc:
            log.error("scaling %s/%s to %d failed: %s", deployment, version, replicas,
                      exc.message)  # fmt: skip
            if starts and self._has_version(deployment, version):
                await self._start_failed(deployment, version, exc)
        else:
            if starts:
                self._starts.succeeded(key)

    def _held_versions(self, deployment: str) -> set[str]:  # requests wait for by name
        cold = self.signals.gateway.cold_start
        return cold.held_versions(deployment) if cold is not None else set()

    def _has_version(self, deployment: str, version: str) -> bool:
        """Whether the running spec still has ``version`` (an apply may have removed it while
        it started: its failure is then no one's)."""
        d = self._deployment(deployment)
        return d is not None and d.version(version) is not None

    async def _start_failed(self, deployment: str, version: str, error: InferdError) -> None:
        """Back off before its next start, answer the requests held for it, tell the listeners."""
        delay = self._starts.failed((deployment, version), error.message)
        log.warning("%s/%s: the next replica start waits %.1f s (backoff)", deployment, version,
                    delay)  # fmt: skip
        cold = self.signals.gateway.cold_start
        reason = f"deployment {deployment!r} could not start a replica: {error.message}"
        if cold is not None:
            cold.fail(deployment, version, Unavailable(reason, retry_after=delay))
        if not self._ready(deployment, version):  # with a ready replica, it still serves
            for listener in self.start_failure_listeners:
                await listener(deployment, version, reason)

    def _ready(self, deployment: str, version: str) -> int:
        route = self._topology().deployments.get(deployment)
        found = route.version(version) if route is not None else None
        return len(found.ready_replicas) if found is not None else 0


def replicas_of(d: DeploymentSpec, version: str) -> int:
    """The replicas ``d`` runs of ``version`` (0 when it has no such version)."""
    found = d.version(version)
    return found.replicas if found is not None else 0


def scaled_to_zero(d: DeploymentSpec, held: Set[str] = frozenset()) -> list[str]:
    """The versions of ``d`` with no replica and a share of traffic, or requests ``held`` for
    them (the shadow takes none): those a request wakes (the gateway's ``VersionRoute.at_zero``)."""
    wanted = ({n for n, w in d.weights().items() if w > 0} | held) - {d.traffic.shadow}
    return [v.name for v in d.versions if v.replicas == 0 and v.name in wanted]
