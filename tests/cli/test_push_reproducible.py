"""``inferd push`` twice gives one digest; SOURCE_DATE_EPOCH declares the build time
(issue 12 item 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

ONNX_V1 = (
    Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "fraud-v1" / "model.onnx"
)


def _push(ref: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = CliRunner().invoke(main, ["push", str(ONNX_V1), ref, "--json"], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def test_identical_pushes_share_a_digest_and_ls_shows_the_first_push(inferd_home: Path) -> None:
    first = _push("fraud:v1")
    assert _push("fraud:v2")["digest"] == first["digest"]
    history = json.loads(CliRunner().invoke(main, ["history", "fraud", "--json"]).stdout)
    rows = json.loads(CliRunner().invoke(main, ["ls", "fraud", "--json"]).stdout)
    assert [r["created"] for r in rows] == [history[0]["time"]] * 2
    inspected = json.loads(CliRunner().invoke(main, ["inspect", "fraud:v2", "--json"]).stdout)
    assert inspected["created"] == history[0]["time"]
    assert inspected["card"]["created"] is None


def test_source_date_epoch_is_the_declared_creation_time(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    first = _push("fraud:v1", env)
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "elsewhere"))
    assert _push("fraud:v1", env)["digest"] == first["digest"]
    card = json.loads(CliRunner().invoke(main, ["inspect", "fraud:v1", "--json"]).stdout)["card"]
    assert card["created"] == "2023-11-14T22:13:20Z"

    refused = CliRunner().invoke(
        main, ["push", str(ONNX_V1), "fraud:v2"], env={"SOURCE_DATE_EPOCH": "yesterday"}
    )
    assert refused.exit_code == 2
    assert "SOURCE_DATE_EPOCH='yesterday' is not a whole number of seconds" in refused.stderr
