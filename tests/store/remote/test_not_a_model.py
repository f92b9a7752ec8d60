"""A tag that names something other than one model version: an image index (a multi-platform
image) or a Docker image manifest. The error says what it is, and pulling the version the
index lists by its digest works."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore

from .registry import Registry


def _put(registry: Registry, repo: str, tag: str, document: dict[str, object]) -> str:
    data = orjson.dumps(document)
    media_type = str(document["mediaType"])
    with httpx.Client(base_url=registry.url) as client:
        name = repo.split("/", 1)[1]
        answer = client.put(
            f"/v2/{name}/manifests/{tag}", content=data, headers={"Content-Type": media_type}
        )
        assert answer.status_code == 201, answer.text
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_an_image_index_is_named_with_the_way_to_pull_its_version(
    open_registry: Registry, store: ModelStore, repo: str, model: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    pushed = push(store, model, f"{repo}:v1")
    size = store.layout.blobs.size(pushed.digest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": pushed.digest,
                "size": size,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    index_digest = _put(open_registry, repo, "multi", index)
    result = CliRunner().invoke(main, ["pull", f"{repo}:multi", str(tmp_path / "out")])
    assert result.exit_code == 10, result.output
    assert result.output == (
        f"error: manifest {index_digest} is not an OCI image manifest but an image index "
        "(application/vnd.oci.image.index.v1+json), as a multi-platform image is: a model "
        "version is one manifest; name the one meant by its digest (NAME@sha256:…)\n"
    )
    by_digest = CliRunner().invoke(main, ["pull", f"{repo}@{pushed.digest}", str(tmp_path / "o")])
    assert by_digest.exit_code == 0, by_digest.output


def test_a_docker_image_manifest_is_named_by_its_media_type(
    open_registry: Registry, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    docker = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
            "size": 2,
        },
        "layers": [],
    }
    with httpx.Client(base_url=open_registry.url) as client:  # the config blob it names
        name = repo.split("/", 1)[1]
        started = client.post(f"/v2/{name}/blobs/uploads/")
        location = httpx.URL(started.headers["Location"])
        done = client.put(
            location.copy_merge_params({"digest": docker["config"]["digest"]}),  # type: ignore[index]
            content=b"{}",
        )
        assert done.status_code == 201, done.text
    digest = _put(open_registry, repo, "img", docker)
    result = CliRunner().invoke(main, ["inspect", f"{repo}:img"])
    assert result.exit_code == 10, result.output
    assert result.output == (
        f"error: manifest {digest} is not an OCI image manifest (its mediaType is "
        "'application/vnd.docker.distribution.manifest.v2+json')\n"
    )
