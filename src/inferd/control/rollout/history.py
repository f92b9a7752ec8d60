"""The rollout history: one JSON line per decision, with the numbers that caused it.

One file per deployment under ``$INFERD_HOME/rollouts/``, named by a hash of the deployment's
name (a user's string never becomes a path). Each line is appended with ``O_APPEND`` in one
``write``, so lines never interleave and a line once written is never rewritten; a torn last
line (a crash mid-write) is skipped when reading.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import orjson

#: Where histories live, under the store root ($INFERD_HOME).
HISTORY_DIR = "rollouts"


class RolloutHistory:
    """Appends and reads decision records of every deployment under ``home``."""

    def __init__(self, home: Path) -> None:
        self.directory = home / HISTORY_DIR

    def path(self, deployment: str) -> Path:
        digest = hashlib.sha256(deployment.encode("utf-8")).hexdigest()[:32]
        return self.directory / f"{digest}.jsonl"

    def append(self, deployment: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write ``record`` (stamped with ``time`` and ``deployment``) and return it."""
        entry = {"time": time.time(), "deployment": deployment, **record}
        line = orjson.dumps(entry) + b"\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(deployment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return entry

    def read(self, deployment: str, limit: int | None = None) -> list[dict[str, Any]]:
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
                records.append(entry)
        return records[-limit:] if limit else records
