"""What a trusted python model returns that is no output says which output and what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.errors import InternalError
from inferd.sandbox.model import SandboxedModel

from .conftest import sandboxed_python

MODEL = """
import numpy as np

class Model:
    def predict(self, inputs):
        what = int(inputs["x"][0])
        if what == 1:
            return {"ok": np.zeros(2), "tokens": [[1, 2], [3]]}
        if what == 2:
            return {"y": np.zeros(1), 0: np.zeros(1)}
        return {"y": inputs["x"]}
"""


@pytest.fixture
def model(tmp_path: Path) -> Iterator[SandboxedModel]:
    loaded = sandboxed_python(tmp_path, MODEL)
    yield loaded
    loaded.close()


def failure(model: SandboxedModel, what: int) -> str:
    with pytest.raises(InternalError) as caught:
        model.predict({"x": np.array([what], dtype=np.int64)})
    return caught.value.message


def test_a_ragged_list_names_its_output(model: SandboxedModel) -> None:
    assert failure(model, 1).startswith("an output is not an array: 'tokens' makes no array (")


def test_a_key_that_is_no_name_is_named(model: SandboxedModel) -> None:
    assert failure(model, 2) == (
        "the model's predict returned a dict with key 0, not an output name (str)"
    )
    assert model.predict({"x": np.array([0])})["y"].tolist() == [0]
