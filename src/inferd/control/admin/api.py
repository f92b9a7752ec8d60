"""The admin API of ``inferd up``: status and live changes, on a loopback-only listener.

    GET  /admin/status   replicas (deployment, version, id, pid, port, state, restarts, uptime)
                         and the routing (weights, shadow) now published
    POST /admin/apply    body: a spec document (YAML); 200 with the changes made (per version,
                         and per deployment whose routing changed), 400 with every problem
                         (line, column, message) when it is invalid, 403 for a change to what
                         is read once (gateway settings, registries); a new model for a
                         deployment with a rollout policy starts that rollout
    …/admin/rollouts…    rollout status, history and control (:mod:`inferd.control.rollout.api`)
    GET  /admin/cost…     cost report, right-sizing over ?window= (:mod:`inferd.control.cost.api`)

Every request needs ``Authorization: Bearer <token>`` (the token is in ``$INFERD_HOME/up.token``);
any browser ``Origin`` is refused with 403 and, on loopback, so is a non-loopback ``Host`` (DNS
rebinding) — the same guard as the model server's control plane.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import orjson

from inferd.config import LimitSettings
from inferd.control.admin.documents import (
    AdminStatus,
    ApplyResult,
    ChangeRecord,
    ReplicaRow,
    RoutedDeployment,
    RouteRecord,
    UpStatus,
)
from inferd.control.apply_plan import Change, RouteChange
from inferd.control.cost import CostSampler
from inferd.control.cost.api import add_routes as add_cost_routes
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.rollout.api import add_routes
from inferd.control.rollout.controller import RolloutController
from inferd.control.up_state import TOKEN_FILE
from inferd.errors import InvalidArgument
from inferd.observe.audit import AuditLog
from inferd.protocols.http import (
    HttpServer,
    Request,
    Response,
    Router,
    error_response,
    json_response,
)
from inferd.protocols.http.audited import audited, audited_guard
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.router import Handler
from inferd.protocols.http.server import Guard
from inferd.protocols.v2.auth import bearer_guard
from inferd.spec.loading import MAX_SPEC_BYTES, SpecError, parse_spec

#: The name problems in an applied document are reported against (the CLI validates the file
#: itself first, so users normally see their own file name).
APPLIED_NAME = "applied spec"


class AdminApi:
    """Serves the admin routes for one supervisor and reconciler."""

    def __init__(
        self,
        reconciler: Reconciler,
        supervisor: Supervisor,
        token: str,
        *,
        host: str = "127.0.0.1",
        extra_status: Callable[[], UpStatus] | None = None,
        rollouts: RolloutController | None = None,
        costs: CostSampler | None = None,
        audit: AuditLog,
        applied: Callable[[], None] | None = None,
    ) -> None:
        self.reconciler = reconciler
        #: Every apply and rollout action, and every refused request, is recorded here.
        self.audit = audit
        self.rollouts = rollouts
        self.costs = costs
        self.supervisor = supervisor
        self.host = host
        self._token = token
        self._extra_status = extra_status
        #: Called after each apply that succeeded (the autoscaler forgets what it kept about
        #: deployments and versions the apply removed).
        self._applied = applied
        self._http: HttpServer | None = None
        #: Applies and rollout actions under way: each runs to its end even when its client
        #: goes away (an apply cut off half way would leave the replicas it started unrouted, or
        #: those it retired running); :meth:`stop` cuts them short, and inferd up's shutdown
        #: stops every replica.
        self._changes: set[asyncio.Task[Response]] = set()

    @property
    def port(self) -> int:
        assert self._http is not None, "start() first"
        return self._http.port

    async def start(self, port: int = 0) -> None:
        router = Router()
        router.add("GET", "/admin/status", self._status)
        apply = audited(self.audit, "apply", self._apply, "spec")
        router.add("POST", "/admin/apply", self._to_the_end(apply))
        if self.rollouts is not None:
            add_routes(router, self.rollouts, self.audit, self._to_the_end)
        if self.costs is not None:
            add_cost_routes(router, self.costs)
        limits = HttpLimits.from_settings(LimitSettings(max_body_bytes=MAX_SPEC_BYTES))
        guard = audited_guard(self.audit, _guard(self._token, self.host))
        self._http = HttpServer(router, limits, guard)
        await self._http.start(self.host, port)

    async def stop(self, grace_s: float) -> None:
        if self._http is not None:
            await self._http.stop(grace_s)
        for task in self._changes:
            task.cancel()
        await asyncio.gather(*self._changes, return_exceptions=True)

    def _to_the_end(self, handler: Handler) -> Handler:
        """``handler`` in a task of its own, which the client going away does not cancel."""

        async def run(request: Request) -> Response:
            task = asyncio.ensure_future(handler(request))
            self._changes.add(task)
            task.add_done_callback(self._forget)
            return await asyncio.shield(task)

        return run

    def _forget(self, task: asyncio.Task[Response]) -> None:
        self._changes.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: with its client gone, the audit log has it

    async def _status(self, request: Request) -> Response:
        return json_response(status_document(self.supervisor, self._extra_status))

    async def _apply(self, request: Request) -> Response:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("the spec must be UTF-8 text") from None
        try:
            spec = await asyncio.to_thread(parse_spec, text, APPLIED_NAME)  # off the loop
        except SpecError as exc:
            body = {"error": exc.message, "problems": [dataclasses.asdict(p) for p in exc.problems]}
            return Response(400, orjson.dumps(body))
        if self.rollouts is not None:
            applied = await self.rollouts.apply(spec)
        else:
            applied = await self.reconciler.apply(spec)
        if self._applied is not None:
            self._applied()
        result: ApplyResult = {
            "changes": [_change(c) for c in applied.changes],
            "routes": [_route(r) for r in applied.routes],
            "settings": applied.settings,
            "rules_only": applied.rules_only,
            "render_only": applied.render_only,
            "autoscaled": applied.autoscaled,
            "rollouts": applied.rollouts,
            "undone": [u.to_json() for u in applied.undone],
        }
        return json_response(result)


def status_document(
    supervisor: Supervisor, gateway: Callable[[], UpStatus] | None = None
) -> AdminStatus:
    """What ``inferd ps`` shows: every replica, and the routing now published."""
    now = time.time()
    routed = {r.id for d in supervisor.routing for v in d.versions for r in v.replicas}
    # In the spec's order (deployment, version), each version's replicas in the order they
    # started; a replica of a version no longer routed (draining after an apply) comes last.
    order = {
        (d.name, v.name): (i, j)
        for i, d in enumerate(supervisor.routing)
        for j, v in enumerate(d.versions)
    }
    last = (len(order), 0)
    replicas: list[ReplicaRow] = []
    for process in sorted(
        supervisor.replicas(),
        key=lambda p: order.get((p.launch.deployment, p.launch.version), last),
    ):
        r = process.snapshot()
        replicas.append(
            {
                "deployment": r.deployment,
                "version": r.version,
                "replica": r.id,
                "pid": r.pid,
                "port": r.port or None,
                "state": r.state,
                "restarts": r.restarts,
                "uptime_s": round(now - r.started_at, 1) if r.started_at else None,
                "reason": r.reason,
                "routed": r.id in routed,
            }
        )
    deployments: list[RoutedDeployment] = [
        {
            "name": d.name,
            "shadow": d.shadow,
            "versions": [
                {"name": v.name, "reference": v.reference, "weight": v.weight} for v in d.versions
            ],
        }
        for d in supervisor.routing
    ]
    doc: AdminStatus = {
        "generation": supervisor.topology.generation,
        "deployments": deployments,
        "replicas": replicas,
    }
    if gateway is not None:
        doc["gateway"] = up = gateway()
        # The gateway's reason for a routed replica adds its outlier ejection to the supervisor's.
        seen = {
            r["id"]: r["reason"]
            for d in up["deployments"]
            for v in d["versions"]
            for r in v["replicas"]
            if r["reason"]
        }
        for row in replicas:
            row["reason"] = seen.get(row["replica"], row["reason"])
    return doc


def _change(change: Change) -> ChangeRecord:
    return {
        "deployment": change.deployment,
        "version": change.version,
        "action": change.action,
        "start": change.start,
        "retire": change.retire,
    }


def _route(route: RouteChange) -> RouteRecord:
    return {
        "deployment": route.deployment,
        "weights": dict(route.weights),
        "shadow": route.shadow,
        "changed": list(route.changed),
    }


def _guard(token: str, host: str) -> Guard:
    """The control-plane guard, with a 401 that names where this token is."""
    inner = bearer_guard(token, host)

    def guard(request: Request) -> Response | None:
        answer = inner(request)
        if answer is not None and answer.status == 401:
            return error_response(
                401,
                f"the admin API requires 'Authorization: Bearer <token>' (see {TOKEN_FILE})",
                [(b"www-authenticate", b"Bearer")],
            )
        return answer

    return guard
