"""Warm-up tensors and example requests follow the signature: batch size first, 1 for other
variable dims."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from inferd.card import Signature, TensorSpec
from inferd.errors import InvalidArgument
from inferd.runtimes import warmup_inputs
from inferd.runtimes.warmup import example_request, unknown_strings


def test_shapes_and_dtypes() -> None:
    signature = Signature(
        inputs=(
            TensorSpec(name="x", datatype="FP32", shape=(-1, 8)),
            TensorSpec(name="ids", datatype="INT64", shape=(-1, -1)),
            TensorSpec(name="fixed", datatype="FP16", shape=(2, 3)),
            TensorSpec(name="mask", datatype="BOOL", shape=(4, -1, 5)),
            TensorSpec(name="text", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="scalar", datatype="UINT8", shape=()),
        ),
        outputs=(TensorSpec(name="y", datatype="FP32", shape=(-1,)),),
    )
    tensors = warmup_inputs(signature, batch_size=3)
    assert {name: (t.shape, t.dtype.str) for name, t in tensors.items()} == {
        "x": ((3, 8), "<f4"),
        "ids": ((3, 1), "<i8"),
        "fixed": ((2, 3), "<f2"),
        "mask": ((4, 1, 5), "|b1"),
        "text": ((3,), "|O"),
        "scalar": ((), "|u1"),
    }
    assert all(not t.any() for name, t in tensors.items() if name != "text")
    assert tensors["text"].tolist() == [b"", b"", b""]


def test_default_batch_is_one_and_outputs_are_ignored() -> None:
    signature = Signature(inputs=(TensorSpec(name="x", datatype="FP64", shape=(-1, 2)),))
    assert warmup_inputs(signature)["x"].shape == (1, 2)
    assert warmup_inputs(Signature()) == {}


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(InvalidArgument, match="at least 1, got 0"):
        warmup_inputs(Signature(), batch_size=0)


EXAMPLE = Signature(
    inputs=(
        TensorSpec(name="x", datatype="FP32", shape=(-1, 2)),
        TensorSpec(name="mask", datatype="BOOL", shape=(-1,)),
        TensorSpec(name="text", datatype="BYTES", shape=(1, -1)),
    )
)


def test_example_request_is_zeros_shaped_like_warm_up() -> None:
    body = example_request(EXAMPLE)
    assert orjson.loads(orjson.dumps(body)) == {
        "inputs": [
            {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0, 0]},
            {"name": "mask", "shape": [1], "datatype": "BOOL", "data": [False]},
            {"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [""]},
        ]
    }
    for spec, tensor in zip(body["inputs"], warmup_inputs(EXAMPLE).values(), strict=True):
        assert tuple(spec["shape"]) == tensor.shape


def test_random_example_rows() -> None:
    x, mask, text = example_request(EXAMPLE, rows=3, rng=np.random.default_rng(1))["inputs"]
    assert (x["shape"], mask["shape"], text["shape"]) == ([3, 2], [3], [1, 1])
    assert all(isinstance(v, float) and round(v, 4) == v for v in x["data"])
    assert all(isinstance(v, bool) for v in mask["data"])
    assert text["data"] == [""]
    with pytest.raises(InvalidArgument, match="at least 1 row"):
        example_request(EXAMPLE, rows=0)


def test_bytes_columns_hold_the_strings_the_model_knows() -> None:
    """Every BYTES element was "", which a strict categorical encoder refuses."""
    signature = Signature(inputs=(TensorSpec(name="item", datatype="BYTES", shape=(-1, 3)),))
    known = {"item": ("red", None, "small")}
    (item,) = example_request(signature, rows=2, known=known)["inputs"]
    assert item["data"] == ["red", "", "small"] * 2
    tensor = warmup_inputs(signature, 2, known)["item"]
    assert tensor.shape == (2, 3) and tensor.tolist() == [[b"red", b"", b"small"]] * 2
    assert unknown_strings(signature, known) == ["item"]
    assert unknown_strings(signature, {"item": ("a", "b", "c")}) == []
    assert unknown_strings(EXAMPLE, {}) == ["text"]
