"""SignatureCheck.conform: a model's answer held to its signature, as a table."""

from __future__ import annotations

import numpy as np
import pytest

from inferd.card import Datatype, Signature, TensorSpec
from inferd.datatypes import Array, object_array
from inferd.errors import InternalError
from inferd.serving.signature import SignatureCheck


def _check(datatype: Datatype, shape: tuple[int, ...] = (-1,)) -> SignatureCheck:
    outputs = (TensorSpec(name="y", datatype=datatype, shape=shape),)
    inputs = (TensorSpec(name="x", datatype="FP32", shape=(-1, 2)),)
    return SignatureCheck("m", Signature(inputs=inputs, outputs=outputs))


@pytest.mark.parametrize(
    ("datatype", "given", "served"),
    [
        ("FP32", np.array([0.5]), np.float32),  # float precision is not part of an answer
        ("FP16", np.array([0.5], dtype=np.float32), np.float16),
        ("FP64", np.array([1], dtype=np.int32), np.float64),
        ("INT64", np.array([1], dtype=np.int32), np.int64),
        ("INT32", np.array([True]), np.int32),
        ("BYTES", np.array(["yes"]), np.dtype("<U3")),
        ("BYTES", object_array([b"yes"], (1,)), np.object_),
    ],
)
def test_an_answer_that_loses_nothing_is_cast_to_what_is_declared(
    datatype: Datatype, given: Array, served: type
) -> None:
    (answer,) = _check(datatype).conform({"y": given}).values()
    assert answer.dtype == served
    assert answer.tolist() == given.astype(served).tolist()


@pytest.mark.parametrize(
    ("datatype", "shape", "given", "says"),
    [
        ("INT64", (-1,), np.array([0.7]), "as FP64, declared INT64 (a cast would lose values)"),
        ("INT32", (-1,), np.array([7]), "as INT64, declared INT32 (a cast would lose values)"),
        (
            "UINT8",
            (-1,),
            np.array([7], dtype=np.int8),
            "as INT8, declared UINT8 (a cast would lose values)",
        ),
        ("INT64", (-1,), np.array(["7"]), "as BYTES, declared INT64"),
        ("BYTES", (-1,), np.array([7]), "as INT64, declared BYTES"),
        ("BYTES", (-1,), np.array([0.5]), "as FP64, declared BYTES"),
        ("FP32", (-1,), np.array([1j]), "as complex128, declared FP32 (a cast would lose values)"),
        ("FP32", (-1, 2), np.zeros((1, 3)), "of shape [1, 3], declared [-1, 2]"),
        ("FP32", (-1, 1), np.zeros(1), "of shape [1], declared [-1, 1]"),
    ],
)
def test_an_answer_contrary_to_the_signature_is_the_models_fault(
    datatype: Datatype, shape: tuple[int, ...], given: Array, says: str
) -> None:
    with pytest.raises(InternalError) as error:
        _check(datatype, shape).conform({"y": given})
    assert error.value.message == f"model 'm' gave output 'y' {says}"


def test_declared_outputs_only_and_each_of_them() -> None:
    check = _check("FP32")
    y = np.zeros(1, dtype=np.float32)
    assert list(check.conform({"extra": y, "y": y})) == ["y"]
    with pytest.raises(InternalError, match=r"gave no output 'y', which its signature declares"):
        check.conform({"extra": y})
    undeclared = SignatureCheck("m", Signature())
    assert list(undeclared.conform({"extra": y})) == ["extra"]


@pytest.mark.parametrize("dtype", [np.complex64, np.longdouble])
def test_an_undeclared_output_of_no_oip_datatype_is_the_models_fault(dtype: type) -> None:
    """With no outputs declared, an answer no datatype can carry is a 500 naming the output,
    not the client's 400."""
    inputs = (TensorSpec(name="x", datatype="FP32", shape=(-1, 2)),)
    check = SignatureCheck("m", Signature(inputs=inputs, outputs=()))
    with pytest.raises(InternalError, match=r"model 'm' gave output 'y' of dtype .*, which has no"):
        check.conform({"y": np.zeros(2, dtype=dtype), "z": np.zeros(2)})
    assert set(check.conform({"z": np.zeros(2)})) == {"z"}
