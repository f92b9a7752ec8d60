"""Parsing big JSON inference bodies in a process of their own.

A worker thread keeps the event loop free only between C calls: orjson parses an 8 MiB JSON body
in one call of 40 to 80 ms and numpy converts its rows in one more of about 20 ms, and the GIL is
held all along, so a health check waits that long (``bench/event_loop_stall.py``: JSON p99 70 to
98 ms with 20 clients). A second process holds a GIL of its own. JSON bodies (no binary
extension) over ``limits.process_decode_bytes`` are therefore sent to one decoding process per
server process, which runs the same decode function (v2's ``decode_request``, KServe v1's
``decode_instances``: so every error, and its order, is the one an in-process decode gives) and
sends the request back.

The exchange never copies a big buffer while holding the GIL: bodies and tensors travel as raw
frames (:mod:`inferd.frames`) over a Unix socket pair,
and numeric tensors come back as pickle protocol 5 out-of-band buffers, received straight into
the arrays' memory. BYTES tensors come back pickled in-band (object arrays have no raw buffer).

The process is started on first use (about 0.3 s: it imports numpy, orjson and the codec, and
holds about 40 MB), serves one body at a time, and ends when its socket closes: at exit of the
server process, or when that process dies. If it has died when a body is due, a new one starts;
if it dies while decoding a body, that request gets 503 and the next starts a new one.
"""

from __future__ import annotations

import atexit
import pickle
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import partial

from inferd.errors import InferdError, Unavailable, rebuilt
from inferd.frames import Frame, recv_frame, send_frames
from inferd.serving.types import InferRequest

_COUNT = struct.Struct("!Q")
#: The module the decoding process runs (``python -m``).
WORKER_MODULE = "inferd.protocols.decode_worker"


#: What the decoding process runs: a module-level decode function with every argument but the
#: body bound by keyword (``partial(decode_request, model=…, check=…)``), called as
#: ``job(body=body)``. It is pickled to the process, so its arguments must pickle
#: (:class:`~inferd.serving.signature.SignatureCheck` does).
DecodeJob = partial[InferRequest]


@dataclass(frozen=True, slots=True)
class Failure:
    """An :class:`InferdError` raised while decoding, as it crosses back: its class name in
    :mod:`inferd.errors` and its attributes (the message among them)."""

    kind: str
    attributes: dict[str, object]

    @classmethod
    def of(cls, exc: InferdError) -> Failure:
        return cls(type(exc).__name__, dict(vars(exc)))

    def error(self) -> InferdError:
        """The same error again (:func:`inferd.errors.rebuilt`)."""
        return rebuilt(self.kind, {"message": "decoding failed", **self.attributes})


def send_message(sock: socket.socket, parts: list[Frame]) -> None:
    """A frame that counts the parts, then the parts, each a frame (:mod:`inferd.frames`)."""
    send_frames(sock, [_COUNT.pack(len(parts)), *parts])


def receive_message(sock: socket.socket) -> list[bytearray]:
    """What :func:`send_message` sent, each part in a buffer of its own. Raises EOFError when
    the peer closed before all of it arrived."""
    (count,) = _COUNT.unpack(recv_frame(sock, _COUNT.size))
    # No cap: both ends are the server's own, and the parent has capped the body it sends.
    return [recv_frame(sock, sys.maxsize) for _ in range(count)]


def pack(value: object) -> list[Frame]:
    """``value`` pickled, then the raw buffers of its contiguous arrays (out of band)."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return [head, *(b.raw() for b in buffers)]


def unpack(frames: list[bytearray]) -> object:
    """What :func:`pack` packed; arrays use the received buffers as their memory."""
    return pickle.loads(frames[0], buffers=frames[1:])  # noqa: S301 - our own child's answer


class DecodingProcess:
    """The client side: one child process, one body at a time (any thread; calls block)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None

    def decode(self, job: DecodeJob, body: bytes | bytearray) -> InferRequest:
        """Decode ``body`` in the child; raises what decoding it in process would raise, or
        :class:`Unavailable` when the child died while decoding it."""
        with self._lock:
            sock = self._connected()
            try:
                send_message(sock, [*pack(job), body])
                answer = unpack(receive_message(sock))
            except (OSError, EOFError):
                self._close()
                raise Unavailable(
                    "the decoding process ended while decoding this request; retry"
                ) from None
        if isinstance(answer, Failure):
            raise answer.error()
        assert isinstance(answer, InferRequest)
        return answer

    @property
    def pid(self) -> int | None:
        """The child's process id (None before the first decode or after it died)."""
        return None if self._child is None else self._child.pid

    def _connected(self) -> socket.socket:
        if self._child is not None and self._child.poll() is not None:
            self._close()
        if self._socket is None:
            ours, theirs = socket.socketpair()
            with theirs:
                self._child = subprocess.Popen(
                    [sys.executable, "-m", WORKER_MODULE, str(theirs.fileno())],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                )
            self._socket = ours
        return self._socket

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._child is not None:
            try:
                self._child.wait(5)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            self._child = None

    def close(self) -> None:
        """End the child (it exits when its socket closes)."""
        with self._lock:
            self._close()


#: The server process's decoding process (started on first use, ended at exit).
DECODING = DecodingProcess()
atexit.register(DECODING.close)
