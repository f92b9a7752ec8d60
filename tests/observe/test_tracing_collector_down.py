"""A collector that does not take spans: OpenTelemetry's exporter logged a warning for every
retry and an error for every batch (a line a second from every process of ``inferd up``, for as
long as the collector was down), and stopping retried every buffered batch against it (``inferd
up``'s replicas overran their drain and were killed). Now it is said once, naming the collector
and why, and once when spans reach it again; a stop does not wait on a collector that is failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from inferd.config import TracingSettings
from inferd.observe.tracing import Tracing

_OK = b""  # an empty ExportTraceServiceResponse


class _Receiver:
    """An OTLP/HTTP endpoint that answers 404 while ``down`` (a wrong path, a proxy in the way:
    the exporter gives up at once, without retries) and 200 otherwise, or 503 asking to retry
    after ``retry_after`` seconds when that is set; counts what it got."""

    def __init__(self) -> None:
        self.down = True
        self.retry_after: int | None = None
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.posts += 1
                if receiver.retry_after is not None:
                    self.send_response(503)
                    self.send_header("retry-after", str(receiver.retry_after))
                else:
                    self.send_response(404 if receiver.down else 200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def _receiver() -> Iterator[_Receiver]:
    receiver = _Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(10)


def _spans(tracing: Tracing, count: int) -> None:
    for _ in range(count):
        tracing.server_span("POST /v2/models/{model}/infer", {}, {}).end()


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "condition not met in 30 s"
        time.sleep(0.01)


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int, str]]:
    return [(r.name, r.levelno, r.getMessage()) for r in caplog.records]


def test_a_failing_collector_is_said_once_and_its_return_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with _receiver() as receiver:
        tracing = Tracing(TracingSettings(endpoint=receiver.url))
        try:
            for _ in range(3):  # three batches refused
                _spans(tracing, 2)
                tracing.flush()
            assert receiver.posts == 3
            said = _said(caplog)
            assert not [s for s in said if s[0].startswith("opentelemetry")], said
            assert len(said) == 1, said
            name, level, message = said[0]
            assert (name, level) == ("inferd.observe.tracing_export", logging.WARNING)
            assert f"{receiver.url}/v1/traces" in message
            assert "404" in message  # why, as the exporter put it
            assert "dropped" in message

            caplog.clear()
            receiver.down = False
            for _ in range(2):
                _spans(tracing, 2)
                tracing.flush()
            assert receiver.posts == 5
            said = _said(caplog)
            assert len(said) == 1, said
            assert said[0][:2] == ("inferd.observe.tracing_export", logging.INFO)
            assert "again" in said[0][2]
        finally:
            tracing.shutdown()


def test_a_stop_does_not_wait_on_a_failing_collector(caplog: pytest.LogCaptureFixture) -> None:
    with _receiver() as receiver:
        tracing = Tracing(TracingSettings(endpoint=receiver.url))
        _spans(tracing, 2)
        tracing.flush()
        assert receiver.posts == 1  # refused: the collector is failing
        _spans(tracing, 2)
        tracing.shutdown()  # drops what is buffered rather than retrying it
        assert receiver.posts == 1
        assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


def test_a_stop_ends_a_retry_against_a_failing_collector(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _receiver() as receiver:
        tracing = Tracing(TracingSettings(endpoint=receiver.url))
        receiver.retry_after = 0  # retried at once until the exporter gives up: failing
        _spans(tracing, 2)
        tracing.flush()
        refused = receiver.posts
        assert refused > 1
        receiver.retry_after = 5  # the next export waits 5 s before its retry
        _spans(tracing, 2)
        flushing = threading.Thread(target=tracing.flush)
        flushing.start()
        _wait_for(lambda: receiver.posts > refused)
        tracing.shutdown()  # the waiting export gives up rather than retrying
        flushing.join(30)
        assert not flushing.is_alive()
        assert receiver.posts == refused + 1
        assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


def test_a_stop_exports_what_is_buffered_to_a_working_collector() -> None:
    with _receiver() as receiver:
        receiver.down = False
        tracing = Tracing(TracingSettings(endpoint=receiver.url))
        _spans(tracing, 2)
        tracing.shutdown()
        assert receiver.posts == 1
