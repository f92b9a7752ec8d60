"""A refused key on OpenAI's routes is answered in OpenAI's shape, as every other answer there,
so OpenAI's own client shows why (it showed only ``Error code: 403``)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator

import httpx
import openai
import orjson
import pytest

from inferd.protocols.access.keyfile import revoke_key
from protocols.access.conftest import Door

CHAT = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(door: Door) -> Iterator[Callable[[str], openai.OpenAI]]:
    """OpenAI's client with one of ``door``'s keys (or any other string), closed after."""
    made: list[openai.OpenAI] = []

    def make(key: str) -> openai.OpenAI:
        tls = ssl.create_default_context(cafile=door.ca.path)
        made.append(
            openai.OpenAI(
                base_url=f"https://127.0.0.1:{door.port}/v1",
                api_key=str(door.tokens[key]) if key in door.tokens else key,
                http_client=httpx.Client(verify=tls, timeout=10),
                max_retries=0,
            )
        )
        return made[-1]

    yield make
    for each in made:
        each.close()


def _refusal(call: object) -> openai.APIStatusError:
    assert callable(call)
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    return caught.value


def test_the_openai_client_is_told_why_a_key_is_refused(
    door: Door, client: Callable[[str], openai.OpenAI]
) -> None:
    scoped = client("echo")
    denied = _refusal(lambda: scoped.chat.completions.create(model="sum", messages=CHAT))
    assert isinstance(denied, openai.PermissionDeniedError)
    assert (denied.type, denied.code) == ("permission_error", "permission_denied")
    assert "may not use 'sum'" in denied.message

    reader = client("read")
    denied = _refusal(lambda: reader.embeddings.create(model="echo", input="hi"))
    assert "lacks the 'infer' scope" in denied.message

    stranger = client("sk-not-an-inferd-key")
    refused = _refusal(lambda: stranger.completions.create(model="echo", prompt="hi"))
    assert isinstance(refused, openai.AuthenticationError)
    assert (refused.type, refused.code) == ("authentication_error", "unauthenticated")
    assert "holds no inferd API key" in refused.message
    assert refused.response.headers["www-authenticate"] == (
        'Bearer realm="inferd", error="invalid_token"'
    )

    revoke_key(door.keys_file, "all")
    revoked = client("all")
    refused = _refusal(lambda: revoked.chat.completions.create(model="echo", messages=CHAT))
    assert "not valid (revoked, or never issued)" in refused.message


def test_a_key_past_its_rate_gets_openai_s_429_with_retry_after(
    client: Callable[[str], openai.OpenAI],
) -> None:
    slow = client("slow")
    _refusal(lambda: slow.chat.completions.create(model="echo", messages=CHAT))  # 1 allowed
    limited = _refusal(lambda: slow.chat.completions.create(model="echo", messages=CHAT))
    assert isinstance(limited, openai.RateLimitError)
    assert (limited.type, limited.code) == ("rate_limit_error", "resource_exhausted")
    assert limited.response.headers["retry-after"] == "1"
    assert "limited to 1 requests/s" in limited.message


def test_no_key_on_an_openai_route_is_openai_s_401_and_oip_routes_keep_their_shape(
    door: Door,
) -> None:
    status, headers, body = door.get("/v1/chat/completions", method="POST", body=b"{}")
    assert status == 401
    assert headers["www-authenticate"] == ['Bearer realm="inferd"']
    error = orjson.loads(body)["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "unauthenticated")
    assert "requires an API key" in error["message"]
    status, _, body = door.get("/v2/models/echo/infer", method="POST", body=b"{}")
    assert status == 401
    assert "requires an API key" in orjson.loads(body)["error"]


def test_the_model_list_answers_a_scoped_key_with_what_it_may_use(
    door: Door, client: Callable[[str], openai.OpenAI]
) -> None:
    """OpenAI's clients and tools list models at start: a key scoped to some deployments was
    refused (403); it now sees the deployments it may use, as OpenAI lists a key's models."""
    door.dataplane.listed = ("echo", "sum")
    assert [m.id for m in client("echo").models.list()] == ["echo"]
    assert [m.id for m in client("all").models.list()] == ["echo", "sum"]
    denied = _refusal(client("read").models.list)
    assert isinstance(denied, openai.PermissionDeniedError)
    assert "lacks the 'infer' scope" in denied.message
    assert isinstance(_refusal(client("nope").models.list), openai.AuthenticationError)


