"""Warm-up tensors follow the signature: batch size first, 1 for other variable dims."""

from __future__ import annotations

import pytest

from inferd.card import Signature, TensorSpec
from inferd.errors import InvalidArgument
from inferd.runtimes import warmup_inputs


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
