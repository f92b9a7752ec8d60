"""Admission: every data format the store knows is admitted; archives are unpacked within limits.

The refusals of code-running files are in test_safety.py (the malicious corpus); here are the
formats that must keep working, the archive limits of RELIABILITY R23, and the pickle walk on
text that merely looks like opcodes.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import pytest
import skops.io
import xgboost as xgb
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

from inferd.errors import UnsafeFormat
from inferd.packaging import push
from inferd.store import ModelStore, archives
from inferd.store.admission import admit
from inferd.store.pickles import pickle_verdict

from .conftest import EXAMPLES

CORPUS = Path(__file__).parent / "data" / "malicious"


def _safetensors(tensors: dict[str, np.ndarray]) -> bytes:
    """The safetensors layout: u64 header length, JSON header padded to 8 bytes, the data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data, offset = b"", 0
    for name, array in tensors.items():
        raw = array.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        data, offset = data + raw, offset + len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _protobuf_len(field: int, payload: bytes) -> bytes:
    assert len(payload) < 0x80
    return bytes([field << 3 | 2, len(payload)]) + payload


def _sentencepiece() -> bytes:
    """A sentencepiece ModelProto: three pieces (piece, score, type) and a trainer spec."""
    pieces = b"".join(
        _protobuf_len(1, _protobuf_len(1, text) + b"\x15" + struct.pack("<f", score) + b"\x18\x01")
        for text, score in [(b"<unk>", 0.0), (b"\xe2\x96\x81the", -1.5), (b"s", -2.0)]
    )
    return pieces + _protobuf_len(2, _protobuf_len(1, b"corpus.txt"))


