"""What the gateway routes to: an immutable snapshot of deployments, versions and replicas.

The reconciler decides the routing as :class:`DeploymentRoute` values naming the replicas of
each version; the supervisor (which runs replica processes) publishes a new :class:`Topology`
of the same routes, each replica in its current state, whenever something changes — a replica
became ready, died, was added; weights were applied — and the gateway swaps its routing table
to the new snapshot atomically. Neither side mutates a snapshot, so a request is always routed
against one consistent view."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from inferd.control.replicas.engine_metrics import EngineSeries
from inferd.spec.observability import LoggingSpec

ReplicaState = Literal["starting", "ready", "draining", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class Replica:
    """One model-server process serving one version."""

    id: str
    deployment: str
    version: str
    host: str
    port: int
    state: ReplicaState
    pid: int | None = None
    restarts: int = 0
    #: Wall-clock time (time.time()) the current process started; None while not running.
    started_at: float | None = None
    #: Wall-clock time the last process exited (was reaped); None: none has. Cost charges a
    #: process up to it, not only to the last sample before.
    exited_at: float | None = None
    #: Why the replica is failed, for `inferd ps` and the dashboard.
    reason: str | None = None
    #: Where it serves ``inference.GRPCInferenceService`` (the gateway's gRPC proxy); None:
    #: it serves no gRPC.
    grpc_port: int | None = None
    #: An engine replica (llama-server, vLLM): which one, and how its metrics are mapped into
    #: inferd's (:mod:`.engine_metrics`); None: ``inferd serve``.
    engine: EngineSeries | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """A/B routing: requests whose ``header`` equals ``value`` go to ``version``."""

    header: str
    value: str
    version: str


@dataclass(frozen=True, slots=True)
class VersionRoute:
    """A version of a deployment: the store reference it serves and its traffic weight."""

    name: str
    #: The model name the replicas serve (from the store reference), used in upstream paths.
    model: str
    reference: str
    #: Share of primary traffic in percent (weights of a deployment add up to 100).
    weight: float
    #: The replicas serving it, in rotation order.
    replicas: tuple[Replica, ...] = ()
    #: The manifest digest its replicas serve (``reference`` may name a tag that moves on);
    #: None when not known.
    digest: str | None = None
    #: Those of :attr:`replicas` that are ready, worked out once per snapshot (every request
    #: reads it).
    ready_replicas: tuple[Replica, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ready = tuple(r for r in self.replicas if r.state == "ready")
        object.__setattr__(self, "ready_replicas", ready)

    @property
    def scaled_to_zero(self) -> bool:
        """No replica at all (none starting either), yet a share of traffic: in a deployment
        that scales from zero, a request routed here wakes it and waits for it."""
        return self.at_zero and self.weight > 0

    @property
    def at_zero(self) -> bool:
        """No replica at all (none starting either), whatever the weight: in a deployment that
        scales from zero, a request routed to it — by its weight (:attr:`scaled_to_zero`), a
        header route, or naming it in the path — wakes it and waits for it."""
        return not self.replicas


@dataclass(frozen=True, slots=True)
class DeploymentRoute:
    name: str
    versions: tuple[VersionRoute, ...]
    #: A version that receives a mirrored copy of primary traffic; its answers are compared with
    #: the primary's and never returned to the client.
    shadow: str | None = None
    #: Requests carrying this header are routed by a hash of its value (same value, same version).
    sticky_header: str | None = None
    header_routes: tuple[HeaderMatch, ...] = ()
    #: Payload logging of the deployment's requests (the spec's ``logging:``); None: off.
    payload_logging: LoggingSpec | None = None
    #: The spec's ``request_timeout`` (seconds). ``inferd serve`` replicas apply it themselves;
    #: the gateway bounds the generations it relays to engine replicas by it, which set no
    #: time limit of their own. None: not set.
    request_timeout: float | None = None
    #: The versions that may take primary traffic now (a ready replica, not a dedicated shadow), in
    #: order, worked out once per snapshot for :func:`~inferd.control.gateway.routing.
    #: choose_version`.
    primaries: tuple[VersionRoute, ...] = field(init=False, repr=False, compare=False)
    #: In a deployment that scales from zero: :attr:`primaries` and the versions
    #: :attr:`~VersionRoute.scaled_to_zero`, in order (a request routed to one of those waits
    #: for it to start).
    primaries_from_zero: tuple[VersionRoute, ...] = field(init=False, repr=False, compare=False)
    #: Whether a header route leads to a version :attr:`~VersionRoute.at_zero` (a request it
    #: matches waits for that version to start, in a deployment that scales from zero).
    header_route_at_zero: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A shadow takes primary traffic only where the spec weights it (another weighted
        # version mirrored to; docs/spec.md): a dedicated shadow at weight 0 takes none.
        serving = [v for v in self.versions if v.name != self.shadow or v.weight > 0]
        primaries = tuple(v for v in serving if v.ready_replicas)
        from_zero = tuple(v for v in serving if v.ready_replicas or v.scaled_to_zero)
        object.__setattr__(self, "primaries", primaries)
        object.__setattr__(self, "primaries_from_zero", from_zero)
        targets = [self.version(match.version) for match in self.header_routes]
        at_zero = any(v is not None and v.at_zero for v in targets)
        object.__setattr__(self, "header_route_at_zero", at_zero)

    def version(self, name: str) -> VersionRoute | None:
        return next((v for v in self.versions if v.name == name), None)


@dataclass(frozen=True, slots=True)
class Topology:
    deployments: Mapping[str, DeploymentRoute] = field(default_factory=dict)
    #: Increases with every published snapshot.
    generation: int = 0

    def replicas(self) -> Iterator[Replica]:
        """Every replica of every version of every deployment."""
        return (r for d in self.deployments.values() for v in d.versions for r in v.replicas)

    def ready_replicas(self, deployment: str | None = None) -> list[Replica]:
        """The replicas ready to serve, of ``deployment`` or of every deployment."""
        return [
            r
            for d in self.deployments.values()
            if deployment in (None, d.name)
            for v in d.versions
            for r in v.ready_replicas
        ]


TopologyListener = Callable[[Topology], None]
