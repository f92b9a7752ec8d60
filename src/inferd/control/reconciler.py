"""The reconciler: owns the desired state and moves the running state towards it.

:func:`~inferd.control.apply_plan.plan` is a pure function of (what runs, what the spec wants) →
one change per version; :class:`Reconciler` carries the changes out in the order that never
drops a request:

1. pin each new reference to its digest and materialize it once (so N replicas do not race);
2. start every new replica and wait until all are ready — if any cannot become ready, stop the
   new ones and fail, leaving what runs untouched;
3. publish the new routing: new versions with their weights, replaced versions on their new
   replicas, scaled-down versions without the replicas being removed, removed versions at
   weight 0;
4. after a short settle (requests routed on the old table reach their replicas), publish the
   routing without removed versions, then drain and stop every retired replica.

**Idempotency**: applying the same spec twice changes nothing — no replica is started or
stopped and no topology is published; an autoscaled version keeps the count its autoscaler
set, clamped to the spec's bounds (:func:`~inferd.control.apply_plan.keep_autoscaled`). A
version is identified by its spec (reference, runtime, batching, resources); re-applying does
not follow a tag that moved in the store — change the reference (or pin a digest) to roll out
new bytes, or give the deployment a ``rollout:`` policy, whose watcher follows the tag
(:mod:`inferd.control.rollout.watch`). Applies, and controllers' edits
(:meth:`Reconciler.change`), are serialised.

**What an apply says** (:class:`~inferd.control.apply_plan.Applied`): one change per version,
and one route change per deployment whose traffic split, shadow, header routing or payload
logging changed (published with no replica started or stopped). **Read once**: ``registries:``
and every ``gateway`` setting but ``drain_timeout`` are read when ``inferd up`` starts; an apply
that changes one is refused (PermissionDenied) before anything changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from inferd.config import TracingSettings
from inferd.control.apply_plan import (
    Applied,
    Change,
    DeploymentVersion,
    ReplicaSet,
    autoscaled_counts,
    check_fixed,
    desired_state,
    fingerprint,
    keep_autoscaled,
    plan,
    render_only_changes,
    route_changes,
    rules_only_changes,
    settings_changes,
)
from inferd.control.autoscale.fit import check_signals
from inferd.control.replicas.engines import (
    EngineLaunch,
    StoredModel,
    check_adapter,
    check_context,
    engine_model,
    find_engine,
)
from inferd.control.replicas.launch import REPLICA_DRAIN_S, ReplicaLaunch, write_launch
from inferd.control.replicas.replica import ReplicaProcess
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.replicas.topology import DeploymentRoute, HeaderMatch, VersionRoute
from inferd.errors import InferdError, InvalidArgument, NotFound, Unsupported
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec
from inferd.store import ModelStore, Reference

log = logging.getLogger(__name__)

#: How long retired routes stay published at weight 0 before their replicas drain.
SETTLE_S = 1.0
#: How long a new replica may go without answering its probe during an apply (one that answers,
#: loading its model, is waited for longer: replicas.replica.MAX_LOADING_S).
READY_TIMEOUT_S = 120.0

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _Running:
    """A version as it runs: how its replicas are launched, and the replicas in rotation."""

    state: ReplicaSet
    launch: ReplicaLaunch
    members: list[ReplicaProcess] = field(default_factory=list)


class Reconciler:
    """Applies specs to a :class:`Supervisor`; one apply at a time."""

    def __init__(
        self,
        supervisor: Supervisor,
        store: ModelStore,
        run_dir: Path,
        *,
        settle_s: float = SETTLE_S,
        ready_timeout_s: float = READY_TIMEOUT_S,
        tracing: TracingSettings | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.store = store
        self.run_dir = run_dir
        self.settle_s = settle_s
        self.ready_timeout_s = ready_timeout_s
        #: Where replicas export spans (the gateway's collector, read once by inferd up).
        self.tracing = tracing
        self.spec: Spec | None = None
        #: The spec replicas are priced by: while an apply starts them, the one being applied.
        self.priced: Spec | None = None
        self._running: dict[DeploymentVersion, _Running] = {}
        self._lock = asyncio.Lock()

    async def apply(self, spec: Spec) -> Applied:
        """Make the running state match ``spec`` — an autoscaled version keeping its count
        within the spec's bounds — and return what changed (see the module doc).

        Raises NotFound for a reference missing from the store and Unavailable when new
        replicas do not become ready; in both cases what ran before keeps running unchanged.
        PermissionDenied for a change to what is read once, when ``inferd up`` starts.
        """
        async with self._lock:
            kept = keep_autoscaled(self.spec, spec)
            applied = await self._apply(kept)
            return dataclasses.replace(applied, autoscaled=autoscaled_counts(spec, kept))

    async def change(self, edit: Callable[[Spec], Spec]) -> Applied:
        """Apply ``edit(the spec now running)``, read and applied under the apply lock, so
        controllers editing one part (weights, replica counts) never undo each other's edits.

        Raises NotFound when nothing has been applied yet.
        """
        async with self._lock:
            if self.spec is None:
                raise NotFound("no spec has been applied yet")
            return await self._apply(edit(self.spec))

    async def _apply(self, spec: Spec) -> Applied:
        if self.spec is not None:
            check_fixed(self.spec, spec)
        await asyncio.to_thread(check_signals, spec, lambda ref: self.store.resolve(ref).card)
        actual = {k: r.state for k, r in self._running.items()}
        changes = plan(actual, desired_state(spec))
        routes = route_changes(self.spec, spec)
        settings = settings_changes(self.spec, spec)
        rules_only = rules_only_changes(self.spec, spec)
        render_only = render_only_changes(self.spec, spec)
        drain_s = spec.gateway.drain_timeout
        launches = await self._launches(spec, changes)
        started = self._start(changes, launches)
        fresh = [r for rs in started.values() for r in rs]
        self.priced = spec
        try:
            await self.supervisor.wait_ready(fresh, self.ready_timeout_s)
        except InferdError:
            self.priced = self.spec
            await self.supervisor.retire(fresh, drain_s)
            raise
        retired = self._commit(spec, changes, launches, started)
        self.spec = spec
        self.supervisor.route(_routing(spec, self._running, include_removed=retired.removed))
        if retired.replicas:
            await asyncio.sleep(self.settle_s)
        if retired.replicas or retired.removed:  # a deployment removed at zero has no replica
            self.supervisor.route(_routing(spec, self._running, include_removed={}))
        if retired.replicas:
            await self.supervisor.retire(retired.replicas, drain_s)
        applied = Applied(changes, routes, settings, rules_only, render_only)
        _log_changes(applied)
        return applied

    def pinned(self, deployment: str, version: str) -> str | None:
        """The digest-pinned reference a running version serves (None: not running)."""
        running = self._running.get((deployment, version))
        return running.launch.pinned if running is not None else None

    async def shutdown(self, grace_s: float) -> None:
        async with self._lock:
            await self.supervisor.shutdown(grace_s)
            self._running.clear()

    async def _launches(
        self, spec: Spec, changes: list[Change]
    ) -> dict[DeploymentVersion, ReplicaLaunch]:
        """Pin and materialize each reference that needs new replicas of a new kind; check an
        adapter against its base and an engine's files and executable."""
        launches: dict[DeploymentVersion, ReplicaLaunch] = {}
        stored: dict[str, tuple[str, StoredModel]] = {}

        async def resolve(where: str, version: VersionSpec) -> tuple[str, StoredModel]:
            if version.model not in stored:
                try:
                    stored[version.model] = await asyncio.to_thread(self._pin, version)
                except NotFound as exc:
                    raise NotFound(
                        f"{where}: {exc.message} (push it first: inferd push DIR {version.model})"
                    ) from None
            return stored[version.model]

        for change in changes:
            if change.action not in ("add", "replace"):
                continue
            where = f"{change.deployment}/{change.version}"
            deployment = spec.deployment(change.deployment)
            assert deployment is not None
            version = deployment.version(change.version)
            assert version is not None
            pinned, model = await resolve(where, version)
            base, served = None, version
            if version.adapter_of is not None:
                base_version = deployment.version(version.adapter_of)
                assert base_version is not None  # the spec's rules checked it
                served = base_version
                base = (await resolve(f"{change.deployment}/{base_version.name}", base_version))[1]
                _prefixed(where, check_adapter, model, base)
            launches[(change.deployment, change.version)] = write_launch(
                self.run_dir,
                home=self.store.root,
                deployment=deployment,
                version=version,
                pinned=pinned,
                drain_timeout_s=REPLICA_DRAIN_S,  # the supervisor's stop ends the drain
                fingerprint=fingerprint(deployment, version),
                tracing=self.tracing,
                access_log=spec.gateway.access_log,
                engine=_prefixed(where, _engine, deployment, model, base, served.trust_code),
            )
        return launches

    def _pin(self, version: VersionSpec) -> tuple[str, StoredModel]:
        """``name:tag@digest`` of the version's reference, and its files materialized."""
        model = self.store.materialize(version.model)
        ref = Reference.parse(version.model)
        pinned = str(Reference(ref.name, ref.tag, model.digest, ref.registry))
        files = StoredModel(version.model, ref.name, model.path, model.digest, model.card)
        return pinned, files

    def _start(
        self, changes: list[Change], launches: Mapping[DeploymentVersion, ReplicaLaunch]
    ) -> dict[DeploymentVersion, list[ReplicaProcess]]:
        started: dict[DeploymentVersion, list[ReplicaProcess]] = {}
        for change in changes:
            if change.start:
                key = (change.deployment, change.version)
                launch = launches.get(key) or self._running[key].launch
                started[key] = self.supervisor.spawn(launch, change.start)
        return started

    def _commit(
        self,
        spec: Spec,
        changes: list[Change],
        launches: Mapping[DeploymentVersion, ReplicaLaunch],
        started: Mapping[DeploymentVersion, list[ReplicaProcess]],
    ) -> _Retired:
        """Update the running state; return what leaves it (replicas, removed versions)."""
        desired = desired_state(spec)
        retired = _Retired()
        for change in changes:
            key = (change.deployment, change.version)
            new = started.get(key, [])
            if change.action == "add":
                self._running[key] = _Running(desired[key], launches[key], list(new))
            elif change.action == "replace":
                old = self._running[key]
                retired.replicas += old.members
                self._running[key] = _Running(desired[key], launches[key], list(new))
            elif change.action == "scale":
                running = self._running[key]
                doomed = _retire_order(running.members)[: change.retire]
                retired.replicas += doomed
                running.members = [r for r in running.members if r not in doomed] + new
                running.state = desired[key]
            elif change.action == "remove":
                running = self._running.pop(key)
                retired.replicas += running.members
                retired.removed[key] = running
        return retired


