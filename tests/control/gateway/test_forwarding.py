"""A client's path as the replica knows it (the rewrite is cached; the query is not)."""

from __future__ import annotations

import pytest

from inferd.control.gateway.forwarding import upstream_path
from inferd.control.replicas.topology import VersionRoute
from inferd.protocols.http import Request

V1 = VersionRoute("v1", "fraud model", "fraud model:v1", 100)


def request(path: str, query: str = "") -> Request:
    return Request("POST", path, query, {}, b"")


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/v2/models/fraud/infer", "", "/v2/models/fraud%20model/infer"),
        ("/v2/models/fraud/versions/canary/infer", "", "/v2/models/fraud%20model/infer"),
        ("/v2/models/fraud/infer", "a=1", "/v2/models/fraud%20model/infer?a=1"),
        # Same path again, another query: the cached rewrite carries no query of its own.
        ("/v2/models/fraud/infer", "b=2", "/v2/models/fraud%20model/infer?b=2"),
        ("/v2/models/fraud/infer", "", "/v2/models/fraud%20model/infer"),
        ("/v1/models/fraud:predict", "", "/v1/models/fraud%20model:predict"),
        ("/v1/models/fraud", "", "/v1/models/fraud%20model"),
    ],
)
def test_the_path_names_the_replicas_model_and_keeps_the_query(
    path: str, query: str, expected: str
) -> None:
    assert upstream_path(request(path, query), V1) == expected


def test_the_same_path_for_another_version_rewrites_to_its_model() -> None:
    other = VersionRoute("v2", "fraud-v2", "fraud-v2:latest", 0)
    assert upstream_path(request("/v2/models/fraud/ready"), V1) == "/v2/models/fraud%20model/ready"
    assert upstream_path(request("/v2/models/fraud/ready"), other) == "/v2/models/fraud-v2/ready"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("//v2/models/fraud/infer", "/v2/models/fraud%20model/infer"),
        ("///v2/models/fraud/versions/canary/infer", "/v2/models/fraud%20model/infer"),
        ("//v1/models/fraud:predict", "/v1/models/fraud%20model:predict"),
        ("//v1/models/fraud", "/v1/models/fraud%20model"),
        ("/v1/models/fraud:predict/", "/v1/models/fraud%20model:predict"),
        ("/v2/models/fraud/versions/canary/infer/", "/v2/models/fraud%20model/infer"),
    ],
)
def test_slashes_the_router_takes_are_taken_here_too(path: str, expected: str) -> None:
    """A client whose base URL ends in ``/`` sends ``//v2/models/fraud/infer``: the router
    matches it (as ``inferd serve``'s does), but the rewrite counted the empty segment and sent
    the replica ``/v2/models/fraud%20model/fraud/infer``, a 404 naming a model the client never
    named (``'fraud model/fraud'``); ``:predict/`` lost its ``:predict`` (a 405 upstream)."""
    assert upstream_path(request(path), V1) == expected