@pytest.fixture(scope="module")
def legitimate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per admitted format, under misleading names where that is the point."""
    root = tmp_path_factory.mktemp("legitimate")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    files: dict[str, bytes | str] = {
        "weights.safetensors": _safetensors({"w": x, "b": np.ones(3, dtype=np.float32)}),
        "llm.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 0),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"vocab": {"a": 0}}}),
        "vocab.txt": "[PAD]\n[UNK]\ncat\ndog\nfish\n",
        "merges.txt": "#version: 0.2\n\u0120 t\nh e\n",
        "tokenizer.model": _sentencepiece(),
        "README.md": "# Model card\n\nTrained on données, ñ and 漢字.\n",
        "inferd.model.yaml": "runtime: onnx\nlabels: {team: risk}\n",
        "empty": b"",
    }
    for name, content in files.items():
        target = root / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    np.save(root / "features.npy", x)
    with (root / "features-v2.npy").open("wb") as f:
        np.lib.format.write_array(f, x, version=(2, 0))
    np.savez(root / "arrays.npz", x=x, y=y)
    np.savez_compressed(root / "compressed.npz", x=x)
    skops.io.dump(LogisticRegression().fit(x, y), root / "model.skops")
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 2)
    booster.save_model(str(root / "booster.json"))
    booster.save_model(str(root / "booster.ubj"))
    lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, label=y), 2).save_model(
        root / "lightgbm.txt"
    )
    with zipfile.ZipFile(root / "bundle.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(root / "vocab.txt", "tokenizer/vocab.txt")
        archive.write(root / "features.npy", "features.npy")
    return {path.name: path for path in root.iterdir()}


def test_every_legitimate_format_is_admitted(legitimate: dict[str, Path]) -> None:
    refused = {name: admit(path) for name, path in legitimate.items()}
    assert {name: r for name, r in refused.items() if r is not None} == {}


def test_every_file_of_the_examples_is_admitted() -> None:
    files = [path for path in EXAMPLES.rglob("*") if path.is_file()]
    assert len(files) >= 8
    assert {str(path): admit(path) for path in files if admit(path) is not None} == {}


def test_a_directory_of_every_format_pushes_without_trust(
    store: ModelStore, legitimate: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(next(iter(legitimate.values())).parent, model / "assets")
    shutil.copy(EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx", model / "model.onnx")
    pushed = push(store, model, "everything:v1", runtime="onnx")
    assert pushed.card.trusted_unsafe_formats == ()
    assert [e.action for e in store.history("everything")] == ["push"]


def _external_onnx(directory: Path, location: str) -> Path:
    """``y = x @ W`` with ``W`` kept as raw bytes in ``location`` (ONNX external data)."""
    weights = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    (directory / location).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
        directory / "model.onnx",
        save_as_external_data=True,
        location=location,
        size_threshold=0,
    )
    return directory


def test_onnx_external_data_is_admitted_with_its_model_and_pulls_back(
    store: ModelStore, tmp_path: Path
) -> None:
    model = _external_onnx(tmp_path / "model", "data/weights.bin")
    alone = admit(model / "data" / "weights.bin")
    assert alone is not None and not alone.runs_code  # raw floats: no format on their own
    pushed = push(store, model, "external:v1")
    assert pushed.card.trusted_unsafe_formats == ()
    out = store.pull("external:v1", tmp_path / "out")
    assert (out / "data" / "weights.bin").read_bytes() == (model / "data/weights.bin").read_bytes()


def test_a_pickle_named_as_external_data_is_still_refused(
    store: ModelStore, tmp_path: Path
) -> None:
    model = _external_onnx(tmp_path / "model", "weights.bin")
    shutil.copy(CORPUS / "pickle-protocol-4.pkl", model / "weights.bin")
    with pytest.raises(UnsafeFormat, match=r"'weights\.bin' is a pickle"):
        push(store, model, "external:v1")
    stray = _external_onnx(tmp_path / "stray", "weights.bin")
    (stray / "weights.bin").rename(stray / "other.bin")  # named by no model: not its tensors
    (stray / "weights.bin").write_bytes(b"")
    with pytest.raises(UnsafeFormat, match=r"'other\.bin' is in no format"):
        push(store, stray, "external:v1")


@pytest.mark.parametrize(
    "data",
    [
        b"cat\ndog\nfish\n",  # GLOBAL-shaped lines, then nothing that uses an import
        b"cls\nsep\n[PAD]\n",
        b"N.B. a note\n",
        b"Install with pip\n",
        b"(lp0\nI1\na. and then prose",
        b"\x93NUMPY\x01\x00",  # STACK_GLOBAL on an empty stack
    ],
)
def test_text_that_starts_like_opcodes_is_not_a_pickle(data: bytes) -> None:
    assert pickle_verdict(io.BytesIO(data), len(data)) is None


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"cos\ngetcwd\n)R.", "imports os.getcwd and uses it"),
        (b"cos\ngetcwd\n)R" + b"\xff" * 10, "imports os.getcwd and uses it"),  # runs, then fails
        (b"(ios\ngetcwd\n.", "imports os.getcwd and uses it"),  # INST imports and calls
        (b"\x8c\x02os\x94\x8c\x06getcwd\x94\x93)R.", "imports os.getcwd and uses it"),
        (b"\x8c\x02os\x8c\x06getcwdN0\x93)R.", "imports a name (STACK_GLOBAL) and uses it"),
        (b"(lp0\nI1\na.\n", "holds plain data"),
    ],
)
def test_the_pickle_walk_follows_the_unpickler(data: bytes, verdict: str) -> None:
    assert pickle_verdict(io.BytesIO(data), len(data)) == verdict


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_an_archive_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    members = {f"m{i}.txt": b"" for i in range(archives.MAX_MEMBERS + 1)}
    refusal = admit(_zip(tmp_path / "many.zip", members))
    assert refusal is not None
    assert f"{archives.MAX_MEMBERS + 1} entries" in refusal.reason
    assert f"more than the {archives.MAX_MEMBERS}" in refusal.reason


def test_a_zip_bomb_is_refused_by_its_ratio_before_anything_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(20 << 20)}, zipfile.ZIP_DEFLATED)
    refusal = admit(bomb)
    assert refusal is not None
    assert f"at most {archives.MAX_RATIO}:1" in refusal.reason
    assert list(scratch.iterdir()) == []


def test_the_total_unpacked_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_UNPACKED_BYTES", 1000)
    refusal = admit(_zip(tmp_path / "big.zip", {"a.txt": b"a" * 600, "b.txt": b"b" * 600}))
    assert refusal is not None
    assert "unpacks to 1200 bytes, more than the 1000" in refusal.reason


def _with_mode(path: Path, name: str, mode: int, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, data)
    return path


@pytest.mark.parametrize(
    ("name", "mode", "problem"),
    [
        ("link", 0o120777, "is a symlink"),
        ("/etc/cron.d/evil", 0o100644, "outside its folder"),
        ("../../escape.txt", 0o100644, "outside its folder"),
        ("a\\..\\b.txt", 0o100644, "outside its folder"),
    ],
)
def test_unsafe_members_are_refused(tmp_path: Path, name: str, mode: int, problem: str) -> None:
    refusal = admit(_with_mode(tmp_path / "unsafe.zip", name, mode, b"/etc/passwd"))
    assert refusal is not None
    assert problem in refusal.reason
    assert repr(name) in refusal.reason


def test_encrypted_members_cannot_be_scanned_so_are_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "secret.zip", {"a.txt": b"hello"})
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # general purpose flag bit 0: encrypted
    path.write_bytes(bytes(data))
    refusal = admit(path)
    assert refusal is not None and "encrypted" in refusal.reason


def test_archives_nest_at_most_two_deep(tmp_path: Path) -> None:
    innermost = io.BytesIO()
    with zipfile.ZipFile(innermost, "w") as archive:
        archive.writestr("vocab.txt", b"a\n")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("innermost.zip", innermost.getvalue())
    assert admit(_zip(tmp_path / "two.zip", {"inner.zip": innermost.getvalue()})) is None
    refusal = admit(_zip(tmp_path / "three.zip", {"inner.zip": inner.getvalue()}))
    assert refusal is not None and "nested 2 deep" in refusal.reason


def test_a_truncated_onnx_file_is_named_as_such(tmp_path: Path) -> None:
    """A cut-off download was refused as a file in "no format the store admits as data, so
    loading it may run code", which sent the pusher to --trust-unsafe-format first."""
    weights = numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [weights],
    )  # fmt: skip
    whole = helper.make_model(graph).SerializeToString()
    cut = tmp_path / "model.onnx"
    cut.write_bytes(whole[: len(whole) // 2])
    refusal = admit(cut)
    assert refusal is not None and not refusal.runs_code
    assert "named .onnx but not an ONNX model" in refusal.reason
    assert "may run code" not in refusal.reason
