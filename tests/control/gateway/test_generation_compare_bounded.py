"""The edit distance of long generations is computed in bounded pieces.

Levenshtein's cost is quadratic in the texts' length and holds the GIL, and the shadow's
comparison runs on the gateway's event loop: two different 60,000-character answers (a long
generation, ~15k tokens) held every other client of the gateway for 0.3-0.5 s. Texts longer
than EDIT_CHUNK are compared as aligned chunks of at most EDIT_CHUNK characters, which is
exact where the answers differ by substitutions and an upper bound of the distance otherwise.
No clock is read: the test records the lengths each Levenshtein call was given.
"""

from __future__ import annotations

import pytest
from rapidfuzz.distance import Levenshtein

from inferd.control.gateway import generation_compare
from inferd.control.gateway.generation_compare import (
    EDIT,
    EDIT_CHUNK,
    Generation,
    compare_generations,
)


def edit_distance(a: str, b: str) -> float:
    (d,) = [
        x for x in compare_generations(Generation({0: a}), Generation({0: b})) if x.output == EDIT
    ]
    return d.value


@pytest.fixture
def lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The longest text each Levenshtein computation was handed."""
    seen: list[int] = []

    class Recording:
        @staticmethod
        def distance(a: str, b: str) -> int:
            seen.append(max(len(a), len(b)))
            return int(Levenshtein.distance(a, b))

        @staticmethod
        def normalized_distance(a: str, b: str) -> float:
            seen.append(max(len(a), len(b)))
            return float(Levenshtein.normalized_distance(a, b))

    monkeypatch.setattr(generation_compare, "Levenshtein", Recording)
    return seen


def test_a_long_generation_is_compared_in_bounded_pieces(lengths: list[int]) -> None:
    a = "the quick brown fox " * 5_000  # 100,000 characters
    b = "THE QUICK BROWN FOX " * 100 + a[2_000:]  # the first 2,000 substituted
    # Substitutions only: the exact distance is the 2,000 changed characters (the upper case
    # letters: 'the quick brown fox ' has 16 letters of its 20 characters).
    expected = 16 * 100 / len(a)
    assert edit_distance(a, b) == pytest.approx(expected, abs=1e-12)
    assert lengths and max(lengths) <= EDIT_CHUNK


def test_texts_of_other_lengths_stay_bounded_and_within_0_and_1(lengths: list[int]) -> None:
    a = "x" * 30_000
    b = "y" * 70_000
    value = edit_distance(a, b)
    assert value == pytest.approx(1.0)
    assert max(lengths) <= EDIT_CHUNK
    lengths.clear()
    # An upper bound of the exact distance, never below it.
    a = "ab" * 10_000
    b = "c" + a
    assert edit_distance(a, b) >= 1 / len(b)
    assert edit_distance(a, b) <= 1.0


def test_a_short_answer_is_compared_whole_and_exactly(lengths: list[int]) -> None:
    a, b = "kitten" * 100, "sitting" * 100
    assert edit_distance(a, b) == pytest.approx(Levenshtein.normalized_distance(a, b))
    assert lengths == [700]
