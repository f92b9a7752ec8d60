"""The rollout routes of the admin API (loopback, bearer token: see
:mod:`inferd.control.admin.api`)::

    GET  /admin/rollouts                           the latest rollout of every deployment
    GET  /admin/rollouts/{deployment}              the latest rollout of one deployment
    GET  /admin/rollouts/{deployment}/history      every recorded decision (?limit=N)
    POST /admin/rollouts/{deployment}/start        body {"candidate": VERSION} (optional)
    POST /admin/rollouts/{deployment}/{action}     promote, pause, resume or abort

Answers are JSON; errors are the usual ``{"error": …}`` with the status of their code.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import orjson

from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import HistoryPage
from inferd.errors import InvalidArgument, NotFound
from inferd.observe.audit import AuditLog
from inferd.protocols.http import Request, Response, Router, json_response
from inferd.protocols.http.audited import audited
from inferd.protocols.http.router import Handler

#: Decisions returned by the history route when no limit is asked for.
DEFAULT_HISTORY_LIMIT = 1000


def add_routes(
    router: Router,
    rollouts: RolloutController,
    audit: AuditLog,
    to_the_end: Callable[[Handler], Handler],
) -> None:
    """Register the rollout routes for ``rollouts`` on ``router``; actions are audited and run
    through ``to_the_end`` (the admin API's: a client going away does not cut one short, which
    would leave a promotion's routes half published or an abort's candidate running)."""

    async def list_all(request: Request) -> Response:
        return json_response({"rollouts": rollouts.status()})

    async def one(request: Request) -> Response:
        return json_response(rollouts.status(request.params["deployment"])[0])

    async def history(request: Request) -> Response:
        limit = _limit(request.query)
        name = request.params["deployment"]
        page: HistoryPage = {"deployment": name, "decisions": rollouts.decisions(name, limit)}
        return json_response(page)

    async def start(request: Request) -> Response:
        candidate = _candidate(request.body)
        return json_response(await rollouts.start(request.params["deployment"], candidate))

    async def act(request: Request) -> Response:
        name, action = request.params["deployment"], request.params["action"]
        if action == "promote":
            return json_response(await rollouts.promote(name))
        if action == "abort":
            return json_response(await rollouts.abort(name))
        if action == "pause":
            return json_response(await rollouts.pause(name))
        if action == "resume":
            return json_response(await rollouts.resume(name))
        raise NotFound(f"no rollout action {action!r} (start, promote, pause, resume, abort)")

    router.add("GET", "/admin/rollouts", list_all)
    router.add("GET", "/admin/rollouts/{deployment}", one)
    router.add("GET", "/admin/rollouts/{deployment}/history", history)
    router.add(
        "POST",
        "/admin/rollouts/{deployment}/start",
        to_the_end(audited(audit, "rollout.start", start, "deployment")),
    )
    router.add(
        "POST",
        "/admin/rollouts/{deployment}/{action}",
        to_the_end(audited(audit, "rollout.{action}", act, "deployment")),
    )


def _candidate(body: bytes | bytearray) -> str | None:
    if not body.strip():
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidArgument('the body must be JSON: {"candidate": VERSION}') from None
    candidate = doc.get("candidate") if isinstance(doc, dict) else None
    if candidate is not None and not isinstance(candidate, str):
        raise InvalidArgument("'candidate' must be a version name")
    if candidate is not None and not candidate.strip():
        raise InvalidArgument(
            "'candidate' is empty: name a version, or send none for the one other version"
        )
    return candidate


def _limit(query: str) -> int:
    values = parse_qs(query).get("limit")
    if not values:
        return DEFAULT_HISTORY_LIMIT
    try:
        limit = int(values[0])
    except ValueError:
        raise InvalidArgument(f"limit must be a whole number, got {values[0]!r}") from None
    if limit < 1:
        raise InvalidArgument(f"limit must be at least 1, got {limit}")
    return limit
