"""One ``/metrics`` for ``inferd serve --workers N``: any worker answers for every worker.

The workers share the data port (SO_REUSEPORT), so a scrape reaches whichever worker the kernel
hands the connection to. Each used to answer with its own series alone: 40 requests over two
workers read 19, 21, 19, 21 … and Prometheus took every drop for a counter reset.

The design, as gunicorn + prometheus_client deployments expect (one scrape, every process):

- The supervisor makes a run directory of this server (``mkdtemp``: mode 0700, so only its
  user reaches the sockets) and removes it when it exits.
- Each worker listens there on a Unix socket of its own, ``worker-<i>.sock``; a connection is
  answered with its exposition (``generate_latest``), then closed. A restarted worker unlinks
  its predecessor's socket and binds the same path: it rejoins the next scrape.
- The worker that takes a scrape renders its own series and fetches its siblings' at once,
  each within :data:`PEER_TIMEOUT_S`. Every sample gains ``worker="<i>"`` and each family is
  written under one ``# HELP`` / ``# TYPE`` header (what ``promtool check metrics`` asks).
  ``sum by (model, version, outcome)`` adds the workers up, and a worker's counters never go
  down under its label; a restarted worker's start at 0, a real reset that ``rate()`` handles.
  ``process_*`` series are per worker too. The GPU's (``DCGM_*``) describe the device, not a
  process: they are the answering worker's alone, without the label, so a sum counts them once.
- A sibling that does not answer in time (busy loading, dead, restarting) is left out of that
  scrape rather than failing it: a comment line names it, and ``inferd_scrape_workers_missing``
  counts such workers (0 when every worker answered).

prometheus_client's multiprocess mode does not fit: the per-request series are the event
loop's own lock-free counters and histograms (:mod:`inferd.observe.loop_series`), queue depth,
in-flight, state and memory are functions read at scrape time (``set_function``, whose values
the mode's files never hold), drift, language-model and GPU series are custom collectors (which
the mode does not collect), and it exposes no ``process_*`` series. Its files would also put
a write to an mmap on every request.

Measured on the 2-core development VM (shared, load average about 6) with fraud:v1 loaded:
one worker's exposition is about 12.5 KB (176 lines); fetching a sibling's over its socket,
its render included, about 1.6 ms, run while the answering worker renders its own; the merge
of two about 1.1 ms, since lines are relabelled as bytes and nothing is parsed (parsing both
with prometheus_client's parser and writing them again, as the gateway does for replicas,
took 24 ms). With one worker (``--workers 1``) none of this exists: ``/metrics`` is the same
handler as before, and nothing is added per request or per scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

#: A sibling whose exposition has not arrived within this is left out of the scrape.
PEER_TIMEOUT_S: Final = 0.5
#: The series that counts the workers a scrape left out.
MISSING: Final = "inferd_scrape_workers_missing"
#: Families that describe the host, not a process: the answering worker's only, unlabelled.
_HOST_WIDE: Final = (b"DCGM_",)


@dataclass(frozen=True, slots=True)
class Fleet:
    """The workers of one ``inferd serve --workers N`` (picklable: each worker gets it)."""

    run_dir: str
    workers: int

    def socket(self, worker: int) -> Path:
        return Path(self.run_dir) / f"worker-{worker}.sock"


class WorkerMetrics:
    """Worker ``index``'s side: answers its siblings, and merges theirs into its scrapes."""

    def __init__(self, fleet: Fleet, index: int, render: Callable[[], bytes]) -> None:
        self._fleet = fleet
        self._index = index
        self._render = render
        self._path = fleet.socket(index)
        self._server: asyncio.AbstractServer | None = None

    async def listen(self) -> None:
        """Listen on this worker's socket (a predecessor's, left by a crash, is replaced)."""
        self._path.unlink(missing_ok=True)
        try:
            self._server = await asyncio.start_unix_server(self._answer, self._path)
        except OSError as exc:  # e.g. a run directory path too long for a Unix socket
            log.warning(
                "[worker %d] cannot listen on %s (%s): the other workers' scrapes will leave "
                "this one out",
                self._index,
                self._path,
                exc,
            )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._path.unlink(missing_ok=True)
            await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(self._render())
            await writer.drain()
        except OSError:
            return  # the asking worker gave up (timeout) and closed
        except Exception:  # a collector failed: the sibling's scrape leaves this worker out
            log.exception("[worker %d] rendering the metrics for a sibling failed", self._index)
        finally:
            writer.close()

    async def scrape(self) -> bytes:
        """Every worker's series, each labelled with its worker; the ones that did not answer
        in :data:`PEER_TIMEOUT_S` are left out, named in a comment and counted."""
        siblings = [i for i in range(self._fleet.workers) if i != self._index]
        fetches = [asyncio.ensure_future(self._fetch(i)) for i in siblings]
        parts = [(self._index, self._render())]
        missing: list[tuple[int, str]] = []
        for worker, fetched in zip(siblings, await asyncio.gather(*fetches), strict=True):
            if isinstance(fetched, bytes):
                parts.append((worker, fetched))
            else:
                missing.append((worker, fetched))
        return merge(sorted(parts), missing, self._index)

    async def _fetch(self, worker: int) -> bytes | str:
        """Worker ``worker``'s exposition, or why there is none."""
        writer: asyncio.StreamWriter | None = None

        async def read() -> bytes:
            nonlocal writer
            reader, writer = await asyncio.open_unix_connection(self._fleet.socket(worker))
            return await reader.read()

        try:
            text = await asyncio.wait_for(read(), PEER_TIMEOUT_S)
            return text or "answered nothing (see its log)"
        except TimeoutError:
            return f"did not answer within {PEER_TIMEOUT_S} s"
        except (FileNotFoundError, ConnectionRefusedError):
            return "is not listening (starting or restarting)"
        except OSError as exc:
            return f"could not be reached ({exc.strerror or exc})"
        finally:
            if writer is not None:
                writer.close()


