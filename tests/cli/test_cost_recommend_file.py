"""``inferd cost recommend -o`` after an ``inferd apply`` of another file: the server compares
its proposals with the running spec, but the patch is written into the file ``inferd up`` was
started with, so the changes are what that file needs (a proposal the running spec already has
is still a change to the file, and writing it without that change would undo the right-sizing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.spec.loading import parse_spec

from .cost_stack import RecommendingStack, answered_by, proposal

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


#: What the server proposes: all of it is in the running spec already (it changes nothing).
PROPOSALS = [
    proposal("replicas", 1, 1, version="v1"),
    proposal("resources.cpu", None, "250m"),
    proposal("resources.memory", None, "160Mi"),
]


def test_the_changes_are_those_the_patched_file_needs(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(STARTED_WITH, encoding="utf-8")
    answered_by(monkeypatch, RecommendingStack(spec, PROPOSALS))
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
    answered_by(monkeypatch, RecommendingStack(spec, PROPOSALS))
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m", "--json"])
    assert result.exit_code == 0, result.output
    assert '"changes": []' in result.output
    assert '"patch": null' in result.output
