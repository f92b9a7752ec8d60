"""Clients no one here wrote read what inferd pushes, and inferd lists what they push."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import oras.client
import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore

from .registry import Registry


def test_skopeo_inspect_shows_inferds_manifest(
    store: ModelStore, model: Path, repo: str, skopeo: str
) -> None:
    pushed = push(store, model, f"{repo}:v1")
    raw = subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{repo}:v1"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    assert f"sha256:{hashlib.sha256(raw).hexdigest()}" == pushed.digest
    assert b'"artifactType": "application/vnd.cncf.model.manifest.v1+json"' in raw


def test_oras_pulls_identical_bytes_of_a_model_inferd_pushed(
    store: ModelStore, model: Path, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(store, model, f"{repo}:v1")
    out = tmp_path / "oras-out"
    monkeypatch.chdir(tmp_path)
    client = oras.client.OrasClient(insecure=True)
    client.pull(target=f"{repo}:v1", outdir=str(out))
    for title in ("model.bin", "assets/vocab.txt", "inferd.model.yaml"):
        assert (out / title).read_bytes() == (model / title).read_bytes()


def test_an_artifact_oras_pushed_is_listed_by_inferd(
    open_registry: Registry, docker_config: Path, inferd_home: Path, repo: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("pushed by oras\n")
    oras.client.OrasClient(insecure=True).push(target=f"{repo}:from-oras", files=["notes.txt"])
    result = CliRunner().invoke(
        main, ["ls", repo, "--json", "--insecure-registry", open_registry.host]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["name"], r["tag"], r["runtime"]) for r in rows] == [(repo, "from-oras", "")]
    assert rows[0]["size"] == len("pushed by oras\n")
    table = CliRunner().invoke(main, ["ls", repo, "--insecure-registry", open_registry.host])
    assert "from-oras" in table.output
