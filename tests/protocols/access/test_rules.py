"""Which key each endpoint needs (the table of inferd.protocols.access.rules)."""

from __future__ import annotations

import pytest

from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.access.keyring import Need
from inferd.protocols.access.rules import GRPC_RULES, Rule, grpc_rule, need, rest_rule
from inferd.protocols.grpc.servicer import InferenceServicer
from protocols.conftest import TEST_LIMITS, FakeDataPlane


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        ("/v2/health/live", Rule.OPEN),
        ("/v2/health/ready", Rule.OPEN),
        ("/v2", Rule.ANY_KEY),
        ("/v2/openapi.json", Rule.ANY_KEY),
        ("/v2/models/{model}", Rule.MODEL),
        ("/v2/models/{model}/ready", Rule.MODEL),
        ("/v2/models/{model}/infer", Rule.MODEL),
        ("/v2/models/{model}/versions/{version}/infer", Rule.MODEL),
        ("/v2/models/{model}/stats", Rule.MODEL),
        ("/v1/models/{model}", Rule.MODEL),
        ("/v1/models/{model}:predict", Rule.MODEL),
        ("/v1/chat/completions", Rule.BODY),
        ("/v1/completions", Rule.BODY),
        ("/v1/embeddings", Rule.BODY),
        ("/v1/models", Rule.EVERY),
        ("/v2/models/stats", Rule.EVERY),
        ("/v2/repository/index", Rule.EVERY),
        ("/v2/something/new", Rule.EVERY),
        ("/metrics", Rule.READ),
        ("/api/status", Rule.READ),
        ("/api/history", Rule.READ),
        ("/", Rule.READ),
        ("/dashboard.js", Rule.READ),
    ],
)
def test_rest_routes(template: str, rule: Rule) -> None:
    assert rest_rule(template, public_metrics=False) is rule
    opened = Rule.OPEN if rule is Rule.READ else rule
    assert rest_rule(template, public_metrics=True) is opened


@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("ServerLive", Rule.OPEN),
        ("ServerReady", Rule.OPEN),
        ("ServerMetadata", Rule.ANY_KEY),
        ("ModelInfer", Rule.MODEL),
        ("ModelMetadata", Rule.MODEL),
        ("ModelReady", Rule.MODEL),
        ("ModelStatistics", Rule.MODEL),
        ("RepositoryIndex", Rule.EVERY),
        ("RepositoryModelLoad", Rule.MODEL),
        ("RepositoryModelUnload", Rule.MODEL),
        ("ModelConfig", Rule.MODEL),  # as ModelMetadata: the server answers UNIMPLEMENTED
        ("ModelStreamInfer", Rule.ANY_KEY),
        ("SystemSharedMemoryStatus", Rule.EVERY),  # one nobody listed: the strictest
    ],
)
def test_grpc_methods(method: str, rule: Rule) -> None:
    assert grpc_rule(method) is rule


@pytest.mark.parametrize(
    ("rule", "model", "wanted"),
    [
        (Rule.OPEN, "fraud", None),
        (Rule.ANY_KEY, None, Need(None)),
        # /metrics, the dashboard and /api/* show every deployment.
        (Rule.READ, None, Need("read", every_deployment=True)),
        (Rule.MODEL, "fraud", Need("infer", "fraud")),
        (Rule.MODEL, "", Need("infer", every_deployment=True)),  # ModelStatistics of all
        (Rule.EVERY, None, Need("infer", every_deployment=True)),
        (Rule.BODY, "fraud", Need("infer", "fraud")),
        (Rule.BODY, None, Need("infer", every_deployment=True)),  # a body naming none
    ],
)
def test_what_each_rule_needs(rule: Rule, model: str | None, wanted: Need | None) -> None:
    assert need(rule, model) == wanted


def test_every_rpc_served_has_a_rule() -> None:
    """Each method of the service and each one the data-plane servicer answers (Triton's
    ModelConfig and ModelStreamInfer besides) is listed, not left to the strictest rule."""
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    served = InferenceServicer(FakeDataPlane(), TEST_LIMITS).handlers()
    methods = {m.name for m in service.methods} | set(served) | {"ModelStreamInfer"}
    assert methods - set(GRPC_RULES) == set()
