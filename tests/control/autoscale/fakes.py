"""An autoscaling loop wired as ``inferd up`` wires it, over a reconciler that only edits a spec
(a version whose model names ``broken`` cannot start) and signals a test sets per version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.autoscale.loop import DEFAULT_TICK_S, AutoscaleLoop
from inferd.control.autoscale.signals import Sample
from inferd.control.replicas.backoff import BackoffPolicy
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute
from inferd.errors import Unavailable
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from ..conftest import spec_text

#: What a start of a broken model fails with (as the supervisor says it).
CAUSE = "replica fraud-{version}-1 cannot start fraud:broken: onnxruntime cannot load 'model.onnx'"


class EditingReconciler:
    """Applies each change to its spec after ``start_s``; a change that adds replicas to a
    version whose model names ``broken`` fails instead, leaving the spec as it was."""

    def __init__(self, spec: Spec, backoff: BackoffPolicy, start_s: float = 0.05) -> None:
        self.spec = spec
        self.start_s = start_s
        self.changes: list[dict[str, int]] = []
        self.supervisor = SimpleNamespace(backoff=backoff)

    async def change(self, edit: Callable[[Spec], Spec]) -> None:
        new = edit(self.spec)
        before = counts(self.spec)
        after = counts(new)
        self.changes.append({k: n for k, n in after.items() if before.get(k) != n})
        await asyncio.sleep(self.start_s)
        for d in new.deployments:
            for v in d.versions:
                if "broken" in v.model and after[f"{d.name}/{v.name}"] > before.get(
                    f"{d.name}/{v.name}", 0
                ):
                    raise Unavailable(CAUSE.format(version=v.name))
        self.spec = new


def counts(spec: Spec) -> dict[str, int]:
    """Replicas per ``deployment/version``."""
    return {f"{d.name}/{v.name}": v.replicas for d in spec.deployments for v in d.versions}


@dataclass
class FakeSignals:
    """Per (deployment, version) the value a sample reads (None: the deployment's total)."""

    gateway: SimpleNamespace
    values: dict[tuple[str, str | None], float] = field(default_factory=dict)
    sampled: list[tuple[str, str | None]] = field(default_factory=list)
    forgotten: list[tuple[str, str | None]] = field(default_factory=list)

    async def sample(self, deployment: str, metric: str, version: str | None = None) -> Sample:
        self.sampled.append((deployment, version))
        if version is None:
            total = sum(v for (d, _), v in self.values.items() if d == deployment)
            return Sample(total, 0.0 if total else 60.0)
        value = self.values.get((deployment, version), 0.0)
        return Sample(value, 0.0 if value else 60.0)

    def forget(self, deployment: str, version: str | None = None) -> None:
        self.forgotten.append((deployment, version))

    def held(self, deployment: str) -> int:
        cold = self.gateway.cold_start
        return cold.held(deployment) if cold is not None else 0


def ready_topology(spec: Spec) -> Topology:
    """Every replica the spec asks for, ready."""
    routes = {}
    for d in spec.deployments:
        weights = d.weights()
        versions = tuple(
            VersionRoute(
                v.name,
                d.name,
                v.model,
                weights.get(v.name, 0),
                tuple(
                    Replica(f"{d.name}-{v.name}-{i}", d.name, v.name, "127.0.0.1", 1, "ready")
                    for i in range(v.replicas)
                ),
            )
            for v in d.versions
        )
        routes[d.name] = DeploymentRoute(d.name, versions, d.traffic.shadow)
    return Topology(routes, 1)


@dataclass
class Wired:
    loop: AutoscaleLoop
    cold: ColdStart
    reconciler: EditingReconciler
    signals: FakeSignals
    registry: CollectorRegistry


def cold_start_of(loop: Callable[[], AutoscaleLoop], registry: CollectorRegistry) -> ColdStart:
    """The gateway's cold start wired to the autoscaler ``loop()`` (built after it) as ``inferd
    up`` wires them: its timeout is the loop's, and a held request wakes the loop."""
    return ColdStart(
        lambda deployment: loop().cold_start_timeout(deployment),
        lambda deployment: loop().wake(deployment),
        registry,
    )


def wired(spec_yaml: str, backoff: BackoffPolicy, tick_s: float = 0.05) -> Wired:
    """The autoscaler and the gateway's cold start over ``spec_yaml``."""
    return wire(EditingReconciler(parse_spec(spec_yaml), backoff), tick_s)


def wire(reconciler: EditingReconciler, tick_s: float = DEFAULT_TICK_S) -> Wired:
    """The autoscaler and the gateway's cold start over ``reconciler``'s ready replicas."""
    registry = CollectorRegistry()
    loop: AutoscaleLoop
    cold = cold_start_of(lambda: loop, registry)
    signals = FakeSignals(SimpleNamespace(cold_start=cold))

    def topology() -> Topology:
        return ready_topology(reconciler.spec)

    loop = AutoscaleLoop(reconciler, signals, topology, registry, tick_s)  # type: ignore[arg-type]
    return Wired(loop, cold, reconciler, signals, registry)


def two_versions(main_model: str, canary_model: str, scaling: str) -> str:
    """fraud: ``a`` (80%, the main version) and ``b`` (20%), both at zero, with ``scaling``
    (the flow mapping of its ``autoscaling:``)."""
    return (
        spec_text({"a": (main_model, 0, 80), "b": (canary_model, 0, 20)})
        + f"    autoscaling: {scaling}\n"
    )


async def settle(w: Wired, timeout_s: float = 2.0) -> None:
    """Wait until no scale runs (the wake's or a tick's change is done)."""
    async with asyncio.timeout(timeout_s):
        while w.loop._scaling:
            await asyncio.sleep(0.01)
