"""Embeddings stop for a deadline that passed or a client that left: they read every input to
the end whatever the request's deadline, and after their client had gone, holding the model's
embedding context (the next embeddings request waited for them)."""

from __future__ import annotations

import threading
import time

import pytest

from inferd.errors import Cancelled, DeadlineExceeded
from inferd.runtimes.llamacpp.runtime import LlamaModel


class LeavesAfter(threading.Event):
    """A client that leaves once ``checks`` looks at it have passed."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks < 0


def test_embeddings_past_their_deadline_read_nothing(model: LlamaModel) -> None:
    with pytest.raises(DeadlineExceeded, match="deadline"):
        model.embed(["the cat", "a dog"], deadline=time.monotonic() - 1)
    vectors, _ = model.embed(["the cat"], deadline=time.monotonic() + 600)
    assert len(vectors) == 1


def test_embeddings_stop_when_their_client_leaves(model: LlamaModel) -> None:
    with pytest.raises(Cancelled, match="left"):
        model.embed(["the cat", "a dog", "a bird"], gone=LeavesAfter(1))
    # The embedding context is free again: the next request is served.
    vectors, _ = model.embed(["the cat"], gone=threading.Event())
    assert len(vectors) == 1
