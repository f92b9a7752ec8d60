"""The listeners the access tests talk to: REST and gRPC in process (uvloop as in production),
behind API keys and TLS made here, in front of the fake data plane."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvloop

from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.access.keyring import KeyRing
from inferd.protocols.access.tls import CertificateFiles
from inferd.protocols.access.tokens import Token
from inferd.protocols.grpc import serve_grpc
from inferd.protocols.http import HttpServer
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.routes import data_router
from protocols.access.certs import Issued, TestCA, install
from protocols.conftest import TEST_LIMITS, FakeDataPlane, metrics_text


@dataclass
class Door:
    port: int
    grpc_port: int
    ca: TestCA
    first: Issued
    cert: Path
    key: Path
    keys_file: Path
    tokens: dict[str, Token]
    dataplane: FakeDataPlane

    def https(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cafile=self.ca.path)
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)

    def get(
        self, path: str, key: str | None = None, *, method: str = "GET", body: bytes | None = None
    ) -> tuple[int, dict[str, list[str]], bytes]:
        conn = self.https()
        headers = {"authorization": f"Bearer {self.tokens[key]}"} if key else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        all_headers: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            all_headers.setdefault(name.lower(), []).append(value)
        result = (response.status, all_headers, response.read())
        conn.close()
        return result


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    ca = TestCA(tmp_path / "pki")
    first = ca.issue("first")
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    install(first, cert, key)
    keys_file = tmp_path / "keys.json"
    tokens = {
        "echo": create_key(keys_file, "echo", deployments=["echo"])[1],
        "all": create_key(keys_file, "all")[1],
        "read": create_key(keys_file, "read", scopes=["read"])[1],
        "slow": create_key(keys_file, "slow", rps=1)[1],
    }
    front = FrontDoor(
        KeyRing(keys_file, required=True, check_interval_s=0.0),
        public_metrics=False,
        certificates=CertificateFiles(cert, key, check_interval_s=0.0),
    )
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    dataplane = FakeDataPlane()

    async def boot() -> tuple[HttpServer, object]:
        router = front.router(data_router(dataplane, TEST_LIMITS, metrics_text))
        limits = HttpLimits.from_settings(TEST_LIMITS)
        server = HttpServer(router, limits, screen=front.screen(router))
        await server.start("127.0.0.1", 0, tls=front.ssl_context())
        handle = await serve_grpc(
            dataplane, "127.0.0.1", 0, TEST_LIMITS,
            credentials=front.grpc_credentials(), guard=front.grpc_handlers,
        )  # fmt: skip
        return server, handle

    server, handle = asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    yield Door(server.port, handle.port, ca, first, cert, key, keys_file, tokens, dataplane)  # type: ignore[attr-defined]

    async def stop() -> None:
        await server.stop(1.0)
        await handle.stop(0.5)  # type: ignore[attr-defined]

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