def _retire_order(members: list[ReplicaProcess]) -> list[ReplicaProcess]:
    """Which replicas a scale-down retires first: those not ready, which serve nothing (as
    Kubernetes' ReplicaSet ranks them), then the newest (the oldest have proven themselves)."""
    return sorted(reversed(members), key=lambda r: r.state == "ready")


def _engine(
    deployment: DeploymentSpec, model: StoredModel, base: StoredModel | None, trust_code: bool
) -> EngineLaunch | None:
    """How the version's replicas run an external engine (None: ``inferd serve``). Unsupported
    when the engine's executable is missing; InvalidArgument for files it cannot serve or a
    context over the model's. ``trust_code`` is the served base version's."""
    llm = deployment.llm
    if llm is None:
        return None
    check_context(llm, base if base is not None else model)
    if llm.engine == "inferd":
        return None
    return EngineLaunch(
        engine=llm.engine,
        executable=find_engine(llm.engine),
        model=engine_model(llm.engine, model, base),
        llm=llm,
        threads=deployment.runtime.threads,
        gpus=deployment.resources.gpu,
        trust_code=trust_code and llm.engine == "vllm",
    )


def _prefixed(where: str, check: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``check(...)``, a refusal's message prefixed with the version it is about."""
    try:
        return check(*args, **kwargs)
    except Unsupported as exc:
        raise Unsupported(f"{where}: {exc.message}") from None
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc.message}") from None


