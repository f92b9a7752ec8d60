"""How far a shadow's generation is from the primary's: OpenAI answers compared per choice.

* Text (chat and text completions) compares by **exact match** — recorded as a ``share``
  divergence of 0 or 1 per choice, so the share of differing answers is 1 - the exact-match
  rate and a rollout's ``max_divergence`` gates it as it gates differing labels — and by the
  **normalised edit distance** (Levenshtein distance over the longer text's length, 0: same,
  1: nothing in common), which says how different the answers that differ are (texts beyond
  :data:`EDIT_CHUNK` characters: summed over aligned chunks, which bounds its cost).
* Embeddings compare by **cosine distance** per input (1 - cosine similarity: 0 the same
  direction, 1 unrelated, 2 opposite), recorded as a ``cosine_distance`` divergence, so that
  every kind reads 0 for answers that agree.

A streamed answer is read as it passes through the gateway (:class:`StreamedText`), so its
client never waits for the comparison. A stream that ends with an error event (its generation
failed after the stream began) holds no whole answer: it is marked failed, never compared.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from rapidfuzz.distance import Levenshtein

from inferd.control.gateway.compare import Divergence, Undecodable

#: The output name text divergences are recorded under.
TEXT = "text"
#: The output name edit distances are recorded under (the same choices as :data:`TEXT`).
EDIT = "edit distance"
EMBEDDING = "embedding"
#: Longest text the edit distance takes in one piece. Levenshtein's cost is quadratic in the
#: length and holds the GIL on the gateway's event loop (two different 60,000-character answers
#: took 0.3-0.5 s, every other client waiting); longer texts are compared in aligned chunks of
#: at most this many characters, so the cost grows linearly (1-2 ms a chunk).
EDIT_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Generation:
    """What one OpenAI answer generated: texts by choice index, or embedding vectors."""

    texts: dict[int, str] = field(default_factory=dict)
    embeddings: tuple[tuple[float, ...], ...] = ()


def read_answer(body: bytes | bytearray) -> Generation:
    """The generation in a whole (not streamed) OpenAI answer."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Undecodable("answer is not JSON") from exc
    if not isinstance(doc, dict):
        raise Undecodable("answer is not a JSON object")
    if isinstance(doc.get("data"), list):
        vectors = []
        for item in doc["data"]:
            vectors.append(_vector(item.get("embedding") if isinstance(item, dict) else None))
        return Generation(embeddings=tuple(vectors))
    if not isinstance(doc.get("choices"), list):
        raise Undecodable("answer has neither choices nor data")
    return Generation(texts={_index(c): _text(c, "message") for c in doc["choices"]})


