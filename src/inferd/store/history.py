"""The append-only history of tag moves (push, tag, rm) and trust grants (trust, trust-format).

One log holds the whole store (names are fields, never file names). Lines are appended with
``O_APPEND`` in a single ``write`` while the store lock is held, then fsync'ed, so concurrent
writers never interleave and a line once written is never rewritten.

A tag move changes two files, ``index.json`` and this log, and a process killed between the two
writes must not leave them disagreeing (the tag moved, the history silent). So a move is
journaled first (:func:`moving`): its record goes to ``<log>.pending``, then the index is
written, then the record is appended and the journal removed. The next holder of the store lock
settles a journal a crash left (:func:`settle`): the record is appended if the index shows the
move (and the log does not already end with it), dropped if it does not.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import orjson

from inferd.store.atomic import write_bytes

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


def pending(log: Path) -> Path:
    """The journal of a tag move in progress (see the module's docstring)."""
    return log.with_name(log.name + ".pending")


@contextlib.contextmanager
def moving(log: Path, entry: HistoryEvent) -> Iterator[None]:
    """Journal ``entry``, let the block write the index, then append it; under the lock.

    An exception in the block (a full disk, Ctrl-C, maybe after the index was replaced) leaves
    the journal to :func:`settle`, which alone can tell from the index whether the move was made."""
    journal = pending(log)
    write_bytes(journal, _line(entry))
    yield
    append(log, entry)
    journal.unlink(missing_ok=True)


def settle(log: Path, current: Callable[[str], str | None]) -> None:
    """Finish or drop the move a crash left journaled; under the lock. ``current(name:tag)`` is
    the digest the index now gives the tag (None: untagged)."""
    journal = pending(log)
    try:
        line = journal.read_bytes()
    except FileNotFoundError:
        return
    entry = _parse(line.rstrip(b"\n"))
    moved = entry is not None and current(f"{entry.name}:{entry.tag}") == entry.new
    if moved and entry is not None and not _ends_with(log, line):  # else: killed after the
        append(log, entry)  # append, before the journal went; or the index never moved
    journal.unlink(missing_ok=True)


def _ends_with(log: Path, line: bytes) -> bool:
    try:
        with log.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - len(line), 0))
            return handle.read() == line
    except FileNotFoundError:
        return False


def _line(entry: HistoryEvent) -> bytes:
    return orjson.dumps(entry.to_json()) + b"\n"


def append(log: Path, entry: HistoryEvent) -> None:
    """Append one line; the caller holds the store lock.

    A crash mid-append can leave a fragment without its newline. It was never acknowledged, so
    the next append terminates it first: it stays in the log as one unparseable line that
    :func:`read` skips, and never corrupts the line after it.
    """
    line = _line(entry)
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
        entry = _parse(line)
        if entry is not None:  # else debris of a crash mid-append (see append); never acknowledged
            yield entry


def _parse(line: bytes) -> HistoryEvent | None:
    try:
        record = orjson.loads(line)
        detail = record.get("detail")
        return HistoryEvent(
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
        return None


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
