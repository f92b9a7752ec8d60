"""The audit log: one JSON line per control action — who asked, what, and how it ended.

Control actions change what runs (load, unload, apply, promote, abort), so an operator must be
able to answer "who did this, and when?" after the fact. Records go to
``$INFERD_HOME/audit.log``, opened append-only (``O_APPEND``), never truncated or rewritten by
inferd, readable by the owner only. Each record is written with a single ``write`` of one line,
so concurrent writers (a server and ``inferd up`` in the same home) never interleave within a
line. A record is a few hundred bytes and control actions are rare, so writing inline costs
less than handing it to a thread.

A record that cannot be written is logged as an error and the action still completes: losing the
audit trail must be visible, but it must not turn into a denial of service of the control plane.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.log"
#: Longest detail kept in one record (an error message; a spec's problems).
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked: the peer's address, the client's own name for itself, and the local user the
    CLI says it runs as (self-declared, so only as trustworthy as the token that came with it)."""

    peer: str = ""
    user_agent: str = ""
    user: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time: str
    #: Which plane took the action: ``server`` (inferd serve's control plane) or ``up``.
    plane: str
    #: What was asked, e.g. ``load``, ``unload``, ``apply``, ``rollout.promote``.
    action: str
    #: What it was asked of: a model, a deployment, a spec file name.
    target: str
    #: ``ok``, ``error`` or ``denied`` (refused before the action ran: token, Origin, Host).
    outcome: str
    #: The status answered (HTTP status code or gRPC code name).
    status: str
    caller: Caller
    detail: str = ""


class AuditLog:
    """Appends :class:`AuditRecord` lines to ``path``."""

    def __init__(self, path: Path, plane: str) -> None:
        self.path = path
        self.plane = plane
        self._lock = threading.Lock()

    @classmethod
    def in_home(cls, home: Path, plane: str) -> AuditLog:
        return cls(home / AUDIT_FILE, plane)

    def record(
        self,
        action: str,
        target: str,
        *,
        outcome: str,
        status: str,
        caller: Caller,
        detail: str = "",
    ) -> AuditRecord:
        entry = AuditRecord(
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            plane=self.plane,
            action=action,
            target=target,
            outcome=outcome,
            status=status,
            caller=caller,
            detail=detail[:MAX_DETAIL_CHARS],
        )
        line = orjson.dumps(asdict(entry)) + b"\n"
        try:
            with self._lock:
                self._append(line)
        except OSError as exc:
            log.error("audit record not written to %s (%s): %s", self.path, exc, line.decode())
        return entry

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def read_audit(path: Path) -> list[AuditRecord]:
    """Every record in ``path``, oldest first (for ``inferd`` commands and tests)."""
    records = []
    for raw in path.read_bytes().splitlines():
        data = orjson.loads(raw)
        records.append(AuditRecord(**{**data, "caller": Caller(**data["caller"])}))
    return records
