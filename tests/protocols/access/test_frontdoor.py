"""FrontDoor.from_settings: which keys file, public metrics, and what the operator is told."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from inferd.config import AuthSettings
from inferd.errors import InvalidArgument
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.access.tls import server_context
from inferd.protocols.http import Request, Response, Router


async def _ok(request: Request) -> Response:
    return Response(200, b"{}")


def _status(door: FrontDoor, path: str, authorization: str | None = None) -> int:
    router = Router()
    for template in ("/metrics", "/v2/health/ready", "/v2/models/{model}/infer"):
        router.add("GET", template, _ok)
    route, params, _ = door.router(router).match("GET", path)
    assert route is not None
    headers = {"authorization": authorization} if authorization else {}
    request = Request("GET", path, "", headers, b"", params)
    return asyncio.run(route.handler(request)).status


def test_without_keys_the_router_is_the_same_and_every_route_open(tmp_path: Path) -> None:
    door = FrontDoor.from_settings(AuthSettings(), None)
    assert door.keys is None and door.scheme == "http" and not door.requires_keys
    router = Router()
    assert door.router(router) is router
    assert "no API keys" in door.describe()


def test_a_named_keys_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        FrontDoor.from_settings(AuthSettings(keys_file=tmp_path / "keys.json"), None)


def test_a_default_keys_file_is_required_once_it_exists(tmp_path: Path) -> None:
    default = tmp_path / "keys.json"
    door = FrontDoor.from_settings(AuthSettings(), None, default_keys=default)
    assert not door.requires_keys and "required once it exists" in door.describe()
    assert _status(door, "/v2/models/fraud/infer") == 200
    create_key(default, "ci")
    door = FrontDoor.from_settings(AuthSettings(), None, default_keys=default)
    assert door.requires_keys
    assert _status(door, "/v2/models/fraud/infer") == 401


@pytest.mark.parametrize(("public", "status"), [(False, 401), (True, 200)])
def test_public_metrics_opens_metrics_only(tmp_path: Path, public: bool, status: int) -> None:
    path = tmp_path / "keys.json"
    create_key(path, "ci")
    door = FrontDoor.from_settings(AuthSettings(keys_file=path, public_metrics=public), None)
    assert _status(door, "/metrics") == status
    assert _status(door, "/v2/models/fraud/infer") == 401
    assert _status(door, "/v2/health/ready") == 200
    assert ("metrics public" in door.describe()) is public


def test_a_missing_tls_file_is_named(tmp_path: Path) -> None:
    """ssl's FileNotFoundError has no filename: the message said 'TLS: None does not exist'."""
    existing = tmp_path / "present.pem"
    existing.write_text("not a certificate")
    missing = tmp_path / "nonexist.pem"
    with pytest.raises(InvalidArgument) as cert:
        server_context(missing, existing)
    assert cert.value.message == f"TLS: the certificate file '{missing}' does not exist"
    with pytest.raises(InvalidArgument) as key:
        server_context(existing, missing)
    assert key.value.message == f"TLS: the key file '{missing}' does not exist"
    with pytest.raises(InvalidArgument, match="holds no PEM certificate"):
        server_context(existing, existing)


@pytest.mark.parametrize(
    ("bind", "checked"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("workstation", True),
     ("0.0.0.0", False), ("", False), ("10.1.2.3", False), ("faraway", False)],
)  # fmt: skip
def test_the_host_is_checked_where_the_listener_binds_loopback(
    monkeypatch: pytest.MonkeyPatch, bind: str, checked: bool
) -> None:
    """Decided by the addresses the bind name resolves to: ``gateway.host: <this machine's
    name>`` binds 127.0.1.1 on Debian (its /etc/hosts line), loopback all the same; a name was
    taken for beyond loopback and the Host went unchecked."""
    resolve = socket.getaddrinfo
    names = {"workstation": "127.0.1.1", "faraway": "192.0.2.7"}

    def hosts_file(host: str | None, *args: Any, **kwargs: Any) -> Any:
        return resolve(names.get(host or "", host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hosts_file)
    screen = FrontDoor().screen(Router(), bind_host=bind)
    refused = screen("GET", "/v2/health/live", {"host": "attacker.example"}) if screen else None
    assert (refused is not None and refused.status == 403) is checked
