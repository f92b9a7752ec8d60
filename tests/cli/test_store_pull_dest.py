"""``inferd pull REF DEST`` with an empty DEST (``"$OUT"`` of an unset variable): refused,
as ``cp`` and ``docker cp`` refuse it, instead of writing the files into the working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def test_an_empty_destination_is_refused_and_nothing_is_written(
    inferd_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = CliRunner().invoke(main, ["push", str(ONNX_V1), "fraud:v1"])
    assert pushed.exit_code == 0, pushed.output
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    result = CliRunner().invoke(main, ["pull", "fraud:v1", ""])
    assert result.exit_code == 2, result.output
    assert "Invalid value for 'DEST': it is empty; name a directory" in result.output
    assert os.listdir(work) == []

    here = CliRunner().invoke(main, ["pull", "fraud:v1", "."])  # named on purpose: taken
    assert here.exit_code == 0, here.output
    assert (work / "model.onnx").read_bytes() == ONNX_V1.read_bytes()
