"""Compressed request bodies (``Content-Encoding``) over real loopback sockets: gzip, x-gzip and
deflate (zlib's format and raw) are inflated, within ``max_body_bytes`` counted inflated and
the process's body budget; bombs are 413 while they inflate, corrupt data 400, other codings
415 before the body is read."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import time
import zlib

import orjson
import pytest

from inferd.config import LimitSettings
from protocols.conftest import Running
from protocols.http.conftest import HOLD_S, Seen, error_of, on_loop, read_responses

LIMIT = 1024 * 1024
#: Text that compresses, a little over 100 KiB.
TEXT = b"".join(b'{"row": %d, "data": [0.5, 1.5, 2.5]}\n' % i for i in range(3000))


def raw_deflate(data: bytes) -> bytes:
    coder = zlib.compressobj(wbits=-15)
    return coder.compress(data) + coder.flush()


def bomb(wbits: int, size: int) -> bytes:
    """``size`` zero bytes (a multiple of 1 MiB) compressed in the format of ``wbits``, built
    from one compressed MiB repeated (a full flush makes each block stand alone), with the
    trailer that format has."""
    zeros = bytes(1024 * 1024)
    coder = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = coder.compress(zeros) + coder.flush(zlib.Z_FULL_FLUSH)
    block = coder.compress(zeros) + coder.flush(zlib.Z_FULL_FLUSH)
    end = coder.flush()
    count = size // len(zeros)
    if wbits == 31:  # CRC-32 and size, little-endian
        crc = 0
        for _ in range(count):
            crc = zlib.crc32(zeros, crc)
        end = end[:-8] + crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    elif wbits == 15:  # Adler-32, big-endian
        adler = 1
        for _ in range(count):
            adler = zlib.adler32(zeros, adler)
        end = end[:-4] + adler.to_bytes(4, "big")
    return first + block * (count - 1) + end


def post(
    sock: socket.socket, encoding: str, body: bytes, path: str = "/digest"
) -> tuple[int, bytes]:
    sock.sendall(
        b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
        % (path.encode(), encoding.encode(), len(body))
        + body
    )
    [(status, _, answer)] = read_responses(sock, 1)
    return status, answer


def budget_used(running: Running) -> int:
    return on_loop(running, lambda: running.server.limits.budget.used)


BIG = os.urandom(64 * 1024) * 40 + TEXT  # 2.6 MiB: inflated in a worker thread
CODED = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "GZIP ": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": raw_deflate,
    "gzip-members": lambda data: gzip.compress(data[:1000]) + gzip.compress(data[1000:]),
}


@pytest.mark.parametrize("data", [TEXT, BIG], ids=["small", "big"])
@pytest.mark.parametrize("name", list(CODED))
def test_compressed_bodies_reach_the_handler_inflated_and_identity(
    serve, connect, seen: Seen, name: str, data: bytes
):
    running = serve(LimitSettings(max_body_bytes=4 * LIMIT))
    sock = connect(running)
    encoding = name.removesuffix("-raw").removesuffix("-members")
    for _ in range(2):  # and the connection is kept
        status, answer = post(sock, encoding, CODED[name](data))
        assert status == 200, answer
        assert orjson.loads(answer) == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
    assert "content-encoding" not in seen.headers
    assert seen.headers["content-length"] == str(len(data))
    assert budget_used(running) == 0


def test_an_empty_compressed_body_is_empty(serve, connect):
    running = serve(LimitSettings())
    status, answer = post(connect(running), "gzip", b"")
    assert (status, orjson.loads(answer)["bytes"]) == (200, 0)


#: Bodies that inflate past LIMIT, their coding, and why the 413 says they do: gzip's trailer
#: declares its size (refused at once), or it was counted while inflating.
BOMBS = {
    "gzip": ("gzip", lambda: bomb(31, 64 * LIMIT), "its gzip trailer declares 67108864 bytes"),
    "gzip-lying-trailer": (
        "gzip",
        lambda: bomb(31, 64 * LIMIT)[:-4] + (100).to_bytes(4, "little"),
        "the gzip data inflates past it",
    ),
    "gzip-small": ("gzip", lambda: bomb(31, 2 * LIMIT), "its gzip trailer declares 2097152"),
    "deflate": ("deflate", lambda: bomb(15, 64 * LIMIT), "the deflate data inflates past it"),
    # 2 KiB: inflated on the event loop
    "deflate-small": ("deflate", lambda: bomb(15, 2 * LIMIT), "the deflate data inflates"),
    "deflate-raw": ("deflate", lambda: bomb(-15, 64 * LIMIT), "the deflate data inflates"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_body_that_inflates_past_the_limit_is_413_and_never_held(
    serve, connect, seen: Seen, name: str
):
    running = serve(LimitSettings(max_body_bytes=LIMIT))
    encoding, make, why = BOMBS[name]
    sock = connect(running)
    status, answer = post(sock, encoding, make())
    assert status == 413, answer
    message = error_of(answer)
    assert f"limit of {LIMIT} bytes once inflated" in message
    assert "limits.max_body_bytes" in message
    assert why in message
    assert seen.digests == 0
    assert budget_used(running) == 0
    status, _ = post(sock, "gzip", gzip.compress(b"next"))  # the connection carries on
    assert status == 200


def test_a_truncated_gzip_body_is_400_whatever_its_last_bytes_declare(serve, connect):
    """The last four bytes of a truncated body are no trailer: here they declare more than
    the limit, more than deflate could inflate the body to; it is counted and found short."""
    running = serve(LimitSettings(max_body_bytes=LIMIT))
    full = gzip.compress(TEXT, mtime=0)
    cut = next(  # a cut whose last four bytes declare more than the limit, and than deflate does
        full[:n]
        for n in range(len(full) // 2, len(full))
        if int.from_bytes(full[n - 4 : n], "little") > max(LIMIT, 1032 * n)
    )
    status, answer = post(connect(running), "gzip", cut)
    assert status == 400
    assert "truncated" in error_of(answer)


def test_the_inflated_body_is_charged_to_the_budget_while_handled(serve, connect):
    running = serve(LimitSettings())
    sock = connect(running)
    coded = gzip.compress(TEXT)
    sock.sendall(
        b"POST /hold HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
        % len(coded)
        + coded
    )
    charged = len(coded) + len(TEXT)  # the compressed body, and the inflated one
    deadline = time.monotonic() + 10
    while budget_used(running) != charged:  # the handler holds the request HOLD_S
        assert time.monotonic() < deadline, "the inflated body was never charged"
    [(status, _, answer)] = read_responses(sock, 1)
    assert (status, orjson.loads(answer)) == (200, {"bytes": len(TEXT)})
    assert HOLD_S > 0 and budget_used(running) == 0


def test_an_inflated_body_past_the_budget_is_503_and_given_back(serve, connect, seen: Seen):
    limit = 96 * 1024
    running = serve(LimitSettings(max_body_bytes=limit, max_buffered_request_bytes=limit))
    data = os.urandom(40 * 1024) + bytes(30 * 1024)  # 40 KiB compressed + 70 KiB inflated
    status, answer = post(connect(running), "gzip", gzip.compress(data))
    assert status == 503
    assert "limits.max_buffered_request_bytes" in error_of(answer)
    assert (seen.digests, budget_used(running)) == (0, 0)


GOOD = gzip.compress(TEXT)
CORRUPT = {
    "gzip-truncated": ("gzip", GOOD[: len(GOOD) // 2], "truncated"),
    "gzip-no-trailer": ("gzip", GOOD[:-8], "truncated"),
    "gzip-bad-crc": ("gzip", GOOD[:-8] + b"\0" * 8, "not valid gzip data"),
    "gzip-not-gzip": ("gzip", b"plain text, not gzip at all", "not valid gzip data"),
    "deflate-truncated": ("deflate", zlib.compress(TEXT)[:-10], "truncated"),
    "deflate-trailing-data": ("deflate", zlib.compress(TEXT) + b"more", "data after its end"),
    "deflate-garbage": ("deflate", b"\xff" * 64, "not valid deflate data"),
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_or_truncated_compressed_data_is_400_naming_it(
    serve, connect, seen: Seen, name: str
):
    running = serve(LimitSettings())
    encoding, body, says = CORRUPT[name]
    status, answer = post(connect(running), encoding, body)
    assert status == 400
    assert says in error_of(answer)
    assert (seen.digests, budget_used(running)) == (0, 0)


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("br", b"\x1b\xff\xff?\x00"),
        ("zstd", b"(\xb5/\xfd"),
        ("compress", b"\x1f\x9d"),
        ("gzip, gzip", gzip.compress(gzip.compress(TEXT))),
        ("identity, gzip", GOOD),
    ],
)
def test_other_codings_are_415_before_the_body_is_read(
    serve, connect, seen: Seen, encoding: str, body: bytes
):
    running = serve(LimitSettings())
    status, answer = post(connect(running), encoding, body)
    assert status == 415
    message = error_of(answer)
    assert f"Content-Encoding {encoding!r}" in message
    assert "gzip, x-gzip or deflate" in message
    assert (seen.digests, budget_used(running)) == (0, 0)


def test_a_compressed_body_on_an_openai_path_is_refused_in_openai_shape(serve, connect):
    running = serve(LimitSettings(max_body_bytes=LIMIT))
    status, answer = post(connect(running), "gzip", b"not gzip", path="/v1/chat/completions")
    assert status == 400
    assert orjson.loads(answer)["error"]["type"] == "invalid_request_error"


def test_a_chunked_compressed_body_is_inflated_and_handed_over_as_identity(
    serve, connect, seen: Seen
):
    """curl -H 'Transfer-Encoding: chunked' -H 'Content-Encoding: gzip' --data-binary @x.gz"""
    running = serve(LimitSettings())
    coded = gzip.compress(TEXT)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(coded[i : i + 1000]), coded[i : i + 1000])
        for i in range(0, len(coded), 1000)
    )
    sock = connect(running)
    sock.sendall(
        b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    [(status, _, answer)] = read_responses(sock, 1)
    assert (status, orjson.loads(answer)["bytes"]) == (200, len(TEXT))
    assert "transfer-encoding" not in seen.headers
    assert seen.headers["content-length"] == str(len(TEXT))


def test_a_trailer_no_deflate_could_write_reserves_nothing(serve, connect):
    """A small body whose last bytes declare the whole budget is not believed (deflate inflates
    at most about 1,000 times over): it is inflated and found corrupt (400), not refused as if
    the budget were spent (503)."""
    running = serve(LimitSettings(max_body_bytes=LIMIT, max_buffered_request_bytes=LIMIT))
    lying = gzip.compress(b"small")[:-4] + LIMIT.to_bytes(4, "little")
    status, answer = post(connect(running), "gzip", lying)
    assert status == 400
    assert "not valid gzip data" in error_of(answer)
    assert budget_used(running) == 0