class StreamedText:
    """Reads the texts out of an OpenAI Server-Sent Events stream, chunk by chunk as relayed.

    Events may be split across chunks anywhere; only whole lines are parsed. A line that is not
    a JSON chunk (comments, keep-alives) is skipped; ``[DONE]`` marks the stream complete, and
    an error event (``{"error": {...}}``, sent when the generation failed mid-way) failed.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._parts: dict[int, list[str]] = {}
        #: Whether the stream's final ``data: [DONE]`` event was read.
        self.done = False
        #: Whether the stream carried an error event: its text is cut short, whatever follows.
        self.failed = False

    def feed(self, chunk: bytes) -> None:
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            if line[5:].strip() == b"[DONE]":
                self.done = True
                continue
            try:
                event = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and "error" in event:
                self.failed = True
                continue
            choices = event.get("choices") if isinstance(event, dict) else None
            for choice in choices if isinstance(choices, list) else ():
                if isinstance(choice, dict):
                    self._parts.setdefault(_index(choice), []).append(_text(choice, "delta"))

    def generation(self) -> Generation:
        return Generation(texts={i: "".join(parts) for i, parts in self._parts.items()})


def compare_generations(primary: Generation, shadow: Generation) -> list[Divergence]:
    """Divergence of every choice (or embedding) the primary returned; one the shadow lacks
    counts as entirely different."""
    out: list[Divergence] = []
    for index, text in sorted(primary.texts.items()):
        other = shadow.texts.get(index)
        if other is None:
            out += [Divergence(TEXT, "share", 1.0, 1, 1, mismatched=True)]
            out += [Divergence(EDIT, "edit_distance", 1.0, 1, 0, mismatched=True)]
            continue
        same = text == other
        out.append(Divergence(TEXT, "share", 0.0 if same else 1.0, 1, 0 if same else 1))
        distance = 0.0 if same else edit_distance(text, other)
        out.append(Divergence(EDIT, "edit_distance", distance, 1, 0))
    for i, vector in enumerate(primary.embeddings):
        other_vector = shadow.embeddings[i] if i < len(shadow.embeddings) else None
        if other_vector is None or len(other_vector) != len(vector):
            out.append(Divergence(EMBEDDING, "cosine_distance", 1.0, 1, 0, mismatched=True))
        else:
            distance = 1.0 - cosine(vector, other_vector)
            out.append(Divergence(EMBEDDING, "cosine_distance", distance, 1, 0))
    return out


def edit_distance(a: str, b: str) -> float:
    """Levenshtein distance over the longer text's length (0: same, 1: nothing in common).

    Texts longer than :data:`EDIT_CHUNK` are cut into as many equal parts each (the i-th part of
    one against the i-th of the other) and the parts' distances summed: exact where the texts
    differ by substitutions, else an upper bound of the whole texts' distance."""
    longer = max(len(a), len(b))
    if longer <= EDIT_CHUNK:
        return float(Levenshtein.normalized_distance(a, b))
    parts = -(-longer // EDIT_CHUNK)
    total = 0
    for i in range(parts):
        total += Levenshtein.distance(
            a[len(a) * i // parts : len(a) * (i + 1) // parts],
            b[len(b) * i // parts : len(b) * (i + 1) // parts],
        )
    return min(1.0, total / longer)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity in [-1, 1]; two zero vectors are the same (1), one alone is not (0).
    Vectors holding NaN or an infinity are the same (1) only element for element, else
    unrelated (0): never NaN, which ``min`` and ``max`` would have let through as 1."""
    try:
        dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
        norm_a = math.sqrt(math.fsum(x * x for x in a))
        norm_b = math.sqrt(math.fsum(y * y for y in b))
        similarity = dot / (norm_a * norm_b) if norm_a and norm_b else None
    except (OverflowError, ValueError):  # fsum of infinities of both signs
        similarity = math.nan
    if similarity is None:
        return 1.0 if norm_a == norm_b else 0.0
    if not math.isfinite(similarity):
        same = all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))
        return 1.0 if same else 0.0
    return max(-1.0, min(1.0, similarity))


def _vector(value: object) -> tuple[float, ...]:
    """An embedding as numbers: a JSON list, or (``encoding_format: base64``, which the openai
    client asks for by default) little-endian float32 bytes in base64."""
    if isinstance(value, list):
        try:  # null: NaN or an infinity, which JSON cannot write
            return tuple(math.nan if x is None else float(x) for x in value)
        except (TypeError, ValueError) as exc:
            raise Undecodable("an embedding holds values that are not numbers") from exc
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise Undecodable("an embedding is not valid base64") from exc
        if len(raw) % 4:
            raise Undecodable("a base64 embedding is not float32 values")
        return tuple(float(x) for x in np.frombuffer(raw, dtype="<f4"))
    raise Undecodable("an embedding is neither a list of numbers nor base64")


def _index(choice: Any) -> int:
    index = choice.get("index", 0) if isinstance(choice, dict) else 0
    return index if isinstance(index, int) else 0


def _text(choice: dict[str, Any], key: str) -> str:
    """A choice's text: ``text`` (completions) or ``{key}.content`` (chat)."""
    if isinstance(choice.get("text"), str):
        return str(choice["text"])
    part = choice.get(key)
    content = part.get("content") if isinstance(part, dict) else None
    return content if isinstance(content, str) else ""
