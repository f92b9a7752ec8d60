"""The CLI side of the admin API: find the running ``inferd up`` and call it.

Synchronous on purpose: one call per command, over httpx's sync client.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Literal, cast
from urllib.parse import quote

import httpx
import orjson

from inferd.addresses import url_host
from inferd.control.admin.documents import AdminStatus, ApplyResult
from inferd.control.cost.documents import CostReport, Recommendations
from inferd.control.rollout.history import HistoryPage
from inferd.control.rollout.state import RolloutStatus
from inferd.control.up_state import read_state
from inferd.errors import (
    AlreadyExists,
    InferdError,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from inferd.protocols.http.audited import USER_HEADER
from inferd.spec.loading import SpecError, SpecProblem

#: An apply may start replicas and wait for them; give it time.
APPLY_TIMEOUT_S = 300.0
STATUS_TIMEOUT_S = 10.0

#: What a person can do to a running rollout.
RolloutAction = Literal["promote", "pause", "resume", "abort"]


class AdminClient:
    """Calls the admin API of the ``inferd up`` running for store ``home``."""

    def __init__(self, home: Path) -> None:
        found = read_state(home)
        if found is None:
            raise Unavailable(
                "no `inferd up` is running for this store ($INFERD_HOME); start one with "
                "`inferd up FILE`"
            )
        self.state, self._token = found

    def status(self) -> AdminStatus:
        return cast(AdminStatus, self._answer("GET", "/admin/status", b"", STATUS_TIMEOUT_S))

    def apply(self, spec_text: str, file: str) -> ApplyResult:
        """Apply a spec; problems the server finds are reported against ``file``."""
        try:
            answer = self._call("POST", "/admin/apply", spec_text.encode(), APPLY_TIMEOUT_S)
        except _Rejected as exc:
            problems = exc.body.get("problems")
            if isinstance(problems, list) and problems:
                raise SpecError(
                    [SpecProblem(**{**p, "file": file}) for p in problems if isinstance(p, dict)]
                ) from None
            raise exc.error from None
        return cast(ApplyResult, answer)

    def rollout_status(self, deployment: str) -> RolloutStatus:
        """The deployment's latest rollout."""
        return self._rollout("GET", deployment, "")

    def rollout_start(self, deployment: str, candidate: str | None = None) -> RolloutStatus:
        """Start rolling ``candidate`` (None: the one other version) out. Any other value is
        sent as it is, ``""`` too: the admin API refuses it, never takes it for the default."""
        body = b"" if candidate is None else orjson.dumps({"candidate": candidate})
        return self._rollout("POST", deployment, "/start", body)

    def rollout_act(self, deployment: str, action: RolloutAction) -> RolloutStatus:
        return self._rollout("POST", deployment, f"/{action}")

    def rollout_history(self, deployment: str, limit: int) -> HistoryPage:
        """The last ``limit`` decisions of the deployment's rollouts, oldest first."""
        path = f"/admin/rollouts/{quote(deployment, safe='')}/history?limit={limit}"
        return cast(HistoryPage, self._answer("GET", path, b"", APPLY_TIMEOUT_S))

    def cost_report(self, window: str) -> CostReport:
        """Every version's cost over the last ``window`` (a duration: ``20s``, ``1h``)."""
        path = f"/admin/cost?window={quote(window, safe='')}"
        return cast(CostReport, self._answer("GET", path, b"", STATUS_TIMEOUT_S))

    def cost_recommendations(self, window: str) -> Recommendations:
        """Right-sizing from the measurements of the last ``window``."""
        path = f"/admin/cost/recommendations?window={quote(window, safe='')}"
        return cast(Recommendations, self._answer("GET", path, b"", STATUS_TIMEOUT_S))

    def _rollout(
        self, method: str, deployment: str, suffix: str, body: bytes = b""
    ) -> RolloutStatus:
        path = f"/admin/rollouts/{quote(deployment, safe='')}{suffix}"
        return cast(RolloutStatus, self._answer(method, path, body, APPLY_TIMEOUT_S))

    def _answer(self, method: str, path: str, body: bytes, timeout: float) -> dict[str, object]:
        """The JSON object the admin API answered; a rejection as the error it stands for."""
        try:
            return self._call(method, path, body, timeout)
        except _Rejected as exc:
            raise exc.error from None

    def _call(self, method: str, path: str, body: bytes, timeout: float) -> dict[str, object]:
        base = f"http://{url_host(self.state.admin_host)}:{self.state.admin_port}"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/yaml",
            USER_HEADER: _local_user(),
        }
        try:
            # trust_env off: the admin API is on loopback, never behind the environment's proxy.
            with httpx.Client(base_url=base, timeout=timeout, trust_env=False) as client:
                response = client.request(method, path, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectError) and self.state.pid_start is not None:
                # Its process runs (up.json's pid and start time say so) and refuses: it
                # closed the admin API, the first thing it does when it stops.
                raise Unavailable(
                    f"cannot reach `inferd up` (pid {self.state.pid}): it is stopping (its "
                    "admin API closes first, then it drains what is in flight and exits; "
                    "`inferd down` waits for it)"
                ) from None
            raise Unavailable(f"cannot reach `inferd up` (pid {self.state.pid}): {exc}") from None
        try:
            parsed: object = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        if response.status_code != 200:
            raise _Rejected(response.status_code, parsed)
        return parsed


#: Statuses the admin API answers with, back to the errors they stand for.
_ERRORS: dict[int, type[InferdError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: AlreadyExists,
    503: Unavailable,
}


class _Rejected(Exception):
    """A non-200 answer; ``error`` is the inferd error it stands for."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(status)
        self.body = body
        message = str(body.get("error") or f"the admin API answered {status}")
        self.error = _ERRORS.get(status, InternalError)(message)


def _local_user() -> str:
    """Who runs this CLI, for the audit log (self-declared: the token is the authority)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no $USER: a container's anonymous uid
        return f"uid:{os.getuid()}"
