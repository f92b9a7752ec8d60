"""Cross-site requests: a loopback listener without API keys refuses a foreign ``Origin``.

A page on any site may send a "simple" request (``POST`` with ``Content-Type: text/plain``, no
CORS preflight) to ``http://127.0.0.1:8080``: the browser sends a loopback ``Host`` and the page's
``Origin``. The page cannot read the answer but could start inference or a generation, so the
DNS-rebinding screen (:mod:`inferd.protocols.access.hosts`) refuses that ``Origin`` too, on
``inferd serve`` and on the gateway; curl and SDKs send no ``Origin`` and pass.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from control.gateway.conftest import run, topology
from e2e.conftest import make_home
from inferd.config import LimitSettings, ServerSettings, StoreSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.upstream import forwardable
from inferd.protocols.access.hosts import loopback_origin
from inferd.server import build_server

_BODY = b'{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[1]}]}'
_FOREIGN = ["https://evil.example", "null", "http://127.0.0.1.evil.example", "file://"]
_LOOPBACK = [
    "http://localhost:3000",
    "https://127.0.0.1",
    "http://[::1]:8080",
    "http://a.localhost",
]


async def _post(port: int, path: str, origin: str | None) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [
        f"POST {path} HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        "content-type: text/plain",
        f"content-length: {len(_BODY)}",
        "connection: close",
    ]
    head += [f"origin: {origin}"] if origin is not None else []
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + _BODY)
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_loopback_origins_are_told_from_foreign_ones() -> None:
    assert all(loopback_origin(o) for o in _LOOPBACK)
    assert not any(loopback_origin(o) for o in _FOREIGN)
    assert not loopback_origin("chrome-extension://abcdef")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_home(tmp_path_factory.mktemp("cross-site"))


def _serve(home: Path, bind: str, origins: list[str | None]) -> list[tuple[int, bytes]]:
    settings = ServerSettings(
        host=bind, port=0, grpc_port=None, control_port=None, store=StoreSettings(home=home)
    )
    server = build_server(settings, ["fraud:v1"])

    async def scenario() -> list[tuple[int, bytes]]:
        await server.start()
        try:
            return [await _post(server.port, "/v2/models/fraud/infer", o) for o in origins]
        finally:
            await server.shutdown()

    return asyncio.run(scenario())


def test_serve_on_loopback_refuses_a_foreign_origin_before_running_the_model(home: Path) -> None:
    answers = _serve(home, "127.0.0.1", [*_FOREIGN, *_LOOPBACK, None])
    refused, allowed = answers[: len(_FOREIGN)], answers[len(_FOREIGN) :]
    assert [status for status, _ in refused] == [403] * len(_FOREIGN)
    message = orjson.loads(refused[0][1])["error"]
    assert "'https://evil.example'" in message and "cross-site" in message
    assert "API keys" in message
    # Past the screen: the model judges the body (not refused for its Origin).
    assert all(status != 403 for status, _ in allowed), allowed


def test_serve_beyond_loopback_does_not_look_at_the_origin(home: Path) -> None:
    [(status, _)] = _serve(home, "0.0.0.0", ["https://evil.example"])
    assert status != 403


def test_a_loopback_gateway_refuses_a_foreign_origin_and_forwards_none() -> None:
    async def scenario() -> list[tuple[int, bytes]]:
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
        await gateway.start()
        gateway.update(topology())
        try:
            return [await _post(gateway.port, "/v2/models/fraud/infer", o) for o in _FOREIGN]
        finally:
            await gateway.stop(5)

    answers = run(scenario)
    assert [status for status, _ in answers] == [403] * len(_FOREIGN)
    assert b"cross-site" in answers[0][1]
    # A gateway beyond loopback serves browser pages of any site through loopback replicas,
    # which would refuse the page's Origin: it is not forwarded.
    assert forwardable({"origin": "https://app.example", "x-request-id": "1"}) == (
        ("x-request-id", "1"),
    )
