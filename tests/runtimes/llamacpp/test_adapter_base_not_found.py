"""``inferd push adapter.gguf llm:support-v3 --base llm:base-2`` with a base the store does not
hold said only "model 'llm' version 'base-2' not found", which reads as if the version pushed
were missing: the error names ``--base`` now, and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import InvalidArgument, NotFound
from inferd.packaging import push
from inferd.store import ModelStore
from llm_files import tiny_adapter


@pytest.mark.parametrize(
    ("base", "says"),
    [
        ("llm:base-2", "model 'llm' version 'base-2' not found"),
        ("llm", "model 'llm' version 'latest' not found"),
        ("other:v1", "model 'other' version 'v1' not found"),
    ],
)
def test_a_base_not_in_the_store_is_named_as_the_base(
    inferd_home: Path, tiny_file: Path, tmp_path: Path, base: str, says: str
) -> None:
    store = ModelStore(inferd_home)
    push(store, tiny_file, "llm:base-1")
    file = tiny_adapter(tmp_path / "support.gguf")
    with pytest.raises(NotFound) as caught:
        push(store, file, "llm:support-v3", base=base)
    assert caught.value.message == (
        f"--base {base} was not found ({says}): push or pull the base first"
    )
    assert [e.tag for e in store.list("llm")] == ["base-1"]


def test_a_malformed_base_is_still_refused_as_malformed(inferd_home: Path, tmp_path: Path) -> None:
    file = tiny_adapter(tmp_path / "support.gguf")
    with pytest.raises(InvalidArgument, match="invalid reference 'Bad Ref'"):
        push(ModelStore(inferd_home), file, "llm:support-v3", base="Bad Ref")
