"""Keras models carry code without a pickle: a ``.keras`` archive's config.json names the
callables Keras imports, and a ``Lambda`` layer holds marshalled bytecode. The store refuses
them (and Keras's older HDF5 files) unless the push trusts them.

The files are built here as Keras 3 writes them (a zip of ``metadata.json``, ``config.json``
and ``model.weights.h5``), with the config of a one-layer model whose ``Lambda`` is
``lambda x: x``; the bytes of ``model.weights.h5`` are a bare HDF5 signature, since no test
opens them.
"""

from __future__ import annotations

import base64
import json
import marshal
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import UnsafeFormat
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.admission import admit

from .conftest import EXAMPLES

HDF5 = b"\x89HDF\r\n\x1a\n" + bytes(504)
VALID_ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def _config() -> dict[str, object]:
    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    lambda_layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "identity", "function": {"class_name": "__lambda__",
                   "config": {"code": code, "defaults": None, "closure": None}}},
    }  # fmt: skip
    return {"module": "keras", "class_name": "Sequential", "config": {"layers": [lambda_layer]}}


def _keras_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _keras_members(*, weights: bool = True) -> dict[str, bytes]:
    members = {
        "metadata.json": json.dumps(
            {"keras_version": "3.6.0", "date_saved": "2026-12-06"}
        ).encode(),
        "config.json": json.dumps(_config()).encode(),
    }
    if weights:
        members["model.weights.h5"] = HDF5
    return members


@pytest.mark.parametrize(
    ("name", "weights"),
    [("model.keras", True), ("model.keras", False), ("model.zip", True), ("model.zip", False)],
)
def test_a_keras_archive_is_refused_as_code_whatever_its_name(
    tmp_path: Path, name: str, weights: bool
) -> None:
    """Named ``.keras`` or not, and with or without weights: every member would pass on its
    own as JSON (the weights as HDF5 would not), so the archive is recognised as Keras."""
    path = _keras_zip(tmp_path / name, _keras_members(weights=weights))
    refusal = admit(path)
    assert refusal is not None
    assert refusal.format == "Keras archive"
    assert refusal.runs_code
    assert "Lambda layers carry Python bytecode" in refusal.reason


def test_a_keras_archive_inside_a_zip_is_refused(tmp_path: Path) -> None:
    inner = _keras_zip(tmp_path / "inner.keras", _keras_members(weights=False)).read_bytes()
    outer = _keras_zip(tmp_path / "bundle.zip", {"models/classifier.keras": inner})
    refusal = admit(outer)
    assert refusal is not None
    assert refusal.format == "zip archive (Keras archive inside)"
    assert "'models/classifier.keras'" in refusal.reason


def test_a_zip_of_json_that_is_not_keras_is_still_admitted(tmp_path: Path) -> None:
    plain = {"config.json": b'{"labels": ["a", "b"]}', "metadata.json": b'{"author": "me"}'}
    assert admit(_keras_zip(tmp_path / "labels.zip", plain)) is None


@pytest.mark.parametrize("offset", [0, 512, 1024, 2048])
def test_an_hdf5_file_is_refused_and_named(tmp_path: Path, offset: int) -> None:
    """Keras's legacy ``.h5`` models; HDF5 may start after a user block (512, 1024, 2048)."""
    path = tmp_path / "model.h5"
    path.write_bytes(bytes(offset) + HDF5 + json.dumps(_config()).encode())
    refusal = admit(path)
    assert refusal is not None
    assert refusal.format == "HDF5 file"
    assert "Keras .h5" in refusal.reason


@pytest.mark.parametrize(
    ("name", "format_"), [("model.keras", "Keras archive"), ("legacy.h5", "HDF5 file")]
)
def test_keras_files_beside_a_valid_model_need_trust(
    store: ModelStore, tmp_path: Path, name: str, format_: str
) -> None:
    model = tmp_path / "model"
    (model / "extra").mkdir(parents=True)
    (model / "model.onnx").write_bytes(VALID_ONNX.read_bytes())
    if name.endswith(".keras"):
        _keras_zip(model / "extra" / name, _keras_members())
    else:
        (model / "extra" / name).write_bytes(HDF5)
    with pytest.raises(UnsafeFormat) as info:
        push(store, model, "keras:v1")
    assert repr(f"extra/{name}") in info.value.message
    refused = CliRunner().invoke(main, ["push", str(model), "keras:v1"])
    assert refused.exit_code == 2
    assert f"extra/{name}" in refused.stderr
    assert store.list() == []
    pushed = push(store, model, "keras:v1", trust_unsafe_format=True)
    assert pushed.card.trusted_unsafe_formats == (format_,)
    (event,) = [e for e in store.history("keras") if e.action == "trust-format"]
    assert event.detail == f"extra/{name}: {format_}"
