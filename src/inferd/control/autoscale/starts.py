"""The autoscaler's record of replica starts that failed, per (deployment, version).

A version whose start failed (a model that cannot load) is not started again until the
supervisor's restart backoff has run out (0.5 s doubling to 30 s; a start that succeeds resets
it). The record is per version, so one version that cannot start holds back no other version
of the deployment; and it is forgotten with the version (:meth:`StartFailures.keep_only`), so a
deployment removed and added again by ``inferd apply`` starts afresh.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypedDict

from inferd.control.replicas.backoff import BackoffPolicy

#: A version of a deployment: (deployment, version).
VersionKey = tuple[str, str]
#: Told each failed start: (deployment, version, reason) — the rollout controller's
#: ``start_failed``, which fails a canary whose candidate cannot start (``inferd up`` wires it).
StartFailureListener = Callable[[str, str, str], Awaitable[None]]


class StartFailure(TypedDict):
    """The last failed start of a version, until a start of it succeeds, as the status shows
    it (``inferd ps``, the dashboard): after the backoff too, so the cause stays in view."""

    #: Why it failed, as the supervisor said it (the replica, and its exit status or last
    #: ``error:`` line).
    message: str
    #: Starts that failed in a row.
    failures: int
    #: Seconds until the next start may be tried (0: the next request that wakes it tries).
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class _Failed:
    failures: int
    #: When (monotonic) the next start may be tried.
    until: float
    message: str


class StartFailures:
    """Failed starts per (deployment, version), and the backoff each one runs."""

    def __init__(
        self, backoff: Callable[[], BackoffPolicy], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._backoff = backoff
        self._clock = clock
        self._failed: dict[VersionKey, _Failed] = {}

    def failed(self, key: VersionKey, message: str) -> float:
        """Record a failed start of ``key``; the seconds before it may be tried again."""
        previous = self._failed.get(key)
        failures = (previous.failures if previous is not None else 0) + 1
        delay = self._backoff().delay(failures)
        self._failed[key] = _Failed(failures, self._clock() + delay, message)
        return delay

    def succeeded(self, key: VersionKey) -> None:
        """A start of ``key`` succeeded: its next failure backs off from the first delay."""
        self._failed.pop(key, None)

    def backing_off(self, key: VersionKey) -> bool:
        """Whether the last start of ``key`` failed and its backoff runs."""
        failed = self._failed.get(key)
        return failed is not None and failed.until > self._clock()

    def failure(self, key: VersionKey) -> StartFailure | None:
        """The last failed start of ``key`` until one succeeds (None: the last did, or none
        was tried): a version at zero whose backoff ran out has not started either, and
        ``inferd ps`` should go on saying why rather than "the next request starts one"."""
        failed = self._failed.get(key)
        if failed is None:
            return None
        left = max(0.0, failed.until - self._clock())
        return {"message": failed.message, "failures": failed.failures,
                "retry_in_s": round(left, 3)}  # fmt: skip

    def keep_only(self, versions: Iterable[VersionKey]) -> list[VersionKey]:
        """Forget every version not in ``versions`` (removed ones); those forgotten."""
        keep = set(versions)
        gone = [key for key in self._failed if key not in keep]
        for key in gone:
            del self._failed[key]
        return gone
