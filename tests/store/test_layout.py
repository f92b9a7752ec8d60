"""What inferd writes is an OCI image layout other tools read: spec fields and skopeo."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import ESTIMATOR

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST_HEX = set("0123456789abcdef")


def _blob(home: Path, digest: str) -> bytes:
    algorithm, hex_ = digest.split(":")
    assert algorithm == "sha256" and len(hex_) == 64 and set(hex_) <= DIGEST_HEX
    data = (home / "store" / "blobs" / "sha256" / hex_).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hex_
    return data


def _check_descriptor(home: Path, descriptor: dict[str, object]) -> bytes:
    assert isinstance(descriptor["mediaType"], str)
    assert isinstance(descriptor["digest"], str)
    data = _blob(home, descriptor["digest"])
    assert descriptor["size"] == len(data)
    return data


def test_layout_follows_the_oci_image_layout_spec(store: ModelStore, model_dir: Path) -> None:
    pushed = push(store, model_dir, "team/fraud:v1")
    store.tag("team/fraud:v1", "team/fraud:prod")
    home = store.root

    assert json.loads((home / "store" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"
    }
    index = json.loads((home / "store" / "index.json").read_text())
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    refs = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
    assert set(refs) == {"team/fraud:v1", "team/fraud:prod"}

    for descriptor in refs.values():
        assert descriptor["mediaType"] == OCI_MANIFEST
        assert descriptor["digest"] == pushed.digest
        assert descriptor["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
        manifest = json.loads(_check_descriptor(home, descriptor))
        assert manifest["schemaVersion"] == 2
        assert manifest["mediaType"] == OCI_MANIFEST
        assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
        assert manifest["annotations"] == {  # nothing about when or where it was pushed
            "org.opencontainers.image.title": "team/fraud",
            "io.inferd.model.runtime": "sklearn",
        }
        config = manifest["config"]
        assert config["mediaType"] == "application/vnd.inferd.model.card.v1+json"
        card = ModelCard.model_validate_json(_check_descriptor(home, config))
        assert card.name == "team/fraud"
        assert card.runtime == "sklearn"
        assert card.labels == {"team": "risk"}
        assert card.metrics == {"auc": 0.91}
        assert [s.name for s in card.signature.inputs] == ["x"]
        titles = {}
        for layer in manifest["layers"]:
            titles[layer["annotations"]["org.opencontainers.image.title"]] = layer["mediaType"]
            data = _check_descriptor(home, layer)
            title = layer["annotations"]["org.opencontainers.image.title"]
            assert data == (model_dir / title).read_bytes()
        assert titles == {
            "assets/vocab.txt": "application/vnd.cncf.model.weight.config.v1.raw",
            "inferd.model.yaml": "application/vnd.cncf.model.weight.config.v1.raw",
            "model.bin": "application/vnd.cncf.model.weight.v1.raw",
            "model.skops": "application/vnd.cncf.model.weight.v1.raw",
        }


def test_identical_files_are_stored_once(store: ModelStore, tmp_path: Path) -> None:
    for version in ("a", "b"):
        directory = tmp_path / version
        directory.mkdir()
        (directory / "w1.bin").write_bytes(b"same bytes")
        (directory / "w2.bin").write_bytes(b"same bytes")
        shutil.copyfile(ESTIMATOR, directory / "model.skops")
        push(store, directory, f"dedupe:{version}", runtime="sklearn")
    blobs = list((store.root / "store" / "blobs" / "sha256").iterdir())
    payloads = [b for b in blobs if b.read_bytes() == b"same bytes"]
    assert len(payloads) == 1


@pytest.mark.parametrize("ref", ["fraud:v1", "team/fraud:prod-2"])
def test_skopeo_reads_the_manifest_byte_for_byte(
    store: ModelStore, model_dir: Path, ref: str, skopeo: str
) -> None:
    pushed = push(store, model_dir, ref)
    layout = store.root / "store"
    raw = subprocess.run(
        [skopeo, "inspect", "--raw", f"oci:{layout}:{ref}"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    assert raw == _blob(store.root, pushed.digest)
    assert hashlib.sha256(raw).hexdigest() == pushed.digest.removeprefix("sha256:")
