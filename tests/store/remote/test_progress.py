"""Progress of a tag that uploads a local version to a registry, or downloads one from it
(issue 12 item 15: about 100 MB went up with no feedback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore

from .registry import Registry


def test_store_tag_reports_the_bytes_it_uploads(store: ModelStore, model: Path, repo: str) -> None:
    pushed = push(store, model, "fraud:v1")
    calls: list[tuple[int, int]] = []
    store.tag("fraud:v1", f"{repo}:v1", progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert calls[-1][1] >= pushed.size  # the files, and the card


def test_inferd_tag_draws_upload_and_download_bars(
    open_registry: Registry,
    docker_config: Path,
    inferd_home: Path,
    model: Path,
    repo: str,
    bars: list[tuple[str, int, int]],
) -> None:
    push(ModelStore(inferd_home), model, "fraud:v1")
    flag = ["--insecure-registry", open_registry.host]
    uploaded = CliRunner().invoke(main, ["tag", "fraud:v1", f"{repo}:v1", *flag])
    assert uploaded.exit_code == 0, uploaded.output
    assert {label for label, _, _ in bars} == {"uploading"}
    assert bars[-1][1] == bars[-1][2] > 0

    bars.clear()
    fresh = inferd_home.parent / "fresh-home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INFERD_HOME", str(fresh))
        local = repo.split("/", 1)[1]  # a remote source keeps its name locally
        downloaded = CliRunner().invoke(main, ["tag", f"{repo}:v1", f"{local}:prod", *flag])
    assert downloaded.exit_code == 0, downloaded.output
    assert {label for label, _, _ in bars} == {"downloading"}
    assert bars[-1][1] == bars[-1][2] > 0
    assert [e.tag for e in ModelStore(fresh).list(local)] == ["prod"]

    bars.clear()
    as_json = CliRunner().invoke(main, ["tag", "fraud:v1", f"{repo}:v2", "--json", *flag])
    assert as_json.exit_code == 0
    assert bars == []
