"""A request that carries no credentials to a route that needs a key is refused once its head
is read: its body is never read, so clients without a key cannot fill the process's body budget
(and turn paying clients away with 503s) with bodies that would be refused anyway."""

from __future__ import annotations

import socket
import ssl

import orjson

from protocols.access.conftest import Door

BIG = 50_000_000  # declared, never sent


def _head_only(door: Door, head: str) -> bytes:
    """Send only ``head`` over TLS and return what the server answers (it closes after)."""
    context = ssl.create_default_context(cafile=door.ca.path)
    with (
        socket.create_connection(("127.0.0.1", door.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            piece = tls.recv(65536)
            if not piece:
                break
            answer += piece
        return answer


def _status_headers_body(answer: bytes) -> tuple[int, str, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1").lower(), orjson.loads(body)


def test_an_infer_without_a_key_is_refused_before_its_body(door: Door) -> None:
    head = (
        "POST /v2/models/echo/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {BIG}\r\n\r\n"
    )
    status, headers, body = _status_headers_body(_head_only(door, head))
    assert status == 401
    assert 'www-authenticate: bearer realm="inferd"' in headers
    assert "requires an API key" in str(body["error"])


def test_expect_100_continue_gets_the_401_instead(door: Door) -> None:
    """curl waits for ``100 Continue`` before a large body: it gets the refusal, not that."""
    head = (
        "POST /v2/models/echo/infer HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
        f"content-length: {BIG}\r\n\r\n"
    )
    answer = _head_only(door, head)
    assert answer.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in answer


def test_openai_routes_refuse_in_openai_shape_before_the_body(door: Door) -> None:
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {BIG}\r\n\r\n"
    status, _, body = _status_headers_body(_head_only(door, head))
    error = body["error"]
    assert status == 401 and isinstance(error, dict)
    assert error["code"] == "unauthenticated" and "requires an API key" in error["message"]


def test_paths_no_route_serves_fall_to_the_key_check(door: Door) -> None:
    head = f"PUT /v2/nowhere HTTP/1.1\r\nhost: x\r\ncontent-length: {BIG}\r\n\r\n"
    status, _, _ = _status_headers_body(_head_only(door, head))
    assert status == 401


def test_open_routes_and_requests_with_a_key_are_read_as_before(door: Door) -> None:
    assert door.get("/v2/health/ready")[0] == 200
    body = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
    )
    status, _, answer = door.get("/v2/models/echo/infer", "echo", method="POST", body=body)
    assert status == 200, answer
    assert door.get("/v2/models/echo/infer", method="POST", body=body)[0] == 401


def test_credentials_that_name_no_key_are_refused_before_the_body(door: Door) -> None:
    """Any Authorization header got a request read whole before its 401: a few connections
    declaring 50 MB bodies with a made-up key held the body budget and turned keyed clients
    away with 503s. Credentials that name no key (not a token, an unknown key id) take no
    hashing to refuse, so they are refused with the head, as none at all are."""
    for credentials in (
        "Bearer inferd_000000000000_madeupmadeupmadeupmadeupmadeupmadeupmad",
        "Bearer not-a-token",
        "Basic Zm9vOmJhcg==",
        "Digest x",
        "",
    ):
        head = (
            "POST /v2/models/echo/infer HTTP/1.1\r\nhost: x\r\n"
            f"authorization: {credentials}\r\ncontent-length: {BIG}\r\n\r\n"
        )
        status, headers, _ = _status_headers_body(_head_only(door, head))
        assert status == 401, credentials
        assert "www-authenticate: bearer" in headers


def test_a_wrong_secret_once_found_wrong_is_refused_before_the_body(door: Door) -> None:
    """The first wrong secret for a real key id is read and hashed; the same token again is
    known wrong without hashing, so it is refused with the head."""
    real = door.tokens["echo"]
    wrong = f"inferd_{real.key_id}_{'x' * len(real.secret)}"
    body = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
    )
    head = (
        "POST /v2/models/echo/infer HTTP/1.1\r\nhost: x\r\n"
        f"authorization: Bearer {wrong}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    status, _, _ = _status_headers_body(_head_only(door, head + body.decode()))
    assert status == 401  # read, hashed and found wrong
    status, _, _ = _status_headers_body(_head_only(door, head.replace(str(len(body)), str(BIG))))
    assert status == 401  # the body is never sent: refused with the head


def test_head_on_an_open_route_is_answered_as_its_get(door: Door) -> None:
    """HEAD is GET without the body (the server answers it so): a probe that sends HEAD to a
    health endpoint got 401 from this screen, which matched no ``HEAD`` route and so applied
    the strictest rule."""
    assert door.get("/v2/health/ready", method="HEAD")[0] == 200
    assert door.get("/v2/health/live", method="HEAD")[0] == 200
    assert door.get("/metrics", method="HEAD")[0] == 401
    assert door.get("/metrics", "read", method="HEAD")[0] == 200
