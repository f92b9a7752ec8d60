"""Stop strings found in generated text as it arrives, piece by piece: the earliest match of any
stop string, and how much of the text's end is held back because it could begin one. In time
linear in the text: a quadratic scan let one request whose stop strings were long (thousands of
characters, one nearly matching) slow every generation of its model, on the engine's thread."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inferd.runtimes.llamacpp.stream import StopScan


def _naive(text: str, stops: tuple[str, ...]) -> tuple[int, int]:
    """(start of the earliest match or -1, characters at the end that could begin a stop)."""
    found = min((i for s in stops if (i := text.find(s)) >= 0), default=-1)
    held = max(
        (
            n
            for s in stops
            for n in range(1, min(len(s) - 1, len(text)) + 1)
            if text.endswith(s[:n])
        ),
        default=0,
    )
    return found, held


@given(
    stops=st.lists(st.text("ab", min_size=1, max_size=5), min_size=1, max_size=4).map(tuple),
    pieces=st.lists(st.text("abc", max_size=4), max_size=12),
)
def test_it_finds_what_a_plain_search_finds(stops: tuple[str, ...], pieces: list[str]) -> None:
    scan = StopScan(stops)
    text = ""
    for piece in pieces:
        text += piece
        back = scan.feed(piece)
        found, held = _naive(text, stops)
        if found >= 0:
            assert len(text) - back == found
            return
        assert back == -1
        assert scan.held == held


def test_a_match_across_pieces_and_the_earliest_of_several() -> None:
    scan = StopScan(("END", "x"))
    assert (scan.feed("hello E"), scan.held) == (-1, 1)
    assert (scan.feed("N"), scan.held) == (-1, 2)
    assert scan.feed("D and x") == len("END and x")  # "END" begins first
    assert StopScan(()).feed("anything") == -1 and StopScan(()).held == 0


@pytest.mark.timeout(120)
def test_long_stop_strings_take_linear_time() -> None:
    # One stop nearly matched throughout (the text is its long prefix, held back), another tried
    # at every length and failing at its first character: quadratic per piece, cubic in all, as
    # it was; here each piece costs about its own length.
    n = 200_000
    scan = StopScan(("C" + "A" * n, "A" * n + "B"))
    for _ in range(n - 1):
        assert scan.feed("A") == -1
    assert scan.held == n - 1
    assert scan.feed("AB") == n + 1
