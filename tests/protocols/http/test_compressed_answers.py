"""Answers compressed for clients that ask (``Accept-Encoding``), over real loopback sockets:
gzip or deflate (zlib's format) by the client's q-values, with ``Content-Encoding`` and
``Vary: Accept-Encoding``; small answers, streams, HEAD answers and clients that do not ask
are answered identity; and tritonclient.http's ``response_compression_algorithm`` reads the
same tensors as uncompressed, JSON and binary (whose ``Inference-Header-Content-Length``
counts the JSON header before compression, as Triton sends it)."""

from __future__ import annotations

import gzip
import socket
import zlib

import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from inferd.config import LimitSettings
from inferd.protocols.http.compressing import MIN_BYTES, preferred
from protocols.conftest import Running
from protocols.http.conftest import BIG, read_responses

INFLATE = {"gzip": gzip.decompress, "deflate": zlib.decompress}


def get(
    sock: socket.socket, path: str, accept: str | None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    extra = b"" if accept is None else b"Accept-Encoding: %s\r\n" % accept.encode()
    sock.sendall(b"%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method.encode(), path.encode(), extra))
    if method == "HEAD":  # no body follows, whatever content-length says
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        return int(lines[0].split()[1]), headers, b""
    [answer] = read_responses(sock, 1)
    return answer


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip, deflate", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip;q=0.5, deflate;q=0.8", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", "gzip"),
        ("*", "gzip"),
    ],
)
def test_a_big_answer_is_compressed_in_the_coding_the_client_prefers(
    serve, connect, accept: str, coding: str
):
    running = serve(LimitSettings())
    status, headers, body = get(connect(running), "/big", accept)
    assert status == 200
    assert headers["content-encoding"] == coding
    assert headers["vary"] == "accept-encoding"
    assert int(headers["content-length"]) == len(body) < len(BIG)
    assert INFLATE[coding](body) == BIG


@pytest.mark.parametrize(
    "accept", [None, "", "identity", "br, zstd", "gzip;q=0", "*;q=0, identity"]
)
def test_a_client_that_does_not_accept_gzip_or_deflate_is_answered_identity(
    serve, connect, accept: str | None
):
    running = serve(LimitSettings())
    status, headers, body = get(connect(running), "/big", accept)
    assert status == 200
    assert "content-encoding" not in headers
    assert body == BIG


def test_small_answers_streams_and_head_answers_are_not_compressed(serve, connect):
    running = serve(LimitSettings())
    sock = connect(running)
    status, headers, body = get(sock, "/ping", "gzip")
    assert status == 200 and len(body) < MIN_BYTES
    assert "content-encoding" not in headers and orjson.loads(body) == {"ok": True}
    status, headers, _ = get(sock, "/big", "gzip", method="HEAD")
    assert status == 200 and "content-encoding" not in headers
    assert int(headers["content-length"]) == len(BIG)
    sock.sendall(b"GET /flood HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
    head = b""
    while b"data: xxxx" not in head:  # the head, then the events themselves, as they are
        head += sock.recv(65536)
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"content-encoding" not in head.lower()


def test_a_client_that_refuses_identity_gets_even_a_small_answer_compressed(serve, connect):
    running = serve(LimitSettings())
    status, headers, body = get(connect(running), "/ping", "gzip, identity;q=0")
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(body)) == {"ok": True}


def test_compressing_an_answer_leaves_the_handlers_own_answer_as_it_was(serve, connect):
    """The handler of ``/big`` hands out the same bytes each time; after a compressed answer,
    a client that does not ask gets them unchanged, without the compressed answer's headers."""
    running = serve(LimitSettings())
    sock = connect(running)
    assert get(sock, "/big", "gzip")[1]["content-encoding"] == "gzip"
    _, headers, body = get(sock, "/big", None)
    assert "content-encoding" not in headers and "vary" not in headers and body == BIG


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", ("gzip", False)),
        ("deflate;q=0.9, gzip;q=0.9", ("gzip", False)),
        ("gzip;q=0.001", ("gzip", False)),
        ("gzip;q=abc, deflate", ("deflate", False)),
        ("identity;q=0, deflate", ("deflate", True)),
        ("*;q=0", ("", True)),
        ("*;q=0, gzip", ("gzip", True)),
        ("", ("", False)),
        (" , ,", ("", False)),
    ],
)
def test_accept_encoding_is_read_with_its_q_values(accept: str, expected: tuple[str, bool]):
    assert preferred(accept) == expected


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_tritonclient_reads_compressed_answers_as_uncompressed_ones(
    data_server: Running, binary: bool, compression: str
):
    rows = np.random.default_rng(3).standard_normal((64, 16)).astype(np.float32)
    client = triton.InferenceServerClient(f"127.0.0.1:{data_server.port}")
    try:
        x = triton.InferInput("x", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows, binary_data=binary)
        outputs = [triton.InferRequestedOutput("out_x", binary_data=binary)]
        plain = client.infer("echo", [x], outputs=outputs)
        packed = client.infer(
            "echo", [x], outputs=outputs, response_compression_algorithm=compression
        )
    finally:
        client.close()
    np.testing.assert_array_equal(packed.as_numpy("out_x"), rows)
    np.testing.assert_array_equal(plain.as_numpy("out_x"), rows)


def test_a_binary_answer_keeps_its_json_header_length_uncompressed(data_server: Running, connect):
    """The binary tensor extension: ``Inference-Header-Content-Length`` counts the JSON header
    as it is before compression, which tritonclient reads once it inflated the whole body."""
    rows = np.arange(64 * 16, dtype=np.float32).reshape(64, 16)
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [64, 16],
                 "parameters": {"binary_data_size": rows.nbytes}},
            ],
            "outputs": [{"name": "out_x", "parameters": {"binary_data": True}}],
        }
    )  # fmt: skip
    body = header + rows.tobytes()
    sock = connect(data_server)
    sock.sendall(
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
        b"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: %d\r\n"
        b"Content-Length: %d\r\n\r\n" % (len(header), len(body)) + body
    )
    [(status, headers, answer)] = read_responses(sock, 1)
    assert status == 200 and headers["content-encoding"] == "gzip"
    inflated = gzip.decompress(answer)
    json_length = int(headers["inference-header-content-length"])
    document = orjson.loads(inflated[:json_length])
    assert document["outputs"][0]["parameters"]["binary_data_size"] == rows.nbytes
    assert inflated[json_length:] == rows.tobytes()
