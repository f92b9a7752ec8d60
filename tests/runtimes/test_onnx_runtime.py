"""The ONNX runtime predicts exactly what onnxruntime does, and guards its external data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, NotFound, Unsupported
from inferd.runtimes import LoadOptions, get_runtime, warmup_inputs
from inferd.runtimes.detect import detect_model
from inferd.runtimes.onnx_session import OnnxModel

from .conftest import EXAMPLES, linear_onnx


def card_for(path: Path) -> ModelCard:
    detection = detect_model(path, None)
    assert detection.signature is not None
    return ModelCard(
        name="m", runtime="onnx", signature=detection.signature, entrypoint=detection.entrypoint
    )


@pytest.mark.parametrize("version", ["fraud-v1", "fraud-v2"])
def test_predictions_match_onnxruntime(version: str) -> None:
    directory = EXAMPLES / "quickstart" / version
    model = get_runtime("onnx").load(directory, card_for(directory), LoadOptions())
    x = np.random.default_rng(1).normal(size=(33, 8)).astype(np.float32)
    reference = ort.InferenceSession(directory / "model.onnx", providers=["CPUExecutionProvider"])
    label, probabilities = reference.run(["label", "probabilities"], {"input": x})
    outputs = model.predict({"input": x})
    assert set(outputs) == {"label", "probabilities"}
    np.testing.assert_array_equal(outputs["label"], label)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, rtol=1e-6)
    assert outputs["label"].dtype == np.int64 and outputs["probabilities"].dtype == np.float32
    model.close()


def test_warmup_inputs_run_on_a_symbolic_model(linear_model_dir: Path) -> None:
    card = card_for(linear_model_dir)
    model = get_runtime("onnx").load(linear_model_dir, card, LoadOptions(intra_op_threads=2))
    outputs = model.predict(warmup_inputs(card.signature, batch_size=5))
    assert outputs["y"].shape == (5, 3)
    assert outputs["cls"].shape == (5,)
    assert outputs["flag_out"].shape == (5, 1)


def test_single_file_path_loads(linear_model_dir: Path) -> None:
    card = ModelCard(name="m", runtime="onnx")
    model = get_runtime("onnx").load(linear_model_dir / "linear.onnx", card, LoadOptions())
    x = np.ones((2, 4), dtype=np.float32)
    assert model.predict({"x": x, "flag": np.ones((2, 1), dtype=bool)})["y"].shape == (2, 3)


def test_entrypoint_picks_among_several_files(linear_model_dir: Path) -> None:
    shutil.copy(EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx", linear_model_dir)
    runtime = get_runtime("onnx")
    with pytest.raises(
        InvalidArgument, match=r"found linear\.onnx, model\.onnx; set the entrypoint"
    ):
        runtime.load(linear_model_dir, ModelCard(name="m", runtime="onnx"), LoadOptions())
    card = ModelCard(name="m", runtime="onnx", entrypoint="model.onnx")
    model = runtime.load(linear_model_dir, card, LoadOptions())
    assert set(model.predict({"input": np.zeros((1, 8), np.float32)})) == {"label", "probabilities"}
    with pytest.raises(NotFound, match=r"entrypoint 'other\.onnx' is not a file"):
        runtime.load(
            linear_model_dir, card.model_copy(update={"entrypoint": "other.onnx"}), LoadOptions()
        )


def test_wrong_input_is_an_invalid_argument_naming_it(linear_model_dir: Path) -> None:
    model = get_runtime("onnx").load(linear_model_dir, card_for(linear_model_dir), LoadOptions())
    flag = np.ones((2, 1), dtype=bool)
    with pytest.raises(InvalidArgument, match="x") as info:
        model.predict({"x": np.ones((2, 4), dtype=np.float64), "flag": flag})
    assert "ONNXRuntimeError" not in info.value.message


def test_cuda_without_cuda_is_unsupported(linear_model_dir: Path) -> None:
    assert "CUDAExecutionProvider" not in ort.get_available_providers()
    with pytest.raises(Unsupported, match="device 'cuda' was requested"):
        get_runtime("onnx").load(
            linear_model_dir, card_for(linear_model_dir), LoadOptions(device="cuda")
        )


def test_cpu_load_uses_the_cpu_provider(linear_model_dir: Path) -> None:
    model = get_runtime("onnx").load(linear_model_dir, card_for(linear_model_dir), LoadOptions())
    assert isinstance(model, OnnxModel)
    assert model.providers == ["CPUExecutionProvider"]


def test_corrupt_file_fails_to_load_without_naming_paths(tmp_path: Path) -> None:
    data = (EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx").read_bytes()
    (tmp_path / "model.onnx").write_bytes(data[:200])
    card = ModelCard(name="m", runtime="onnx", entrypoint="model.onnx")
    with pytest.raises(InvalidArgument) as info:
        get_runtime("onnx").load(tmp_path, card, LoadOptions())
    assert str(tmp_path) not in info.value.message


# --- external data -------------------------------------------------------------------------


def save_external(directory: Path, location: str = "weights.bin") -> onnx.ModelProto:
    """Save the linear model with its initializers in ``location``, then return the proto."""
    (directory / location).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(
        linear_onnx(),
        directory / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    return onnx.load(directory / "m.onnx", load_external_data=False)


def relocate(directory: Path, model: onnx.ModelProto, location: str) -> None:
    """Point every external tensor at ``location`` (written as-is, bypassing onnx.save)."""
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (directory / "m.onnx").write_bytes(model.SerializeToString())


def test_external_data_inside_the_directory_loads(tmp_path: Path) -> None:
    directory = tmp_path / "model"
    save_external(directory, "data/weights.bin")
    card = ModelCard(name="m", runtime="onnx", entrypoint="m.onnx")
    model = get_runtime("onnx").load(directory, card, LoadOptions())
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    flag = np.zeros((3, 1), dtype=bool)
    reference = ort.InferenceSession(directory / "m.onnx", providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        model.predict({"x": x, "flag": flag})["y"], reference.run(["y"], {"x": x, "flag": flag})[0]
    )


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("../outside.bin", "points outside the model directory"),
        ("data/../../outside.bin", "points outside the model directory"),
        ("/etc/hostname", "is not relative"),
        ("link.bin", "is a symlink"),
        ("linkdir/weights.bin", "is a symlink"),
        ("absent.bin", "is missing"),
    ],
)
def test_external_data_escaping_the_directory_is_refused(
    tmp_path: Path, location: str, message: str
) -> None:
    directory = tmp_path / "model"
    model = save_external(directory)
    # Real targets outside the artifact, so only the checks (not a missing file) stop the load.
    shutil.copy(directory / "weights.bin", tmp_path / "outside.bin")
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(directory / "weights.bin", tmp_path / "elsewhere" / "weights.bin")
    (directory / "link.bin").symlink_to(tmp_path / "outside.bin")
    (directory / "linkdir").symlink_to(tmp_path / "elsewhere")
    relocate(directory, model, location)
    card = ModelCard(name="m", runtime="onnx", entrypoint="m.onnx")
    with pytest.raises(InvalidArgument, match=message) as info:
        get_runtime("onnx").load(directory, card, LoadOptions())
    assert str(tmp_path) not in info.value.message
