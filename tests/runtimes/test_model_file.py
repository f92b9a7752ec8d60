"""A load names what is wrong with a model file that is not in the runtime's format."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import InvalidArgument
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.onnx import OnnxRuntime

RANDOM = bytes.fromhex("9c3e5a11f0") * 64  # not protobuf


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    """A version as another tool could push it: random bytes named model.onnx, and a README."""
    (tmp_path / "model.onnx").write_bytes(RANDOM)
    (tmp_path / "README.md").write_text("# fraud\n")
    return tmp_path


def test_a_directory_without_a_file_in_the_format_says_what_is_wrong(artifact: Path) -> None:
    """Issue 12 item 6: the load said "expected one onnx model file … found none"."""
    with pytest.raises(InvalidArgument) as info:
        OnnxRuntime().load(artifact, ModelCard(name="m", runtime="onnx"), LoadOptions())
    message = info.value.message
    assert message.startswith("no file in the model is a valid ONNX model (")
    assert "'model.onnx': its bytes are not protobuf (" in message
    assert "'README.md': " in message
    assert str(artifact) not in message


def test_an_entrypoint_not_in_the_format_says_what_is_wrong(artifact: Path) -> None:
    card = ModelCard(name="m", runtime="onnx", entrypoint="model.onnx")
    with pytest.raises(InvalidArgument, match=r"^'model\.onnx' is not a valid ONNX model \(.*\): "):
        OnnxRuntime().load(artifact, card, LoadOptions())
