"""gRPC messages compressed by their client (tritonclient.grpc's ``compression_algorithm``) on
the data-plane listener: inflated by inferd with the HTTP server's bound, not by grpc-core
(which inflates a message whole, up to the limit, before refusing it). They answer as
uncompressed ones; a bomb is RESOURCE_EXHAUSTED naming the inflated limit, 50 at once too,
with the budget given back; data that only looks compressed is INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.servicer import SERVICE
from protocols.conftest import Servers

#: Rows that compress (grpc sends a message that would not shrink uncompressed).
ROWS = np.tile(np.arange(16, dtype=np.float32), (64, 1))


def client(servers: Servers) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(f"127.0.0.1:{servers.grpc.port}")


def infer(servers: Servers, rows: np.ndarray, compression: str | None) -> np.ndarray:
    c = client(servers)
    try:
        x = triton.InferInput("x", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows)
        answer = c.infer("echo", [x], compression_algorithm=compression)
        return answer.as_numpy("out_x")
    finally:
        c.close()


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_compressed_messages_answer_as_uncompressed_ones(
    rest_and_grpc: Servers, compression: str
) -> None:
    np.testing.assert_array_equal(infer(rest_and_grpc, ROWS, compression), ROWS)
    np.testing.assert_array_equal(infer(rest_and_grpc, ROWS, None), ROWS)


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_a_message_that_inflates_past_the_limit_is_resource_exhausted(
    rest_and_grpc: Servers, compression: str
) -> None:
    """``max_body_bytes`` is 64 KiB here: 4 MiB of zeros, a few KiB compressed."""
    with pytest.raises(InferenceServerException) as raised:
        infer(rest_and_grpc, np.zeros((1024, 1024), dtype=np.float32), compression)
    assert raised.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "once inflated" in str(raised.value.message())


def test_fifty_bombs_at_once_are_refused_while_others_are_answered(
    rest_and_grpc: Servers,
) -> None:
    zeros = np.zeros((1024, 1024), dtype=np.float32)

    def bomb(i: int) -> str:
        try:
            infer(rest_and_grpc, zeros, "gzip" if i % 2 else "deflate")
        except InferenceServerException as exc:
            return str(exc.status())
        return "OK"

    with ThreadPoolExecutor(50) as pool:
        bombs = list(pool.map(bomb, range(50)))
        np.testing.assert_array_equal(infer(rest_and_grpc, ROWS, "gzip"), ROWS)
    assert bombs == [str(grpc.StatusCode.RESOURCE_EXHAUSTED)] * 50
    # Nothing is left held against the body budget: compressed requests are still answered.
    for _ in range(3):
        np.testing.assert_array_equal(infer(rest_and_grpc, ROWS, "deflate"), ROWS)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "not valid gzip data"),
        (b"\x78\x9c\x03\x00", "truncated"),
    ],
    ids=["gzip", "deflate"],
)
def test_bytes_that_only_look_compressed_are_invalid_argument(
    rest_and_grpc: Servers, data: bytes, words: str
) -> None:
    async def call() -> grpc.aio.AioRpcError:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{rest_and_grpc.grpc.port}") as channel:
            infer = channel.unary_unary(f"/{SERVICE}/ModelInfer")
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await infer(data)
            return raised.value

    error = asyncio.run(call())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in (error.details() or "")


def test_an_uncompressed_request_is_read_as_it_was(rest_and_grpc: Servers) -> None:
    """A request message never looks compressed: its first field is 1 to 7."""
    message = pb.ModelInferRequest(model_name="echo").SerializeToString()
    assert message[0] not in (0x1F, 0x78)
