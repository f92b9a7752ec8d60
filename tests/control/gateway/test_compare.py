"""Shadow comparison: decoding responses (JSON, binary, KServe v1) and divergence per output."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from inferd.control.gateway.compare import Undecodable, compare, decode_outputs


def v2(outputs: list[dict[str, object]]) -> tuple[dict[str, str], bytes]:
    return {}, orjson.dumps({"model_name": "m", "outputs": outputs})


def binary(outputs: list[tuple[str, str, list[int], bytes]]) -> tuple[dict[str, str], bytes]:
    """A binary-extension response: JSON header, then each output's bytes in order."""
    doc = {
        "model_name": "m",
        "outputs": [
            {"name": n, "datatype": dt, "shape": shape, "parameters": {"binary_data_size": len(b)}}
            for n, dt, shape, b in outputs
        ],
    }
    head = orjson.dumps(doc)
    body = head + b"".join(b for *_, b in outputs)
    return {"inference-header-content-length": str(len(head))}, body


def test_labels_by_share_and_floats_by_mean_absolute_difference() -> None:
    primary = decode_outputs(*v2([
        {"name": "label", "datatype": "INT64", "shape": [4], "data": [0, 1, 1, 0]},
        {"name": "p", "datatype": "FP32", "shape": [2, 2], "data": [[0.9, 0.1], [0.2, 0.8]]},
    ]))  # fmt: skip
    shadow = decode_outputs(*v2([
        {"name": "label", "datatype": "INT64", "shape": [4], "data": [0, 1, 0, 0]},
        {"name": "p", "datatype": "FP32", "shape": [2, 2], "data": [0.8, 0.2, 0.2, 0.8]},
    ]))  # fmt: skip
    by_name = {d.output: d for d in compare(primary, shadow)}
    assert by_name["label"].kind == "share"
    assert by_name["label"].value == 0.25
    assert (by_name["label"].differing, by_name["label"].elements) == (1, 4)
    assert by_name["p"].kind == "mad"
    assert by_name["p"].value == pytest.approx(0.05, abs=1e-6)
    assert not by_name["p"].mismatched


def test_binary_outputs_decode_like_json_ones() -> None:
    probs = np.array([[0.25, 0.75]], dtype="<f4")
    labels = np.array([1], dtype="<i8")
    strings = b"".join(struct.pack("<I", len(s)) + s for s in (b"ok", b"fraud"))
    headers, body = binary([
        ("label", "INT64", [1], labels.tobytes()),
        ("p", "FP32", [1, 2], probs.tobytes()),
        ("why", "BYTES", [2], strings),
    ])  # fmt: skip
    decoded = decode_outputs(headers, body)
    assert decoded["label"].data.tolist() == [1]
    assert decoded["p"].shape == (1, 2)
    assert decoded["p"].data.tolist() == [0.25, 0.75]
    assert decoded["why"].data.tolist() == [b"ok", b"fraud"]
    same = decode_outputs(*v2([
        {"name": "label", "datatype": "INT64", "shape": [1], "data": [1]},
        {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]},
        {"name": "why", "datatype": "BYTES", "shape": [2], "data": ["ok", "fraud"]},
    ]))  # fmt: skip
    assert all(d.value == 0 for d in compare(decoded, same))


def test_shape_or_type_disagreement_counts_as_fully_different() -> None:
    primary = decode_outputs(*v2([
        {"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 1]},
        {"name": "p", "datatype": "FP32", "shape": [2], "data": [0.5, 0.5]},
        {"name": "gone", "datatype": "INT32", "shape": [1], "data": [3]},
    ]))  # fmt: skip
    shadow = decode_outputs(*v2([
        {"name": "label", "datatype": "INT64", "shape": [1, 2], "data": [0, 1]},
        {"name": "p", "datatype": "INT64", "shape": [2], "data": [0, 1]},
    ]))  # fmt: skip
    results = compare(primary, shadow)
    assert [(d.output, d.value, d.mismatched) for d in results] == [
        ("label", 1.0, True),
        ("p", 1.0, True),
        ("gone", 1.0, True),
    ]


def test_kserve_v1_predictions() -> None:
    a = decode_outputs({}, orjson.dumps({"predictions": [0, 1, 1, 1]}))
    b = decode_outputs({}, orjson.dumps({"predictions": [0, 1, 0, 1]}))
    (d,) = compare(a, b)
    assert (d.output, d.kind, d.value) == ("predictions", "share", 0.25)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"outputs": 3}',
        b'{"outputs": [{"name": "x", "data": [[1], [2, 3]]}]}',
    ],
)
def test_undecodable_bodies(body: bytes) -> None:
    with pytest.raises(Undecodable):
        decode_outputs({}, body)


@pytest.mark.parametrize(
    "output",
    [
        {"name": "x", "datatype": "FP32", "shape": ["a"], "data": [1.0]},
        {"name": "x", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": "z"}},
        {"name": "x", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 3}},
        {"name": "x", "datatype": "FP32", "shape": [1], "parameters": 5, "data": [1.0]},
        # BYTES decode as the server decodes requests: three bytes cannot hold one length prefix.
        {"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 3}},
        {"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 4}},
    ],
)
def test_malformed_outputs_are_undecodable(output: dict[str, object]) -> None:
    head = orjson.dumps({"outputs": [output]})
    with pytest.raises(Undecodable):
        decode_outputs({"inference-header-content-length": str(len(head))}, head + b"\0\0\0")
