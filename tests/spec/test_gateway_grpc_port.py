"""``gateway.grpc_port``: where ``inferd up`` serves gRPC, and how its default follows the REST
port (the spec's or ``inferd up --port``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inferd.errors import InvalidArgument
from inferd.spec.model import GatewaySpec


@pytest.mark.parametrize(
    ("spec", "rest_port", "grpc_port"),
    [
        ({}, 8080, 8081),  # the default: REST port + 1
        ({}, 9000, 9001),  # `inferd up --port 9000`: the default follows it
        ({}, 0, 0),  # REST on a free port: gRPC on a free port too
        ({"grpc_port": 9100}, 9000, 9100),  # set: used as written, whatever --port says
        ({"grpc_port": 0}, 8080, 0),  # 0: a free port
    ],
)
def test_grpc_port_default_follows_the_rest_port(
    spec: dict[str, int], rest_port: int, grpc_port: int
) -> None:
    assert GatewaySpec.model_validate(spec).grpc_port_for(rest_port) == grpc_port


def test_a_grpc_port_equal_to_the_rest_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="grpc_port 8080 is the REST port too"):
        GatewaySpec.model_validate({"port": 8080, "grpc_port": 8080})


def test_the_last_port_leaves_no_room_for_the_default() -> None:
    with pytest.raises(ValidationError, match="set grpc_port"):
        GatewaySpec.model_validate({"port": 65535})
    with pytest.raises(InvalidArgument, match="set grpc_port"):
        GatewaySpec().grpc_port_for(65535)
    assert GatewaySpec.model_validate({"port": 65535, "grpc_port": 1}).grpc_port_for(65535) == 1
