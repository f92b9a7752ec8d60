"""DNS rebinding on ``inferd serve``: bound to loopback without API keys, the data plane answers
only to a loopback ``Host`` (as the gateway does, :mod:`inferd.protocols.access.hosts`); bound
beyond loopback, the Host is not looked at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from e2e.conftest import make_home
from inferd.config import ServerSettings, StoreSettings
from inferd.server import build_server


async def _status(port: int, path: str, host: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _answers(home: Path, bind: str, hosts: list[str]) -> list[tuple[int, bytes]]:
    settings = ServerSettings(
        host=bind, port=0, grpc_port=None, control_port=None, store=StoreSettings(home=home)
    )
    server = build_server(settings, ["fraud:v1"])

    async def scenario() -> list[tuple[int, bytes]]:
        await server.start()
        try:
            return [await _status(server.port, "/v2/models/fraud", h) for h in hosts]
        finally:
            await server.shutdown()

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_home(tmp_path_factory.mktemp("rebinding"))


def test_serve_on_loopback_refuses_a_foreign_host_naming_it(home: Path) -> None:
    answers = _answers(home, "127.0.0.1", ["attacker.example", "localhost", "127.0.0.1:9"])
    (status, body), *loopback = answers
    assert status == 403
    assert b"attacker.example" in body and b"DNS rebinding" in body
    assert [s for s, _ in loopback] == [200, 200]


def test_serve_beyond_loopback_does_not_look_at_the_host(home: Path) -> None:
    assert [s for s, _ in _answers(home, "0.0.0.0", ["attacker.example"])] == [200]


def test_inferd_up_beyond_loopback_serves_a_foreign_host_through_its_loopback_replicas(
    tmp_path: Path,
) -> None:
    """``inferd up``'s replicas are ``inferd serve`` on loopback without keys: the gateway sends
    them the replica's own address as ``Host``, not the client's, and no browser ``Origin``
    (a replica would refuse a foreign one as cross-site), so they answer."""
    from control.conftest import FRAUD_BODY, fraud_store, spec_text, start_up

    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    text = spec_text({"v1": ("fraud:v1", 1, 100)})
    spec.write_text(text.replace("gateway:\n", "gateway:\n  host: 0.0.0.0\n", 1))
    up = start_up(home, spec)
    try:
        head = (
            "POST /v2/models/fraud/infer HTTP/1.1\r\nhost: inferd.example.com\r\n"
            "origin: https://app.example.com\r\n"
            f"content-type: application/json\r\ncontent-length: {len(FRAUD_BODY)}\r\n"
            "connection: close\r\n\r\n"
        )

        async def infer() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", up.gateway_port)
            writer.write(head.encode() + FRAUD_BODY)
            raw = await reader.read()
            writer.close()
            return raw

        raw = asyncio.run(infer())
        assert raw.startswith(b"HTTP/1.1 200"), raw[:500]
        assert b'"outputs"' in raw
    finally:
        assert up.stop() == 0
