"""Length-prefixed frames over a stream socket, between the server and a helper process of its
own (the sandboxed worker, the decoding process): an 8-byte big-endian length, then that many
bytes. Standard library only: the sandboxed worker uses it before numpy is imported.

``sendall`` and ``recv_into`` release the GIL for each kernel copy, so big frames cross without
holding the event loop's thread behind one long copy."""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

_LENGTH = struct.Struct("!Q")
#: One frame: any contiguous buffer, sent as its raw bytes.
Frame = bytes | bytearray | memoryview


class FrameTooLarge(ValueError):
    """A frame announced beyond what the receiver accepts (nothing was allocated for it)."""


def send_frames(sock: socket.socket, frames: Sequence[Frame]) -> None:
    """Send each frame with its length prefix (OSError when the peer is gone)."""
    for frame in frames:
        view = memoryview(frame).cast("B")
        sock.sendall(_LENGTH.pack(view.nbytes))
        sock.sendall(view)


def recv_frame(sock: socket.socket, limit: int) -> bytearray:
    """One frame of at most ``limit`` bytes. Raises EOFError when the peer closed first,
    :class:`FrameTooLarge` for a longer one, and the socket's OSError (TimeoutError included)."""
    (length,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    if length > limit:
        raise FrameTooLarge(f"a frame of {length} bytes exceeds the {limit}-byte limit")
    return _recv_exact(sock, length)


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if not n:
            raise EOFError("the connection closed")
        got += n
    return buffer