@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [
        ("GET", "/v1/nope", dict),
        ("DELETE", "/v1/chat/completions", dict),
        ("POST", "/v1/models/echo:predictt", str),
        ("GET", "/v2/nope", str),
    ],
)
def test_a_request_without_a_key_on_a_path_no_route_serves_gets_the_paths_shape(
    door: Door, method: str, path: str, shape: type
) -> None:
    """As the 404 and 405 such a path gets with a key: OpenAI's shape under ``/v1/``."""
    status, headers, body = door.get(path, method=method)
    assert status == 401
    assert headers["www-authenticate"] == ['Bearer realm="inferd"']
    error = orjson.loads(body)["error"]
    assert isinstance(error, shape)
    assert "requires an API key" in (error["message"] if isinstance(error, dict) else error)


@pytest.mark.parametrize("body", [b'{"messages": []}', b'{"model": ""}', b"not json", b"[]"])
def test_a_scoped_key_is_told_its_body_names_no_model(door: Door, body: bytes) -> None:
    """A body naming no deployment got a key limited to some 403 "this endpoint covers every
    deployment", while any other key got the 400 naming the missing ``model``: now it is told
    that too, with what it may use."""
    status, _, answer = door.get("/v1/chat/completions", "echo", method="POST", body=body)
    error = orjson.loads(answer)["error"]
    assert status == 400, error
    assert (error["type"], error["param"]) == ("invalid_request_error", "model")
    assert "names no model" in error["message"] and "may use echo" in error["message"]
    reader, _, answer = door.get("/v1/chat/completions", "read", method="POST", body=body)
    assert reader == 403 and "lacks the 'infer' scope" in orjson.loads(answer)["error"]["message"]


def test_a_key_scoped_to_a_model_may_use_its_versions_by_openai_id(
    door: Door, client: Callable[[str], openai.OpenAI]
) -> None:
    """``inferd serve llm:base-1 llm:support-v3`` lists ``llm:support-v3`` on /v1/models; a key
    scoped to ``llm`` was refused it ("may not use 'llm:support-v3'") and did not see it listed,
    though it may call the same version by its v2 route."""
    door.dataplane.listed = ("echo", "echo:v2", "sum", "sum:v2")
    assert [m.id for m in client("echo").models.list()] == ["echo", "echo:v2"]
    scoped = client("echo")
    denied = _refusal(lambda: scoped.chat.completions.create(model="sum:v2", messages=CHAT))
    assert isinstance(denied, openai.PermissionDeniedError)
    assert "may not use 'sum'" in denied.message
    answered = _refusal(lambda: scoped.chat.completions.create(model="echo:v2", messages=CHAT))
    assert not isinstance(answered, openai.PermissionDeniedError | openai.AuthenticationError)


def test_a_scoped_key_retrieves_a_versioned_id_of_its_model(door: Door) -> None:
    """``GET /v1/models/llm:support-v3`` (OpenAI's ``models.retrieve`` of an id the list gives
    a key scoped to ``llm``) was refused 403 "may not use 'llm:support-v3'", though the same key
    may chat with that id; it now gets what a key for every deployment gets."""
    assert door.get("/v1/models/echo:v2", "all")[0] == 404
    status, _, body = door.get("/v1/models/echo:v2", "echo")
    assert status == 404, body
    assert b"model 'echo:v2' not found" in body
    status, _, body = door.get("/v1/models/sum:v2", "echo")
    assert status == 403
    assert "may not use 'sum'" in orjson.loads(body)["error"]
