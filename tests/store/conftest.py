"""Fixtures for store tests: a store in a fresh INFERD_HOME and small model directories."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from inferd.store import ModelStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TRAVERSAL = json.loads((Path(__file__).parent / "data" / "traversal.json").read_text())[
    "references"
]

#: The estimator of every directory model (a real skops file: push holds a file to the format of
#: the runtime it names).
ESTIMATOR = EXAMPLES / "sklearn" / "fraud.skops"
METADATA = """\
runtime: sklearn
inputs:
  - {name: x, datatype: FP32, shape: [-1, 8]}
outputs:
  - {name: label, datatype: INT64, shape: [-1]}
labels: {team: risk}
metrics: {auc: 0.91}
"""


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


def raw_npy(data: bytes) -> bytes:
    """Binary weights as a ``uint8`` ``.npy``, which the store admits as data (raw bytes: no)."""
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(data, dtype=np.uint8))
    return buffer.getvalue()


def make_model_dir(path: Path, *, weights: bytes = b"weights-v1" * 1000) -> Path:
    """A directory model: an estimator, a weights file, a nested tokenizer file and
    inferd.model.yaml."""
    path.mkdir(parents=True)
    shutil.copyfile(ESTIMATOR, path / "model.skops")
    (path / "model.bin").write_bytes(weights)
    (path / "assets").mkdir()
    (path / "assets" / "vocab.txt").write_text("a\nb\nc\n")
    (path / "inferd.model.yaml").write_text(METADATA)
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model_dir(tmp_path / "model")


@pytest.fixture
def skopeo() -> str:
    """The skopeo binary; missing fails the test in CI (``make test`` installs it)."""
    found = shutil.which("skopeo")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("skopeo is missing; `make test` installs it (scripts/system-deps)")
        pytest.skip("skopeo is not installed (run scripts/system-deps)")
    return found
