"""A request field sent more than once reaches the handlers as one, its values joined with ", "
in the order they came (RFC 9110 5.3), not as its last copy; Host, Authorization and
Content-Type twice are refused (tests/protocols/access/test_duplicate_authorization.py)."""

from __future__ import annotations

import pytest

from inferd.config import LimitSettings
from protocols.http.conftest import ask, error_of


def test_a_repeated_field_is_seen_as_its_values_joined(serve, seen) -> None:
    status, _ = ask(
        serve(LimitSettings()),
        b"POST /digest HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nAccept: text/plain\r\n"
        b"x-tag: b\r\nX-TAG: c\r\nContent-Length: 2\r\n\r\nab",
    )
    assert status == 200
    assert seen.headers["x-tag"] == "a, b, c"
    assert seen.headers["accept"] == "text/plain"


#: Repeats that are refused, never served: ``gzip`` then ``chunked`` in two fields is ``gzip,
#: chunked``, refused 501 as in one field (never read as a plain chunked body while it is still
#: gzip-coded); Content-Type is one value, two joined would name no media type (a client sending
#: its default and then its own), so a second one is refused as a second Host is.
REFUSED = {
    "transfer coding split over two fields": (
        b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n",
        501, "Transfer-Encoding 'gzip, chunked'",
    ),
    "two media types": (
        b"Content-Type: application/json\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 2\r\n\r\nab",
        400, "more than one 'content-type' header",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("rest", "status", "named"), REFUSED.values(), ids=REFUSED.keys())
def test_a_repeat_that_would_be_misread_is_refused(
    serve, seen, rest: bytes, status: int, named: str
) -> None:
    answered, body = ask(serve(LimitSettings()), b"POST /digest HTTP/1.1\r\nHost: x\r\n" + rest)
    assert answered == status
    assert named in error_of(body)
    assert seen.digests == 0
