"""A python model's entrypoint is checked at push, as its load checks it: a metadata file
declaring an entrypoint that is not ``module:Class``, or whose module is no file of the model,
is bad metadata (exit 2) instead of a version stored whose every load fails."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-model"


def _model(tmp_path: Path, entrypoint: str) -> Path:
    model = tmp_path / "rules"
    shutil.copytree(EXAMPLE, model)
    metadata = model / "inferd.model.yaml"
    text = metadata.read_text().replace("entrypoint: model:FraudRules", f"entrypoint: {entrypoint}")
    metadata.write_text(text)
    return model


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        (
            "model.py",
            "the python runtime needs an entrypoint 'module:Class', got 'model.py'",
        ),
        (
            "rules:FraudRules",
            "inferd.model.yaml: entrypoint 'rules:FraudRules': module 'rules' is in no file of "
            "the model (neither rules.py nor rules/__init__.py)",
        ),
    ],
)
def test_an_entrypoint_the_load_would_refuse_is_refused_at_push(
    inferd_home: Path, tmp_path: Path, entrypoint: str, message: str
) -> None:
    model = _model(tmp_path, entrypoint)
    result = CliRunner().invoke(main, ["push", str(model), "rules:v1"])
    assert result.exit_code == 2, result.output
    assert f"error: {message}\n" in result.output
    assert ModelStore(inferd_home).list() == []


def test_a_file_pushed_alone_is_the_only_module(inferd_home: Path, tmp_path: Path) -> None:
    """The file is the whole model: an entrypoint naming its sibling, left out, is refused."""
    model = _model(tmp_path, "helpers:FraudRules")
    (model / "helpers.py").write_text((model / "model.py").read_text())
    result = CliRunner().invoke(main, ["push", str(model / "model.py"), "rules:v1"])
    assert result.exit_code == 2, result.output
    assert (
        "error: inferd.model.yaml: entrypoint 'helpers:FraudRules': module 'helpers' is not "
        "'model.py', the file pushed (the whole model)\n"
    ) in result.output
    assert ModelStore(inferd_home).list() == []


def test_a_module_in_the_model_is_taken(inferd_home: Path, tmp_path: Path) -> None:
    model = _model(tmp_path, "pkg.scoring:FraudRules")
    (model / "pkg").mkdir()
    (model / "pkg" / "__init__.py").write_text("")
    shutil.move(model / "model.py", model / "pkg" / "scoring.py")
    pushed = push(ModelStore(inferd_home), model, "rules:v1")
    assert pushed.card.entrypoint == "pkg.scoring:FraudRules"


def test_a_python_version_without_an_entrypoint_is_said_to_be_unservable(
    inferd_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``--signature FILE`` stands for inferd.model.yaml entirely: its entrypoint goes with it.
    The version is stored (the python runtime takes files as they are), but push says no
    server can load it."""
    signature = tmp_path / "sig.yaml"
    signature.write_text("inputs: [{name: input, datatype: FP32, shape: [-1, 8]}]\n")
    with caplog.at_level(logging.WARNING, logger="inferd.runtimes"):
        pushed = push(
            ModelStore(inferd_home), EXAMPLE, "rules:v1", runtime="python", metadata=signature
        )
    assert pushed.card.entrypoint is None
    (record,) = [r for r in caplog.records if r.name.startswith("inferd.runtimes")]
    assert record.getMessage() == (
        "python-model: the python runtime loads the class an entrypoint names ('module:Class', "
        "in inferd.model.yaml or the --signature FILE that stands for it), and none is given: "
        "no server can load this version"
    )
