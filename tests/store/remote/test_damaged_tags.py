"""``inferd ls host/name`` when one tag's card cannot be read (deleted from the registry's
storage, or another tool's bytes): that tag is a row saying what is wrong, as a damaged local
version is, never an error that hides every healthy tag beside it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore

from ..conftest import make_model_dir
from .registry import Registry


def _delete_blob(registry: Registry, repo: str, digest: str) -> None:
    name = repo.removeprefix(f"{registry.host}/")
    request = urllib.request.Request(f"{registry.url}/v2/{name}/blobs/{digest}", method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202


def test_a_tag_whose_card_is_gone_is_listed_with_what_is_wrong_beside_the_healthy_ones(
    open_registry: Registry, store: ModelStore, model: Path, repo: str, tmp_path: Path
) -> None:
    healthy = push(store, model, f"{repo}:v1")
    other = make_model_dir(tmp_path / "other", weights=b"weights-v2" * 5000)
    damaged = push(store, other, f"{repo}:v2", source_revision="v2")  # another card
    assert damaged.digest != healthy.digest
    card = store.layout.read_manifest(damaged.digest).config.digest
    _delete_blob(open_registry, repo, card)

    flag = ["--insecure-registry", open_registry.host]
    result = CliRunner().invoke(main, ["ls", repo, "--json", *flag])
    assert result.exit_code == 0, result.output
    rows = {row["tag"]: row for row in json.loads(result.stdout)}
    assert rows["v1"]["digest"] == healthy.digest
    assert (rows["v1"]["runtime"], rows["v1"]["error"]) == ("sklearn", None)
    assert rows["v2"]["digest"] == damaged.digest
    assert (rows["v2"]["runtime"], rows["v2"]["size"]) == ("", None)
    assert f"blob {card}" in rows["v2"]["error"]
    # The way out is a push: the distribution API cannot remove a tag (`inferd rm` refuses).
    assert f"warning: {repo}:v2 is damaged" in result.stderr
    assert "push it again" in result.stderr
    assert "inferd rm" not in result.stderr
