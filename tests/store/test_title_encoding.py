"""A file whose name is not UTF-8 (written by a tool using Latin-1, say): a title is UTF-8 in
the manifest, so the push is refused saying so, not that the name holds control characters."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import EXAMPLES


def test_a_name_that_is_not_utf8_is_refused_naming_the_encoding(
    store: ModelStore, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    shutil.copyfile(EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx", model / "model.onnx")
    latin1 = os.fsencode(model) + b"/caf\xe9.json"  # "café" in Latin-1
    try:
        with open(latin1, "wb") as handle:
            handle.write(b"{}")
    except OSError:
        pytest.skip("this filesystem takes only UTF-8 names")
    with pytest.raises(InvalidArgument) as info:
        push(store, model, "fraud:v1")
    assert "is not UTF-8" in info.value.message
    assert "control characters" not in info.value.message
