"""A registry that takes the connection and never answers (hung behind a load balancer): after
the retries, the error says it connected and got no answer in time, not "unreachable"."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.errors import Unavailable
from inferd.store.remote import RegistrySettings

from .conftest import Stores


@pytest.fixture
def silent() -> Iterator[str]:
    """``host:port`` of a listener that accepts connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        for conn in accepted:
            conn.close()


def test_a_registry_that_never_answers_is_named_as_silent(
    silent: str, docker_config: Path, inferd_home: Path, remote_store: Stores
) -> None:
    settings = RegistrySettings(
        insecure=frozenset({silent}), docker_config=docker_config, timeout_s=0.2, backoff_s=0.01,
        attempts=2,
    )  # fmt: skip
    store = remote_store(inferd_home, settings)
    with pytest.raises(Unavailable) as info:
        store.resolve(f"{silent}/team/fraud:v1")
    assert info.value.message == (
        f"registry {silent} accepted the connection but sent no answer to manifest "
        "team/fraud:v1 within 0.2 s (2 attempts)"
    )
