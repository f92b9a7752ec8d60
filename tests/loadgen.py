"""A small closed-loop HTTP load generator shared by the e2e, control and rollout tests.

``workers`` threads POST a body over keep-alive connections until stopped. Every request's
outcome is recorded: its HTTP status, or the exception class of a transport error.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

import orjson

#: What to send: raw bytes, a JSON document, or ``factory(worker, n)`` → the bytes a worker
#: sends as its ``n``-th request (``n`` counts from 0, failed attempts included).
Body = bytes | Mapping[str, object] | Callable[[int, int], bytes]


class LoadGenerator:
    """Closed-loop load on ``host:port``.

    ``outcomes`` counts each request's HTTP status (or exception class); ``versions`` lists the
    ``model_version`` of successful answers in the order they arrived; ``retry_after`` lists the
    ``Retry-After`` header of each 503; ``results`` holds ``(time.monotonic(), outcome,
    version)`` for every request (version ``""`` unless it succeeded). After a transport error a
    worker reconnects and waits ``error_pause`` seconds.
    """

    def __init__(
        self,
        port: int,
        path: str,
        body: Body,
        *,
        host: str = "127.0.0.1",
        workers: int = 4,
        error_pause: float = 0.01,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.workers = workers
        self.error_pause = error_pause
        if isinstance(body, bytes | Mapping):
            raw = body if isinstance(body, bytes) else orjson.dumps(body)
            self._body: Callable[[int, int], bytes] = lambda worker, n: raw
        else:
            self._body = body
        self.outcomes: Counter[str] = Counter()
        self.versions: list[str] = []
        self.retry_after: list[str] = []
        self.results: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)
        ]

    def __enter__(self) -> LoadGenerator:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def total(self) -> int:
        with self._lock:
            return sum(self.outcomes.values())

    def failed(self, *, refused_ok: bool = False) -> dict[str, int]:
        """Outcomes other than 200 (and, with ``refused_ok``, other than refused connections,
        which were never accepted)."""
        with self._lock:
            return {
                k: v
                for k, v in self.outcomes.items()
                if k != "200" and not (refused_ok and k == "ConnectionRefusedError")
            }

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Wait until ``count`` more requests have finished."""
        start = self.total()
        deadline = time.monotonic() + timeout
        while self.total() < start + count:
            assert time.monotonic() < deadline, f"load stalled: {self.outcomes}"
            time.sleep(0.02)

    def since(self, start: float) -> tuple[Counter[str], Counter[str]]:
        """Outcomes and answering versions of requests that finished at or after ``start``."""
        with self._lock:
            chosen = [r for r in self.results if r[0] >= start]
        return Counter(s for _, s, _ in chosen), Counter(v for _, _, v in chosen if v)

    def _record(
        self, outcome: str, version: str | None = None, retry_after: str | None = None
    ) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if version is not None:
                self.versions.append(version)
            if retry_after is not None:
                self.retry_after.append(retry_after)
            self.results.append((time.monotonic(), outcome, version or ""))

    def _run(self, worker: int) -> None:
        conn: http.client.HTTPConnection | None = None
        n = 0
        while not self._stop.is_set():
            body = self._body(worker, n)
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                if response.status == 200:
                    version = str(orjson.loads(data).get("model_version", ""))
                    self._record("200", version)
                elif response.status == 503:
                    self._record("503", retry_after=response.getheader("retry-after") or "")
                else:
                    self._record(str(response.status))
                if response.getheader("connection") == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self._record(type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
                if self._stop.is_set():
                    break
                if self.error_pause:
                    time.sleep(self.error_pause)
        if conn is not None:
            conn.close()
