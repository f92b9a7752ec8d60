"""BodyReader: how a request body is kept, and what each chunk costs the budget."""

from __future__ import annotations

from inferd.protocols.http.body import BodyReader, unfilled


def test_a_body_in_one_chunk_is_that_chunk():
    chunk = b"x" * 1000
    reader = BodyReader(1000)
    assert reader.cost(1000) == 1000
    reader.add(chunk, reader.cost(len(chunk)))
    assert reader.value() is chunk
    assert (reader.length, reader.charged) == (1000, 1000)


def test_a_declared_body_is_written_into_one_buffer_charged_at_its_first_chunk():
    reader = BodyReader(10)
    costs = []
    for chunk in (b"abc", b"defg", b"hij"):
        costs.append(reader.cost(len(chunk)))
        reader.add(chunk, reader.cost(len(chunk)))
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
        reader.add(chunk, reader.cost(len(chunk)))
    assert costs == [1, 2, 3]
    assert reader.value() == b"abcdef"
    assert (reader.length, reader.charged) == (6, 6)


def test_no_body_is_empty():
    reader = BodyReader()
    assert (reader.value(), reader.length, reader.charged) == (b"", 0, 0)


def test_the_rest_of_a_declared_body_is_read_into_its_room():
    reader = BodyReader(10)
    reader.add(b"abc", reader.cost(len(b"abc")))
    assert (reader.remaining(), reader.room_cost()) == (7, 0)  # charged whole at "abc"
    room = reader.room()
    room[:4] = b"defg"
    reader.filled(4)
    room = reader.room()
    assert len(room) == 3
    room[:] = b"hij"
    reader.filled(3)
    assert (reader.remaining(), reader.value(), reader.charged) == (0, b"abcdefghij", 10)


def test_a_room_opened_before_any_chunk_costs_the_declared_size():
    reader = BodyReader(5)
    assert reader.room_cost() == 5
    reader.room()[:] = b"hello"
    reader.filled(5)
    assert (reader.value(), reader.charged) == (b"hello", 5)


def test_a_chunked_body_has_no_room():
    assert BodyReader().remaining() == 0


def test_an_unfilled_buffer_is_an_ordinary_bytearray_of_its_size():
    buffer = unfilled(3 * 1024 * 1024)
    assert type(buffer) is bytearray and len(buffer) == 3 * 1024 * 1024
    buffer[:] = b"\x07" * len(buffer)
    buffer += b"!"  # owns its memory: it can grow like any other
    assert buffer.count(7) == 3 * 1024 * 1024 and buffer[-1:] == b"!"
    assert unfilled(0) == bytearray()


def test_a_declared_body_that_ends_short_hands_over_only_the_bytes_that_arrived():
    reader = BodyReader(1000)
    reader.add(b"abc", reader.cost(len(b"abc")))
    reader.add(b"de", reader.cost(len(b"de")))
    assert reader.value() == b"abcde"
