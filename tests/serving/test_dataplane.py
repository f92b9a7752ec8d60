"""The data plane contract: validation, output selection, metadata, statistics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from inferd import __version__
from inferd.card import TensorSpec
from inferd.errors import InvalidTensor, ModelNotFound
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.stats import StatisticDuration, VersionState
from inferd.serving.types import InferRequest, ModelInfo, RepositoryEntry, ServerInfo, Tensor

from .conftest import Harness, request, rows


def _run(harness: Harness, scenario: Callable[[ServingDataPlane], Awaitable[None]]) -> None:
    async def main() -> None:
        harness.push("m:v1")
        plane, manager, _ = harness.plane()
        await manager.serve(["m:v1"])
        try:
            await scenario(plane)
        finally:
            await plane.close()

    asyncio.run(main())


BAD_INPUTS = [
    pytest.param([], "'x': missing; model 'm' takes inputs x", id="missing"),
    pytest.param(
        [Tensor("x", "FP32", rows(1)), Tensor("w", "FP32", rows(1))],
        "'w': unknown input; model 'm' takes x",
        id="unknown",
    ),
    pytest.param(
        [Tensor("x", "FP64", rows(1).astype(np.float64))],
        "'x': expected datatype FP32 but got FP64",
        id="datatype",
    ),
    pytest.param(
        [Tensor("x", "FP32", np.zeros(4, dtype=np.float32))],
        "'x': expected shape [-1, 4] (rank 2) but got [4] (rank 1)",
        id="rank",
    ),
    pytest.param(
        [Tensor("x", "FP32", np.zeros((1, 3), dtype=np.float32))],
        "'x': expected shape [-1, 4] but got [1, 3] (dimension 1 must be 4)",
        id="fixed-dimension",
    ),
    pytest.param(
        [Tensor("x", "FP32", rows(1)), Tensor("x", "FP32", rows(1))],
        "'x': given more than once",
        id="duplicate",
    ),
]


@pytest.mark.parametrize(("inputs", "message"), BAD_INPUTS)
def test_invalid_inputs_name_the_tensor(
    harness: Harness, inputs: list[Tensor], message: str
) -> None:
    async def scenario(plane: ServingDataPlane) -> None:
        with pytest.raises(InvalidTensor) as bad:
            await plane.infer(InferRequest(model="m", inputs=inputs))
        assert bad.value.message == f"tensor {message}"
        assert plane.model_stats("m")[0].execution_count == 0

    _run(harness, scenario)


@pytest.mark.parametrize(
    ("inputs", "message"), [p for p in BAD_INPUTS if p.id not in ("missing", "duplicate")]
)
def test_the_input_check_refuses_each_header_as_infer_would(
    harness: Harness, inputs: list[Tensor], message: str
) -> None:
    """What transports check before decoding (name, datatype, shape) fails with infer's words;
    a missing or repeated input is told from the whole request, once decoded."""

    async def scenario(plane: ServingDataPlane) -> None:
        check = plane.input_check("m")
        assert check is not None
        with pytest.raises(InvalidTensor) as bad:
            for tensor in inputs:
                check.declared(tensor.name, tensor.datatype, tensor.shape)
        assert bad.value.message == f"tensor {message}"
        check.declared("x", "FP32", (7, 4))
        with pytest.raises(ModelNotFound, match="'ghost'"):  # 404 before any decoding
            plane.input_check("ghost")
        with pytest.raises(ModelNotFound, match="version 'v9'"):
            plane.input_check("m", "v9")

    _run(harness, scenario)


def test_unknown_output_and_unknown_model(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane) -> None:
        with pytest.raises(InvalidTensor, match="'nope': unknown output; model 'm' gives y, z"):
            await plane.infer(request(outputs=["nope"]))
        with pytest.raises(ModelNotFound, match="'ghost'"):
            await plane.infer(request("ghost"))
        with pytest.raises(ModelNotFound, match="version 'v9'"):
            await plane.infer(request(version="v9"))

    _run(harness, scenario)


def test_response_filters_outputs_echoes_id_and_names_the_version(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane) -> None:
        x = rows(2, 3.0)
        response = await plane.infer(request(x=x, outputs=["z"], id="req-7", version="v1"))
        assert (response.model_name, response.model_version, response.id) == ("m", "v1", "req-7")
        assert [(t.name, t.datatype, t.shape) for t in response.outputs] == [("z", "FP32", (2, 4))]
        np.testing.assert_allclose(response.outputs[0].data, x + 2)
        every = await plane.infer(request(x=x))
        assert [t.name for t in every.outputs] == ["y", "z"]

    _run(harness, scenario)


def test_metadata_health_index_and_stats(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane) -> None:
        assert plane.server_metadata() == ServerInfo(
            name="inferd",
            version=__version__,
            extensions=("binary_tensor_data", "model_repository", "statistics", "kserve_v1"),
        )
        assert plane.model_metadata("m") == ModelInfo(
            name="m",
            versions=("v1",),
            platform="onnx_onnxv1",
            inputs=(TensorSpec(name="x", datatype="FP32", shape=(-1, 4)),),
            outputs=(
                TensorSpec(name="y", datatype="FP32", shape=(-1, 4)),
                TensorSpec(name="z", datatype="FP32", shape=(-1, 4)),
            ),
        )
        with pytest.raises(ModelNotFound):
            plane.model_metadata("m", "v2")
        assert plane.live() and plane.ready() and plane.model_ready("m", "v1")
        assert not plane.model_ready("ghost")
        assert plane.repository_index(ready_only=True) == [
            RepositoryEntry("m", "v1", VersionState.READY, "")
        ]
        await plane.infer(request(x=rows(3)))
        (stats,) = plane.model_stats("m", "v1")
        assert (stats.name, stats.version) == ("m", "v1")
        assert stats.inference_count == 3 and stats.execution_count == 1
        assert stats.inference_stats.success.count == 1
        assert stats.last_inference > 0
        (batch,) = stats.batch_stats
        assert batch.batch_size == 3
        assert batch.compute_input == batch.compute_output == StatisticDuration(count=1, ns=0)
        assert plane.model_stats() == [stats]
        with pytest.raises(ModelNotFound):
            plane.model_stats("ghost")

    _run(harness, scenario)
