"""A binary-extension body whose Inference-Header-Content-Length is missing or wrong: the JSON
part then runs into raw tensor bytes, and the error says where the JSON ended and why (not
orjson's "surrogates not allowed: line 1 column 1", which points at a byte that is fine)."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest

X = {"name": "x", "datatype": "FP32", "shape": [1, 2], "parameters": {"binary_data_size": 8}}
HEAD = orjson.dumps({"inputs": [X]})
#: Two FP32 values whose bytes are not UTF-8 (0xbf and 0xc0 cannot start a character there).
RAW = np.array([-1.5, -2.5], dtype="<f4").tobytes()


@pytest.fixture
def client(data_server):
    with httpx.Client(base_url=data_server.url, timeout=10) as c:
        yield c


def _error(client: httpx.Client, headers: dict[str, str]) -> tuple[int, str]:
    answer = client.post("/v2/models/echo/infer", content=HEAD + RAW, headers=headers)
    return answer.status_code, answer.json()["error"]


def test_a_binary_body_without_the_header_length_says_the_header_is_needed(client):
    status, error = _error(client, {"Content-Type": "application/octet-stream"})
    assert status == 400
    assert error == (
        f"malformed JSON: not UTF-8 text (byte {len(HEAD) + 2} is 0xc0); a body with binary "
        "tensor data (parameters.binary_data_size) needs the header "
        "Inference-Header-Content-Length: <bytes of its JSON part>"
    )


def test_a_header_length_covering_the_binary_part_says_which_bytes_were_taken_as_json(client):
    status, error = _error(client, {"Inference-Header-Content-Length": str(len(HEAD + RAW))})
    assert status == 400
    assert error == (
        f"malformed JSON: not UTF-8 text (byte {len(HEAD) + 2} is 0xc0); the JSON part is "
        f"the first {len(HEAD) + len(RAW)} bytes of the body, as "
        "Inference-Header-Content-Length says"
    )


def test_a_header_length_of_zero_says_so(client):
    status, error = _error(client, {"Inference-Header-Content-Length": "0"})
    assert status == 400
    assert error.endswith(
        "; the JSON part is the first 0 bytes of the body, as Inference-Header-Content-Length says"
    )


def test_a_plain_json_mistake_keeps_its_position(client):
    answer = client.post("/v2/models/echo/infer", content=b'{"inputs": [}')
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("malformed JSON: ")
    assert "line 1 column 13" in answer.json()["error"]


@pytest.mark.parametrize("value", [b"\xb2", b"1\xb9", b"\xbd"], ids=["²", "1¹", "½"])
def test_a_header_length_of_digits_beyond_ascii_is_a_400(client, value):
    """Latin-1 superscripts are digits to str.isdigit() but not to int(): a 500."""
    answer = client.post(
        "/v2/models/echo/infer",
        content=HEAD + RAW,
        headers={"Inference-Header-Content-Length": value},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == (
        "Inference-Header-Content-Length must be a non-negative integer"
    )
