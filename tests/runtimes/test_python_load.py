"""A trusted python model's load, as its author meets it: a package it imports that is not
installed is named, a load that fails leaves no false alarm in the log, and what the model logs
with ``logging`` is in the server's log."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from inferd.card import ModelCard
from inferd.config import SandboxSettings
from inferd.errors import InvalidArgument
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel

NEEDS_A_PACKAGE = """
import numpy as np
import torchvision_is_not_installed.models

class Model:
    def predict(self, inputs):
        return inputs
"""

NEEDS_A_SIBLING = """
from .features import featurize

class Model:
    def predict(self, inputs):
        return inputs
"""

LOGS = """
import logging
import numpy as np

log = logging.getLogger("fraud.rules")

class Model:
    def load(self, path):
        log.info("rules loaded from %s", path.name)

    def predict(self, inputs):
        log.info("scoring %d rows", len(inputs["x"]))
        log.debug("not shown: the server logs INFO and up")
        return {"y": inputs["x"]}
"""


def load(directory: Path, code: str, entrypoint: str = "model:Model") -> SandboxedModel:
    directory.mkdir(exist_ok=True)
    (directory / "model.py").write_text(code)
    options = LoadOptions(trust_code=True, sandbox=SandboxSettings())
    card = ModelCard(name="m", runtime="python", entrypoint=entrypoint)
    model = get_runtime("python").load(directory, card, options)
    assert isinstance(model, SandboxedModel)
    return model


def test_a_package_not_installed_is_named_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        load(tmp_path / "m", NEEDS_A_PACKAGE)
    message = caught.value.message
    assert message.startswith("loading 'model:Model' failed: it imports ")
    assert "'torchvision_is_not_installed', which is not installed where the server runs" in message
    assert "install it beside inferd" in message


def test_a_sibling_module_missing_from_the_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        load(tmp_path / "m", NEEDS_A_SIBLING)
    assert caught.value.message == (
        "loading 'model:Model' failed: it imports 'features', which is in no file of the "
        "model (neither features.py nor features/__init__.py)"
    )


def test_a_failed_load_logs_no_unclean_close(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(InvalidArgument):
        load(tmp_path / "m", NEEDS_A_PACKAGE)
    assert "did not close cleanly" not in caplog.text


def test_what_the_model_logs_at_info_is_in_the_server_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    model = load(tmp_path / "fraud", LOGS)
    try:
        model.predict({"x": np.zeros(3, dtype=np.int64)})
        err = capfd.readouterr().err
    finally:
        model.close()
    assert " INFO fraud.rules: rules loaded from fraud" in err
    assert " INFO fraud.rules: scoring 3 rows" in err
    assert "not shown" not in err


NOT_MODELS = """
def predict_fn(inputs):
    return inputs

class NoPredict:
    def __call__(self, inputs):
        return inputs
"""


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("model:Model", "'model:Model': module 'model' has no 'Model'"),
        ("model:predict_fn", "'model:predict_fn' is a function, not a class with a predict method"),
        ("model:NoPredict", "'model:NoPredict' is a class without a predict method"),
    ],
)
def test_an_entrypoint_that_names_no_model_says_what_it_names(
    tmp_path: Path, entrypoint: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        load(tmp_path / "m", NOT_MODELS, entrypoint)
    assert caught.value.message == message


def test_a_sibling_imported_as_installed_says_to_import_it_relatively(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "features.py").write_text("SCALE = 2\n")
    with pytest.raises(InvalidArgument) as caught:
        load(
            directory,
            NEEDS_A_SIBLING.replace("from .features import featurize", "import features"),
        )
    assert caught.value.message == (
        "loading 'model:Model' failed: it imports 'features' as an installed module, but it is "
        "a module of the model: import it relatively (from . import features)"
    )


ASYNC_PREDICT = """
class Model:
    async def predict(self, inputs):
        return inputs
"""

ASYNC_LOAD = """
class Model:
    async def load(self, path):
        self.weights = 2

    def predict(self, inputs):
        return {"y": inputs["x"] * self.weights}
"""


@pytest.mark.parametrize("code", [ASYNC_PREDICT, ASYNC_LOAD])
def test_an_async_predict_or_load_is_refused_at_load(tmp_path: Path, code: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        load(tmp_path / "m", code)
    assert caught.value.message == (
        "'model:Model' defines predict or load with async def: the python runtime calls them "
        "as plain functions (def), one batch at a time"
    )
