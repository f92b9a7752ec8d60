"""``Expect: 100-continue`` through the gateway (RFC 9110 10.1.1), as ``inferd serve`` answers it:
a request its head alone refuses (an unknown deployment or version, a route that is always
refused) gets that final answer instead of ``100 Continue``, so curl (which sends Expect for
bodies over 1 KiB) does not upload a body only to be refused."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest

from .conftest import deployment, run, started_gateway, topology, version

_TOPOLOGY = topology(deployment("fraud", version("v1", 100), version("v2", 0), shadow="v2"))


async def _ask(path: str, media_type: str = "application/json") -> bytes:
    """What the gateway first answers a head (``Expect: 100-continue``, a body of
    ``media_type`` declared and not sent): ``100 Continue``, or its final answer."""
    gateway = await started_gateway(_TOPOLOGY)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
            f"Content-Type: {media_type}\r\nContent-Length: 2000000\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100 "):
            writer.close()
            return head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        writer.close()
        return head + body
    finally:
        await gateway.stop(5)


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v2/models/nope/infer", 404, "nope"),
        ("/v2/models/nope/versions/v1/infer", 404, "nope"),
        ("/v2/models/fraud/versions/v9/infer", 404, "v9"),
        ("/v2/models/fraud/versions/v2/infer", 404, "v2"),  # the shadow takes no client request
        ("/v1/models/nope:predict", 404, "nope"),
        ("/v1/models/fraud:explain", 501, "no explainer"),
        ("/v2/models/fraud/generate", 501, "generate"),
        ("/v2/repository/models/fraud/load", 501, "inferd apply"),
        ("/v2/nothing/here", 404, "no route"),
    ],
)
def test_a_refused_head_gets_its_final_answer_instead_of_100(
    path: str, status: int, words: str
) -> None:
    _assert_refused(run(lambda: _ask(path)), status, words)


@pytest.mark.parametrize("path", ["/v2/models/fraud/infer", "/v1/models/fraud:predict"])
def test_a_media_type_not_spoken_is_refused_by_its_head_as_the_replica_refuses_it(
    path: str,
) -> None:
    _assert_refused(run(lambda: _ask(path, "multipart/form-data; boundary=x")), 415, "multipart")


def _assert_refused(answer: bytes, status: int, words: str) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode(), answer
    assert words in orjson.loads(body)["error"]


@pytest.mark.parametrize(
    "path",
    ["/v2/models/fraud/infer", "/v2/models/fraud/versions/v1/infer", "/v1/models/fraud:predict"],
)
def test_a_head_for_a_deployment_served_gets_100(path: str) -> None:
    assert run(lambda: _ask(path)) == b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_uploads_nothing_to_an_unknown_deployment(tmp_path: Path) -> None:
    payload = tmp_path / "body.json"
    payload.write_bytes(b" " * 2_000_000)

    async def scenario() -> bytes:
        gateway = await started_gateway(_TOPOLOGY)
        try:
            curl = await asyncio.create_subprocess_exec(
                "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}",
                "-H", "Content-Type: application/json", "--expect100-timeout", "30",
                "--data-binary", f"@{payload}",
                f"http://127.0.0.1:{gateway.port}/v2/models/nope/infer",
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await curl.communicate()
            return out
        finally:
            await gateway.stop(5)

    assert run(scenario) == b"404 0"
