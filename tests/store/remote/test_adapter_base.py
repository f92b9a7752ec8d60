"""An adapter whose base is named by a registry's repository: the base is pinned under its
card's name, the one the store checks a digest against, so the adapter can be served."""

from __future__ import annotations

from pathlib import Path

from inferd.packaging import push
from inferd.store import ModelStore
from llm_files import tiny_adapter, tiny_gguf


def test_a_base_in_a_registry_repository_of_another_name_pins_a_version_the_store_serves(
    store: ModelStore, repo: str, tmp_path: Path
) -> None:
    """The base was pinned as ``{repository}@digest`` ("team/llm"), and the store refuses a
    digest under a name its card does not have: "adapter over team/llm@sha256:…, which is not
    in the store", though it was."""
    base = push(store, tiny_gguf(tmp_path / "base.gguf"), "llm:base-1")
    store.tag("llm:base-1", f"{repo}:base-1")
    adapter = push(store, tiny_adapter(tmp_path / "a.gguf"), "bot:a", base=f"{repo}:base-1")
    llm = adapter.card.llm
    assert llm is not None and llm.base == f"llm@{base.digest}"
    assert store.materialize(llm.base).digest == base.digest
