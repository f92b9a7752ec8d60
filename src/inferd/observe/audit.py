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

Nor may the log itself be one: anyone who can connect can be refused, as often as they like.
So a record's ``action`` and ``target`` (a request path, for a refusal) are cut at
:data:`MAX_FIELD_CHARS` (``truncated`` names the fields cut, as Kubernetes' audit backend
annotates a truncated event), and refusals are merged: in each :data:`REFUSAL_INTERVAL_S` the
first :data:`REFUSALS_PER_SOURCE` refusals per source address and status are recorded (a burst,
as nginx's ``limit_req`` allows one), the rest are counted and recorded once as ``count`` when
the interval ends (or at :meth:`AuditLog.flush`, and at exit), and at most
:data:`DENIED_PER_INTERVAL` refusals are recorded one by one in all (those past it are merged
under no source). Accepted actions and actions that failed are always recorded one by one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.log"
#: Longest detail kept in one record (an error message; a spec's problems).
MAX_DETAIL_CHARS = 2000
#: Longest ``action`` and ``target`` kept (a refused request's path is the client's to choose).
MAX_FIELD_CHARS = 256
#: The interval over which repeated refusals are merged (seconds).
REFUSAL_INTERVAL_S = 60.0
#: Refusals of one source address and status recorded one by one in an interval.
REFUSALS_PER_SOURCE = 5
#: Most refusals recorded one by one in an interval, all sources together.
DENIED_PER_INTERVAL = 60


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
    #: How many requests the record stands for: more than 1 for refusals merged
    #: (``caller.peer`` is then the source address, or empty for refusals past the cap).
    count: int = 1
    #: The fields cut at :data:`MAX_FIELD_CHARS` (each then ends with ``…``).
    truncated: tuple[str, ...] = ()


class AuditLog:
    """Appends :class:`AuditRecord` lines to ``path``; ``clock`` (monotonic seconds) times the
    intervals refusals are merged over."""

    def __init__(
        self, path: Path, plane: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.plane = plane
        self._writer = _Writer(path)
        self._refusals = _Refusals(clock)
        # Counts still pending are written when the log is dropped, at the latest at exit.
        weakref.finalize(self, _flush, self._writer, self._refusals, plane)

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
        """Record one action, or one refusal (``outcome="denied"``), which may be merged into
        the count of its source's next record instead (the entry is returned either way)."""
        action, cut_action = _cut(action)
        target, cut_target = _cut(target)
        entry = AuditRecord(
            time=_now(),
            plane=self.plane,
            action=action,
            target=target,
            outcome=outcome,
            status=status,
            caller=caller,
            detail=detail[:MAX_DETAIL_CHARS],
            truncated=("action",) * cut_action + ("target",) * cut_target,
        )
        with self._writer.lock:
            merged = self._refusals.due(self.plane)
            if outcome != "denied" or self._refusals.admit(_source(caller.peer), status):
                merged.append(entry)
            self._writer.write(merged)
        return entry

    def flush(self) -> None:
        """Write the counts of refusals merged so far (the interval goes on)."""
        _flush(self._writer, self._refusals, self.plane)


def _flush(writer: _Writer, refusals: _Refusals, plane: str) -> None:
    with writer.lock:
        writer.write(refusals.pending(plane))


class _Writer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()

    def write(self, entries: list[AuditRecord]) -> None:
        if not entries:
            return
        lines = b"".join(orjson.dumps(asdict(e)) + b"\n" for e in entries)
        try:
            self._append(lines)
        except OSError as exc:
            log.error("audit record not written to %s (%s): %s", self.path, exc, lines.decode())

    def _append(self, lines: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn line (a kill): end it
                lines = b"\n" + lines
            os.write(fd, lines)
        finally:
            os.close(fd)


@dataclass(slots=True)
class _Merged:
    """Refusals of one source and status in the current interval: how many were recorded, and
    the count of those merged since ``since``."""

    since: str
    recorded: int = 1
    count: int = 0


class _Refusals:
    """Which refusals of the current interval are recorded, and the counts of the others."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ends = 0.0
        self._recorded = 0
        self._seen: dict[tuple[str, str], _Merged] = {}

    def admit(self, source: str, status: str) -> bool:
        """Whether a refusal from ``source`` answered ``status`` is recorded on its own (else
        it is counted)."""
        key = (source, status)
        merged = self._seen.get(key)
        if self._recorded < DENIED_PER_INTERVAL:
            if merged is None:
                self._seen[key] = _Merged(_now())
                self._recorded += 1
                return True
            if merged.recorded < REFUSALS_PER_SOURCE:
                merged.recorded += 1
                self._recorded += 1
                return True
        elif merged is None:  # past the cap: counted under no source
            merged = self._seen.setdefault(("", status), _Merged(_now(), 0))
        merged.count += 1
        return False

    def due(self, plane: str) -> list[AuditRecord]:
        """The counts of the interval just ended, if it has (a new one begins)."""
        now = self._clock()
        if now < self._ends:
            return []
        counts = self.pending(plane)
        self._seen.clear()
        self._recorded = 0
        self._ends = now + REFUSAL_INTERVAL_S
        return counts

    def pending(self, plane: str) -> list[AuditRecord]:
        """A record per source and status with refusals counted and not recorded yet."""
        counts = []
        for (source, status), merged in self._seen.items():
            if merged.count:
                whom = f"from {source}" if source else "past the per-interval cap"
                counts.append(
                    AuditRecord(
                        time=_now(), plane=plane, action="refusals", target=source,
                        outcome="denied", status=status, caller=Caller(peer=source),
                        detail=f"{merged.count} more requests {whom} refused ({status}) since "
                        f"{merged.since}, merged into this record",
                        count=merged.count,
                    )
                )  # fmt: skip
                merged.count, merged.since = 0, _now()
        return counts


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_FIELD_CHARS:
        return text, False
    return text[: MAX_FIELD_CHARS - 1] + "…", True


def _source(peer: str) -> str:
    """The address of ``peer`` without its port (``127.0.0.1:5123``, ``[::1]:5123``, gRPC's
    ``ipv4:127.0.0.1:5123``): a client's connections come from one address, many ports."""
    host, colon, port = peer.rpartition(":")
    return host if colon and port.isdigit() else peer


def read_audit(path: Path) -> list[AuditRecord]:
    """Every record in ``path``, oldest first (for ``inferd`` commands and tests)."""
    records = []
    for raw in path.read_bytes().splitlines():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:  # a line torn by a kill mid-write, or an empty one
            continue
        caller = Caller(**data["caller"])
        truncated = tuple(data.get("truncated", ()))
        records.append(AuditRecord(**{**data, "caller": caller, "truncated": truncated}))
    return records
