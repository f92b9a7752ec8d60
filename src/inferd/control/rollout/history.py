"""The rollout history: one JSON line per decision, with the numbers that caused it.

One file per deployment under ``$INFERD_HOME/rollouts/``, named by a hash of the deployment's
name (a user's string never becomes a path). Each line is appended with ``O_APPEND`` in one
``write``, so lines never interleave and a line once written is never rewritten; a torn last
line (a crash mid-write) is ended by the next append, so it never joins the line after it, and
is skipped when reading.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, cast

import orjson
from prometheus_client import CollectorRegistry, Counter

from inferd.control.rollout.analysis import ObservationsRecord, VerdictRecord

#: Where histories live, under the store root ($INFERD_HOME).
HISTORY_DIR = "rollouts"

Event = Literal[
    "start", "advance", "analysis", "hold", "promote", "rollback", "abort", "pause", "resume",
    "supersede", "failed",
]  # fmt: skip
#: The events a rollout ends with.
ENDINGS: frozenset[Event] = frozenset({"promote", "rollback", "abort", "supersede", "failed"})


class DecisionNote(TypedDict, total=False):
    """The words a :class:`DecisionRecord` may carry."""

    #: Why, in words (promotions, rollbacks, aborts, failures).
    reason: str
    #: The tag a promotion moved to the candidate (None: unchanged or tagging failed).
    tagged: str | None
    #: The alias a rollback or abort moved back to the stable version (None: it had moved on
    #: since, or moving it failed); only for a rollout an alias move started.
    reverted: str | None
    #: The model the alias names again (``fraud@sha256:…``), when it moved back.
    reverted_to: str
    #: On the ``start`` of a rollout an alias move began: the alias, the digest it named (the
    #: candidate's), and the model the stable version serves (``fraud@sha256:…``), so that the
    #: next ``inferd up`` can move it back should this one be killed (:mod:`.recovery`).
    alias: str
    alias_digest: str
    stable_model: str
    #: On the ``start``: what started the rollout (``inferd rollout start``, ``apply``, ``alias
    #: fraud:production moved``), for what the next ``inferd up`` says of one it ends.
    cause: str


class DecisionRecord(DecisionNote):
    """One line of the history: what a rollout did, where it stood, and why."""

    time: float
    deployment: str
    rollout: str
    event: Event
    strategy: str
    stable: str
    candidate: str
    #: 1-based.
    stage: int
    candidate_weight: int
    verdict: NotRequired[VerdictRecord]
    observations: NotRequired[ObservationsRecord]


class HistoryPage(TypedDict):
    """What the admin API's history route answers."""

    deployment: str
    decisions: list[DecisionRecord]


class RolloutHistory:
    """Appends and reads decision records of every deployment under ``home``."""

    def __init__(self, home: Path) -> None:
        self.directory = home / HISTORY_DIR

    def path(self, deployment: str) -> Path:
        digest = hashlib.sha256(deployment.encode("utf-8")).hexdigest()[:32]
        return self.directory / f"{digest}.jsonl"

    def append(self, record: DecisionRecord) -> None:
        """Write ``record`` to its deployment's history."""
        line = orjson.dumps(record) + b"\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(record["deployment"])
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn line: end it first
                line = b"\n" + line
            os.write(fd, line)
        finally:
            os.close(fd)

    def no_rollout(self, deployment: str) -> str:
        """Why ``deployment`` has no rollout to show or act on: none ran in this ``inferd up``
        (a rollout lives in its process), and where the last one recorded is, if any."""
        last = self.read(deployment, 1)
        if not last:
            return f"deployment {deployment!r} has no rollout"
        since = f"deployment {deployment!r} has no rollout since inferd up started; its last, "
        if "reason" in last[0]:  # how it ended (an abort by the restart says what to do)
            return (
                f"{since}{last[0].get('rollout')}, ended in {last[0].get('event')}: "
                f"{last[0]['reason']} (inferd rollout history {deployment})"
            )
        return f"{since}{last[0].get('rollout')}, is in: inferd rollout history {deployment}"

    def deployments(self) -> list[str]:
        """The deployments with a history here (a file's last record names its deployment)."""
        names = set()
        for path in sorted(self.directory.glob("*.jsonl")):
            try:
                raw = path.read_bytes()
            except OSError:  # not a file, not ours to read: no history to end
                continue
            for line in reversed(raw.splitlines()):
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("deployment"), str):
                    names.add(entry["deployment"])
                    break
        return sorted(names)

    def read(self, deployment: str, limit: int | None = None) -> list[DecisionRecord]:
        """The deployment's records, oldest first (the last ``limit`` when given)."""
        try:
            raw = self.path(deployment).read_bytes()
        except FileNotFoundError:
            return []
        records = []
        for line in raw.splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("deployment") == deployment:
                records.append(cast(DecisionRecord, entry))
        return records[-limit:] if limit else records


def events_counter(registry: CollectorRegistry | None) -> Counter | None:
    """``inferd_rollout_events_total`` in ``registry`` (the gateway's /metrics, what alerts
    read): one count per decision recorded in the history, by event. None without one."""
    if registry is None:
        return None
    return Counter(
        "inferd_rollout_events",
        "Rollout decisions recorded in the history, by event.",
        ("deployment", "event"),
        registry=registry,
    )
