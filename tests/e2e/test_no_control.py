"""`inferd serve --no-control`: models fixed at start, no control listener, no token written."""

from pathlib import Path

from .conftest import ServeProcess, wait_ready


def test_no_control_serves_without_a_control_plane(serve, tmp_path: Path, store_home: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # the models are read from the shared store; the token would land in INFERD_HOME
    (home / "store").symlink_to(store_home / "store")
    server: ServeProcess = serve(home, "fraud:v1", "--no-control")
    wait_ready(server.url)
    assert server.control_port is None
    assert server.control_grpc_port is None
    assert not list(home.glob("server*.token"))
