"""A signature declaring one name for two inputs (or two outputs) is refused at push: a request
can send each name once and an answer holds each once, so the version could never serve as
declared (the load failed later on whichever of the two the model's answer was checked as)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.store import ModelStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-model"


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        (
            "[{name: input, datatype: FP32, shape: [-1, 8]}, "
            "{name: input, datatype: INT64, shape: [-1, 3]}]",
            "[{name: score, datatype: FP32, shape: [-1]}]",
            "the signature declares input 'input' twice; each input needs a name of its own",
        ),
        (
            "[{name: input, datatype: FP32, shape: [-1, 8]}]",
            "[{name: score, datatype: FP32, shape: [-1]}, {name: score, datatype: INT64, "
            "shape: [-1]}]",
            "the signature declares output 'score' twice; each output needs a name of its own",
        ),
    ],
)
def test_a_name_declared_twice_is_refused(
    inferd_home: Path, tmp_path: Path, inputs: str, outputs: str, message: str
) -> None:
    model = tmp_path / "rules"
    shutil.copytree(EXAMPLE, model)
    (model / "inferd.model.yaml").write_text(
        f"runtime: python\nentrypoint: model:FraudRules\ninputs: {inputs}\noutputs: {outputs}\n"
    )
    result = CliRunner().invoke(main, ["push", str(model), "rules:v1"])
    assert result.exit_code == 2, result.output
    assert f"error: {message}\n" in result.output
    assert ModelStore(inferd_home).list() == []
