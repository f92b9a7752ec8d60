"""A trusted model cannot reach a Unix socket on the filesystem: its network namespace hides
every interface and abstract socket name, but a socket file is reachable from any namespace,
and the worker runs as the server's user (root, for isolation): Docker's, containerd's or
systemd's private socket would have let it run anything on the host. A socketpair (an event
loop's self-pipe) still works."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from .conftest import sandboxed_python

#: predict reports the errno of connecting to the socket (0: it could), then whether an
#: asyncio event loop (a socketpair inside) runs a coroutine.
MODEL = """
import asyncio
import socket

import numpy as np

PATH = {path!r}


class Model:
    def predict(self, inputs):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(PATH)
                s.sendall(b"from the model")
            code = 0
        except OSError as exc:
            code = exc.errno or -1

        async def answer():
            return 7

        return {{"errno": np.array([code]), "loop": np.array([asyncio.run(answer())])}}
"""


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[socket.socket]:
    """A socket file the server's user listens on (as the Docker daemon does)."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "daemon.sock"))
    server.listen()
    server.settimeout(0.5)
    yield server
    server.close()


def test_a_trusted_model_cannot_connect_to_a_unix_socket_file(
    tmp_path: Path, listening: socket.socket
) -> None:
    model = sandboxed_python(tmp_path / "model", MODEL.format(path=str(tmp_path / "daemon.sock")))
    try:
        outputs = model.predict({"x": np.array([1])})
    finally:
        model.close()
    assert outputs["errno"].tolist() == [errno.EPERM]
    assert outputs["loop"].tolist() == [7]
    with pytest.raises(TimeoutError):
        listening.accept()  # nothing connected
