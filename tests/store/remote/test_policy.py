"""SSRF safety of a server-side source: an exact-host allowlist, re-checked on every redirect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from inferd.errors import PermissionDenied
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.remote import RegistryPolicy, RegistrySettings

from .conftest import Stores
from .registry import Registry
from .serving import serving


@pytest.mark.parametrize(
    ("allowed", "host", "port", "addresses", "refused"),
    [
        (["registry.example.com"], "registry.example.com", 443, ["93.184.216.34"], None),
        (["registry.example.com:5000"], "registry.example.com", 5000, ["93.184.216.34"], None),
        (["registry.example.com:5000"], "registry.example.com", 443, ["9.9.9.9"], "allowlist"),
        (["registry.example.com"], "evil.example.com", 443, ["93.184.216.34"], "allowlist"),
        (["registry.example.com"], "registry.example.com.evil.io", None, ["1.2.3.4"], "allowlist"),
        (["registry.example.com"], "registry.example.com", None, ["127.0.0.1"], "internal"),
        (["registry.example.com"], "registry.example.com", None, ["169.254.169.254"], "internal"),
        (["registry.example.com"], "registry.example.com", None, ["::1"], "internal"),
        (["registry.example.com"], "registry.example.com", None, ["fd00:ec2::254"], "internal"),
        (["registry.example.com"], "registry.example.com", None, ["1.2.3.4", "127.0.0.1"],
         "internal"),
        (["registry.example.com"], "registry.example.com", None, [], "does not resolve"),
        (["169.254.169.254"], "169.254.169.254", 80, [], None),
        (["127.0.0.1:5000"], "127.0.0.1", 5000, [], None),
        (["127.0.0.1:5000"], "127.0.0.1", 5001, [], "allowlist"),
        ([], "localhost", 5000, ["127.0.0.1"], "allowlist"),
        (["[::1]:5000"], "::1", 5000, [], None),
        (["[::1]"], "[::1]", 5001, [], None),
        (["[::1]:5000"], "::1", 5001, [], r"registry '\[::1\]:5001' is not on the allowlist"),
    ],
)  # fmt: skip
def test_the_allowlist_table(
    allowed: list[str], host: str, port: int | None, addresses: list[str], refused: str | None
) -> None:
    policy = RegistryPolicy.of(allowed, resolver=lambda _host: addresses)
    if refused is None:
        policy.check(host, port)
    else:
        with pytest.raises(PermissionDenied, match=refused):
            policy.check(host, port)


class _Hits(ThreadingHTTPServer):
    hits: int
    location: str


class _Handler(BaseHTTPRequestHandler):
    server: _Hits

    def do_GET(self) -> None:
        self.server.hits += 1
        self.send_response(302 if self.server.location else 200)
        if self.server.location:
            self.send_header("Location", self.server.location + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def _server(location: str = "") -> Iterator[_Hits]:
    server = _Hits(("127.0.0.1", 0), _Handler)
    server.hits, server.location = 0, location
    with serving(server):
        yield server


def test_a_redirect_off_the_allowlist_is_refused_and_the_canary_never_hit(
    docker_config: Path, inferd_home: Path, remote_store: Stores
) -> None:
    with _server() as canary, _server(f"http://127.0.0.1:{canary.server_address[1]}") as jump:
        allowed = f"127.0.0.1:{jump.server_address[1]}"
        canary_host = f"127.0.0.1:{canary.server_address[1]}"
        settings = RegistrySettings(
            insecure=frozenset({allowed, canary_host}),
            docker_config=docker_config,
            policy=RegistryPolicy.of([allowed]),
        )
        store = remote_store(inferd_home, settings)
        with pytest.raises(PermissionDenied, match=f"'{canary_host}' is not on the allowlist"):
            store.resolve(f"{allowed}/team/fraud:v1")
        with pytest.raises(PermissionDenied, match="not on the allowlist"):
            store.resolve(f"{canary_host}/team/fraud:v1")
        assert jump.hits == 1
        assert canary.hits == 0


def test_an_allowlisted_registry_serves_models(
    open_registry: Registry, settings: RegistrySettings, store: ModelStore, model: Path,
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    push(store, model, f"{open_registry.host}/allowed/fraud:v1")
    guarded = remote_store(
        tmp_path / "server-home",
        RegistrySettings(
            insecure=settings.insecure,
            docker_config=settings.docker_config,
            policy=RegistryPolicy.of([open_registry.host]),
        ),
    )
    assert guarded.materialize(f"{open_registry.host}/allowed/fraud:v1").card.runtime == "sklearn"
