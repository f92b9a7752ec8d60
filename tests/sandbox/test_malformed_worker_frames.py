"""Frames a sandbox worker sends that numpy's ``.npy`` reader takes but no array fits: refused
as a malformed message (PeerGone: the server restarts the worker), never an exception of
numpy's that escapes the call and leaves the rest of the message unread on the socket."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator

import numpy as np
import pytest

from inferd.sandbox import tensors
from inferd.sandbox.wire import PeerGone, send_header


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


def npy_with_shape(shape: tuple[int, ...], data: bytes) -> bytes:
    """An ``.npy`` frame declaring ``shape`` (which numpy's writer would never write)."""
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


@pytest.mark.parametrize(
    ("shape", "data"),
    [((-1, -1), b"\0" * 4), ((0, -1), b""), ((-2, -2), b"\0" * 16)],
)
def test_a_negative_dimension_is_a_malformed_message(
    pair: tuple[socket.socket, socket.socket], shape: tuple[int, ...], data: bytes
) -> None:
    left, right = pair
    send_header(left, {"status": "ok", "tensors": [["y", "array"]]}, [npy_with_shape(shape, data)])
    with pytest.raises(PeerGone, match="negative"):
        tensors.receive(right)


def test_bytes_lengths_that_wrap_around_int64_are_a_malformed_message(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Two lengths of 2**63 - 1 and a third of 4 add up to 2 in int64: they disagree with the
    two bytes sent, however their sum wraps."""
    left, right = pair
    lengths = np.array([2**63 - 1, 2**63 - 1, 4], dtype=np.int64)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, lengths, allow_pickle=False)
    send_header(left, {"status": "ok", "tensors": [["y", "bytes"]]}, [buffer.getvalue(), b"ab"])
    with pytest.raises(PeerGone, match="disagree with the data"):
        tensors.receive(right)