@dataclass
class _Retired:
    replicas: list[ReplicaProcess] = field(default_factory=list)
    #: Versions gone from the spec, still routed (at weight 0) until the settle is over.
    removed: dict[DeploymentVersion, _Running] = field(default_factory=dict)


def _routing(
    spec: Spec,
    running: Mapping[DeploymentVersion, _Running],
    include_removed: Mapping[DeploymentVersion, _Running],
) -> list[DeploymentRoute]:
    out = []
    for d in spec.deployments:
        weights = d.weights()
        versions = [
            _version_route(v.name, running[(d.name, v.name)], weights.get(v.name, 0))
            for v in d.versions
        ]
        versions += [
            _version_route(key[1], r, 0) for key, r in include_removed.items() if key[0] == d.name
        ]
        out.append(
            DeploymentRoute(
                name=d.name,
                versions=tuple(versions),
                shadow=d.traffic.shadow,
                sticky_header=d.traffic.sticky_header.lower() if d.traffic.sticky_header else None,
                header_routes=tuple(
                    HeaderMatch(r.header.lower(), r.value, r.version)
                    for r in d.traffic.header_routes
                ),
                payload_logging=d.logging,
                request_timeout=d.request_timeout,
            )
        )
    removed_deployments = {k[0] for k in include_removed} - {d.name for d in spec.deployments}
    for name in sorted(removed_deployments):
        versions = [_version_route(k[1], r, 0) for k, r in include_removed.items() if k[0] == name]
        out.append(DeploymentRoute(name=name, versions=tuple(versions)))
    return out


def _version_route(name: str, running: _Running, weight: float) -> VersionRoute:
    return VersionRoute(
        name=name,
        model=running.launch.model,
        reference=running.launch.reference,
        weight=weight,
        replicas=tuple(r.snapshot() for r in running.members),
        digest=Reference.parse(running.launch.pinned).digest,
    )


def _log_changes(applied: Applied) -> None:
    """What an apply changed, as ``inferd apply`` prints it."""
    for change in applied.changes:
        if change.action != "keep":
            log.info(
                "%s/%s: %s (+%d -%d replicas)",
                change.deployment, change.version, change.action, change.start, change.retire,
            )  # fmt: skip
    for route in applied.routes:
        log.info("%s", route.describe())
    if applied.settings:
        log.info("in effect now: %s", ", ".join(applied.settings))
