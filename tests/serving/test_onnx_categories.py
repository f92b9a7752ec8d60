"""An ONNX model converted from a scikit-learn pipeline whose OneHotEncoder refuses categories
it was not fitted on (``handle_unknown='error'``: onnxruntime's OneHotEncoder with
``zeros=0``), pushed to a real store and served: a client's unknown category is a 400."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from inferd.config import ServerSettings
from inferd.datatypes import object_array
from inferd.errors import InvalidArgument
from inferd.observe.metrics import ServerMetrics
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime, warmup_inputs
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource
from inferd.serving.types import InferRequest, Tensor
from inferd.store import ModelStore


def _strict_onnx(folder: Path) -> None:
    colors = np.array([["red"], ["green"], ["blue"]] * 4, dtype=object)
    estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
    estimator.fit(colors, [1, 0, 0] * 4)
    options = {LogisticRegression: {"zipmap": False}}
    model = to_onnx(
        estimator, initial_types=[("color", StringTensorType([None, 1]))], options=options
    )
    folder.mkdir()
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@pytest.mark.parametrize("threshold", [None, 0], ids=["in-process", "in-worker"])
def test_an_unknown_category_is_a_400_and_the_model_loads(
    tmp_path: Path, threshold: int | None
) -> None:
    """onnxruntime's "Unknown Category and zeros = 0." was a 500, and the same refusal of the
    warm-up's empty string failed the load: the model never served."""
    store = ModelStore(tmp_path / "home")
    _strict_onnx(tmp_path / "colors")
    push(store, tmp_path / "colors", "colors:v1")

    async def main() -> None:
        settings, metrics = ServerSettings(), ServerMetrics()
        options = LoadOptions(process_string_elements=threshold)
        loaders = Loaders(StoreSource(store), get_runtime, warmup_inputs, options)
        manager = ModelManager(loaders, settings, metrics)
        plane = ServingDataPlane(manager, metrics, settings)
        try:
            assert await manager.serve(["colors:v1"]) == []
            red = Tensor("color", "BYTES", object_array([b"red"], (1, 1)))
            response = await plane.infer(InferRequest(model="colors", inputs=[red]))
            assert next(t for t in response.outputs if t.name == "label").data.tolist() == [1]
            purple = Tensor("color", "BYTES", object_array([b"red", b"purple"], (2, 1)))
            with pytest.raises(InvalidArgument) as caught:
                await plane.infer(InferRequest(model="colors", inputs=[purple]))
            assert caught.value.message == (
                "input 'color' holds a category the model's OneHotEncoder was not fitted on "
                "(onnxruntime: Unknown Category and zeros = 0.)"
            )
        finally:
            await plane.close()

    asyncio.run(main())
