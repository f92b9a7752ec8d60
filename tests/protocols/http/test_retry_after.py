"""Retry-After is whole seconds, rounded up over REST as over gRPC."""

from __future__ import annotations

import pytest

from inferd.errors import RateLimited, Unavailable
from inferd.protocols.http.messages import response_for_error


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0.0, b"1"), (0.2, b"1"), (1.0, b"1"), (2.5, b"3"), (5.0, b"5")]
)
def test_retry_after_is_rounded_up_and_never_zero(retry_after: float, header: bytes) -> None:
    for error in (
        Unavailable("full", retry_after=retry_after),
        RateLimited("slow down", retry_after),
    ):
        headers = dict(response_for_error(error).headers)
        assert headers[b"retry-after"] == header
