"""serve_grpc as a listener: ports, port sharing between workers, and what it refuses to start."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
import tritonclient.grpc as triton

from inferd.config import LimitSettings
from inferd.errors import InvalidArgument, Unavailable
from inferd.protocols.grpc import GrpcHandle, serve_grpc


class LiveOnly:
    """Just enough data plane for a health check."""

    def live(self) -> bool:
        return True


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(10)


def _start(loop: asyncio.AbstractEventLoop, port: int, **kwargs: Any) -> GrpcHandle:
    return _run(loop, serve_grpc(LiveOnly(), "127.0.0.1", port, LimitSettings(), **kwargs))


def _live(port: int) -> bool:
    with triton.InferenceServerClient(f"127.0.0.1:{port}") as client:
        return bool(client.is_server_live())


def test_port_zero_binds_a_free_port_and_stop_releases_it(loop: asyncio.AbstractEventLoop) -> None:
    handle = _start(loop, 0)
    assert handle.port > 0
    assert _live(handle.port)
    _run(loop, handle.stop(0))
    again = _start(loop, handle.port)
    _run(loop, again.stop(0))


def test_a_taken_port_is_refused(loop: asyncio.AbstractEventLoop) -> None:
    first = _start(loop, 0)
    try:
        with pytest.raises(Unavailable, match=f"127.0.0.1:{first.port}"):
            _start(loop, first.port)
    finally:
        _run(loop, first.stop(0))


def test_workers_can_share_a_port_when_they_ask(loop: asyncio.AbstractEventLoop) -> None:
    first = _start(loop, 0, reuse_port=True)
    second = _start(loop, first.port, reuse_port=True)
    try:
        assert second.port == first.port
        assert _live(first.port)
    finally:
        _run(loop, first.stop(0))
        _run(loop, second.stop(0))


def test_a_control_listener_needs_a_token(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(InvalidArgument, match="token"):
        _start(loop, 0, control=True)
