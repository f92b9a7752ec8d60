"""The append-only history of tag moves (push, tag, rm) and trust grants (trust, trust-format).

One log holds the whole store (names are fields, never file names). Lines are appended with
``O_APPEND`` in a single ``write`` while the store lock is held, then fsync'ed, so concurrent
writers never interleave and a line once written is never rewritten.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import orjson

#: ``trust``: a server loaded the version at ``new`` (a digest) with its code trusted
#: (``inferd serve --trust-code``); ``old`` is None and ``tag`` the tag it was served as.
#: ``trust-format``: the user pushed the file blob ``new`` (a digest), which the store does not
#: admit as data, with ``--trust-unsafe-format``; ``detail`` is ``title: format``. These events,
#: and never a card's claims, are what makes such a blob acceptable to this store.
Action = Literal["push", "tag", "rm", "trust", "trust-format"]


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One tag move: ``tag`` of ``name`` went from ``old`` to ``new`` (``None``: absent)."""

    name: str
    tag: str
    action: Action
    old: str | None
    new: str | None
    user: str
    host: str
    time: datetime
    detail: str | None = None

    def to_json(self) -> dict[str, str | None]:
        extra = {} if self.detail is None else {"detail": self.detail}
        return {
            "name": self.name,
            "tag": self.tag,
            "action": self.action,
            "old": self.old,
            "new": self.new,
            "user": self.user,
            "host": self.host,
            "time": self.time.isoformat(),
            **extra,
        }


def current_user() -> str:
    """The login name, or the numeric uid where the account has no name (containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def event(
    name: str,
    tag: str,
    action: Action,
    old: str | None,
    new: str | None,
    *,
    detail: str | None = None,
) -> HistoryEvent:
    """A new event stamped with the current user, host and UTC time."""
    return HistoryEvent(
        name,
        tag,
        action,
        old,
        new,
        current_user(),
        socket.gethostname(),
        datetime.now(UTC),
        detail=detail,
    )


def append(log: Path, entry: HistoryEvent) -> None:
    """Append one line; the caller holds the store lock.

    A crash mid-append can leave a fragment without its newline. It was never acknowledged, so
    the next append terminates it first: it stays in the log as one unparseable line that
    :func:`read` skips, and never corrupts the line after it.
    """
    line = orjson.dumps(entry.to_json()) + b"\n"
    fd = os.open(log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)  # as umask shares the store
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _events(log: Path) -> Iterator[HistoryEvent]:
    """Every event in the log, oldest first; lines that do not parse are skipped."""
    try:
        data = log.read_bytes()
    except FileNotFoundError:
        return
    for line in data.split(b"\n"):
        try:
            record = orjson.loads(line)
            detail = record.get("detail")
            entry = HistoryEvent(
                name=record["name"],
                tag=record["tag"],
                action=record["action"],
                old=record["old"],
                new=record["new"],
                user=record["user"],
                host=record["host"],
                time=datetime.fromisoformat(record["time"]),
                detail=detail if isinstance(detail, str) else None,
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            continue  # debris of a crash mid-append (see append); never acknowledged
        yield entry


def read(log: Path, name: str) -> list[HistoryEvent]:
    """Every event of ``name``, oldest first; lines that do not parse are skipped."""
    return [entry for entry in _events(log) if entry.name == name]


def arrivals(log: Path) -> dict[tuple[str, str], datetime]:
    """When each version ``(name, manifest digest)`` first got a tag in this store (pushed, or
    tagged after a pull): what ``inferd ls`` shows as its creation time."""
    first: dict[tuple[str, str], datetime] = {}
    for entry in _events(log):
        if entry.action in ("push", "tag") and entry.new is not None:
            first.setdefault((entry.name, entry.new), entry.time)
    return first


def trusted_blobs(log: Path) -> frozenset[str]:
    """The digests of every file blob this store's users pushed with ``--trust-unsafe-format``."""
    return frozenset(
        entry.new
        for entry in _events(log)
        if entry.action == "trust-format" and entry.new is not None
    )
