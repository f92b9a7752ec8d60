"""``inferd cost recommend -o`` after an ``inferd apply`` of another file: the server compares
its proposals with the running spec, but the patch is written into the file ``inferd up`` was
started with, so the changes are what that file needs (a proposal the running spec already has
is still a change to the file, and writing it without that change would undo the right-sizing)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import inferd.control.admin.client as client_module
from inferd.cli import main
from inferd.control.cost.documents import ProposalRow, Recommendations, UsageRow
from inferd.spec.loading import parse_spec

#: The file `inferd up` was started with; `inferd apply sized.yaml` has since made the running
#: spec's fraud/v1 1 replica of 250m and 160Mi.
STARTED_WITH = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1", replicas: 2}]
    resources: {cpu: 500m, memory: 512Mi}
"""


def _usage() -> UsageRow:
    return {
        "replicas": 1.0, "requests": 209, "predictions": 209, "rps_p50": 3.4, "rps_p95": 4.0,
        "rps_max": 4.0, "concurrency_p95": 0.0, "cores_p95": 0.1,
        "cpu_seconds_per_request": 0.0017, "peak_rss_mib": 106.0, "gpu_busy_p95": None,
        "gpu_memory_gib": None,
    }  # fmt: skip


def _row(field: str, version: str | None, current: int | str, proposed: int | str) -> ProposalRow:
    owner = "fraud" if version is None else f"fraud.{version}"
    return {
        "path": f"{owner}.{field}", "deployment": "fraud", "version": version, "field": field,
        "current": current, "proposed": proposed, "arithmetic": "…",
    }  # fmt: skip


class _Stack:
    """The admin API of an `inferd up` started from ``spec`` whose running spec already has
    every proposal (the server's changes are none)."""

    def __init__(self, spec: Path) -> None:
        self.state = SimpleNamespace(spec=str(spec))

    def cost_recommendations(self, window: str) -> Recommendations:
        proposals = [
            _row("replicas", "v1", 1, 1),
            _row("resources.cpu", None, "250m", "250m"),
            _row("resources.memory", None, "160Mi", "160Mi"),
        ]
        return {
            "window_s": 60.0, "covered_s": 60.0, "gpu": None, "changes": [],
            "advice": [{"deployment": "fraud", "version": "v1", "usage": _usage(),
                        "proposals": proposals, "notes": []}],
        }  # fmt: skip


def test_the_changes_are_those_the_patched_file_needs(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(STARTED_WITH, encoding="utf-8")
    monkeypatch.setattr(client_module, "AdminClient", lambda root: _Stack(spec))
    sized = tmp_path / "sized.yaml"
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m", "-o", str(sized)])
    assert result.exit_code == 0, result.output
    assert "nothing to change" not in result.output
    assert "  fraud.v1.replicas: 2 -> 1" in result.output
    assert "  fraud.resources.cpu: 500m -> 250m" in result.output
    assert "  fraud.resources.memory: 512Mi -> 160Mi" in result.output
    patched = parse_spec(sized.read_text(encoding="utf-8"))
    fraud = patched.deployments[0]
    assert (fraud.versions[0].replicas, fraud.resources.cpu, fraud.resources.memory) == (
        1,
        "250m",
        "160Mi",
    )


def test_a_file_that_has_every_proposal_has_nothing_to_change(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        STARTED_WITH.replace("replicas: 2", "replicas: 1")
        .replace("500m", "250m")
        .replace("512Mi", "160Mi"),
        encoding="utf-8",
    )
    monkeypatch.setattr(client_module, "AdminClient", lambda root: _Stack(spec))
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m", "--json"])
    assert result.exit_code == 0, result.output
    assert '"changes": []' in result.output
    assert '"patch": null' in result.output
