"""The spec's ``metadata.labels`` go onto every object ``inferd k8s render`` writes, so a key
or value Kubernetes refuses is refused by the spec, at its line (it was refused by render alone,
without one, and ``inferd spec validate`` passed it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.spec.loading import SpecError, parse_spec

DOCUMENT = """apiVersion: inferd.dev/v1
kind: Stack
metadata: {{name: shop, labels: {labels}}}
deployments:
  - name: fraud
    versions: [{{name: v1, model: "fraud:v1"}}]
"""


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
def test_a_label_kubernetes_refuses_is_refused_at_its_line(labels: str, named: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(DOCUMENT.format(labels=labels), "inferd.yaml")
    ((line, message),) = [(p.line, p.message) for p in caught.value.problems]
    assert line == 3 and message.startswith(named), message


def test_spec_validate_exits_2_naming_the_label(tmp_path: Path) -> None:
    path = tmp_path / "inferd.yaml"
    path.write_text(DOCUMENT.format(labels='{team: "ML Ops"}'), encoding="utf-8")
    result = CliRunner().invoke(main, ["spec", "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "inferd.yaml:3:" in result.output and "label team: value 'ML Ops'" in result.output
