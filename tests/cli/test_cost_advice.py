"""``inferd cost recommend`` marks a proposal that keeps a value written in another form
(``cpu: 0.25`` and ``250m``) as unchanged, as its list of changes does."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

from .cost_stack import RecommendingStack, answered_by, proposal

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1"}]
    resources: {cpu: 0.25, memory: 0.125Gi}
"""


def test_the_same_quantity_in_another_form_reads_unchanged(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    rows = [
        proposal("resources.cpu", "0.25", "250m"),
        proposal("resources.memory", "0.125Gi", "128Mi"),
    ]
    answered_by(monkeypatch, RecommendingStack(spec, rows))
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m"])
    assert result.exit_code == 0, result.output
    assert "resources.cpu: 0.25 == 250m" in result.output
    assert "resources.memory: 0.125Gi == 128Mi" in result.output
    assert "nothing to change" in result.output
