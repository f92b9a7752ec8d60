"""Messages between the server and a sandboxed worker, in frames (:mod:`inferd.frames`).

A message is one JSON header frame followed by the frames its header announces (tensor data,
see :mod:`inferd.sandbox.tensors`). Both ends cap what they accept before allocating: a worker
runs code the server does not trust, so anything it sends is parsed as data, bounded, and never
unpickled. This module uses the standard library only: the worker reports an isolation failure
through it before numpy is imported.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from inferd.frames import FrameTooLarge, send_frames
from inferd.frames import recv_frame as _recv_frame

#: The largest header (JSON) either side accepts.
MAX_HEADER_BYTES = 1 << 20
#: The largest message (all frames together) either side accepts: more than any request the
#: server admits, and a bound on what a misbehaving worker can make the server allocate.
MAX_MESSAGE_BYTES = 2 << 30


class PeerGone(Exception):
    """The other end closed the socket, timed out, or sent something that is not a message."""


class PeerTimedOut(PeerGone):
    """The other end sent nothing within the socket's timeout."""


def send_header(
    sock: socket.socket,
    header: Mapping[str, Any],
    frames: Sequence[bytes | bytearray | memoryview] = (),
) -> None:
    """Send one message: ``header`` as JSON, then ``frames``."""
    send_frames(sock, [json.dumps(header, separators=(",", ":")).encode(), *frames])


def recv_frame(sock: socket.socket, limit: int) -> bytearray:
    """One frame of at most ``limit`` bytes; PeerGone on EOF, timeout or a larger frame."""
    try:
        return _recv_frame(sock, limit)
    except TimeoutError:
        raise PeerTimedOut("no answer in time") from None
    except (EOFError, FrameTooLarge) as exc:
        raise PeerGone(str(exc)) from None
    except OSError as exc:
        raise PeerGone(f"the connection failed ({exc.strerror or exc})") from None


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
