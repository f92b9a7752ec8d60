"""Triton's ``parameters.timeout`` of 0 means "no timeout of its own" (tritonserver.h: "the
default is 0 which indicates that the request has no timeout"): code written for Triton that
passes ``timeout=0`` is served under the server's default, not refused."""

from __future__ import annotations

import httpx
import orjson
import pytest

from protocols.conftest import Running

X = {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}


def _post(server: Running, parameters: dict[str, object]) -> httpx.Response:
    body = orjson.dumps({"inputs": [X], "parameters": parameters})
    return httpx.post(f"{server.url}/v2/models/echo/infer", content=body)


def test_tritons_timeout_of_zero_leaves_the_server_default(data_server: Running) -> None:
    answer = _post(data_server, {"timeout": 0})
    assert answer.status_code == 200, answer.text
    assert data_server.dataplane.received["echo"].deadline is None


def test_tritons_timeout_of_zero_leaves_another_timeout_in_force(data_server: Running) -> None:
    answer = _post(data_server, {"timeout": 0, "timeout_ms": 5000})
    assert answer.status_code == 200, answer.text
    assert data_server.dataplane.received["echo"].deadline is not None


@pytest.mark.parametrize("bad", [-1, 1.5, "100", True])
def test_a_timeout_that_is_not_a_whole_number_of_microseconds_is_still_a_400(
    data_server: Running, bad: object
) -> None:
    answer = _post(data_server, {"timeout": bad})
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "parameters.timeout (Triton's, in microseconds) must be a whole number of microseconds "
        f"from 0 (none) to 86400000000, not {bad!r}"
    )
