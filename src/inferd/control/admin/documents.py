"""The JSON documents of ``inferd up``'s admin API and status page, as the CLI reads them.

The admin API (:mod:`.api`) writes them and its client (:mod:`.client`) reads them back with
these types; the rollout routes answer with :class:`~inferd.control.rollout.state.RolloutStatus`
and :class:`~inferd.control.rollout.history.HistoryPage`.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from inferd.control.apply_plan import Action, RoutePart, UndoneRecord
from inferd.control.autoscale.status import ScalingStatus
from inferd.control.cost.documents import CostStatus
from inferd.control.gateway.status import GatewayStatus
from inferd.control.replicas.topology import ReplicaState
from inferd.control.rollout.state import RolloutStatus


class UpStatus(GatewayStatus):
    """What ``/api/status`` of ``inferd up`` serves (the dashboard draws it): the gateway's
    status, what its rollout controller and autoscaler last decided, and what each version
    cost over the last 5 minutes (None when the spec has no ``cost:`` prices)."""

    rollouts: list[RolloutStatus]
    autoscaling: list[ScalingStatus]
    cost: CostStatus | None


class ReplicaRow(TypedDict):
    """One replica process, routed or not (starting, retiring), as ``inferd ps`` lists it."""

    deployment: str
    version: str
    replica: str
    pid: int | None
    #: None until it has a port.
    port: int | None
    state: ReplicaState
    restarts: int
    uptime_s: float | None
    reason: str | None
    #: Whether the routing now published sends it traffic.
    routed: bool


class RoutedVersion(TypedDict):
    name: str
    reference: str
    weight: float


class RoutedDeployment(TypedDict):
    name: str
    shadow: str | None
    versions: list[RoutedVersion]


class AdminStatus(TypedDict):
    """``GET /admin/status``: every replica, the routing now published, and (when the gateway
    runs) its status."""

    generation: int
    deployments: list[RoutedDeployment]
    replicas: list[ReplicaRow]
    gateway: NotRequired[UpStatus]


class ChangeRecord(TypedDict):
    """What an apply did to one version (:class:`~inferd.control.apply_plan.Change`)."""

    deployment: str
    version: str
    action: Action
    start: int
    retire: int


class RouteRecord(TypedDict):
    """A deployment whose routing an apply changed
    (:class:`~inferd.control.apply_plan.RouteChange`)."""

    deployment: str
    #: Percent per version after the apply.
    weights: dict[str, int]
    shadow: str | None
    #: What changed: ``weights``, ``shadow``, ``sticky_header``, ``header_routes``, ``logging``.
    changed: list[RoutePart]


class ApplyResult(TypedDict):
    """``POST /admin/apply``: one change per version, kept ones included, one route per
    deployment whose routing changed (traffic split, shadow, header routing, payload logging),
    and the policy sections changed (``fraud.autoscaling``, ``cost``…), in effect at once."""

    changes: list[ChangeRecord]
    routes: list[RouteRecord]
    settings: list[str]
    #: Sections changed that ``inferd up`` does not act on (``fraud.slo``: alerting rules).
    rules_only: NotRequired[list[str]]
    #: Sections changed that only ``inferd k8s render`` reads (``metadata``, ``registry``).
    render_only: NotRequired[list[str]]
    #: Versions whose ``replicas`` in the file the autoscaler's count stands over, a line each.
    autoscaled: NotRequired[list[str]]
    #: The rollouts the apply started, one line each.
    rollouts: NotRequired[list[str]]
    #: The promotions by ``inferd rollout`` whose traffic the apply gave back to another
    #: version, as the file says.
    undone: NotRequired[list[UndoneRecord]]
