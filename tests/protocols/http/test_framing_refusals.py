"""Requests framed in ways the server does not speak are refused with a status and a message
that say so, rather than read wrongly: a body with a transfer coding other than chunked (it
would be taken, still coded, as the body) and HTTP/2's connection preface."""

from __future__ import annotations

from inferd.config import LimitSettings
from protocols.conftest import Running
from protocols.http.conftest import ask, error_of


def _ask(running: Running, raw: bytes) -> tuple[int, str]:
    status, body = ask(running, raw)
    return status, error_of(body)


def test_a_gzip_transfer_coded_body_is_501_not_read_as_the_body(serve, seen) -> None:
    running = serve(LimitSettings())
    status, error = _ask(
        running,
        b"POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n",
    )
    assert status == 501
    assert "Transfer-Encoding 'gzip, chunked'" in error
    assert seen.digests == 0


def test_a_chunked_body_is_still_read(serve) -> None:
    running = serve(LimitSettings())
    status, body = ask(
        running,
        b"POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"2\r\nab\r\n0\r\n\r\n",
    )
    assert status == 200 and b'"bytes":2' in body


def test_the_http2_preface_is_told_this_port_speaks_http11(serve) -> None:
    running = serve(LimitSettings())
    status, error = _ask(running, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert status == 505
    assert "HTTP/2" in error and "HTTP/1.1" in error
