"""The control listener: repository routes behind a bearer token, no browser origins."""

from __future__ import annotations

import httpx
import pytest

ROUTES = [
    ("POST", "/v2/repository/index"),
    ("POST", "/v2/repository/models/echo/load"),
    ("POST", "/v2/repository/models/echo/unload"),
]


@pytest.fixture
def client(control_server):
    with httpx.Client(base_url=control_server.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_control_route_needs_the_token(client, method, path):
    missing = client.request(method, path)
    assert missing.status_code == 401
    assert "Bearer" in missing.json()["error"]
    wrong = client.request(method, path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_browser_origins_and_foreign_hosts_are_refused(client, control_token, method, path):
    auth = {"Authorization": f"Bearer {control_token}"}
    cross = client.request(method, path, headers={**auth, "Origin": "http://evil.example"})
    assert cross.status_code == 403
    rebound = client.request(method, path, headers={**auth, "Host": "evil.example"})
    assert rebound.status_code == 403


def test_repository_index_load_and_unload(client, control_server, control_token):
    auth = {"Authorization": f"Bearer {control_token}"}
    index = client.post("/v2/repository/index", headers=auth).json()
    assert {"name": "echo", "version": "1", "state": "READY", "reason": ""} in index
    loaded = client.post(
        "/v2/repository/models/echo/load",
        headers=auth,
        json={"parameters": {"reference": "echo:7"}},
    )
    assert loaded.status_code == 200
    assert control_server.dataplane.loaded["echo"] == "7"
    assert client.post("/v2/repository/models/echo/unload", headers=auth).status_code == 200
    assert "echo" not in control_server.dataplane.loaded
    gone = client.post("/v2/repository/models/echo/unload", headers=auth)
    assert gone.status_code == 404
    bad = client.post(
        "/v2/repository/models/echo/load", headers=auth, json={"parameters": {"reference": 3}}
    )
    assert bad.status_code == 400


#: gRPC's words for an unsupported load parameter (RepositoryModelLoad), REST's too.
NOT_FROM_THE_STORE = (
    "is not supported; inferd loads models from its store: "
    "pass the store reference as the string parameter 'reference'"
)


@pytest.mark.parametrize(
    ("action", "parameters", "message"),
    [
        ("load", {"config": "{}"}, f"load parameter 'config' {NOT_FROM_THE_STORE}"),
        (
            "load",
            {"reference": "echo:7", "file:1/model.onnx": "eA=="},
            f"load parameter 'file:1/model.onnx' {NOT_FROM_THE_STORE}",
        ),
        (
            "unload",
            {"unload_dependents": True, "force": True},
            "unload parameter 'force' is not supported",
        ),
    ],
)
def test_unsupported_repository_parameters_are_refused_not_ignored(
    client, control_server, control_token, action, parameters, message
):
    auth = {"Authorization": f"Bearer {control_token}"}
    answer = client.post(
        f"/v2/repository/models/echo/{action}", headers=auth, json={"parameters": parameters}
    )
    assert answer.status_code == 501, answer.text
    assert answer.json()["error"] == message
    assert control_server.dataplane.loaded["echo"] == "1"  # neither loaded nor unloaded


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"config": "{}"}, "unknown field 'config' in the body: it takes only 'parameters'"),
        ({"parameters": ""}, "'parameters' must be an object"),
        ({"parameters": False}, "'parameters' must be an object"),
    ],
)
@pytest.mark.parametrize("action", ["load", "unload"])
def test_a_repository_body_holds_only_its_parameters_object(
    client, control_server, control_token, action, body, message
):
    auth = {"Authorization": f"Bearer {control_token}"}
    answer = client.post(f"/v2/repository/models/echo/{action}", headers=auth, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == message
    assert control_server.dataplane.loaded["echo"] == "1"  # neither loaded nor unloaded


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ready_only": True}, "unknown field 'ready_only' in the body: it takes only 'ready'"),
        ({"repository_name": "models"}, "unknown field 'repository_name' in the body: it takes "
         "only 'ready'"),
    ],
)  # fmt: skip
def test_an_index_body_holds_only_ready(client, control_token, body, message):
    """A misspelt 'ready' listed every version, the filter silently dropped (load and unload
    refuse a field they do not read too)."""
    auth = {"Authorization": f"Bearer {control_token}"}
    answer = client.post("/v2/repository/index", headers=auth, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == message


def test_unload_takes_tritonclient_unload_dependents(client, control_server, control_token):
    auth = {"Authorization": f"Bearer {control_token}"}
    body = {"parameters": {"unload_dependents": False}}
    answer = client.post("/v2/repository/models/echo/unload", headers=auth, json=body)
    assert answer.status_code == 200, answer.text
    assert "echo" not in control_server.dataplane.loaded


@pytest.mark.parametrize("value", ["x", 1, None])
def test_unload_dependents_must_be_a_boolean(client, control_server, control_token, value):
    auth = {"Authorization": f"Bearer {control_token}"}
    body = {"parameters": {"unload_dependents": value}}
    answer = client.post("/v2/repository/models/echo/unload", headers=auth, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == (
        f"unload parameter 'unload_dependents' must be a boolean, got {value!r}"
    )
    assert control_server.dataplane.loaded["echo"] == "1"  # not unloaded


def test_control_plane_does_not_serve_inference(client, control_token):
    auth = {"Authorization": f"Bearer {control_token}"}
    assert client.post("/v2/models/echo/infer", headers=auth, json={}).status_code == 404
