"""JSON Schemas as GBNF grammars (llama-cpp-python's converter, in Python, as llama.cpp's
``json_schema_to_grammar``), bounded and cached.

A grammar is bounded in size (:data:`MAX_GRAMMAR_BYTES`), whatever its schema: the converter
writes repetitions out, and llama.cpp parses the grammar again for every generation that
follows it. The cache keeps what every choice of a request, and requests that send the same
schema, would convert again; it is bounded by its grammars' bytes, not only their number, so
that a few large grammars do not stay in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from llama_cpp.llama_grammar import json_schema_to_gbnf

from inferd.generation import InvalidSampling

#: The most bytes of one grammar (a schema of 2,000 strings of at most 2,000 characters is
#: about 60 KB; llama.cpp parses 1 MiB in about 8 ms).
MAX_GRAMMAR_BYTES = 1 << 20
#: The most bytes of grammars the cache keeps, and the most grammars.
CACHE_BYTES, CACHE_ENTRIES = 8 << 20, 64


class GrammarCache:
    """Grammars llama.cpp accepted, by schema: least recently used first out, within
    ``max_bytes`` and ``max_entries``. Safe from any thread."""

    def __init__(self, max_bytes: int = CACHE_BYTES, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._grammars: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes of the grammars kept."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._grammars)

    def get(self, schema: str) -> bytes | None:
        with self._lock:
            found = self._grammars.get(schema)
            if found is not None:
                self._grammars.move_to_end(schema)
            return found

    def put(self, schema: str, grammar: bytes) -> None:
        with self._lock:
            if schema in self._grammars:
                return
            self._grammars[schema] = grammar
            self._bytes += len(grammar)
            while self._bytes > self.max_bytes or len(self._grammars) > self.max_entries:
                _, dropped = self._grammars.popitem(last=False)
                self._bytes -= len(dropped)


def json_grammar(schema: str) -> bytes:
    """The GBNF grammar of ``schema`` (InvalidSampling, param ``response_format``, when the
    converter refuses it or it passes :data:`MAX_GRAMMAR_BYTES`)."""
    try:
        grammar = str(json_schema_to_gbnf(schema)).encode()
    except Exception as exc:  # the converter's own refusals: ValueError, KeyError, Recursion…
        raise InvalidSampling(
            "response_format", f"the JSON schema cannot be followed: {exc!r}"
        ) from None
    if len(grammar) > MAX_GRAMMAR_BYTES:
        raise InvalidSampling(
            "response_format",
            f"the JSON schema makes a grammar of {len(grammar):,} bytes, over inferd's bound of "
            f"{MAX_GRAMMAR_BYTES:,}; ask for fewer or shorter repeated parts",
        )
    return grammar
