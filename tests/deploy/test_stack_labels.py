"""The spec's ``metadata.labels`` go onto every rendered object, so a key or value Kubernetes
refuses is refused by ``render``, naming it, not written into objects the API server rejects
on apply."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from .conftest import cli, render_with, validate


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
    ("labels", "named"),
    [
        ('{team: "ML Ops"}', "label team: value 'ML Ops'"),
        ('{"Bad Key": x}', "label key 'Bad Key'"),
        ('{"example.com/": x}', "label key 'example.com/'"),
        ('{"Example.com/team": x}', "label key 'Example.com/team'"),
        ('{"a/b/c": x}', "label key 'a/b/c'"),
        (f'{{team: "{"a" * 64}"}}', f"label team: value '{'a' * 64}'"),
        (f'{{"{"k" * 64}": x}}', f"label key '{'k' * 64}'"),
    ],
)
def test_a_label_kubernetes_refuses_is_refused_naming_it(labels: str, named: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        render_with(_spec(labels), registry="r.example.com")
    assert caught.value.message.startswith(f"metadata.labels: {named}")


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


def test_the_cli_exits_2_naming_the_label(tmp_path: Path) -> None:
    path = tmp_path / "inferd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "inferd.dev/v1",
                "kind": "Stack",
                "metadata": {"labels": {"team": "ML Ops"}},
                "deployments": [
                    {
                        "name": "fraud",
                        "versions": [{"name": "v1", "model": "fraud:v1"}],
                        "resources": {"gpu": 1},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    result = cli("k8s", "render", path, "--registry", "r.example.com")
    assert result.exit_code == 2, result.output
    assert "metadata.labels: label team: value 'ML Ops'" in result.stderr
