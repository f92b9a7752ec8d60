"""A metadata ``entrypoint`` with a model pushed as one file: the file is the whole model, so an
entrypoint naming another file is bad metadata (exit 2), as it is for a directory, instead of
being dropped without a word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def test_an_entrypoint_naming_another_file_is_refused_for_a_file_pushed_alone(
    inferd_home: Path, tmp_path: Path
) -> None:
    metadata = tmp_path / "sig.yaml"
    metadata.write_text("entrypoint: nosuch.onnx\n")
    result = CliRunner().invoke(
        main, ["push", str(ONNX_V1), "fraud:v1", "--signature", str(metadata)]
    )
    assert result.exit_code == 2, result.output
    assert "sig.yaml: entrypoint 'nosuch.onnx' is not a file in the model" in result.output
    assert ModelStore(inferd_home).list() == []


@pytest.mark.parametrize("entrypoint", ["model.onnx", "./model.onnx"])
def test_an_entrypoint_naming_the_file_itself_is_taken(
    inferd_home: Path, tmp_path: Path, entrypoint: str
) -> None:
    model = tmp_path / "model.onnx"
    shutil.copyfile(ONNX_V1, model)
    (tmp_path / "inferd.model.yaml").write_text(f"entrypoint: {entrypoint}\n")
    pushed = push(ModelStore(inferd_home), model, "fraud:v1")
    assert pushed.card.entrypoint == "model.onnx"


def test_a_python_entrypoint_is_a_class_not_a_file(inferd_home: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    shutil.copyfile(EXAMPLES / "python-model" / "model.py", model)
    (tmp_path / "inferd.model.yaml").write_text(
        "runtime: python\nentrypoint: model:FraudRules\n"
        "inputs: [{name: input, datatype: FP32, shape: [-1, 8]}]\n"
        "outputs: [{name: label, datatype: INT64, shape: [-1]}]\n"
    )
    pushed = push(ModelStore(inferd_home), model, "rules:v1")
    assert pushed.card.entrypoint == "model:FraudRules"
