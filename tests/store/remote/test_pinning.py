"""DNS pinning: a server connects only to the address its allowlist check vetted.

A rebinding resolver answers an allowed address to the check and ``127.0.0.1`` afterwards; the
second answer must never be connected to. TLS still verifies the certificate against the name.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferd.errors import PermissionDenied, Unavailable
from inferd.store.remote import RegistryPolicy, RegistrySettings
from inferd.store.remote.client import RegistryClient
from inferd.store.remote.pinning import PinnedTransport
from inferd.store.remote.transport import RegistryHttp

from .fake import fake_registry
from .pki import TLS_NAME
from .registry import Registry

AddrInfo = list[tuple[Any, ...]]


class Rebinding:
    """Answers ``answers[0]`` for ``name`` the first time, ``answers[1]`` every time after."""

    def __init__(self, name: str, answers: tuple[str, str]) -> None:
        self.name, self.answers, self.asked = name, answers, 0

    def __call__(self, host: str) -> list[str]:
        self.asked += 1
        return [self.answers[0] if self.asked == 1 else self.answers[1]]


@pytest.fixture
def system_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[Rebinding], None]:
    """Route ``socket.getaddrinfo`` for a resolver's name through it (other names unchanged),
    so the check and any resolution the HTTP stack might do both see the rebinding answers."""
    real = socket.getaddrinfo

    def install(resolver: Rebinding) -> None:
        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> AddrInfo:
            if host == resolver.name:
                return real(resolver(host)[0], port, *args, **kwargs)
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return install


def test_the_request_goes_to_the_vetted_address_with_the_name_in_host_and_sni() -> None:
    resolver = Rebinding("registry.example.com", ("93.184.216.34", "127.0.0.1"))
    policy = RegistryPolicy.of(["registry.example.com"], resolver=resolver)
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    pinned = PinnedTransport(policy, lambda: httpx.MockTransport(answer))
    with httpx.Client(transport=pinned) as client:
        assert client.get("https://registry.example.com/v2/").status_code == 200
        with pytest.raises(PermissionDenied, match=r"internal address \(127.0.0.1\)"):
            client.get("https://registry.example.com/v2/")
    assert [r.url.host for r in sent] == ["93.184.216.34"]
    assert sent[0].headers["Host"] == "registry.example.com"
    assert sent[0].extensions["sni_hostname"] == "registry.example.com"
    assert resolver.asked == 2  # once per request: the check's answer is the one connected to


def test_dns_rebinding_never_reaches_the_second_answer(
    system_dns: Callable[[Rebinding], None], docker_config: Path
) -> None:
    with fake_registry("127.0.0.1") as canary:
        port = canary.server_address[1]
        with fake_registry("127.0.0.2", port) as good:
            resolver = Rebinding("rebind.test", ("127.0.0.2", "127.0.0.1"))
            system_dns(resolver)
            host = f"rebind.test:{port}"
            settings = RegistrySettings(
                insecure=frozenset({host}),
                docker_config=docker_config,
                policy=RegistryPolicy.of([host, f"127.0.0.2:{port}"]),
                attempts=1,
            )
            http = RegistryHttp(host, settings)
            try:
                RegistryClient(http).ping()
                with pytest.raises(PermissionDenied, match="resolves to an internal address"):
                    RegistryClient(http).ping()
            finally:
                http.close()
            assert good.hits == ["/v2/"]
            assert canary.hits == []
            assert resolver.asked == 2  # the checks only: the connection never resolved again


def test_a_pinned_tls_connection_verifies_the_certificate_against_the_name(
    tls_registry: tuple[Registry, Path], docker_config: Path,
    system_dns: Callable[[Rebinding], None],
) -> None:  # fmt: skip
    registry, ca = tls_registry
    port = registry.host.rsplit(":", 1)[1]
    settings = RegistrySettings(
        ca_file=ca,
        docker_config=docker_config,
        policy=RegistryPolicy.of([TLS_NAME, "impostor.test", "127.0.0.1"]),
        attempts=1,
    )
    for name in (TLS_NAME, "impostor.test"):
        system_dns(Rebinding(name, ("127.0.0.1", "127.0.0.1")))
        http = RegistryHttp(f"{name}:{port}", settings)
        try:
            if name == TLS_NAME:
                RegistryClient(http).ping()  # the certificate names registry.test: trusted
            else:
                with pytest.raises(Unavailable, match=r"TLS certificate .* is not trusted"):
                    RegistryClient(http).ping()  # same address, a name it does not cover
        finally:
            http.close()
