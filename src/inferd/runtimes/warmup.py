"""Warm-up and example inputs: requests every model with a signature can answer.

* :func:`warmup_inputs` — zero tensors the manager runs before a version reports ready;
* :func:`example_request` — the same shapes as an OIP v2 JSON request body: the curl line
  ``inferd serve`` and ``inferd up`` print, and the rows ``inferd up --demo-traffic`` sends.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np

from inferd.card import Signature
from inferd.datatypes import Tensors, numpy_dtype
from inferd.errors import InvalidArgument


class ExampleInput(TypedDict):
    """One input tensor of an OIP v2 JSON request (data flattened in row-major order)."""

    name: str
    shape: list[int]
    datatype: str
    data: list[object]


class ExampleRequest(TypedDict):
    inputs: list[ExampleInput]


def warmup_shape(shape: tuple[int, ...], batch_size: int = 1) -> tuple[int, ...]:
    """``shape`` with a variable first dimension set to ``batch_size`` and other variable
    dimensions set to 1."""
    return tuple((batch_size if i == 0 else 1) if dim == -1 else dim for i, dim in enumerate(shape))


def warmup_inputs(signature: Signature, batch_size: int = 1) -> Tensors:
    """One tensor per signature input: zeros of its datatype (empty bytes for BYTES)."""
    if batch_size < 1:
        raise InvalidArgument(f"warm-up batch size must be at least 1, got {batch_size}")
    tensors: Tensors = {}
    for spec in signature.inputs:
        shape = warmup_shape(spec.shape, batch_size)
        if spec.datatype == "BYTES":
            tensors[spec.name] = np.full(shape, b"", dtype=np.object_)
        else:
            tensors[spec.name] = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
    return tensors


def example_request(
    signature: Signature, rows: int = 1, rng: np.random.Generator | None = None
) -> ExampleRequest:
    """A JSON inference request ``signature`` accepts, shaped as :func:`warmup_shape` does for
    ``rows`` rows: zeros (``false`` for BOOL, ``""`` for BYTES), or with ``rng`` random values —
    normal floats rounded to 4 places, random booleans, integers from 0 to 9 (BYTES stay
    empty)."""
    if rows < 1:
        raise InvalidArgument(f"an example request needs at least 1 row, got {rows}")
    inputs: list[ExampleInput] = []
    for spec in signature.inputs:
        shape = warmup_shape(spec.shape, rows)
        data = _values(spec.datatype, math.prod(shape), rng)
        inputs.append(
            {"name": spec.name, "shape": list(shape), "datatype": spec.datatype, "data": data}
        )
    return {"inputs": inputs}


def _values(datatype: str, count: int, rng: np.random.Generator | None) -> list[object]:
    if datatype == "BYTES":
        return [""] * count
    if rng is None:
        return [False if datatype == "BOOL" else 0] * count
    if datatype == "BOOL":
        return list(rng.integers(0, 2, size=count).astype(bool).tolist())
    if datatype.startswith("FP"):
        return list(np.round(rng.normal(size=count), 4).tolist())
    return list(rng.integers(0, 10, size=count).tolist())
