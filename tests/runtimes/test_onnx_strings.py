"""ONNX string inputs: BYTES reach the session as text, and batches of more strings than
``limits.process_string_elements`` run in a worker process of the model's own, where
onnxruntime's string conversion holds that process's GIL, not the server's."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inferd.card import ModelCard
from inferd.datatypes import object_array
from inferd.errors import InvalidArgument, Unavailable
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx import OnnxRuntime
from inferd.runtimes.onnx_session import OnnxModel
from inferd.runtimes.onnx_worker import StringsOffloaded
from inferd.sandbox.cpu import model_process
from inferd.sandbox.model import SandboxedModel

CARD = ModelCard(name="identity", runtime="onnx")


def _identity_model(path: Path, elem: int = TensorProto.STRING) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["out"])],
        "identity",
        [helper.make_tensor_value_info("text", elem, [None])],
        [helper.make_tensor_value_info("out", elem, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path / "model.onnx")
    return path


def _load(path: Path, threshold: int | None) -> Model:
    return OnnxRuntime().load(path, CARD, LoadOptions(process_string_elements=threshold))


def _worker(model: Model) -> SandboxedModel:
    assert isinstance(model, StringsOffloaded)
    assert isinstance(model.worker, SandboxedModel)
    return model.worker


# None: never in a worker; 0: every batch with a string in the worker.
@pytest.fixture(params=[None, 0], ids=["in-process", "in-worker"])
def model(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Model]:
    loaded = _load(_identity_model(tmp_path), request.param)
    yield loaded
    loaded.close()


def _texts(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]


def test_bytes_inputs_are_decoded_for_string_tensors(model: Model) -> None:
    out = model.predict({"text": np.array([b"grpc", b"rest", "caf\u00e9".encode()], dtype=object)})
    assert _texts(out["out"]) == ["grpc", "rest", "caf\u00e9"]


def test_batches_of_more_strings_than_the_threshold_run_in_the_worker(tmp_path: Path) -> None:
    model = _load(_identity_model(tmp_path), 2)
    worker = _worker(model)
    try:
        assert worker.pid is not None and worker.pid != os.getpid()
        small = model.predict({"text": object_array([b"a", b"bc"], (2,))})["out"]
        big = model.predict({"text": object_array([b"a", b"bc", b"d"], (3,))})["out"]
        # In the server's process onnxruntime answers str; from the worker text comes back as
        # UTF-8 bytes (what BYTES carry): the same text either way.
        assert small.tolist() == ["a", "bc"]
        assert big.dtype == object and big.tolist() == [b"a", b"bc", b"d"]
    finally:
        model.close()
    assert worker.pid is None


def test_without_a_threshold_no_worker_starts(tmp_path: Path) -> None:
    assert isinstance(_load(_identity_model(tmp_path), None), OnnxModel)


def test_a_model_without_string_inputs_stays_in_the_server(tmp_path: Path) -> None:
    model = _load(_identity_model(tmp_path, TensorProto.FLOAT), 0)
    assert isinstance(model, OnnxModel)
    out = model.predict({"text": np.array([1.5, 2.5], dtype=np.float32)})
    assert out["out"].tolist() == [1.5, 2.5]


def test_the_clients_mistakes_are_the_same_errors_in_a_worker(tmp_path: Path) -> None:
    """Not UTF-8, and a rank onnxruntime refuses: InvalidArgument (400) with the same message
    in both placements, not a 500 for an error raised in another process."""
    path = _identity_model(tmp_path)
    bad = {
        "not utf-8": {"text": object_array([b"\xff\xfe"], (1,))},
        "rank": {"text": object_array([b"a", b"b"], (1, 2))},
    }
    messages: dict[int | None, dict[str, str]] = {}
    for threshold in (None, 0):
        model = _load(path, threshold)
        try:
            for case, inputs in bad.items():
                with pytest.raises(InvalidArgument) as info:
                    model.predict(inputs)
                messages.setdefault(threshold, {})[case] = info.value.message
        finally:
            model.close()
    assert messages[0] == messages[None]
    assert messages[0]["not utf-8"] == "tensor 'text': a string input must be UTF-8"
    assert "text" in messages[0]["rank"]


def test_a_worker_that_dies_fails_its_batch_with_503_and_comes_back(tmp_path: Path) -> None:
    model = _load(_identity_model(tmp_path), 0)
    worker = _worker(model)
    try:
        pid = worker.pid
        assert pid is not None
        # The process that runs the model dies (the OOM killer's pick): the worker's keeper
        # outside its PID namespace exits as it did. Killing the keeper alone left the model
        # to answer one more request before its namespace ended.
        os.kill(model_process(pid), signal.SIGKILL)
        with pytest.raises(Unavailable) as info:
            model.predict({"text": object_array([b"x"], (1,))})
        assert "crashed (SIGKILL)" in info.value.message
        deadline = time.monotonic() + 30
        while worker.pid is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first restart is immediate, in the background
        assert worker.pid not in (None, pid)
        assert model.predict({"text": object_array([b"x"], (1,))})["out"].tolist() == [b"x"]
    finally:
        model.close()
