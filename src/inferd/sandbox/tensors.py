"""Named numpy arrays as frames: ``.npy`` bytes written and read with ``allow_pickle=False``.

A message's header lists its tensors as ``[name, kind]`` pairs, in frame order:

- ``array``: one frame, an ``.npy`` file of a plain dtype (bool, integers, floats, complex,
  fixed-width bytes or unicode);
- ``bytes``: an object array of ``bytes`` (OIP BYTES) as two frames, the ``.npy`` of the
  element lengths (int64, the tensor's shape) and the elements concatenated; ``str`` elements
  are sent as their UTF-8 bytes.

BYTES cost Python work per element on both sides. Sending holds the interpreter's short switch
interval (:mod:`inferd.switching`) and takes the lengths in slices, so that the server's event
loop never waits long for the GIL behind a big tensor. A receiver that wants text
(``receive(text=True)``: an ONNX session's string inputs) gets ``str`` elements straight from the
bytes, in one pass when they are ASCII.

Reading checks the ``.npy`` header before anything is allocated: the dtype must be plain and the
declared shape must account for exactly the frame's bytes, so a worker cannot make the server
allocate more than it sent. Arrays are views of the received frame (no copy) and writable.
"""

from __future__ import annotations

import io
import math
import socket
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from inferd.datatypes import object_array
from inferd.sandbox.wire import MAX_MESSAGE_BYTES, PeerGone, recv_frame, recv_header, send_header
from inferd.switching import short_switch_interval

Tensors = dict[str, npt.NDArray[Any]]
#: The most tensors one message may carry.
MAX_TENSORS = 4096
_PLAIN_KINDS = "biufcSU"
#: Elements whose lengths are taken in one C call (well under a millisecond of GIL).
_LENGTHS_SLICE = 16384


class NotData(ValueError):
    """An array that cannot cross the boundary as data (it holds Python objects)."""


def send(sock: socket.socket, header: Mapping[str, Any], tensors: Mapping[str, Any]) -> None:
    """Send ``header`` plus ``tensors`` (each converted with ``np.asarray``) as one message;
    NotData for one that is no plain data (Python objects, dates, records)."""
    listed: list[list[str]] = []
    frames: list[bytes | memoryview] = []
    for name, value in tensors.items():
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:  # a ragged list: rows of different lengths
            raise NotData(f"{name!r} makes no array ({exc})") from None
        if array.dtype.hasobject:
            listed.append([name, "bytes"])
            frames += _bytes_frames(name, array)
        elif array.dtype.kind not in _PLAIN_KINDS or array.dtype.itemsize == 0:
            # The receiver refuses it (``_from_npy``) as a malformed message from its peer.
            raise NotData(
                f"{name!r} is of dtype {array.dtype}, which is no tensor's (bool, integers, "
                "floats, complex, bytes or str)"
            )
        else:
            listed.append([name, "array"])
            frames.append(_npy(array))
    send_header(sock, {**header, "tensors": listed}, frames)


def receive(sock: socket.socket, *, text: bool = False) -> tuple[dict[str, Any], Tensors]:
    """One message: its header (``tensors`` removed) and its tensors; PeerGone if malformed.
    ``text``: BYTES tensors as ``str`` elements (a tensor that is not all UTF-8 stays bytes,
    for the receiver to refuse, naming it)."""
    header = recv_header(sock)
    listed = header.pop("tensors", [])
    if not isinstance(listed, list) or len(listed) > MAX_TENSORS:
        raise PeerGone("a message lists its tensors wrongly")
    budget = MAX_MESSAGE_BYTES
    tensors: Tensors = {}
    for entry in listed:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and entry[0] not in tensors
            and entry[1] in ("array", "bytes")
        ):
            raise PeerGone("a message lists its tensors wrongly")
        name, kind = entry
        frame = recv_frame(sock, budget)
        budget -= len(frame)
        array = _from_npy(frame)
        if kind == "bytes":
            data = recv_frame(sock, budget)
            budget -= len(data)
            array = _from_lengths(array, data, text=text)
        tensors[name] = array
    return header, tensors


