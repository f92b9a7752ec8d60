"""Where a registry may hold the base of an adapter served from it, looked at in order when the
store lacks the base (the e2e test ``test_llm_adapter_base_from_registry`` serves them)."""

from __future__ import annotations

import pytest

from inferd.serving.loading import _registry_bases

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("adapter", "base", "places"),
    [
        # The base's name beside the adapter's, the adapter's repository, the registry's root.
        ("reg.example:5000/team/chat:a2", f"llm@{D}",
         ["team/llm", "team/chat", "llm"]),
        ("reg.example:5000/team/llm:a1", f"llm@{D}", ["team/llm", "llm"]),
        ("reg.example:5000/llm:a1", f"llm@{D}", ["llm"]),
        # A base pushed under a namespace of its own is looked for as it is named.
        ("reg.example:5000/team/llm:a5", f"team/llm@{D}", ["team/llm"]),
        ("reg.example:5000/other/chat:a5", f"team/llm@{D}", ["team/llm", "other/chat"]),
    ],
)  # fmt: skip
def test_the_places_looked_at(adapter: str, base: str, places: list[str]) -> None:
    assert _registry_bases(adapter, base) == [f"reg.example:5000/{p}@{D}" for p in places]


@pytest.mark.parametrize("adapter", ["chat:a2", "team/chat:a2", "not a reference"])
def test_an_adapter_from_the_store_is_looked_for_nowhere_else(adapter: str) -> None:
    assert _registry_bases(adapter, f"llm@{D}") == []
