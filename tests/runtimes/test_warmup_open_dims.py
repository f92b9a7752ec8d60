"""A CNN whose height and width are open ([N, 3, H, W]) was refused at load: its warm-up set
them to 1, a 3x3 convolution refused the 1x1 image, and the error did not say it was the
warm-up. A warm-up on shapes it guessed may fail (logged, naming the shape and how to declare
one) and the version serves; a signature that declares every dimension but the batch still
fails its load on a warm-up error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from inferd.card import Signature, TensorSpec
from inferd.config import ServerSettings, StoreSettings
from inferd.errors import InvalidArgument
from inferd.observe.metrics import ServerMetrics
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime, warmup_inputs
from inferd.runtimes.warmup import guessed_shapes
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource
from inferd.serving.types import InferRequest, Tensor
from inferd.store import ModelStore

Scenario = Callable[[ServingDataPlane], Awaitable[None]]


def _conv(folder: Path, height: str | int, width: str | int) -> Path:
    """A 3x3 convolution of 3 channels into 2 (weights all ones, no padding)."""
    weights = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, height, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, None, None])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def _plane(store: ModelStore) -> tuple[ModelManager, ServingDataPlane]:
    """The model manager and data plane of a server loading from ``store`` (in its loop)."""
    settings, metrics = ServerSettings(), ServerMetrics()
    loaders = Loaders(StoreSource(store), get_runtime, warmup_inputs, LoadOptions())
    manager = ModelManager(loaders, settings, metrics)
    return manager, ServingDataPlane(manager, metrics, settings)


def _serve(store: ModelStore, ref: str, scenario: Scenario) -> None:
    async def main() -> None:
        manager, plane = _plane(store)
        try:
            failed = await manager.serve([ref])
            assert failed == []
            await scenario(plane)
        finally:
            await plane.close()

    asyncio.run(main())


def test_guessed_shapes_name_inputs_with_open_dimensions_past_the_batch() -> None:
    signature = Signature(
        inputs=(
            TensorSpec(name="image", datatype="FP32", shape=(-1, 3, -1, -1)),
            TensorSpec(name="features", datatype="FP32", shape=(-1, 4)),
            TensorSpec(name="fixed", datatype="FP32", shape=(2, -1)),
        )
    )
    assert guessed_shapes(signature) == ["image [1, 3, 1, 1]", "fixed [2, 1]"]
    assert guessed_shapes(Signature(inputs=signature.inputs[1:2])) == []


def test_a_cnn_with_open_height_and_width_serves_without_a_warm_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelStore(tmp_path / "home")
    push(store, _conv(tmp_path / "conv", "H", "W"), "conv:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        image = np.ones((1, 3, 5, 4), np.float32)
        response = await plane.infer(InferRequest("conv", [Tensor("x", "FP32", image)]))
        (y,) = response.outputs
        assert y.data.shape == (1, 2, 3, 2)
        np.testing.assert_allclose(y.data, np.full((1, 2, 3, 2), 27.0))

    with caplog.at_level(logging.WARNING, logger="inferd.serving.loading"):
        _serve(store, "conv:v1", scenario)
    (warning,) = [r.getMessage() for r in caplog.records if "warm-up" in r.getMessage()]
    assert "conv:v1" in warning and "x [1, 3, 1, 1]" in warning
    assert "serves without a warm-up" in warning and "--signature" in warning


def test_a_fully_declared_signature_still_fails_its_load_on_a_warm_up_error(
    tmp_path: Path,
) -> None:
    """A 2x2 image is what the signature declares, and a 3x3 kernel cannot run on it: the load
    fails, its error (which had only onnxruntime's message) saying it was the warm-up."""
    folder = _conv(tmp_path / "small", 2, 2)
    declared = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 2, 2]}]}
    (folder / "inferd.model.yaml").write_text(yaml.safe_dump(declared))
    store = ModelStore(tmp_path / "home")
    push(store, folder, "small:v1")
    warm_up = "its warm-up inference, on inputs shaped by its signature, failed (Non-zero"

    async def main() -> None:
        manager, plane = _plane(store)
        try:
            ((_, error),) = await manager.serve(["small:v1"])
            (row,) = plane.repository_index()
        finally:
            await plane.close()
        assert row.reason.startswith(warm_up)
        assert isinstance(error, InvalidArgument)
        assert error.message.startswith(f"loading small:v1 failed: {warm_up}")

    asyncio.run(main())


def test_the_start_up_example_says_its_open_dimensions_are_a_guess(tmp_path: Path) -> None:
    """The banner's curl sends the warm-up's 1s, which the convolution refuses: a note says so."""
    from e2e.conftest import _stop, start_serve

    home = tmp_path / "home"
    push(
        ModelStore.from_settings(StoreSettings(home=home)), _conv(tmp_path / "c", "H", "W"), "c:v1"
    )
    server = start_serve(home, "c:v1")
    try:
        deadline = time.monotonic() + 30  # the note follows the try: line
        while not any("note: c leaves dimensions" in line for line in server.log):
            assert time.monotonic() < deadline, "".join(server.log)
            time.sleep(0.1)
        (note,) = [line for line in server.log if "note: c leaves dimensions" in line]
        assert "x [1, 3, 1, 1]" in note and "send your real shape" in note
    finally:
        _stop(server)
