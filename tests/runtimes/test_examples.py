"""The bundled examples: deterministic, small, and v1/v2 differing slightly as promised."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort

from inferd.runtimes import detect_model

from .conftest import EXAMPLES


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_models", EXAMPLES / "make_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def predict(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["label"], {"input": x})[0])


def test_fraud_versions_disagree_on_a_few_percent() -> None:
    x, _ = load_script().fraud_data()
    v1 = predict(EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx", x)
    v2 = predict(EXAMPLES / "quickstart" / "fraud-v2" / "model.onnx", x)
    assert 0.005 <= float(np.mean(v1 != v2)) <= 0.05


def test_training_is_deterministic() -> None:
    script = load_script()
    x, y = script.fraud_data()
    first = script.to_onnx(script.train(x, y, slice(0, 2000)))
    second = script.to_onnx(script.train(*script.fraud_data(), slice(0, 2000)))
    assert first == second


def test_examples_are_small_and_detected() -> None:
    total = sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file())
    assert total < 1024 * 1024
    assert detect_model(EXAMPLES / "quickstart" / "fraud-v1", None).runtime == "onnx"
    assert detect_model(EXAMPLES / "sklearn", None).runtime == "sklearn"
