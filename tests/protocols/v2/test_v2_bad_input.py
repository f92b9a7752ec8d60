"""The bad-input list: each → 4xx with ``{"error": ...}`` naming the problem, never a 5xx.

``sum``'s signature is checked before its data is decoded, so a case about the data itself goes to
``echo``, which takes any tensor.
"""

from __future__ import annotations

import httpx
import orjson
import pytest


@pytest.fixture
def client(data_server):
    with httpx.Client(base_url=data_server.url, timeout=10) as c:
        yield c


def _one(**tensor) -> dict:
    base = {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}
    return {"inputs": [{**base, **tensor}]}


def _deep(datatype: str, levels: int) -> bytes:
    """A request whose data is one value nested ``levels`` lists deep (built as text: JSON
    encoders refuse such depth, parsers accept it)."""
    value = '"s"' if datatype == "BYTES" else "1"
    head = f'{{"inputs": [{{"name": "t", "shape": [1], "datatype": "{datatype}", "data": '
    return (head + "[" * levels + value + "]" * levels + "}]}").encode()


CASES = [
    # (description, path, body bytes, headers, status, words expected in the error)
    (
        "malformed JSON",
        "/v2/models/sum/infer",
        b'{"inputs": [',
        {},
        400,
        ["malformed JSON", "line 1"],
    ),
    ("not an object", "/v2/models/sum/infer", b"[1, 2]", {}, 400, ["JSON object"]),
    ("no inputs", "/v2/models/sum/infer", b"{}", {}, 400, ["'inputs'"]),
    (
        "unknown datatype",
        "/v2/models/sum/infer",
        orjson.dumps(_one(datatype="FLOAT")),
        {},
        400,
        ["'x'", "unknown datatype 'FLOAT'"],
    ),
    (
        "wrong datatype for data",
        "/v2/models/sum/infer",
        orjson.dumps(_one(datatype="INT32", data=[1.5, 2, 3])),
        {},
        400,
        ["'x'", "INT32"],
    ),
    (
        "strings for numbers",
        "/v2/models/sum/infer",
        orjson.dumps(_one(data=["a", "b", "c"])),
        {},
        400,
        ["'x'", "strings"],
    ),
    (
        "shape disagrees with data",
        "/v2/models/sum/infer",
        orjson.dumps(_one(shape=[2, 3])),
        {},
        400,
        ["'x'", "needs 6 elements", "has 3"],
    ),
    (
        "ragged data",
        "/v2/models/echo/infer",
        orjson.dumps(_one(data=[[1, 2], [3]], shape=[3])),
        {},
        400,
        ["'x'", "ragged"],
    ),
    (
        "negative dimension",
        "/v2/models/sum/infer",
        orjson.dumps(_one(shape=[-1, 3])),
        {},
        400,
        ["'x'", "negative dimension"],
    ),
    (
        # Every dimension's type is checked before any sign: the string is what is named.
        "negative dimension beside a string",
        "/v2/models/sum/infer",
        orjson.dumps(_one(shape=[-1, "3"])),
        {},
        400,
        ["'x'", "non-negative integers"],
    ),
    (
        "rank beyond limit",
        "/v2/models/sum/infer",
        orjson.dumps(_one(shape=[1, 1, 1, 1, 1, 3])),
        {},
        400,
        ["'x'", "rank 6"],
    ),
    (
        "huge declared shape with tiny data",
        "/v2/models/echo/infer",
        orjson.dumps(_one(shape=[10**9, 10**9], data=[1])),
        {},
        400,
        ["'x'", "needs 1000000000000000000 elements", "'data' has 1"],
    ),
    (
        "huge shape, binary",
        "/v2/models/echo/infer",
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [2**40, 2**40],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 4},
                    }
                ]
            }
        )
        + b"\0\0\0\0",
        {"inference-header-content-length": "__LEN__"},
        400,
        ["'x'", "needs 4835703278458516698824704 bytes", "has 4"],
    ),
    (
        "too many inputs",
        "/v2/models/sum/infer",
        orjson.dumps({"inputs": [_one()["inputs"][0]] * 5}),
        {},
        400,
        ["5 inputs", "limit of 4"],
    ),
    (
        "too many requested outputs",
        "/v2/models/sum/infer",
        orjson.dumps({**_one(), "outputs": [{"name": "y"}] * 100}),
        {},
        400,
        ["100 requested outputs"],
    ),
    (
        "unknown requested output",
        "/v2/models/sum/infer",
        orjson.dumps({**_one(), "outputs": [{"name": "nope"}]}),
        {},
        400,
        ["'nope'"],
    ),
    (
        # As tritonclient sends it: no data, the region named in the parameters.
        "input in shared memory",
        "/v2/models/echo/infer",
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 3],
                        "datatype": "FP32",
                        "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 12},
                    }
                ]
            }
        ),
        {},
        501,
        ["tensor 'x': shared-memory tensors are not supported; send the data in the request"],
    ),
    ("unknown model", "/v2/models/nope/infer", orjson.dumps(_one()), {}, 404, ["model 'nope'"]),
    # The unknown model or version decides before a mistake in the body does.
    ("unknown model, bad body", "/v2/models/nope/infer", b"{}", {}, 404, ["model 'nope'"]),
    (
        "unknown version, bad body",
        "/v2/models/sum/versions/zz/infer",
        b"{",
        {},
        404,
        ["model 'sum' version 'zz'"],
    ),
    (
        "unknown version",
        "/v2/models/sum/versions/9/infer",
        orjson.dumps(_one()),
        {},
        404,
        ["model 'sum' version '9'"],
    ),
    ("unknown model metadata", "/v2/models/nope", None, {}, 404, ["model 'nope'"]),
    ("unknown model ready", "/v2/models/nope/ready", None, {}, 404, ["model 'nope'"]),
    (
        "binary header length beyond body",
        "/v2/models/sum/infer",
        orjson.dumps(_one()),
        {"inference-header-content-length": "99999"},
        400,
        ["Inference-Header-Content-Length", "beyond"],
    ),
    (
        "binary header length not a number",
        "/v2/models/sum/infer",
        orjson.dumps(_one()),
        {"inference-header-content-length": "-3"},
        400,
        ["Inference-Header-Content-Length"],
    ),
    (
        "binary size beyond body",
        "/v2/models/sum/infer",
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 3],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 12},
                    }
                ]
            }
        )
        + b"\0" * 4,
        {"inference-header-content-length": "__LEN__"},
        400,
        ["'x'", "past the end"],
    ),
    (
        "binary size disagrees with shape",
        "/v2/models/sum/infer",
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 3],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            }
        )
        + b"\0" * 8,
        {"inference-header-content-length": "__LEN__"},
        400,
        ["'x'", "needs 12 bytes"],
    ),
    (
        "trailing binary",
        "/v2/models/sum/infer",
        orjson.dumps(_one()) + b"\0\0",
        {"inference-header-content-length": "__LEN__"},
        400,
        ["2 bytes of binary data beyond"],
    ),
    (
        "bad BYTES binary",
        "/v2/models/echo/infer",
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "s",
                        "shape": [1],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 6},
                    }
                ]
            }
        )
        + b"\x09\0\0\0ab",
        {"inference-header-content-length": "__LEN__"},
        400,
        ["'s'", "declares 9 bytes but 2 remain"],
    ),
    (
        "pickle media type",
        "/v2/models/sum/infer",
        orjson.dumps(_one()),
        {"content-type": "application/python-pickle"},
        415,
        ["unsupported media type"],
    ),
    (
        "multipart media type",
        "/v2/models/sum/infer",
        b"--b--",
        {"content-type": "multipart/form-data; boundary=b"},
        415,
        ["unsupported media type"],
    ),
    (
        "BYTES nested far deeper than the shape",
        "/v2/models/echo/infer",
        _deep("BYTES", 1000),
        {},
        400,
        ["'t'", "nested deeper"],
    ),
    (
        "numbers nested far deeper than the shape",
        "/v2/models/echo/infer",
        _deep("FP32", 1000),
        {},
        400,
        ["'t'"],
    ),
]


@pytest.mark.parametrize(
    ("what", "path", "body", "headers", "status", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_with_a_named_problem(
    client, what, path, body, headers, status, words
):
    headers = dict(headers)
    if headers.get("inference-header-content-length") == "__LEN__":
        headers["inference-header-content-length"] = str(body.index(b"}]}") + 3)
    if body is None:
        answer = client.get(path)
    else:
        headers.setdefault("content-type", "application/json")
        answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    for word in words:
        assert word in message
    assert "Traceback" not in message and "/work" not in message


def test_oversize_body_with_content_length(client):
    answer = client.post(
        "/v2/models/sum/infer",
        content=b"x" * (65 * 1024),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert "exceeds the limit" in answer.json()["error"]


def test_oversize_chunked_body(client):
    def chunks():
        for _ in range(100):
            yield b"x" * 4096

    try:
        answer = client.post("/v2/models/sum/infer", content=chunks())
    except httpx.WriteError:
        return  # the server closed the connection mid-upload; test_http_server checks the 413
    assert answer.status_code == 413