def merge(parts: list[tuple[int, bytes]], missing: list[tuple[int, str]], answering: int) -> bytes:
    """One exposition of ``parts`` (worker, its ``generate_latest`` text): each sample gains
    ``worker="<i>"``, each family one header; host-wide families are ``answering``'s alone."""
    headers: dict[bytes, list[bytes]] = {}
    samples: dict[bytes, list[bytes]] = {}
    for worker, text in parts:
        label = b'worker="%d"' % worker
        family = b""
        keep = True
        for line in text.splitlines():
            if line.startswith((b"# HELP ", b"# TYPE ")):
                family = line.split(b" ", 3)[2]
                keep = worker == answering or not family.startswith(_HOST_WIDE)
                known = headers.setdefault(family, [])
                if keep and len(known) < 2 and line[:6] not in (h[:6] for h in known):
                    known.append(line)
                samples.setdefault(family, [])
            elif line and not line.startswith(b"#") and keep:
                host_wide = family.startswith(_HOST_WIDE)
                samples.setdefault(family, []).append(line if host_wide else _relabel(line, label))
    out = [b"# inferd: worker %d %s" % (w, why.encode()) for w, why in missing]
    for family, lines in samples.items():
        out += headers.get(family, [])
        out += lines
    out += [
        b"# HELP " + MISSING.encode() + b" Workers whose series this scrape left out.",
        b"# TYPE " + MISSING.encode() + b" gauge",
        MISSING.encode() + b" %d" % len(missing),
    ]
    return b"\n".join(out) + b"\n"


def _relabel(line: bytes, label: bytes) -> bytes:
    """``name{a="1"} 2`` → ``name{worker="0",a="1"} 2``; ``name 2`` → ``name{worker="0"} 2``."""
    brace, space = line.find(b"{"), line.find(b" ")
    if brace != -1 and (space == -1 or brace < space):
        rest = line[brace + 1 :]
        return line[: brace + 1] + label + (b"" if rest.startswith(b"}") else b",") + rest
    return line[:space] + b"{" + label + b"}" + line[space:]


def private_run_dir() -> str | None:
    """A new run directory for the workers' sockets: 0700, under the temporary directory;
    None (said in the log) where none can be made: each ``/metrics`` is then its worker's."""
    try:
        path = tempfile.mkdtemp(prefix="inferd-serve-")
    except OSError as exc:
        log.warning(
            "cannot make a run directory for the workers (%s): each worker's /metrics will "
            "answer with its own series only",
            exc,
        )
        return None
    Path(path).chmod(0o700)  # mkdtemp's mode already; said, not assumed
    return path


def remove_run_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        for entry in Path(path).iterdir():
            entry.unlink(missing_ok=True)
        Path(path).rmdir()
