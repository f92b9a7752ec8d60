"""Frames between the server and a sandboxed worker: an 8-byte big-endian length, then bytes.

A message is one JSON header frame followed by the frames its header announces (tensor data,
see :mod:`inferd.sandbox.tensors`). Both ends cap what they accept before allocating: a worker
runs code the server does not trust, so anything it sends is parsed as data, bounded, and never
unpickled. This module uses the standard library only: the worker reports an isolation failure
through it before numpy is imported.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping, Sequence
from typing import Any

_LENGTH = struct.Struct("!Q")
#: The largest header (JSON) either side accepts.
MAX_HEADER_BYTES = 1 << 20
#: The largest message (all frames together) either side accepts: more than any request the
#: server admits, and a bound on what a misbehaving worker can make the server allocate.
MAX_MESSAGE_BYTES = 2 << 30


class PeerGone(Exception):
    """The other end closed the socket, timed out, or sent something that is not a message."""


class PeerTimedOut(PeerGone):
    """The other end sent nothing within the socket's timeout."""


def send_frames(sock: socket.socket, frames: Sequence[bytes | bytearray | memoryview]) -> None:
    """Send each frame with its length prefix (raises OSError when the peer is gone)."""
    for frame in frames:
        sock.sendall(_LENGTH.pack(len(frame)))
        sock.sendall(frame)


def send_header(
    sock: socket.socket,
    header: Mapping[str, Any],
    frames: Sequence[bytes | bytearray | memoryview] = (),
) -> None:
    """Send one message: ``header`` as JSON, then ``frames``."""
    send_frames(sock, [json.dumps(header, separators=(",", ":")).encode(), *frames])


def recv_frame(sock: socket.socket, limit: int) -> bytearray:
    """One frame of at most ``limit`` bytes; PeerGone on EOF, timeout or a larger frame."""
    length = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))[0]
    if length > limit:
        raise PeerGone(f"a frame of {length} bytes exceeds the {limit}-byte limit")
    return _recv_exact(sock, length)


def recv_header(sock: socket.socket) -> dict[str, Any]:
    """The JSON header that starts a message; it must be an object."""
    frame = recv_frame(sock, MAX_HEADER_BYTES)
    try:
        header = json.loads(frame)
    except ValueError:
        raise PeerGone("a message header is not JSON") from None
    if not isinstance(header, dict):
        raise PeerGone("a message header is not a JSON object")
    return header


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        try:
            n = sock.recv_into(view[got:])
        except TimeoutError:
            raise PeerTimedOut("no answer in time") from None
        except OSError as exc:
            raise PeerGone(f"the connection failed ({exc.strerror or exc})") from None
        if n == 0:
            raise PeerGone("the connection closed")
        got += n
    return buffer
