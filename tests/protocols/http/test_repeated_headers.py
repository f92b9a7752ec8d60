"""A request field sent more than once reaches the handlers as one, its values joined with ", "
in the order they came (RFC 9110 5.3), not as its last copy; Host, Authorization and
Content-Type twice are refused (tests/protocols/access/test_duplicate_authorization.py)."""

from __future__ import annotations

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


def test_a_transfer_coding_split_over_two_fields_is_read_whole(serve, seen) -> None:
    """``gzip`` then ``chunked`` in two fields is ``gzip, chunked``: refused 501 as in one
    field, never read as a plain chunked body while it is still gzip-coded."""
    status, body = ask(
        serve(LimitSettings()),
        b"POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n",
    )
    assert status == 501
    assert "Transfer-Encoding 'gzip, chunked'" in error_of(body)
    assert seen.digests == 0


def test_two_media_types_are_refused_naming_the_field(serve, seen) -> None:
    """Content-Type is one value: two joined would name no media type (a client sending its
    default and then its own), so a second one is refused as a second Host is."""
    status, body = ask(
        serve(LimitSettings()),
        b"POST /digest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nab",
    )
    assert status == 400
    assert "more than one 'content-type' header" in error_of(body)
    assert seen.digests == 0
