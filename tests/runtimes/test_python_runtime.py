"""The python runtime: user code runs only with trust, in a worker process, never the server."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.card import ModelCard
from inferd.errors import InternalError, InvalidArgument, NotFound, PermissionDenied
from inferd.packaging import load_metadata
from inferd.runtimes import LoadOptions, Model, get_runtime
from inferd.runtimes.warmup import warmup_inputs

from .conftest import EXAMPLES

TRUSTED = LoadOptions(trust_code=True)
Load = Callable[[Path, ModelCard], Model]


@pytest.fixture
def load() -> Iterator[Load]:
    """``load(directory, card)`` with code trusted; every model is closed at teardown."""
    models: list[Model] = []
    runtime = get_runtime("python")  # imported before a test reads sys.modules

    def load(directory: Path, card: ModelCard) -> Model:
        models.append(runtime.load(directory, card, TRUSTED))
        return models[-1]

    yield load
    for model in models:
        model.close()


def write_model(directory: Path, body: str, module: str = "model.py") -> Path:
    (directory / module).parent.mkdir(parents=True, exist_ok=True)
    (directory / module).write_text(textwrap.dedent(body))
    return directory


def card(entrypoint: str | None) -> ModelCard:
    return ModelCard(name="m", runtime="python", entrypoint=entrypoint)


def test_refused_without_trust_and_no_user_code_runs(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    directory = write_model(
        tmp_path / "m",
        f"""
        from pathlib import Path
        Path({str(sentinel)!r}).write_text("imported")
        class Model:
            def predict(self, inputs):
                return inputs
    """,
    )
    with pytest.raises(PermissionDenied, match="only when code is explicitly trusted") as refused:
        get_runtime("python").load(directory, card("model:Model"), LoadOptions())
    assert not sentinel.exists()
    message = refused.value.message
    assert "inferd serve … --trust-code m" in message and "--trust-code m:TAG" in message
    assert "trust_code: true" in message and "inferd history m" in message


def test_the_example_loads_and_predicts(tmp_path: Path, load: Load) -> None:
    directory = tmp_path / "python-model"
    shutil.copytree(EXAMPLES / "python-model", directory)
    meta = load_metadata(directory / "inferd.model.yaml")
    assert meta.signature is not None
    model = load(directory, card(meta.entrypoint))
    x = np.random.default_rng(4).normal(size=(6, 8)).astype(np.float32)
    outputs = model.predict({"input": x})
    weights = np.array([0.05, -0.29, 0.16, -0.01, 0.13, -0.82, -0.69, -0.1], dtype=np.float32)
    expected = 1 / (1 + np.exp(-(x @ weights - 1.9)))
    np.testing.assert_allclose(outputs["score"], expected, rtol=1e-5)
    np.testing.assert_array_equal(outputs["label"], (expected > 0.5).astype(np.int64))
    assert {n: a.shape for n, a in model.predict(warmup_inputs(meta.signature, 2)).items()} == {
        "label": (2,),
        "score": (2,),
    }
    model.close()
    assert not list(directory.rglob("__pycache__")), "bytecode written into the artifact"


def test_same_module_names_do_not_clobber_each_other(tmp_path: Path, load: Load) -> None:
    paths_before, modules_before = list(sys.path), set(sys.modules)
    modules = []
    for version in (1, 2):
        directory = tmp_path / f"v{version}"
        write_model(directory, f"VERSION = {version}\n", module="helpers.py")
        write_model(
            directory,
            """
            import numpy as np
            from . import helpers
            class Model:
                def predict(self, inputs):
                    return {"version": np.array([helpers.VERSION])}
        """,
        )
        modules.append(load(directory, card("model:Model")))
    assert [int(m.predict({})["version"][0]) for m in modules] == [1, 2]
    # Each version imports in a worker process of its own; the server imports nothing of theirs.
    assert sys.path == paths_before
    assert set(sys.modules) == modules_before


def test_load_and_close_hooks_are_called(tmp_path: Path) -> None:
    closed = tmp_path / "closed.txt"  # outside the model directory, which the worker sees read-only
    directory = write_model(
        tmp_path / "m",
        f"""
        import numpy as np
        from pathlib import Path
        class Model:
            def load(self, path):
                self.scale = float((path / "scale.txt").read_text())
            def predict(self, inputs):
                return {{"y": inputs["x"] * self.scale}}
            def close(self):
                Path({str(closed)!r}).write_text("closed")
    """,
    )
    (directory / "scale.txt").write_text("3")
    model = get_runtime("python").load(directory, card("model:Model"), TRUSTED)
    np.testing.assert_array_equal(model.predict({"x": np.array([1.0, 2.0])})["y"], [3.0, 6.0])
    model.close()
    assert closed.read_text() == "closed"


def test_dotted_module_in_a_package(tmp_path: Path, load: Load) -> None:
    directory = tmp_path / "m"
    write_model(directory, "", module="pkg/__init__.py")
    write_model(
        directory,
        """
        class Model:
            def predict(self, inputs):
                return {"n": [len(inputs)]}
    """,
        module="pkg/serving.py",
    )
    model = load(directory, card("pkg.serving:Model"))
    assert model.predict({"a": np.zeros(1)})["n"].tolist() == [1]


@pytest.mark.parametrize(
    ("entrypoint", "error", "message"),
    [
        (None, InvalidArgument, "needs an entrypoint 'module:Class'"),
        ("model.py", InvalidArgument, "needs an entrypoint 'module:Class'"),
        ("../escape:Model", InvalidArgument, "needs an entrypoint 'module:Class'"),
        ("missing:Model", NotFound, "module 'missing' is in no file of the model"),
        ("model:Nope", InvalidArgument, "'model:Nope': module 'model' has no 'Nope'"),
        ("broken:Model", InvalidArgument, "loading 'broken:Model' raised ZeroDivisionError"),
        ("failing:Model", InvalidArgument, "loading 'failing:Model' raised OSError"),
    ],
)
def test_bad_entrypoints_are_refused(
    tmp_path: Path, entrypoint: str | None, error: type[Exception], message: str
) -> None:
    directory = write_model(
        tmp_path / "m",
        """
        class Model:
            def predict(self, inputs):
                return inputs
    """,
    )
    write_model(directory, "1 / 0\n", module="broken.py")
    write_model(
        directory,
        """
        class Model:
            def load(self, path):
                raise OSError("no weights")
            def predict(self, inputs):
                return inputs
    """,
        module="failing.py",
    )
    runtime = get_runtime("python")  # its own import is not the model's
    before = set(sys.modules)
    with pytest.raises(error, match=message):
        runtime.load(directory, card(entrypoint), TRUSTED)
    assert set(sys.modules) == before


def test_symlinked_module_is_refused(tmp_path: Path) -> None:
    outside = write_model(
        tmp_path / "outside", "class Model:\n    def predict(self, i): return i\n"
    )
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "model.py").symlink_to(outside / "model.py")
    with pytest.raises(InvalidArgument, match=r"'model\.py' is a symlink"):
        get_runtime("python").load(directory, card("model:Model"), TRUSTED)


def test_predict_must_return_a_dict(tmp_path: Path, load: Load) -> None:
    directory = write_model(
        tmp_path / "m",
        """
        class Model:
            def predict(self, inputs):
                return [1, 2, 3]
    """,
    )
    model = load(directory, card("model:Model"))
    with pytest.raises(InternalError, match="returned list, not a dict"):
        model.predict({})
