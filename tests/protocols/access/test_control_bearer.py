"""The control plane's bearer token (``inferd serve``'s control listener and ``inferd up``'s admin
API): the scheme is case-insensitive (RFC 9110, 11.1), as on its gRPC twin and the data plane;
the token itself must match exactly."""

from __future__ import annotations

import pytest

from inferd.protocols.access.hosts import loopback_host
from inferd.protocols.http import Request
from inferd.protocols.v2.auth import bearer_guard

TOKEN = "Zq3-token_value"


def _status(authorization: str | None) -> int | None:
    headers = {"host": "127.0.0.1:8082"}
    if authorization is not None:
        headers["authorization"] = authorization
    answer = bearer_guard(TOKEN, "127.0.0.1")(
        Request("POST", "/v2/repository/index", "", headers, b"")
    )
    return None if answer is None else answer.status


@pytest.mark.parametrize(
    "value",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"Bearer  {TOKEN} ",
        f" Bearer {TOKEN}",
    ],
)
def test_the_token_under_any_spelling_of_the_scheme_is_let_in(value: str) -> None:
    assert _status(value) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Bearer",
        f"Bearer {TOKEN.lower()}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        f"Bearer{TOKEN}",
        f"Bearer {TOKEN} {TOKEN}",
        "Bearer é",
    ],
)
def test_anything_else_is_401(value: str | None) -> None:
    assert _status(value) == 401


@pytest.mark.parametrize(
    "host",
    ["app.localhost", "app.localhost:8082", "LOCALHOST.", "localhost", "[::1]:8082", "127.0.0.2"],
)
def test_every_loopback_host_the_gateway_accepts_is_accepted(host: str) -> None:
    """The same names as the data plane's DNS-rebinding check (RFC 6761's ``*.localhost``)."""
    assert loopback_host(host)
    answer = bearer_guard(TOKEN, "127.0.0.1")(
        Request("POST", "/v2/repository/index", "", _headers(host), b"")
    )
    assert answer is None


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example", "127.0.0.1.evil.example:8082"]
)
def test_a_foreign_host_is_403_naming_it(host: str) -> None:
    assert not loopback_host(host)
    answer = bearer_guard(TOKEN, "127.0.0.1")(
        Request("POST", "/v2/repository/index", "", _headers(host), b"")
    )
    assert answer is not None and answer.status == 403
    assert host in answer.body.decode()


def _headers(host: str) -> dict[str, str]:
    return {"host": host, "authorization": f"Bearer {TOKEN}"}
