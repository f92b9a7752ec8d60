"""url_host: how a bind address is written in a URL a client can use."""

from __future__ import annotations

import pytest

from inferd.addresses import url_host


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "127.0.0.1"),
        ("::", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "[::1]"),
        ("example.com", "example.com"),
    ],
)
def test_url_host(host: str, expected: str) -> None:
    assert url_host(host) == expected
