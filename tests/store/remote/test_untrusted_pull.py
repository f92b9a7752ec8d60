"""Pulls scan again: a card's trust claims count for nothing, only this store's own history does."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from inferd.cli import main
from inferd.errors import UnsafeFormat
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings

from ..conftest import EXAMPLES
from .conftest import Stores
from .registry import Registry

CORPUS = Path(__file__).parents[1] / "data" / "malicious"
MARKER = "INFERD-MALICIOUS-CORPUS-PAYLOAD-RAN"


def _evil_model(root: Path) -> Path:
    """The quickstart's valid model.onnx beside a pickle whose payload prints MARKER."""
    root.mkdir()
    shutil.copy(EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx", root / "model.onnx")
    shutil.copy(CORPUS / "stack-global-trailing-bytes.bin", root / "preprocess.pkl")
    return root


def _refused(action: Callable[[], object]) -> str:
    with pytest.raises(UnsafeFormat) as info:
        action()
    return info.value.message


def test_a_card_claiming_trust_is_refused_on_pull_and_leaves_no_version(
    store: ModelStore,
    settings: RegistrySettings,
    repo: str,
    tmp_path: Path,
    remote_store: Stores,
    capfd: pytest.CaptureFixture[str],
) -> None:
    pushed = push(store, _evil_model(tmp_path / "evil"), f"{repo}:v1", trust_unsafe_format=True)
    assert pushed.card.trusted_unsafe_formats == ("pickle",)  # what the registry's card claims

    other = remote_store(tmp_path / "other-home", settings)
    out = tmp_path / "out"
    messages = [
        _refused(lambda: other.fetch(f"{repo}:v1")),
        _refused(lambda: other.pull(f"{repo}:v1", out)),
        _refused(lambda: other.materialize(f"{repo}@{pushed.digest}")),
        _refused(lambda: other.resolve(f"{repo}:v1")),
    ]
    for message in messages:
        assert "'preprocess.pkl' is a pickle" in message
        assert "trusted_unsafe_formats does not count" in message
    assert not other.layout.blobs.exists(pushed.digest)  # the manifest was never written
    assert list(other.layout.blobs.digests()) == []  # nor any file, the refused pickle included
    assert list(other.layout.read_index().cached()) == []
    assert not out.exists() or list(out.iterdir()) == []
    assert [e.action for e in other.history(repo.split("/", 1)[1])] == []

    # The pusher's own store trusted those bytes, in its own history: it pulls them back.
    mine = store.pull(f"{repo}:v1", tmp_path / "mine")
    assert (mine / "preprocess.pkl").read_bytes() == (
        tmp_path / "evil" / "preprocess.pkl"
    ).read_bytes()
    assert MARKER not in capfd.readouterr().out


def test_the_cli_pull_refuses_it_too(
    store: ModelStore,
    open_registry: Registry,
    repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    push(store, _evil_model(tmp_path / "evil"), f"{repo}:v1", trust_unsafe_format=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("INFERD_HOME", str(elsewhere))
    result = CliRunner().invoke(
        main,
        ["pull", f"{repo}:v1", str(tmp_path / "out"), "--insecure-registry", open_registry.host],
    )
    assert result.exit_code == 2
    assert "'preprocess.pkl' is a pickle" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "preprocess.pkl").exists()
    assert list(ModelStore(elsewhere).layout.blobs.digests()) == []


def test_bytes_this_stores_user_trusted_are_accepted_from_any_registry_card(
    store: ModelStore, settings: RegistrySettings, repo: str, tmp_path: Path, remote_store: Stores
) -> None:
    evil = _evil_model(tmp_path / "evil")
    pushed = push(store, evil, f"{repo}:v1", trust_unsafe_format=True)
    other = remote_store(tmp_path / "other-home", settings)
    _refused(lambda: other.fetch(f"{repo}:v1"))
    # Its user looks at the file, trusts it, and pushes it here: the history now names the blob.
    push(other, evil, "reviewed:v1", trust_unsafe_format=True)
    assert other.fetch(f"{repo}:v1").digest == pushed.digest
    pulled = other.pull(f"{repo}:v1", tmp_path / "out")
    assert (pulled / "preprocess.pkl").read_bytes() == (evil / "preprocess.pkl").read_bytes()


def test_a_version_already_in_the_cache_is_scanned_again(
    store: ModelStore, settings: RegistrySettings, repo: str, tmp_path: Path, remote_store: Stores
) -> None:
    """A cache filled before admission existed, or by another tool, earns no trust either."""
    pushed = push(store, _evil_model(tmp_path / "evil"), f"{repo}:v1", trust_unsafe_format=True)
    other = remote_store(tmp_path / "other-home", settings)
    other.layout.init()
    manifest = store.layout.read_manifest(pushed.digest)
    for digest in [pushed.digest, *manifest.digests()]:
        shutil.copy(store.layout.blobs.path(digest), other.layout.blobs.path(digest))
    message = _refused(lambda: other.materialize(f"{repo}@{pushed.digest}"))
    assert "'preprocess.pkl' is a pickle" in message
    assert list(other.layout.read_index().cached()) == []
    assert not other.models.exists() or list(other.models.iterdir()) == []


def test_admitted_files_pull_without_any_trust(
    store: ModelStore, settings: RegistrySettings, repo: str, tmp_path: Path, remote_store: Stores
) -> None:
    """ONNX with its external data, skops, a plain .npz: nothing to trust, nothing refused."""
    model = tmp_path / "model"
    _external(model, "tensors/w.bin")
    shutil.copy(EXAMPLES / "sklearn" / "fraud.skops", model / "fraud.skops")
    np.savez(model / "reference.npz", x=np.ones((4, 3)))
    pushed = push(store, model, f"{repo}:v1", runtime="onnx")
    other = remote_store(tmp_path / "other-home", settings)
    assert other.fetch(f"{repo}:v1").digest == pushed.digest
    assert (other.pull(f"{repo}:v1", tmp_path / "out") / "tensors" / "w.bin").is_file()


def _external(directory: Path, location: str) -> None:
    weights = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    (directory / location).parent.mkdir(parents=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, directory / "model.onnx", save_as_external_data=True, location=location,
              size_threshold=0)  # fmt: skip
