"""The model server's control plane: a loud warning when it listens beyond loopback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from inferd.config import ServerSettings, StoreSettings
from inferd.server import build_server


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_a_control_plane_beyond_loopback_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, host: str, warned: bool
) -> None:
    settings = ServerSettings(
        host="127.0.0.1",
        port=0,
        grpc_port=None,
        control_host=host,
        control_port=0,
        control_grpc_port=None,
        store=StoreSettings(home=tmp_path),
    )
    server = build_server(settings, [])

    async def run() -> None:
        await server.start()
        await server.shutdown()

    with caplog.at_level(logging.WARNING, logger="inferd"):
        asyncio.run(run())
    loud = [r for r in caplog.records if "BEYOND LOOPBACK" in r.getMessage()]
    assert bool(loud) is warned
    assert not list(tmp_path.glob("server-*.token")), "shutdown removes the token file"


@pytest.mark.parametrize(
    ("control", "control_port", "listed"),
    [(True, 0, True), (True, None, False), (False, 0, False)],
)
def test_model_repository_is_listed_only_where_a_control_plane_serves_it(
    tmp_path: Path, control: bool, control_port: int | None, listed: bool
) -> None:
    """The repository extension is served on the control plane only: a server without one
    (``--no-control``, ``--workers N``, ``control_port: null``) does not list it."""
    settings = ServerSettings(
        port=0, grpc_port=None, control_port=control_port, store=StoreSettings(home=tmp_path)
    )
    server = build_server(settings, [], control=control)
    extensions = server.dataplane.server_metadata().extensions
    assert ("model_repository" in extensions) is listed
    assert {"binary_tensor_data", "statistics", "kserve_v1"} <= set(extensions)
