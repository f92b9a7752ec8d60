"""``inferd rm NAME:TAG && inferd gc`` right after a push: the blobs are younger than the grace
period (a push may still be using them), so gc keeps them, and says so with their count and size
instead of a bare "removed 0 blobs (0 B)" that reads as if nothing were unreferenced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

ONNX_V1 = (
    Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "fraud-v1" / "model.onnx"
)


@pytest.fixture(autouse=True)
def removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    assert CliRunner().invoke(main, ["push", str(ONNX_V1), "fraud:v1"]).exit_code == 0
    assert CliRunner().invoke(main, ["rm", "fraud:v1"]).exit_code == 0


def test_gc_says_which_unreferenced_blobs_it_kept_and_why() -> None:
    result = CliRunner().invoke(main, ["gc"])
    assert result.exit_code == 0, result.output
    # The manifest, the card and model.onnx: unreferenced, all written just now.
    assert result.stdout.startswith("removed 0 blobs (0 B) and 0 materialized models; kept 3 ")
    assert "younger than 10 minutes (a push may be using them)" in result.stdout

    document = json.loads(CliRunner().invoke(main, ["gc", "--json"]).stdout)
    assert document["blobs_kept"] == 3
    assert document["bytes_kept"] > ONNX_V1.stat().st_size
