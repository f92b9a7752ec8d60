"""A JSON schema's grammar is bounded in size (the converter writes repetitions out: a schema
of 10,000,000 items was a 170 MB grammar), and the cache of grammars is bounded by their bytes,
so that large grammars do not stay in memory (64 of them did)."""

from __future__ import annotations

import json

import pytest

from inferd.generation import InvalidSampling, Sampling
from inferd.runtimes.llamacpp import library
from inferd.runtimes.llamacpp.grammar import MAX_GRAMMAR_BYTES, GrammarCache
from inferd.runtimes.llamacpp.runtime import LlamaModel


def strings(least: int, length: int = 0) -> str:
    item = {"type": "string", "minLength": length} if length else {"type": "string"}
    return json.dumps({"type": "array", "items": item, "minItems": least})


def test_a_schema_whose_grammar_passes_the_bound_is_refused(model: LlamaModel) -> None:
    huge = strings(100_000)  # about 1.7 MB of grammar (not bounded where a protocol is skipped)
    with pytest.raises(InvalidSampling) as refused:
        model.check_sampling(Sampling(json_schema=huge))
    assert refused.value.param == "response_format"
    assert f"over inferd's bound of {MAX_GRAMMAR_BYTES:,}" in str(refused.value)
    assert library.GRAMMARS.get(huge) is None


def test_the_cache_keeps_grammars_within_its_bytes(model: LlamaModel) -> None:
    for n in range(1, 40):  # each about 34 KB to 60 KB of grammar
        model.check_sampling(Sampling(json_schema=strings(1000 + n, 3)))
    assert 0 < library.GRAMMARS.size <= library.GRAMMARS.max_bytes
    small = GrammarCache(max_bytes=100, max_entries=3)
    for i in range(5):
        small.put(str(i), b"x" * 40)
    assert (len(small), small.size) == (2, 80)
    assert small.get("0") is None and small.get("4") == b"x" * 40
