"""``inferd serve --workers N`` shares its ports among the workers: a port 0 (each worker
would pick its own, and clients could reach only one of them) is refused before any starts."""

from __future__ import annotations

import pytest

from inferd.config import ServerSettings
from inferd.errors import InvalidArgument
from inferd.server import run


@pytest.mark.parametrize(
    ("ports", "flag"),
    [({"port": 0}, "--port"), ({"port": 18080, "grpc_port": 0}, "--grpc-port")],
)
def test_workers_refuse_a_port_each_would_pick_for_itself(ports: dict[str, int], flag: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        run(ServerSettings.model_validate(ports), ["m:v1"], workers=2)
    assert f"--workers needs a fixed {flag}" in caught.value.message
