"""A push to a registry that fails leaves the local store as it was before the command.

The files are packaged into the local store before they are uploaded; when the upload fails
(the registry refuses, cannot be reached, or stops in the middle), the blobs this push added
are removed again, and so is the trust it would have recorded, while blobs that were there
before (another version's files) stay.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import InferdError
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings

from ..conftest import make_model_dir, raw_npy
from .conftest import Stores
from .proxy import Faults, fault_proxy
from .registry import Registry, start_registry


@dataclass(frozen=True)
class Snapshot:
    """What a store holds on disk: blobs, index, history and any temporary file."""

    blobs: frozenset[str]
    index: bytes
    history: bytes
    temp_files: tuple[Path, ...]

    @classmethod
    def of(cls, home: Path) -> Snapshot:
        layout = ModelStore(home).layout
        history = layout.history_file
        return cls(
            frozenset(layout.blobs.digests()),
            (layout.directory / "index.json").read_bytes(),
            history.read_bytes() if history.exists() else b"",
            tuple(layout.blobs.temp_files()),
        )


def _local_version(home: Path, tmp_path: Path) -> Snapshot:
    """A store holding ``mine:v1``, whose files the pushed model shares (all but the weights)."""
    push(ModelStore(home), make_model_dir(tmp_path / "mine"), "mine:v1")
    return Snapshot.of(home)


def _model(tmp_path: Path, weights: bytes = b"new weights" * 4000) -> Path:
    """A model sharing ``mine:v1``'s estimator and vocabulary, with new weights and a pickle
    (pushed with --trust-unsafe-format, so a trust-format event would be recorded)."""
    model = make_model_dir(tmp_path / "pushed", weights=weights)
    (model / "extra.pkl").write_bytes(pickle.dumps({"threshold": 0.5}))
    return model


@pytest.mark.parametrize("registry", ["refusing", "unreachable"])
def test_a_push_the_registry_refuses_or_cannot_take_leaves_the_store_as_it_was(
    basic_registry: Registry, docker_config: Path, inferd_home: Path, tmp_path: Path,
    registry: str,
) -> None:  # fmt: skip
    """``inferd push DIR REGISTRY/name:tag``: no credentials for a registry that wants them
    (exit 6), or nothing listening (exit 7); the blobs, index and history are unchanged, the
    estimator ``mine:v1`` shares is still there and ``mine:v1`` still pulls."""
    before = _local_version(inferd_home, tmp_path)
    host = basic_registry.host if registry == "refusing" else "127.0.0.1:9"
    result = CliRunner().invoke(
        main,
        ["push", str(_model(tmp_path)), f"{host}/team/fraud:v1", "--trust-unsafe-format",
         "--insecure-registry", host],
    )  # fmt: skip
    assert result.exit_code == (6 if registry == "refusing" else 7), result.output
    assert "Traceback" not in result.output
    assert Snapshot.of(inferd_home) == before
    pulled = CliRunner().invoke(main, ["pull", "mine:v1", str(tmp_path / "out")])
    assert pulled.exit_code == 0, pulled.output


def test_a_push_of_a_local_version_that_fails_changes_nothing_locally(
    basic_registry: Registry, docker_config: Path, inferd_home: Path, tmp_path: Path
) -> None:
    """``inferd tag mine:v1 REGISTRY/mine:v1`` refused: the local version is untouched."""
    before = _local_version(inferd_home, tmp_path)
    host = basic_registry.host
    result = CliRunner().invoke(
        main, ["tag", "mine:v1", f"{host}/team/mine:v1", "--insecure-registry", host]
    )
    assert result.exit_code == 6, result.output
    assert Snapshot.of(inferd_home) == before


def test_a_registry_stopped_in_the_middle_of_a_push_leaves_the_store_as_it_was(
    docker_config: Path, inferd_home: Path, tmp_path: Path, remote_store: Stores
) -> None:
    """The registry goes away while the weights are being uploaded: the push fails and the
    store holds what it held before, no more and no less."""
    before = _local_version(inferd_home, tmp_path)
    weights = raw_npy(os.urandom(256 * 1024))
    faults = Faults(target=f"sha256:{hashlib.sha256(weights).hexdigest()}", slow=True)
    failures: list[BaseException] = []
    with (
        start_registry(tmp_path / "registry") as registry,
        fault_proxy(registry.host, faults) as proxy,
    ):
        settings = RegistrySettings(
            insecure=frozenset({proxy}), docker_config=docker_config, backoff_s=0.01
        )
        store = remote_store(inferd_home, settings)

        def pushing() -> None:
            try:
                push(store, _model(tmp_path, weights), f"{proxy}/team/fraud:v1",
                     trust_unsafe_format=True)  # fmt: skip
            except BaseException as exc:  # the test looks at it below
                failures.append(exc)

        thread = threading.Thread(target=pushing)
        thread.start()
        assert faults.moving.wait(30), "the upload never reached the weights"
        registry.process.terminate()
        registry.process.wait(timeout=10)
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], InferdError), failures
    assert Snapshot.of(inferd_home) == before
