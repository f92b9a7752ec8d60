"""The spec's ``metadata.labels`` go onto every rendered object (the spec refuses those
Kubernetes refuses: tests/spec/test_stack_labels.py)."""

from __future__ import annotations

import pytest

from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from .conftest import render_with, validate


def _spec(labels: str) -> Spec:
    return parse_spec(
        f"""apiVersion: inferd.dev/v1
kind: Stack
metadata: {{name: shop, labels: {labels}}}
deployments:
  - name: fraud
    versions: [{{name: v1, model: "fraud:v1"}}]
"""
    )


@pytest.mark.parametrize(
    "labels",
    ["{team: ml-ops}", '{"example.com/team": ml_ops.1}', '{team: ""}', '{"cost-center": "42"}'],
)
def test_labels_kubernetes_takes_reach_every_object(labels: str) -> None:
    spec = _spec(labels)
    objects = render_with(spec, registry="r.example.com")
    for o in objects:
        validate(o)
        for key, value in spec.metadata.labels.items():
            assert o["metadata"]["labels"][key] == value
