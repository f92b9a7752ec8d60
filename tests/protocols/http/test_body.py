"""BodyReader: how a request body is kept, and what each chunk costs the budget."""

from __future__ import annotations

from inferd.protocols.http.body import BodyReader


def test_a_body_in_one_chunk_is_that_chunk():
    chunk = b"x" * 1000
    reader = BodyReader(1000)
    assert reader.cost(1000) == 1000
    reader.add(chunk)
    assert reader.value() is chunk
    assert (reader.length, reader.charged) == (1000, 1000)


def test_a_declared_body_is_written_into_one_buffer_charged_at_its_first_chunk():
    reader = BodyReader(10)
    costs = []
    for chunk in (b"abc", b"defg", b"hij"):
        costs.append(reader.cost(len(chunk)))
        reader.add(chunk)
    assert costs == [10, 0, 0]
    body = reader.value()
    assert isinstance(body, bytearray)
    assert body == b"abcdefghij"
    assert (reader.length, reader.charged) == (10, 10)
    body += b"!"  # handed over without a view pinning it: a plain buffer


def test_a_chunked_body_grows_and_is_charged_as_read():
    reader = BodyReader()
    chunks = [b"a", b"bc", b"def"]
    costs = []
    for chunk in chunks:
        costs.append(reader.cost(len(chunk)))
        reader.add(chunk)
    assert costs == [1, 2, 3]
    assert reader.value() == b"abcdef"
    assert (reader.length, reader.charged) == (6, 6)


def test_no_body_is_empty():
    reader = BodyReader()
    assert (reader.value(), reader.length, reader.charged) == (b"", 0, 0)
