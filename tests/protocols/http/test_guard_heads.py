"""A listener's guard (the control plane's token, Origin and Host checks) judges a request by
its head, before its body is read: clients without the token cannot make the server read, or
hold against the process's body budget, bodies it would refuse anyway. In ``inferd serve`` the
control plane shares that budget with the data plane, so four unauthenticated requests to the
control port declaring 64 MiB bodies turned every data-plane client away with 503."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from inferd.config import LimitSettings
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.auth import bearer_guard
from protocols.conftest import FakeDataPlane, Running, _finish, _start
from protocols.http.conftest import Seen, on_loop, read_responses, transport_router

TOKEN = "the-token"
LIMITS = LimitSettings(
    max_body_bytes=8 * 1024 * 1024, body_timeout_s=30, max_buffered_request_bytes=8 * 1024 * 1024
)


@pytest.fixture
def guarded() -> Iterator[Running]:
    limits = HttpLimits.from_settings(LIMITS)
    guard = bearer_guard(TOKEN, "127.0.0.1")
    running, thread = _start(transport_router(Seen()), limits, FakeDataPlane(), guard)
    yield running
    _finish(running, thread)


def _head(running: Running, headers: str) -> tuple[int, dict[str, str], bytes]:
    """Send a head declaring the largest body, and none of the body; the answer."""
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(
            f"POST /digest HTTP/1.1\r\nhost: 127.0.0.1\r\n{headers}"
            f"content-length: {LIMITS.max_body_bytes}\r\n\r\n".encode()
        )
        (answer,) = read_responses(sock, 1)
        return answer


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("", 401),
        ("authorization: Bearer not-the-token\r\n", 401),
        (f"authorization: Bearer {TOKEN}\r\norigin: http://evil.example\r\n", 403),
    ],
)
def test_a_refused_request_is_answered_before_its_body(
    guarded: Running, headers: str, status: int
) -> None:
    assert _head(guarded, headers)[0] == status
    assert on_loop(guarded, lambda: guarded.server.limits.budget.used) == 0


def test_a_foreign_host_is_refused_before_its_body(guarded: Running) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(
            f"POST /digest HTTP/1.1\r\nhost: evil.example\r\nauthorization: Bearer {TOKEN}\r\n"
            f"content-length: {LIMITS.max_body_bytes}\r\n\r\n".encode()
        )
        assert read_responses(sock, 1)[0][0] == 403


def test_paths_no_route_serves_are_refused_too(guarded: Running) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(
            f"PUT /nowhere HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"content-length: {LIMITS.max_body_bytes}\r\n\r\n".encode()
        )
        assert read_responses(sock, 1)[0][0] == 401


def test_a_request_with_the_token_is_read_and_answered(guarded: Running) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(
            f"POST /digest HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {TOKEN}\r\n"
            "content-length: 5\r\n\r\nhello".encode()
        )
        assert read_responses(sock, 1)[0][0] == 200
