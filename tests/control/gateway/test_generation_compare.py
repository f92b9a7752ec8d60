"""Comparing a shadow's generation with the primary's: whole answers and relayed streams read
into texts, exact match and edit distance per choice, cosine distance per embedding."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from inferd.control.gateway.compare import Undecodable
from inferd.control.gateway.generation_compare import (
    EDIT,
    EMBEDDING,
    TEXT,
    Generation,
    StreamedText,
    compare_generations,
    cosine,
    read_answer,
)


def _chat(*texts: str) -> bytes:
    choices = [{"index": i, "message": {"role": "assistant", "content": t}}
               for i, t in enumerate(texts)]  # fmt: skip
    return orjson.dumps({"object": "chat.completion", "choices": choices})


def test_whole_answers_of_each_endpoint() -> None:
    assert read_answer(_chat("hi", "yo")).texts == {0: "hi", 1: "yo"}
    completion = {"choices": [{"index": 0, "text": "once upon"}]}
    assert read_answer(orjson.dumps(completion)).texts == {0: "once upon"}
    floats = np.array([0.5, -1.0, 2.0], "<f4")
    embedded = {"data": [{"embedding": [0.5, -1.0, 2.0]},
                         {"embedding": base64.b64encode(floats.tobytes()).decode()}]}  # fmt: skip
    vectors = read_answer(orjson.dumps(embedded)).embeddings
    assert vectors == ((0.5, -1.0, 2.0), (0.5, -1.0, 2.0))  # JSON and the client's base64
    for bad in (b"nope", b"[]", b'{"id": 1}', b'{"data": [{"embedding": "%%%"}]}'):
        with pytest.raises(Undecodable):
            read_answer(bad)


def test_a_stream_split_anywhere_reads_the_same() -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo é"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    stream = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    for size in (1, 3, 7, len(stream)):
        text = StreamedText()
        for start in range(0, len(stream), size):
            # Complete once its [DONE] line is whole, not before.
            assert text.done == (b"[DONE]\n" in stream[:start])
            text.feed(stream[start : start + size])
        assert text.generation().texts == {0: "Hello é"}, size
        assert text.done


def test_exact_match_and_edit_distance_per_choice() -> None:
    primary = Generation(texts={0: "the cat sat", 1: "same"})
    shadow = Generation(texts={0: "the cat sap", 1: "same"})
    found = [(d.output, round(d.value, 6)) for d in compare_generations(primary, shadow)]
    # Choice 0 differs in one of 11 characters; choice 1 is the same.
    assert found == [(TEXT, 1.0), (EDIT, round(1 / 11, 6)), (TEXT, 0.0), (EDIT, 0.0)]
    missing = compare_generations(primary, Generation(texts={0: "the cat sat"}))
    assert [(d.output, d.value, d.mismatched) for d in missing if d.mismatched] == [
        (TEXT, 1.0, True), (EDIT, 1.0, True)
    ]  # fmt: skip


def test_embeddings_by_cosine_distance() -> None:
    """Recorded as a distance (1 - similarity): 0 for the same direction, as every other kind
    reads answers that agree (a similarity of 0.99 read as a 99 % divergence)."""
    primary = Generation(embeddings=((1.0, 0.0), (1.0, 1.0), (0.0, 0.0)))
    shadow = Generation(embeddings=((2.0, 0.0), (1.0, -1.0), (0.0, 0.0)))
    found = [d for d in compare_generations(primary, shadow) if d.output == EMBEDDING]
    assert {d.kind for d in found} == {"cosine_distance"}
    assert [d.value for d in found] == [pytest.approx(0.0), pytest.approx(1.0), 0.0]
    assert cosine((1.0, 0.0), (-3.0, 0.0)) == pytest.approx(-1.0)
    assert cosine((0.0, 0.0), (1.0, 0.0)) == 0.0
    short = compare_generations(primary, Generation(embeddings=((1.0,),)))
    assert all(d.mismatched and d.value == 1.0 for d in short)  # unrelated: distance 1


def test_a_stream_with_an_error_event_is_failed() -> None:
    events = [
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n',
        b'data: {"error": {"message": "the generation ran past its deadline"}}\n\n',
        b"data: [DONE]\n\n",
    ]
    text = StreamedText()
    text.feed(events[0])
    assert not text.failed
    text.feed(events[1] + events[2])
    assert text.failed and text.done
