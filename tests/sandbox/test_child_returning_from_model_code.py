"""A process the model forks and does not end (``os.fork()`` with no ``os._exit`` in the child)
returns from the model's code into the worker's: it must end there, silently. Before, it
answered on the worker's socket as the model's process did: the next request got the answer of
the one before (another client's outputs), then the worker died ("exited with status 0")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferd.errors import ModelRaised

from .conftest import sandboxed_python

#: load and predict fork a child that returns (or raises) as the model's process does.
MODEL = """
import os

class Model:
    def load(self, path):
        os.fork()

    def predict(self, inputs):
        os.fork()
        if inputs["x"][0] < 0:
            raise ValueError("a negative input")
        return {"y": inputs["x"]}
"""


def test_each_request_gets_its_own_answer_from_the_same_worker(tmp_path: Path) -> None:
    model = sandboxed_python(tmp_path / "model", MODEL)
    try:
        worker = model.pid
        for x in (1, 2, 3):
            np.testing.assert_array_equal(model.predict({"x": np.array([x])})["y"], [x])
        assert model.pid == worker, "the worker was restarted"
    finally:
        model.close()


def test_a_child_that_raises_out_of_predict_sends_no_second_error(tmp_path: Path) -> None:
    model = sandboxed_python(tmp_path / "model", MODEL)
    try:
        for _ in range(2):
            with pytest.raises(ModelRaised, match="ValueError"):
                model.predict({"x": np.array([-1])})
        np.testing.assert_array_equal(model.predict({"x": np.array([4])})["y"], [4])
    finally:
        model.close()
