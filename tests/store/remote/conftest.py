"""Fixtures: real registries (open, basic auth, TLS, token auth) and stores that reach them."""

from __future__ import annotations

import base64
import socket
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings, RemoteRegistries

from ..conftest import make_model_dir
from .pki import TokenIssuer, htpasswd_line, make_tls
from .registry import Registry, start_registry
from .serving import serving

USER, PASSWORD = "alice", "s3cret-pass"
#: The refresh token an OAuth login (``az acr login``) leaves as ``identitytoken``.
REFRESH_TOKEN = "refresh-0f9e8d"


@pytest.fixture(scope="session")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("open-registry")) as registry:
        yield registry


@pytest.fixture(scope="module")
def ipv6_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An open registry on the IPv6 loopback: ``host`` is ``[::1]:PORT``."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"this machine has no IPv6 loopback ({exc.strerror})")
    with start_registry(tmp_path_factory.mktemp("ipv6-registry"), address="::1") as registry:
        yield registry


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line(USER, PASSWORD))
    auth = {"htpasswd": {"realm": "inferd-test", "path": str(htpasswd)}}
    with start_registry(root / "r", auth=auth) as registry:
        yield registry


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    root = tmp_path_factory.mktemp("tls-registry")
    ca, cert, key = make_tls(root / "pki")
    with start_registry(root / "r", tls=(cert, key), ca=ca) as registry:
        yield registry, ca


class _TokenServer(ThreadingHTTPServer):
    issuer: TokenIssuer
    requests: list[str]


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenServer

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        self.server.requests.append(self.path)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        token = self.server.issuer.token(USER, query.get("scope", []))
        body = orjson.dumps({"token": token})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """The OAuth2 refresh-token grant (``identitytoken`` logins): an access token for the
        scope when the refresh token is :data:`REFRESH_TOKEN`."""
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        self.server.requests.append(f"POST {self.path} {sorted(form)}")
        grant = form.get("grant_type") == ["refresh_token"]
        if not grant or form.get("refresh_token") != [REFRESH_TOKEN]:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        token = self.server.issuer.token(USER, form.get("scope", []))
        body = orjson.dumps({"access_token": token, "expires_in": 300})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, str, list[str]]]:
    """A registry with token auth, its token server's host, and the paths asked of it."""
    root = tmp_path_factory.mktemp("token-registry")
    issuer = TokenIssuer(root, service="inferd-test-registry", issuer="inferd-test-issuer")
    server = _TokenServer(("127.0.0.1", 0), _TokenHandler)
    server.issuer, server.requests = issuer, []
    auth = {
        "token": {
            "realm": f"http://127.0.0.1:{server.server_address[1]}/token",
            "service": issuer.service,
            "issuer": issuer.issuer,
            "rootcertbundle": str(issuer.bundle),
        }
    }
    with serving(server) as host, start_registry(root / "r", auth=auth) as registry:
        yield registry, host, server.requests


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``$DOCKER_CONFIG`` for this test (never the user's own)."""
    directory = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory


class Stores:
    """Builds stores with registries enabled, and closes their connections after the test."""

    def __init__(self) -> None:
        self.built: list[ModelStore] = []

    def __call__(self, home: Path, settings: RegistrySettings) -> ModelStore:
        home.mkdir(parents=True, exist_ok=True)
        store = ModelStore(home, RemoteRegistries(settings))
        self.built.append(store)
        return store


@pytest.fixture
def remote_store() -> Iterator[Stores]:
    stores = Stores()
    yield stores
    for store in stores.built:
        store.close()


@pytest.fixture
def settings(open_registry: Registry, docker_config: Path) -> RegistrySettings:
    return RegistrySettings(
        insecure=frozenset({open_registry.host}), docker_config=docker_config, backoff_s=0.01
    )


@pytest.fixture
def store(inferd_home: Path, settings: RegistrySettings, remote_store: Stores) -> ModelStore:
    return remote_store(inferd_home, settings)


@pytest.fixture
def repo(open_registry: Registry) -> str:
    """A fresh repository in the open registry: ``127.0.0.1:PORT/t<random>/fraud``."""
    return f"{open_registry.host}/t{uuid.uuid4().hex[:10]}/fraud"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model_dir(tmp_path / "model", weights=b"weights-v1" * 5000)
