"""The frames a sandbox worker sends are data: checked before allocation, never unpickled."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.frames import send_frames
from inferd.sandbox import tensors
from inferd.sandbox.wire import MAX_MESSAGE_BYTES, PeerGone, send_header


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


class Sentinel:
    """Unpickling this writes a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.path), "unpickled"))  # type: ignore[return-value]


def test_a_round_trip(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    tensors.send(left, {"op": "predict"}, {"a": np.arange(3), "b": np.array([b"x"], dtype=object)})
    header, received = tensors.receive(right)
    assert header == {"op": "predict"}
    assert received["a"].tolist() == [0, 1, 2] and received["b"].tolist() == [b"x"]


def test_bytes_cross_whole_in_their_shape_in_slices_of_lengths(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """More elements than one slice of lengths (tensors._LENGTHS_SLICE), empty ones and NULs
    included, arrive as they were sent, in their shape."""
    left, right = pair
    count = 2 * tensors._LENGTHS_SLICE + 3
    items = [bytes([i % 7]) * (i % 5) for i in range(count)]
    sent = np.empty((count // 3, 3), dtype=object)
    sent.ravel()[:] = items[: sent.size]
    thread = threading.Thread(target=tensors.send, args=(left, {}, {"s": sent}))
    thread.start()
    _, received = tensors.receive(right)
    thread.join()
    assert received["s"].shape == sent.shape and received["s"].tolist() == sent.tolist()


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([b"red", b"", b"green"], ["red", "", "green"]),  # ASCII: one decode, then slices
        (["caf\u00e9".encode(), b"t\xc3\xa9"], ["caf\u00e9", "t\u00e9"]),  # UTF-8, one by one
        ([b"ok", b"\xff"], [b"ok", b"\xff"]),  # not UTF-8: stays bytes, the receiver names it
    ],
)
def test_bytes_may_arrive_as_text(
    pair: tuple[socket.socket, socket.socket], items: list[bytes], expected: list[object]
) -> None:
    left, right = pair
    tensors.send(left, {}, {"s": np.array(items, dtype=object)})
    _, received = tensors.receive(right, text=True)
    assert received["s"].dtype == object and received["s"].tolist() == expected


def test_a_pickled_object_array_is_refused_unopened(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    left, right = pair
    sentinel = tmp_path / "sentinel"
    payload = np.array([Sentinel(sentinel)], dtype=object)
    send_header(left, {"tensors": [["y", "array"]]}, [npy(payload, allow_pickle=True)])
    with pytest.raises(PeerGone, match="dtype object is not plain data"):
        tensors.receive(right)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("tensors_listed", "frames", "message"),
    [
        ([["y", "array"]], [npy(np.zeros(4))[:-8]], "shape disagrees with its size"),
        ([["y", "array"]], [b"not an npy file"], "not an .npy array"),
        ([["y", "array"], ["y", "array"]], [npy(np.zeros(1))] * 2, "lists its tensors wrongly"),
        ([["y", "pickle"]], [npy(np.zeros(1))], "lists its tensors wrongly"),
        ([["y", "bytes"]], [npy(np.array([3], dtype=np.int64)), b"ab"], "disagree with the data"),
        ([["y", "bytes"]], [npy(np.array([-1, 1], dtype=np.int64)), b""], "not non-negative"),
        ([["y", "array"]], [npy(np.zeros(1, dtype=[("a", "<f4")]))], "is not plain data"),
    ],
)
def test_malformed_messages_are_refused(
    pair: tuple[socket.socket, socket.socket],
    tensors_listed: list[list[str]],
    frames: list[bytes],
    message: str,
) -> None:
    left, right = pair
    send_header(left, {"status": "ok", "tensors": tensors_listed}, frames)
    with pytest.raises(PeerGone, match=message):
        tensors.receive(right)


def test_a_declared_size_past_the_limit_is_refused_before_allocation(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    send_header(left, {"status": "ok", "tensors": [["y", "array"]]})
    left.sendall(struct.pack("!Q", MAX_MESSAGE_BYTES + 1))  # and no data at all
    with pytest.raises(PeerGone, match="exceeds the"):
        tensors.receive(right)


@pytest.mark.parametrize("header", [b"[1, 2]", b"{not json", json.dumps("text").encode()])
def test_a_header_must_be_a_json_object(
    pair: tuple[socket.socket, socket.socket], header: bytes
) -> None:
    left, right = pair
    send_frames(left, [header])
    with pytest.raises(PeerGone, match="header is not"):
        tensors.receive(right)


def test_a_closed_peer_is_peer_gone(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.close()
    with pytest.raises(PeerGone, match="closed"):
        tensors.receive(right)
