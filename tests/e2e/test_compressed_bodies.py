"""Compressed requests against a real ``inferd serve``: tritonclient's request compression over
HTTP (gzip, deflate) and gRPC answers as uncompressed requests do, and so do answers it asks
to be compressed (``response_compression_algorithm``); and R13, the decompression bomb: 50
bodies of 1 MiB that inflate to 1 GiB each, sent at once, are all 413 while the server's
resident memory grows by less than 50 MB and it answers other requests meanwhile. Through
``inferd up``'s gateway too."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from control.conftest import fraud_store, spec_text, start_up

from .conftest import FRAUD_BODY, ServeProcess

pytestmark = pytest.mark.slow

ROWS = np.random.default_rng(7).standard_normal((64, 8)).astype(np.float32)
MIB = 1024 * 1024


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes (whole MiB) in gzip, as ``gzip -9`` writes them (about 1 MiB for 1
    GiB), built from one compressed MiB repeated (each block stands alone after a full flush)
    with the trailer's CRC-32 and size computed for the whole."""
    zeros = bytes(MIB)
    coder = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = coder.compress(zeros) + coder.flush(zlib.Z_FULL_FLUSH)
    block = coder.compress(zeros) + coder.flush(zlib.Z_FULL_FLUSH)
    end = coder.flush()
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    trailer = crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    return first + block * (size // MIB - 1) + end[:-8] + trailer


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """While its ``with`` block runs, a thread reads process ``pid``'s RSS every 5 ms: ``before``
    is the reading at entry, ``peak`` the largest seen, the one at exit included."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = self.peak = 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._done.wait(0.005)

    def __enter__(self) -> PeakRss:
        self.before = self.peak = rss_bytes(self.pid)
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._sampler.join()
        self.peak = max(self.peak, rss_bytes(self.pid))


def post(
    port: int, body: bytes, encoding: str | None, path: str = "/v2/models/fraud/infer"
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    try:
        conn.request("POST", path, body, headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def fraud_inputs(module: object, binary: bool) -> list[object]:
    x = module.InferInput("input", list(ROWS.shape), "FP32")  # type: ignore[attr-defined]
    if module is triton:
        x.set_data_from_numpy(ROWS, binary_data=binary)
    else:
        x.set_data_from_numpy(ROWS)
    return [x]


@pytest.fixture(scope="module")
def client(served: ServeProcess):
    c = triton.InferenceServerClient(f"127.0.0.1:{served.port}")
    yield c
    c.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_tritonclient_http_compressed_requests_answer_as_uncompressed(
    client, binary: bool, compression: str
):
    outputs = [
        triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")
    ]
    plain = client.infer("fraud", fraud_inputs(triton, binary), outputs=outputs)
    packed = client.infer(
        "fraud",
        fraud_inputs(triton, binary),
        outputs=outputs,
        request_compression_algorithm=compression,
        response_compression_algorithm=compression,
    )
    for name in ("label", "probabilities"):
        np.testing.assert_array_equal(packed.as_numpy(name), plain.as_numpy(name))


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_tritonclient_grpc_compressed_requests_answer_as_uncompressed(
    served: ServeProcess, compression: str
):
    c = triton_grpc.InferenceServerClient(f"127.0.0.1:{served.grpc_port}")
    try:
        plain = c.infer("fraud", fraud_inputs(triton_grpc, True))
        packed = c.infer(
            "fraud", fraud_inputs(triton_grpc, True), compression_algorithm=compression
        )
    finally:
        c.close()
    np.testing.assert_array_equal(packed.as_numpy("label"), plain.as_numpy("label"))
    np.testing.assert_array_equal(packed.as_numpy("probabilities"), plain.as_numpy("probabilities"))


def test_a_grpc_message_is_limited_by_its_inflated_size(serve, store_home: Path):
    """gRPC's max message size (``limits.max_body_bytes``) counts the message inflated: 4 MiB of
    zeros that gzip sends as a few KiB is refused."""
    server = serve(store_home, "--max-body-bytes", str(MIB), "id-fp32:v1")
    c = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    x = triton_grpc.InferInput("x", [1, MIB], "FP32")
    x.set_data_from_numpy(np.zeros((1, MIB), dtype=np.float32))
    try:
        with pytest.raises(InferenceServerException) as raised:
            c.infer("id-fp32", [x], compression_algorithm="gzip")
    finally:
        c.close()
    assert raised.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_fifty_grpc_bombs_at_once_are_refused_in_bounded_memory_while_serving(
    serve, store_home: Path
):
    """R13 over gRPC: 50 messages of 24 MiB of zeros (a few KiB compressed, gzip and deflate)
    against a 16 MiB limit, sent at once: all RESOURCE_EXHAUSTED naming the inflated limit,
    the server's RSS grows by less than 50 MB (grpc-core, which inflated each up to the limit
    before refusing it, grew it by hundreds), and a normal request is answered meanwhile."""
    server = serve(store_home, "--max-body-bytes", str(16 * MIB), "id-fp32:v1")
    address = f"127.0.0.1:{server.grpc_port}"
    zeros = np.zeros((1, 6 * MIB), dtype=np.float32)
    ones = np.ones((1, 1024), dtype=np.float32)

    def infer(rows: np.ndarray, compression: str) -> str:
        c = triton_grpc.InferenceServerClient(address)
        x = triton_grpc.InferInput("x", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows)
        try:
            answer = c.infer("id-fp32", [x], compression_algorithm=compression)
            np.testing.assert_array_equal(answer.as_numpy("y"), rows)
            return "OK"
        except InferenceServerException as exc:
            assert "once inflated" in str(exc.message()), exc.message()
            return str(exc.status())
        finally:
            c.close()

    assert infer(ones, "gzip") == "OK"  # warm
    pid = server.proc.pid
    with PeakRss(pid) as rss, ThreadPoolExecutor(50) as pool:
        bombs = [pool.submit(infer, zeros, ("gzip", "deflate")[i % 2]) for i in range(50)]
        served_meanwhile = 0
        while not all(f.done() for f in bombs):
            assert infer(ones, "deflate") == "OK"
            served_meanwhile += 1
        answers = [f.result() for f in bombs]
    assert answers == [str(grpc.StatusCode.RESOURCE_EXHAUSTED)] * 50
    assert served_meanwhile >= 1
    grew = rss.peak - rss.before
    assert grew < 50 * 1000 * 1000, f"RSS grew by {grew / MIB:.1f} MiB"


def test_corrupt_compressed_data_is_400_and_other_codings_415(served: ServeProcess):
    body = orjson.dumps(FRAUD_BODY)
    status, answer = post(served.port, zlib.compress(body)[:-6], "deflate")
    assert status == 400
    assert "truncated" in orjson.loads(answer)["error"]
    status, answer = post(served.port, body, "gzip")
    assert status == 400
    assert "not valid gzip data" in orjson.loads(answer)["error"]
    status, answer = post(served.port, body, "br")
    assert status == 415
    assert "gzip, x-gzip or deflate" in orjson.loads(answer)["error"]


def test_fifty_gzip_bombs_at_once_are_413_in_bounded_memory_while_serving(served: ServeProcess):
    """R13: 1 MiB of gzip that inflates to 1 GiB, 50 at once: all 413, the server's RSS grows
    by less than 50 MB, and ordinary requests are answered during the attack."""
    bomb = gzip_bomb(1024 * MIB)
    assert len(bomb) < 1.1 * MIB
    pid, port = served.proc.pid, served.port
    normal = orjson.dumps(FRAUD_BODY)
    assert post(port, normal, None)[0] == 200  # warm
    with PeakRss(pid) as rss, ThreadPoolExecutor(50) as pool:
        bombs = [pool.submit(post, port, bomb, "gzip") for _ in range(50)]
        served_meanwhile = 0
        while not all(f.done() for f in bombs):  # ordinary requests sent during the attack
            status, answer = post(port, normal, None)
            assert status == 200, answer
            served_meanwhile += 1
        answers = [f.result() for f in bombs]
    assert [status for status, _ in answers] == [413] * 50
    assert "once inflated" in orjson.loads(answers[0][1])["error"]
    assert served_meanwhile >= 1
    grew = rss.peak - rss.before
    assert grew < 50 * 1000 * 1000, f"RSS grew by {grew / MIB:.1f} MiB"


def test_through_the_gateway_compressed_requests_work_and_a_bomb_is_413(tmp_path: Path):
    """``inferd up``'s gateway inflates (it is the same HTTP server) and forwards the body
    uncompressed, to the primary and the shadow; gRPC compression passes through it."""
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100), "v2": ("fraud:v2", 1, 0)}, shadow="v2"))
    up = start_up(home, spec)
    try:
        http_client = triton.InferenceServerClient(f"127.0.0.1:{up.gateway_port}")
        grpc_client = triton_grpc.InferenceServerClient(up.state.gateway_grpc)
        try:
            plain = http_client.infer("fraud", fraud_inputs(triton, True)).as_numpy("label")
            for compression in ("gzip", "deflate"):
                answer = http_client.infer(
                    "fraud", fraud_inputs(triton, True), request_compression_algorithm=compression
                )
                np.testing.assert_array_equal(answer.as_numpy("label"), plain)
                answer = grpc_client.infer(
                    "fraud", fraud_inputs(triton_grpc, True), compression_algorithm=compression
                )
                np.testing.assert_array_equal(answer.as_numpy("label"), plain)
        finally:
            http_client.close()
            grpc_client.close()
        status, answer = post(up.gateway_port, gzip_bomb(1024 * MIB), "gzip")
        assert status == 413
        assert "once inflated" in orjson.loads(answer)["error"]
        status, answer = post(up.gateway_port, orjson.dumps(FRAUD_BODY), "br")
        assert status == 415
    finally:
        assert up.stop() == 0


def test_grpc_inflates_into_the_body_budget_rest_bodies_draw_on(serve, store_home: Path):
    """``limits.max_buffered_request_bytes`` bounds the request bytes a process holds at once
    (4 times ``max_body_bytes`` by default): REST bodies being read and gRPC messages being inflated
    draw on the same budget, so holding it with REST bodies refuses an inflated gRPC message
    RESOURCE_EXHAUSTED (and the message is answered again once the bodies are gone)."""
    server = serve(store_home, "--max-body-bytes", str(MIB), "id-fp32:v1")
    address = f"127.0.0.1:{server.grpc_port}"
    rows = np.zeros((1, 200 * 1024), dtype=np.float32)  # 800 KiB inflated, a few KiB sent

    def infer() -> str:
        c = triton_grpc.InferenceServerClient(address)
        x = triton_grpc.InferInput("x", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows)
        try:
            c.infer("id-fp32", [x], compression_algorithm="gzip")
            return "OK"
        except InferenceServerException as exc:
            return f"{exc.status()}: {exc.message()}"
        finally:
            c.close()

    assert infer() == "OK"
    held: list[socket.socket] = []
    try:
        for _ in range(4):  # four 1 MiB bodies, each sent in part: the whole budget held
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(
                f"POST /v2/models/id-fp32/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {MIB}\r\n\r\n".encode()
                + b" " * (128 * 1024)
            )
            held.append(sock)
        deadline = time.monotonic() + 30
        answer = infer()
        while answer == "OK" and time.monotonic() < deadline:  # until the bodies are charged
            time.sleep(0.1)
            answer = infer()
        assert answer.startswith(str(grpc.StatusCode.RESOURCE_EXHAUSTED)), answer
        assert "max_buffered_request_bytes" in answer, answer
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30
    while (answer := infer()) != "OK" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answer == "OK", answer
