"""``Expect: 100-continue`` through a gateway with a key ring, as ``inferd up`` starts it: before
``keys.json`` exists (the door open) a head its route refuses gets the same final answer as
without keys; once keys are required, a key the gateway has verified gets it too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from inferd.config import AuthSettings, LimitSettings
from inferd.control.gateway import Gateway
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key

from .conftest import deployment, run, topology, version

_TOPOLOGY = topology(deployment("fraud", version("v1", 100), version("v2", 0), shadow="v2"))


async def _first_answer(
    port: int, path: str, media_type: str = "application/json", token: str = ""
) -> tuple[int, bytes]:
    """The status and body the gateway first answers a head waiting for ``100 Continue``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n{key}"
        f"Content-Type: {media_type}\r\nContent-Length: 2000000\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    body = b""
    if status != 100:
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
    writer.close()
    return status, body


async def _gateway(door: FrontDoor) -> Gateway:
    gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
    gateway.front_door = door
    await gateway.start()
    gateway.update(_TOPOLOGY)
    return gateway


async def _verify(port: int, token: str) -> None:
    """One request with the key (the server metadata), which the gateway checks in full."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 "), head


@pytest.mark.parametrize(
    ("path", "media_type", "status", "words"),
    [
        ("/v2/models/nope/infer", "application/json", 404, "nope"),
        ("/v2/models/fraud/versions/v9/infer", "application/json", 404, "v9"),
        ("/v1/models/fraud:explain", "application/json", 501, "no explainer"),
        ("/v2/models/fraud/generate", "application/json", 501, "generate"),
        ("/v2/repository/models/fraud/load", "application/json", 501, "inferd apply"),
        ("/v2/models/fraud/infer", "multipart/form-data; boundary=x", 415, "multipart"),
        ("/v2/models/fraud/infer", "application/json", 100, ""),
    ],
)
def test_before_keys_exist_a_refused_head_gets_its_final_answer(
    tmp_path: Path, path: str, media_type: str, status: int, words: str
) -> None:
    door = FrontDoor.from_settings(AuthSettings(), None, default_keys=tmp_path / "keys.json")

    async def scenario() -> tuple[int, bytes]:
        gateway = await _gateway(door)
        try:
            return await _first_answer(gateway.port, path, media_type)
        finally:
            await gateway.stop(5)

    answer, body = run(scenario)
    assert answer == status, body
    if words:
        assert words in orjson.loads(body)["error"]


def test_once_keys_are_required_a_verified_key_gets_the_heads_refusal(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    _, token = create_key(keys, "ci")
    door = FrontDoor.from_settings(AuthSettings(keys_file=keys), None)

    async def scenario() -> list[int]:
        gateway = await _gateway(door)
        try:
            first = await _first_answer(gateway.port, "/v2/models/nope/infer", token=str(token))
            # The key, checked with its first request's body, is known from then on.
            await _verify(gateway.port, str(token))
            nope = await _first_answer(gateway.port, "/v2/models/nope/infer", token=str(token))
            fraud = await _first_answer(gateway.port, "/v2/models/fraud/infer", token=str(token))
            keyless = await _first_answer(gateway.port, "/v2/models/nope/infer")
            return [first[0], nope[0], fraud[0], keyless[0]]
        finally:
            await gateway.stop(5)

    assert run(scenario) == [100, 404, 100, 401]