def _npy(array: npt.NDArray[Any]) -> memoryview:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getbuffer()


def _bytes_frames(name: str, array: npt.NDArray[Any]) -> list[bytes | memoryview]:
    with short_switch_interval():
        items = array.ravel().tolist()
        try:  # join takes only bytes-like items: it is the check, with no pass of its own
            data = b"".join(items)
        except TypeError:
            items = _utf8(name, items)
            data = b"".join(items)
        lengths = np.empty(len(items), dtype=np.int64)
        for start in range(0, len(items), _LENGTHS_SLICE):
            part = items[start : start + _LENGTHS_SLICE]
            lengths[start : start + len(part)] = np.fromiter(map(len, part), np.int64, len(part))
        if int(lengths.sum()) != len(data):  # a memoryview of wider items: not BYTES
            raise NotData(f"{name!r} holds objects whose length is not their size in bytes")
        return [_npy(lengths.reshape(array.shape)), data]


def _utf8(name: str, items: list[Any]) -> list[Any]:
    """``items`` with ``str`` encoded as UTF-8 (a model's text outputs, such as pandas'
    ``to_numpy()`` of a text column); NotData when some item is neither text nor bytes."""
    if not all(isinstance(item, str | bytes | bytearray | memoryview) for item in items):
        raise NotData(f"{name!r} holds Python objects other than bytes or str")
    try:
        return [item.encode() if isinstance(item, str) else item for item in items]
    except UnicodeEncodeError:  # a lone surrogate
        raise NotData(f"{name!r} holds text that is not valid Unicode") from None


def _from_npy(frame: bytearray) -> npt.NDArray[Any]:
    """The array in an ``.npy`` frame, checked against the frame's size before use."""
    fp = io.BytesIO(frame)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise PeerGone(f"an .npy frame of unsupported version {version}")
    except ValueError as exc:
        raise PeerGone(f"a frame is not an .npy array ({exc})") from None
    if dtype.kind not in _PLAIN_KINDS or dtype.hasobject or dtype.itemsize == 0:
        raise PeerGone(f"an .npy frame of dtype {dtype} is not plain data")
    if any(size < 0 for size in shape):  # numpy's reader takes them; reshape would raise
        raise PeerGone(f"an .npy frame declares a negative dimension {shape}")
    count = math.prod(shape)
    offset = fp.tell()
    if count * dtype.itemsize != len(frame) - offset:
        raise PeerGone("an .npy frame's shape disagrees with its size")
    flat = np.frombuffer(frame, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")


def _from_lengths(
    lengths: npt.NDArray[Any], data: bytearray, *, text: bool = False
) -> npt.NDArray[Any]:
    if lengths.dtype != np.int64 or (lengths.size and int(lengths.min()) < 0):
        raise PeerGone("BYTES lengths are not non-negative int64")
    # Each length at most the data's (a frame's size: its int64 sum cannot wrap around then,
    # where huge lengths could add up to any size).
    if (lengths.size and int(lengths.max()) > len(data)) or int(lengths.sum()) != len(data):
        raise PeerGone("BYTES lengths disagree with the data")
    flat = lengths.ravel()
    ends = np.cumsum(flat)
    bounds = zip((ends - flat).tolist(), ends.tolist(), strict=True)
    whole = bytes(data)
    items: list[bytes] | list[str]
    if text and whole.isascii():  # one decode, then slices: byte offsets are character offsets
        chars = whole.decode("ascii")
        items = [chars[start:end] for start, end in bounds]
    elif text:
        try:
            items = [whole[start:end].decode("utf-8") for start, end in bounds]
        except UnicodeDecodeError:
            return _from_lengths(lengths, data)
    else:
        items = [whole[start:end] for start, end in bounds]
    return object_array(items, lengths.shape)
