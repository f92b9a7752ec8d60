"""What a trusted model prints reaches the server's log while its worker runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferd.card import ModelCard
from inferd.config import SandboxSettings
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel

MODEL = """
import numpy as np

class Model:
    def predict(self, inputs):
        print("predict saw", int(inputs["x"].sum()))
        return {"y": inputs["x"]}
"""


def test_a_print_in_predict_is_in_the_log_before_the_worker_exits(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "model.py").write_text(MODEL)
    options = LoadOptions(trust_code=True, sandbox=SandboxSettings())
    card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
    model = get_runtime("python").load(tmp_path, card, options)
    assert isinstance(model, SandboxedModel)
    try:
        model.predict({"x": np.array([40, 2], dtype=np.int64)})
        # The worker is still running: its print must not wait in a buffer until it exits.
        assert "predict saw 42" in capfd.readouterr().err
    finally:
        model.close()


STRINGS = """
import numpy as np

class Model:
    def predict(self, inputs):
        # What pandas' .to_numpy() of a text column gives: an object array of str.
        labels = np.array(["fraud", "ok", "délai"], dtype=object)[: len(inputs["x"])]
        return {"label": labels, "mixed": np.array([b"raw", "text"], dtype=object)}
"""


def test_str_objects_a_model_returns_arrive_as_utf8_bytes(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(STRINGS)
    options = LoadOptions(trust_code=True, sandbox=SandboxSettings())
    card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
    model = get_runtime("python").load(tmp_path, card, options)
    try:
        outputs = model.predict({"x": np.zeros(3, dtype=np.int64)})
    finally:
        model.close()
    assert outputs["label"].tolist() == [b"fraud", b"ok", "délai".encode()]
    assert outputs["mixed"].tolist() == [b"raw", b"text"]
