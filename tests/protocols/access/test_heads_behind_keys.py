"""A route's head check (asked when a client waits for ``100 Continue``) behind the keys: while
no key is required (``inferd up`` before ``keys.json`` exists) it answers exactly as without
keys; once keys are required, a key already verified that may use the route gets the route's
own refusal (an unknown model, a media type not spoken) instead of ``100 Continue``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.errors import NotFound
from inferd.protocols.access.http import protect
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.access.keyring import KeyRing, Need
from inferd.protocols.http import Request, Response, Router


async def _ok(request: Request) -> Response:
    return Response(200, b"{}")


def _unknown(request: Request) -> Response | None:
    """The head of a route that knows only the model ``fraud``."""
    if request.params.get("model") != "fraud":
        raise NotFound(f"no deployment named {request.params.get('model')!r}")
    return None


def _teapot(request: Request) -> Response | None:
    return Response(418, b'{"error": "refused by its head"}')


def _router() -> Router:
    router = Router()
    router.add("POST", "/v2/models/{model}/infer", _ok, head=_unknown)
    router.add("POST", "/v2/repository/index", _ok, head=_teapot)  # EVERY
    router.add("POST", "/v1/chat/completions", _ok, head=_teapot)  # BODY
    router.add("GET", "/v2", _ok, head=_teapot)  # ANY_KEY
    return router


def _head(keys: KeyRing, method: str, path: str, token: str | None = None) -> int | None:
    """The status the guarded route's head answers (None: ``100 Continue``)."""
    route, params, _ = protect(_router(), keys, public_metrics=False).match(method, path)
    assert route is not None
    if route.head is None:
        return None
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        answer = route.head(Request(method, path, "", headers, b"", params))
    except NotFound:
        return 404
    return None if answer is None else answer.status


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v2/models/nope/infer", 404),
        ("POST", "/v2/models/fraud/infer", None),
        ("POST", "/v2/repository/index", 418),
        ("POST", "/v1/chat/completions", 418),
        ("GET", "/v2", 418),
    ],
)
def test_while_no_key_is_required_heads_answer_as_without_keys(
    tmp_path: Path, method: str, path: str, status: int | None
) -> None:
    keys = KeyRing(tmp_path / "keys.json", required=False)
    assert not keys.enforcing
    assert _head(keys, method, path) == status


def test_a_verified_key_gets_the_heads_refusal_and_an_unverified_one_waits_for_the_body(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    _, token = create_key(path, "ci")
    keys = KeyRing(path, required=True)
    assert _head(keys, "POST", "/v2/models/nope/infer", str(token)) is None  # not verified yet
    asyncio.run(keys.authorize(f"Bearer {token}", Need("infer", "fraud")))
    assert _head(keys, "POST", "/v2/models/nope/infer", str(token)) == 404
    assert _head(keys, "POST", "/v2/models/fraud/infer", str(token)) is None
    assert _head(keys, "POST", "/v2/repository/index", str(token)) == 418
    assert _head(keys, "POST", "/v1/chat/completions", str(token)) == 418
    assert _head(keys, "GET", "/v2", str(token)) == 418
    assert _head(keys, "GET", "/v2") is None  # no key: its 401 comes from the screen


def test_a_verified_key_outside_its_scope_is_refused_403_not_told_the_heads_answer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    _, fraud = create_key(path, "fraud-only", deployments=["fraud"])
    _, reader = create_key(path, "reader", scopes=["read"])
    keys = KeyRing(path, required=True)
    asyncio.run(keys.authorize(f"Bearer {fraud}", Need("infer", "fraud")))
    asyncio.run(keys.authorize(f"Bearer {reader}", Need("read")))
    assert _head(keys, "POST", "/v2/models/nope/infer", str(fraud)) == 403
    assert _head(keys, "POST", "/v2/repository/index", str(fraud)) == 403  # every deployment
    assert _head(keys, "POST", "/v1/chat/completions", str(fraud)) == 418  # model in the body
    assert _head(keys, "POST", "/v1/chat/completions", str(reader)) == 403  # lacks infer
    assert _head(keys, "GET", "/v2", str(reader)) == 418  # any valid key
