"""The control plane's bearer token (``inferd serve``'s control listener and ``inferd up``'s admin
API): the scheme is case-insensitive (RFC 9110, 11.1), as on its gRPC twin and the data plane;
the token itself must match exactly."""

from __future__ import annotations

import pytest

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
