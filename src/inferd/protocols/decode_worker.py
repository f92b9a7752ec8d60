"""The decoding process (:mod:`.decoding_process`): ``python -m inferd.protocols.decode_worker
FD`` decodes the bodies that arrive on socket FD, one at a time, until the socket closes."""

from __future__ import annotations

import socket
import sys
import traceback
from contextlib import suppress
from functools import partial

from inferd.errors import InferdError
from inferd.protocols.decoding_process import (
    Failure,
    pack,
    receive_message,
    send_message,
    unpack,
)


def serve(sock: socket.socket) -> None:
    """Answer each job with its request or its :class:`Failure`; return when the peer closes."""
    while True:
        try:
            frames = receive_message(sock)
        except EOFError:
            return
        body = frames.pop()
        answer: object
        try:
            job = unpack(frames)
            assert isinstance(job, partial)
            answer = job(body=body)
        except InferdError as exc:
            answer = Failure.of(exc)
        except Exception:  # a bug: logged here, 500 there, as an in-process decode would be
            traceback.print_exc()
            answer = Failure("InferdError", {"message": "internal error"})
        send_message(sock, pack(answer))


def main() -> None:
    # The server going away mid-answer leaves nothing to answer.
    with socket.socket(fileno=int(sys.argv[1])) as sock, suppress(ConnectionError):
        serve(sock)


if __name__ == "__main__":
    main()
