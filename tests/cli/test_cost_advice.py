"""``inferd cost recommend`` marks a proposal that keeps a value written in another form
(``cpu: 0.25`` and ``250m``) as unchanged, as its list of changes does."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import inferd.control.admin.client as client_module
from inferd.cli import main
from inferd.control.cost.documents import ProposalRow, Recommendations

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1"}]
    resources: {cpu: 0.25, memory: 0.125Gi}
"""


class _Stack:
    def __init__(self, spec: Path, proposals: list[ProposalRow]) -> None:
        self.state = SimpleNamespace(spec=str(spec))
        self.proposals = proposals

    def cost_recommendations(self, window: str) -> Recommendations:
        usage = {
            "replicas": 1.0, "requests": 10, "predictions": 10, "rps_p50": 1.0, "rps_p95": 1.0,
            "rps_max": 1.0, "concurrency_p95": 0.0, "cores_p95": 0.1,
            "cpu_seconds_per_request": 0.01, "peak_rss_mib": 100.0, "gpu_busy_p95": None,
            "gpu_memory_gib": None,
        }  # fmt: skip
        return {
            "window_s": 60.0, "covered_s": 60.0, "gpu": None, "changes": [],
            "advice": [{"deployment": "fraud", "version": "v1", "usage": usage,  # type: ignore[typeddict-item]
                        "proposals": self.proposals, "notes": []}],
        }  # fmt: skip


def _row(field: str, current: str, proposed: str) -> ProposalRow:
    return {
        "path": f"fraud.{field}", "deployment": "fraud", "version": None, "field": field,
        "current": current, "proposed": proposed, "arithmetic": "…",
    }  # fmt: skip


def test_the_same_quantity_in_another_form_reads_unchanged(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    rows = [_row("resources.cpu", "0.25", "250m"), _row("resources.memory", "0.125Gi", "128Mi")]
    monkeypatch.setattr(client_module, "AdminClient", lambda root: _Stack(spec, rows))
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m"])
    assert result.exit_code == 0, result.output
    assert "resources.cpu: 0.25 == 250m" in result.output
    assert "resources.memory: 0.125Gi == 128Mi" in result.output
    assert "nothing to change" in result.output
