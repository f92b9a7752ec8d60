"""Detection by content: each format, garbage and pickle, directories, and a trusted --runtime."""

from __future__ import annotations

import pickle
import re
import shutil
import zipfile
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import pytest
import skops.io
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from inferd.errors import InvalidArgument, NotFound
from inferd.runtimes import Detection, detect_model

from .conftest import EXAMPLES, linear_onnx


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per format (names deliberately misleading: detection ignores extensions)."""
    root = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    files = {
        name: root / name
        for name in (
            "onnx.bin",
            "skops.dat",
            "xgb-json.model",
            "xgb-ubj.bin",
            "lgb.model",
            "garbage",
            "empty",
            "pickle.skops",
            "torch.pt",
            "zip.skops",
            "json.json",
        )
    }
    shutil.copy(EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx", files["onnx.bin"])
    skops.io.dump(LogisticRegression().fit(x, y), files["skops.dat"])
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 2)
    booster.save_model(str(root / "b.json"))
    booster.save_model(str(root / "b.ubj"))
    (root / "b.json").rename(files["xgb-json.model"])
    (root / "b.ubj").rename(files["xgb-ubj.bin"])
    lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, label=y), 2).save_model(
        files["lgb.model"]
    )
    files["garbage"].write_bytes(bytes(range(256)) * 8)
    files["empty"].write_bytes(b"")
    files["pickle.skops"].write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    with zipfile.ZipFile(files["torch.pt"], "w") as archive:  # the torch.save layout
        archive.writestr("archive/data.pkl", pickle.dumps([1, 2, 3]))
        archive.writestr("archive/version", "3\n")
    with zipfile.ZipFile(files["zip.skops"], "w") as archive:
        archive.writestr("readme.txt", "not a model")
    files["json.json"].write_text('{"version": [2, 0], "not_learner": {}}')
    return files


@pytest.mark.parametrize(
    ("name", "runtime"),
    [
        ("onnx.bin", "onnx"),
        ("skops.dat", "sklearn"),
        ("xgb-json.model", "xgboost"),
        ("xgb-ubj.bin", "xgboost"),
        ("lgb.model", "lightgbm"),
    ],
)
def test_each_format_is_detected_by_content(
    model_files: dict[str, Path], name: str, runtime: str
) -> None:
    detection = detect_model(model_files[name], None)
    assert detection.runtime == runtime
    assert detection.entrypoint == name
    assert (detection.signature is not None) == (runtime == "onnx")


@pytest.mark.parametrize("name", ["garbage", "empty", "pickle.skops", "zip.skops", "json.json"])
def test_other_content_is_not_detected(model_files: dict[str, Path], name: str) -> None:
    with pytest.raises(InvalidArgument, match="not a model in a format inferd recognises"):
        detect_model(model_files[name], None)


def test_a_torch_save_archive_is_not_detected(model_files: dict[str, Path]) -> None:
    """No runtime loads it; the refusal says what to do (tests/runtimes/test_torch_files.py)."""
    with pytest.raises(InvalidArgument, match=r"'torch\.pt' is a PyTorch file; no inferd runtime"):
        detect_model(model_files["torch.pt"], None)


def test_directory_with_one_model_names_it_the_entrypoint(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    onnx.save(linear_onnx(), tmp_path / "sub" / "net.onnx")
    (tmp_path / "README.md").write_text("# my model\n")
    detection = detect_model(tmp_path, None)
    assert detection.runtime == "onnx"
    assert detection.entrypoint == "sub/net.onnx"
    assert detection.signature is not None
    assert [i.name for i in detection.signature.inputs] == ["x", "flag"]


def test_external_data_files_are_not_candidates(tmp_path: Path) -> None:
    onnx.save(
        linear_onnx(),
        tmp_path / "m.onnx",
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights.bin").stat().st_size > 0
    assert detect_model(tmp_path, None).entrypoint == "m.onnx"


def test_ambiguous_directory_asks_for_an_entrypoint(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    shutil.copy(model_files["onnx.bin"], tmp_path / "a.onnx")
    shutil.copy(model_files["lgb.model"], tmp_path / "b.txt")
    with pytest.raises(InvalidArgument, match=r"several model files: a\.onnx \(onnx\), b\.txt"):
        detect_model(tmp_path, None)
    # Naming the runtime narrows the candidates; naming the entrypoint settles it.
    assert detect_model(tmp_path, "lightgbm") == Detection("lightgbm", None, "b.txt")
    assert detect_model(tmp_path, None, entrypoint="a.onnx").runtime == "onnx"


def test_directory_without_a_model_is_refused(tmp_path: Path, model_files: dict[str, Path]) -> None:
    shutil.copy(model_files["pickle.skops"], tmp_path / "model.pkl")
    with pytest.raises(InvalidArgument, match="no model file in a format inferd recognises"):
        detect_model(tmp_path, None)


def test_given_runtime_holds_the_file_to_its_format_and_the_signature_is_still_read(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    assert detect_model(model_files["xgb-json.model"], "xgboost") == Detection(
        "xgboost", None, "xgb-json.model"
    )
    onnx_detection = detect_model(model_files["onnx.bin"], "onnx")
    assert onnx_detection.signature is not None
    assert onnx_detection.signature.inputs[0].name == "input"


def test_python_runtime_takes_the_entrypoint_as_given() -> None:
    detection = detect_model(EXAMPLES / "python-model", "python", entrypoint="model:FraudRules")
    assert detection == Detection("python", None, "model:FraudRules")


def test_unknown_runtime_lists_the_available_ones(model_files: dict[str, Path]) -> None:
    with pytest.raises(
        InvalidArgument,
        match="unknown runtime 'tensorflow'; available runtimes: "
        "lightgbm, llamacpp, onnx, python, sklearn, xgboost",
    ):
        detect_model(model_files["onnx.bin"], "tensorflow")


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="'nope' does not exist"):
        detect_model(tmp_path / "nope", None)


def test_entrypoint_escaping_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(InvalidArgument, match="must be a relative path inside the model"):
        detect_model(tmp_path / "m", None, entrypoint="../outside.onnx")


def test_symlinked_model_file_is_ignored(tmp_path: Path, model_files: dict[str, Path]) -> None:
    (tmp_path / "model.onnx").symlink_to(model_files["onnx.bin"])
    with pytest.raises(InvalidArgument, match="no model file"):
        detect_model(tmp_path, None)


@pytest.mark.parametrize(
    ("name", "runtime", "problem"),
    [
        ("garbage", "xgboost", r"is not a valid XGBoost model .*: it starts with b'\\x00\\x01"),
        ("garbage", "onnx", r"is not a valid ONNX model .*: its bytes are not protobuf \("),
        ("empty", "lightgbm", "is not a valid LightGBM model .*: it is empty"),
        ("zip.skops", "sklearn", "is not a valid skops model .*: the zip archive holds no schema"),
        (
            "onnx.bin",
            "xgboost",
            "is not a valid XGBoost model .*: it is in the onnx runtime's format",
        ),
    ],
)
def test_a_named_runtime_refuses_a_file_not_in_its_format_saying_why(
    model_files: dict[str, Path], name: str, runtime: str, problem: str
) -> None:
    """Issue 12 item 6: ``--runtime onnx`` on random bytes was accepted at push."""
    with pytest.raises(InvalidArgument, match=rf"^'{re.escape(name)}' {problem}"):
        detect_model(model_files[name], runtime)


def test_a_named_runtime_refuses_a_directory_without_its_file(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    shutil.copy(model_files["garbage"], tmp_path / "model.onnx")
    (tmp_path / "README.md").write_text("# a model\n")
    with pytest.raises(InvalidArgument) as info:
        detect_model(tmp_path, "onnx")
    assert info.value.message.startswith("no file in the model is a valid ONNX model (")
    assert "'model.onnx': its bytes are not protobuf (" in info.value.message
    assert "'README.md': " in info.value.message
