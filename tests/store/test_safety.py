"""Only data formats are admitted; titles and symlinks cannot escape a directory.

The malicious corpus (``data/malicious``, written by its ``make_corpus.py``) is every disguise of
one harmless pickle payload; each file must be refused without trust, accepted with it (and the
trust recorded in the history), and its payload must never run.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib.util
import io
import json
import lzma
import pickle
import shutil
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import InvalidArgument, UnsafeFormat
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.admission import admit
from inferd.store.media import CARD, MANIFEST
from inferd.store.pickles import pickle_verdict

from .conftest import ESTIMATOR, EXAMPLES

CORPUS = Path(__file__).parent / "data" / "malicious"
GENERATOR = CORPUS / "make_corpus.py"
CORPUS_NAMES = sorted(p.name for p in CORPUS.iterdir() if p != GENERATOR)
VALID_ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MARKER: str = _generator().MARKER


class _Sentinel:
    """Unpickling this creates the sentinel file: proof that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _torch_like_zip(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def _renamed_zip(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights.bin", payload)
    return buffer.getvalue()


def _disguises(payload: bytes, legacy: bytes) -> dict[str, bytes]:
    """The malicious pickle under many names and wrappers; all must be detected."""
    return {
        "model.pkl": payload,
        "model.joblib": payload,
        "model.onnx": payload,
        "model.safetensors": payload,
        "weights": payload,
        "legacy-protocol0.bin": legacy,
        "torch.pt": _torch_like_zip(payload),
        "archive.onnx": _renamed_zip(payload),
        "joblib-zlib.joblib": zlib.compress(payload),
        "joblib-gzip.onnx": gzip.compress(payload),
        "joblib-bz2.bin": bz2.compress(payload),
        "joblib-xz.bin": lzma.compress(payload),
    }


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "SENTINEL-pickle-ran"


@pytest.fixture
def disguises(sentinel: Path) -> dict[str, bytes]:
    return _disguises(
        pickle.dumps(_Sentinel(sentinel), protocol=4),
        pickle.dumps(_Sentinel(sentinel), protocol=0),
    )


def test_every_disguise_is_refused_on_push_and_the_pickle_never_runs(
    store: ModelStore, tmp_path: Path, sentinel: Path, disguises: dict[str, bytes]
) -> None:
    for name, data in disguises.items():
        directory = tmp_path / "push" / name
        directory.mkdir(parents=True)
        (directory / name).write_bytes(data)
        with pytest.raises(UnsafeFormat) as info:
            push(store, directory / name, "evil:v1", runtime="sklearn")
        assert repr(name) in info.value.message
        with pytest.raises(UnsafeFormat):
            push(store, directory, "evil:v1", runtime="sklearn")
    assert store.list() == []
    assert not sentinel.exists()


def test_trusted_push_records_the_formats_and_inspect_pull_never_unpickle(
    store: ModelStore, tmp_path: Path, sentinel: Path, disguises: dict[str, bytes]
) -> None:
    directory = tmp_path / "trusted"
    directory.mkdir()
    for name, data in disguises.items():
        (directory / name).write_bytes(data)
    shutil.copyfile(ESTIMATOR, directory / "model.skops")  # what the sklearn runtime loads
    pushed = push(store, directory, "evil:v1", runtime="sklearn", trust_unsafe_format=True)
    formats = pushed.card.trusted_unsafe_formats
    assert "pickle" in formats
    assert any("zip" in f for f in formats)
    assert any("gzip" in f for f in formats)
    assert store.resolve("evil:v1").card.trusted_unsafe_formats == formats
    inspected = CliRunner().invoke(main, ["inspect", "evil:v1", "--json"])
    assert inspected.exit_code == 0
    assert json.loads(inspected.stdout)["card"]["trusted_unsafe_formats"] == list(formats)
    store.pull("evil:v1", tmp_path / "pulled")
    store.materialize("evil:v1")
    for name, data in disguises.items():
        assert (tmp_path / "pulled" / name).read_bytes() == data
    assert not sentinel.exists()
    trusted = {e.detail: e.new for e in store.history("evil") if e.action == "trust-format"}
    expected = {}
    for item in store.layout.read_manifest(pushed.digest).layers:
        refusal = admit(directory / item.title)
        assert (refusal is None) == (item.title == "model.skops")  # admitted: the estimator
        if refusal is not None:
            expected[f"{item.title}: {refusal.format}"] = item.digest
    assert trusted == expected


def _beside_a_valid_model(root: Path, name: str) -> Path:
    """A model directory: the quickstart's valid model.onnx, and corpus file ``name`` in extra/."""
    (root / "extra").mkdir(parents=True)
    shutil.copy(VALID_ONNX, root / "model.onnx")
    shutil.copy(CORPUS / name, root / "extra" / name)
    return root


def test_the_committed_corpus_is_exactly_what_make_corpus_writes(tmp_path: Path) -> None:
    written = _generator().write(tmp_path)
    assert sorted(path.name for path in written) == CORPUS_NAMES
    for path in written:
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), path.name


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_each_corpus_file_is_refused_beside_a_valid_onnx_model(
    store: ModelStore, tmp_path: Path, name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    model = _beside_a_valid_model(tmp_path / "model", name)
    with pytest.raises(UnsafeFormat) as info:
        push(store, model, "evil:v1")
    assert repr(f"extra/{name}") in info.value.message
    assert "--trust-unsafe-format" in info.value.message
    refused = CliRunner().invoke(main, ["push", str(model), "evil:v1"])
    assert refused.exit_code == 2
    assert f"extra/{name}" in refused.stderr
    assert store.list() == []
    assert store.history("evil") == []
    assert MARKER not in capfd.readouterr().out


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_each_corpus_file_is_stored_with_trust_and_the_trust_is_in_the_history(
    store: ModelStore, tmp_path: Path, name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    model = _beside_a_valid_model(tmp_path / "model", name)
    refusal = admit(CORPUS / name)
    assert refusal is not None
    pushed = push(store, model, "evil:v1", trust_unsafe_format=True)
    assert pushed.card.runtime == "onnx"
    assert pushed.card.trusted_unsafe_formats == (refusal.format,)
    manifest = store.layout.read_manifest(pushed.digest)
    (digest,) = [item.digest for item in manifest.layers if item.title == f"extra/{name}"]
    (event,) = [e for e in store.history("evil") if e.action == "trust-format"]
    assert (event.tag, event.old, event.new) == ("v1", None, digest)
    assert event.detail == f"extra/{name}: {refusal.format}"
    cli = CliRunner().invoke(main, ["push", str(model), "evil:v2", "--trust-unsafe-format", "-q"])
    assert cli.exit_code == 0, cli.output
    listed = CliRunner().invoke(main, ["history", "evil", "--json"])
    assert [e["tag"] for e in json.loads(listed.stdout) if e["action"] == "trust-format"] == [
        "v1",
        "v2",
    ]
    pulled = store.pull("evil:v2", tmp_path / "pulled")
    assert (pulled / "extra" / name).read_bytes() == (CORPUS / name).read_bytes()
    assert MARKER not in capfd.readouterr().out


def test_an_object_array_saved_by_numpy_is_refused_and_a_plain_one_admitted(
    tmp_path: Path,
) -> None:
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    refusal = admit(objects)
    assert refusal is not None and refusal.format == "object-dtype .npy"
    records = tmp_path / "records.npz"
    fields = np.dtype([("id", "i4"), ("meta", "O")])
    np.savez(records, plain=np.arange(3), mixed=np.zeros(2, dtype=fields))
    refusal = admit(records)
    assert refusal is not None and "object-dtype .npy" in refusal.format
    assert "mixed.npy" in refusal.reason
    plain = tmp_path / "plain.npz"
    np.savez_compressed(plain, x=np.ones((3, 4), dtype=np.float32), y=np.arange(5))
    assert admit(plain) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"inputs:\n  - {name: x, datatype: FP32}\n",
        b"# README\n\nA model.\n",
        b'{"learner": {}}',
        b"tree\nversion=v4\n",
        b"\x08\x07\x12\x07onnx-ml",
        bytes(range(256)) * 10,
        zlib.compress(b"not a pickle at all" * 10),
        gzip.compress(b"plain text", mtime=0),
    ],
    ids=["empty", "yaml", "markdown", "json", "lightgbm", "onnx", "all-bytes", "zlib", "gzip"],
)
def test_ordinary_files_are_not_mistaken_for_pickles(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "file"
    path.write_bytes(data)
    assert pickle_verdict(io.BytesIO(data), len(data)) is None
    refusal = admit(path)  # text is admitted; other bytes are refused, but never as a pickle
    assert refusal is None or "pickle" not in refusal.format


def test_real_model_formats_pass(tmp_path: Path) -> None:
    for path in [*EXAMPLES.glob("quickstart/*/model.onnx"), *EXAMPLES.glob("sklearn/*.skops")]:
        assert admit(path) is None, path
    plain = pickle.dumps([1, 2, 3], protocol=2)
    assert pickle_verdict(io.BytesIO(plain), len(plain)) == "holds plain data"


@pytest.mark.parametrize(
    "title", ["../escape", "/etc/passwd", "a/../../escape", "a\\..\\b", "x\x00y", "./a", "a//b"]
)
def test_crafted_manifest_titles_are_refused_on_pull(
    store: ModelStore, model_dir: Path, tmp_path: Path, title: str
) -> None:
    """A manifest planted in the store cannot make pull write outside DEST."""
    push(store, model_dir, "fraud:v1")
    good = store.layout.read_manifest(store.resolve("fraud:v1").digest)
    layer = good.layers[0].descriptor.to_json()
    layer["annotations"] = {"org.opencontainers.image.title": title}
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CARD, "digest": good.config.digest, "size": good.config.size},
        "layers": [layer],
    }
    data = orjson.dumps(document)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    store.layout.blobs.path(digest).write_bytes(data)
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(InvalidArgument, match="title"):
        store.pull(f"fraud@{digest}", dest)
    with pytest.raises(InvalidArgument, match="title"):
        store.materialize(f"fraud@{digest}")
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "deep" / "escape").exists()


def test_pull_refuses_to_write_through_a_symlink_in_dest(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    push(store, model_dir, "fraud:v1")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "assets").symlink_to(outside)
    with pytest.raises(InvalidArgument, match="assets"):
        store.pull("fraud:v1", dest)
    assert list(outside.iterdir()) == []


def test_symlinks_in_the_pushed_directory_are_refused(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the model")
    (model_dir / "link.bin").symlink_to(secret)
    with pytest.raises(InvalidArgument, match="symlink"):
        push(store, model_dir, "fraud:v1")
    (model_dir / "link.bin").unlink()
    (model_dir / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="symlink"):
        push(store, model_dir, "fraud:v1")
    with pytest.raises(InvalidArgument, match="symlink"):
        push(store, model_dir / "linkdir", "fraud:v1")
    assert store.list() == []


@pytest.mark.parametrize("filename", ["we\\ird.bin", "new\nline.bin", "tab\there.bin"])
def test_file_names_that_are_not_safe_titles_are_refused_on_push(
    store: ModelStore, model_dir: Path, filename: str
) -> None:
    (model_dir / filename).write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="title"):
        push(store, model_dir, "fraud:v1")
    assert store.list() == []
