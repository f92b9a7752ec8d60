"""``Expect: 100-continue`` (RFC 9110 10.1.1): the head is judged first; a request that would be
refused whatever its body gets its final answer instead of ``100 Continue``, so a client (curl
sends Expect for large bodies) never uploads a body only to be refused."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from protocols.conftest import Running
from protocols.http.conftest import read_responses


@pytest.fixture
def sock(data_server: Running) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", data_server.port), timeout=5) as opened:
        yield opened


def _head(method: str, path: str, extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
        f"Content-Length: 5000\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("method", "path", "extra", "status", "words"),
    [
        ("POST", "/v2/models/nope/infer", "", 404, "nope"),
        ("POST", "/v2/models/nope/versions/1/infer", "", 404, "nope"),
        ("POST", "/v2/models/echo/versions/9/infer", "", 404, "9"),
        ("POST", "/v2/nothing/here", "", 404, "no route"),
        ("PUT", "/v2/models/echo/infer", "", 405, "not allowed"),
        ("POST", "/v2/models/echo/infer", "Content-Type: application/x-pickle\r\n", 415, "pickle"),
        ("POST", "/v1/models/nope:predict", "", 404, "nope"),
        ("POST", "/v1/models/echo:predict", "Content-Type: multipart/form-data\r\n", 415, "multi"),
    ],
)
def test_a_refused_head_gets_its_final_answer_instead_of_100(
    sock: socket.socket, method: str, path: str, extra: str, status: int, words: str
) -> None:
    sock.sendall(_head(method, path, extra))  # and no body: the client waits
    [(answered, _, body)] = read_responses(sock, 1)
    assert answered == status
    assert words in orjson.loads(body)["error"]


def test_a_head_that_will_be_read_gets_100(sock: socket.socket) -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    sock.sendall(
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(body)
    [(status, _, _)] = read_responses(sock, 1)
    assert status == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_uploads_nothing_to_an_unknown_model(data_server: Running, tmp_path: Path) -> None:
    payload = tmp_path / "body.json"
    payload.write_bytes(b" " * 60_000)
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}",
         "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
         "--expect100-timeout", "30", "--data-binary", f"@{payload}",
         f"{data_server.url}/v2/models/nope/infer"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout == "404 0", done.stderr
