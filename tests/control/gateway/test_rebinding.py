"""DNS rebinding: a gateway on loopback without API keys answers only to a loopback ``Host``.

A web page whose DNS name re-resolves to 127.0.0.1 reaches a loopback ``inferd up`` as its own
origin; the browser then sends the page's name as the ``Host``. Such requests were served (the
gateway checked no ``Host``), so any page could call an open gateway. Now they are 403 naming
the Host and how to allow it, as Ollama answers (CVE-2024-28224). Bound beyond loopback, or with
API keys required, the Host is not looked at (reverse proxies send their own).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from inferd.config import LimitSettings
from inferd.control.gateway import Gateway
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.access.keyring import KeyRing

from .conftest import run, topology

_LOOPBACK_HOSTS = [
    "localhost:{port}",
    "LOCALHOST",
    "app.localhost:{port}",
    "127.0.0.1:{port}",
    "127.3.2.1",
    "[::1]:{port}",
    "localhost.:{port}",
]
_FOREIGN_HOSTS = [
    "attacker.example:{port}",
    "attacker.example",
    "10.0.0.5:{port}",
    "localhost.evil",
]


async def _answer(
    port: int,
    path: str,
    host: str | None,
    headers: dict[str, str] | None = None,
    version: str = "1.1",
) -> tuple[int, bytes]:
    """One request with exactly this ``Host`` (None: none), on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"GET {path} HTTP/{version}", "connection: close"]
    head += [f"host: {host}"] if host is not None else []
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _answers(
    bind: str, hosts: list[str], path: str, door: FrontDoor | None = None, key: str = ""
) -> list[tuple[int, bytes]]:
    async def scenario() -> list[tuple[int, bytes]]:
        gateway = Gateway(bind, 0, limits=LimitSettings())
        if door is not None:
            gateway.front_door = door
        await gateway.start()
        gateway.update(topology())
        headers = {"authorization": f"Bearer {key}"} if key else None
        try:
            return [
                await _answer(gateway.port, path, h.format(port=gateway.port), headers)
                for h in hosts
            ]
        finally:
            await gateway.stop(5)

    return run(scenario)


@pytest.mark.parametrize("path", ["/v2/health/live", "/api/status", "/v1/models"])
def test_a_loopback_gateway_refuses_a_foreign_host_naming_it(path: str) -> None:
    answers = _answers("127.0.0.1", _FOREIGN_HOSTS, path)
    assert [status for status, _ in answers] == [403] * len(_FOREIGN_HOSTS)
    for (_, body), host in zip(answers, _FOREIGN_HOSTS, strict=True):
        document = orjson.loads(body)
        message = document["error"]["message"] if path == "/v1/models" else document["error"]
        assert host.split(":")[0] in message
        assert "localhost" in message and "API keys" in message


def test_a_loopback_gateway_answers_every_loopback_host() -> None:
    answers = _answers("127.0.0.1", _LOOPBACK_HOSTS, "/v2/health/live")
    assert [status for status, _ in answers] == [200] * len(_LOOPBACK_HOSTS)


def test_an_http10_request_without_a_host_is_answered_and_an_http11_one_is_400() -> None:
    """HTTP/1.0 had no Host, so the rebinding check lets one without it through; HTTP/1.1
    requires it (RFC 9112 3.2), so one without it is refused before any check."""

    async def scenario() -> list[tuple[int, bytes]]:
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
        await gateway.start()
        try:
            return [
                await _answer(gateway.port, "/v2/health/live", None, version=version)
                for version in ("1.0", "1.1")
            ]
        finally:
            await gateway.stop(5)

    (old, new) = run(scenario)
    assert old[0] == 200
    assert new[0] == 400 and b"needs a Host header" in new[1]


def test_a_gateway_bound_beyond_loopback_does_not_look_at_the_host() -> None:
    answers = _answers("0.0.0.0", _FOREIGN_HOSTS, "/v2/health/live")
    assert [status for status, _ in answers] == [200] * len(_FOREIGN_HOSTS)


def test_with_keys_required_the_host_is_not_looked_at(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    _, token = create_key(keys_file, "proxy")
    door = FrontDoor(KeyRing(keys_file, required=True, check_interval_s=0.0))
    answers = _answers("127.0.0.1", _FOREIGN_HOSTS, "/v1/models", door, str(token))
    assert [status for status, _ in answers] == [200] * len(_FOREIGN_HOSTS)


def test_keys_that_are_not_yet_required_leave_the_check_on(tmp_path: Path) -> None:
    door = FrontDoor(KeyRing(tmp_path / "keys.json", required=False))
    answers = _answers("127.0.0.1", _FOREIGN_HOSTS, "/api/status", door)
    assert [status for status, _ in answers] == [403] * len(_FOREIGN_HOSTS)
