"""The CLI side of the admin API: find the running ``inferd up`` and call it.

Synchronous on purpose (one call per command) and built on the standard library, since the
runtime dependencies carry no HTTP client.
"""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import orjson

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
from inferd.spec.loading import SpecError, SpecProblem

#: An apply may start replicas and wait for them; give it time.
APPLY_TIMEOUT_S = 300.0
STATUS_TIMEOUT_S = 10.0


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

    def status(self) -> dict[str, Any]:
        try:
            return self._call("GET", "/admin/status", b"", STATUS_TIMEOUT_S)
        except _Rejected as exc:
            raise exc.error from None

    def apply(self, spec_text: str, file: str) -> dict[str, Any]:
        """Apply a spec; problems the server finds are reported against ``file``."""
        try:
            return self._call("POST", "/admin/apply", spec_text.encode(), APPLY_TIMEOUT_S)
        except _Rejected as exc:
            problems = exc.body.get("problems")
            if isinstance(problems, list) and problems:
                raise SpecError(
                    [SpecProblem(**{**p, "file": file}) for p in problems if isinstance(p, dict)]
                ) from None
            raise exc.error from None

    def rollout(self, method: str, path: str, body: bytes = b"") -> dict[str, Any]:
        """Call a rollout route (``path`` under ``/admin/rollouts``)."""
        try:
            return self._call(method, f"/admin/rollouts{path}", body, APPLY_TIMEOUT_S)
        except _Rejected as exc:
            raise exc.error from None

    def _call(self, method: str, path: str, body: bytes, timeout: float) -> dict[str, Any]:
        conn = http.client.HTTPConnection(
            self.state.admin_host, self.state.admin_port, timeout=timeout
        )
        try:
            conn.request(
                method,
                path,
                body=body or None,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/yaml",
                },
            )
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"cannot reach `inferd up` (pid {self.state.pid}): {exc}") from None
        finally:
            conn.close()
        try:
            parsed = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        if response.status != 200:
            raise _Rejected(response.status, parsed)
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

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.body = body
        message = str(body.get("error") or f"the admin API answered {status}")
        self.error = _ERRORS.get(status, InternalError)(message)
