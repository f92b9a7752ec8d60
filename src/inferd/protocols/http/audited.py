"""Control routes that leave an audit record (:mod:`inferd.observe.audit`).

:func:`audited` wraps one handler: the action is recorded once it has ended, with the status
answered and, for an error, its message. :func:`audited_guard` wraps a listener's guard so that
a refused request (no token, a browser ``Origin``, a rebound ``Host``) is recorded as
``denied`` — attempts matter as much as actions.
"""

from __future__ import annotations

from inferd.errors import InferdError
from inferd.observe.audit import AuditLog, Caller
from inferd.protocols.http.messages import STATUS_BY_CODE, Request, Response
from inferd.protocols.http.router import Handler
from inferd.protocols.http.server import Guard

#: Header the inferd CLI sends with the local user it runs as.
USER_HEADER = "x-inferd-user"


def caller(request: Request) -> Caller:
    return Caller(
        peer=request.peer,
        user_agent=request.headers.get("user-agent", "")[:200],
        user=request.headers.get(USER_HEADER, "")[:100],
    )


def audited(audit: AuditLog, action: str, handler: Handler, target: str = "model") -> Handler:
    """``handler``, recording ``action`` on the path parameter ``target`` (or the literal
    ``target`` when the route has no such parameter). ``action`` may name path parameters,
    e.g. ``rollout.{action}``."""

    async def run(request: Request) -> Response:
        name = request.params.get(target, target)
        done = action.format_map(request.params)
        try:
            response = await handler(request)
        except InferdError as exc:
            status = str(STATUS_BY_CODE.get(exc.code, 500))
            audit.record(done, name, outcome="error", status=status,
                         caller=caller(request), detail=exc.message)  # fmt: skip
            raise
        outcome = "ok" if response.status < 400 else "error"
        detail = response.body.decode("utf-8", "replace") if outcome == "error" else ""
        audit.record(done, name, outcome=outcome, status=str(response.status),
                     caller=caller(request), detail=detail)  # fmt: skip
        return response

    return run


def audited_guard(audit: AuditLog, guard: Guard) -> Guard:
    """``guard``, recording every request it refuses."""

    def check(request: Request) -> Response | None:
        refused = guard(request)
        if refused is not None:
            audit.record(f"{request.method} {request.path}", request.path, outcome="denied",
                         status=str(refused.status), caller=caller(request),
                         detail=refused.body.decode("utf-8", "replace"))  # fmt: skip
        return refused

    return check
