"""Warm-up and example inputs: requests every model with a signature can answer.

* :func:`warmup_inputs` — zero tensors the manager runs before a version reports ready;
* :func:`example_request` — the same shapes as an OIP v2 JSON request body: the curl line
  ``inferd serve`` and ``inferd up`` print, and the rows ``inferd up --demo-traffic`` sends.

Numbers are zeros, which any model takes. A string may not be: a model with a strict
categorical encoder refuses a category it was not fitted on, the empty string included. A
loaded model that knows its categories says so (:class:`KnowsValues`), and both builders then
put a category it was fitted on in each column it knows one for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, TypedDict, runtime_checkable

import numpy as np

from inferd.card import Signature
from inferd.datatypes import Tensors, numpy_dtype, object_array
from inferd.errors import InvalidArgument


class ExampleInput(TypedDict):
    """One input tensor of an OIP v2 JSON request (data flattened in row-major order)."""

    name: str
    shape: list[int]
    datatype: str
    data: list[object]


class ExampleRequest(TypedDict):
    inputs: list[ExampleInput]


#: Input name → for each column (index on its last axis) a value the model was fitted with: a
#: string (for a BYTES input), a number (for an input of numbers: an encoder fitted on
#: integer-coded categories), or None where it does not know one.
KnownValues = Mapping[str, Sequence[str | float | None]]


@runtime_checkable
class KnowsValues(Protocol):
    """A loaded model that can tell strings it takes in its BYTES inputs (the sklearn runtime:
    the categories its encoders were fitted on)."""

    def known_values(self) -> KnownValues: ...


def model_known_values(model: object) -> KnownValues:
    """What ``model`` tells of the strings it takes (:class:`KnowsValues`), else nothing."""
    return model.known_values() if isinstance(model, KnowsValues) else {}


def unknown_strings(signature: Signature, known: KnownValues) -> list[str]:
    """The BYTES inputs of ``signature`` with a column ``known`` holds no string for: the
    empty string stands there in an example, which a strict model may refuse."""
    missing = []
    for spec in signature.inputs:
        if spec.datatype != "BYTES":
            continue
        values = known.get(spec.name, ())
        width = spec.shape[-1] if spec.shape and spec.shape[-1] > 0 else 1
        if len(values) < width or any(not isinstance(v, str) for v in values[:width]):
            missing.append(spec.name)
    return missing


def warmup_shape(shape: tuple[int, ...], batch_size: int = 1) -> tuple[int, ...]:
    """``shape`` with a variable first dimension set to ``batch_size`` and other variable
    dimensions set to 1."""
    return tuple((batch_size if i == 0 else 1) if dim == -1 else dim for i, dim in enumerate(shape))


def guessed_shapes(signature: Signature) -> list[str]:
    """Each input of ``signature`` with an open dimension past the first (the batch), as its
    name and the shape :func:`warmup_shape` gives it for one row: a guess the model may refuse
    (a 3x3 convolution over the 1x1 image of an input declared ``[-1, 3, -1, -1]``)."""
    return [
        f"{spec.name} {list(warmup_shape(spec.shape))}"
        for spec in signature.inputs
        if -1 in spec.shape[1:]
    ]


def warmup_inputs(
    signature: Signature, batch_size: int = 1, known: KnownValues | None = None
) -> Tensors:
    """One tensor per signature input: zeros of its datatype, but the ``known`` number of each
    column that has one; for BYTES, the ``known`` string of each column (UTF-8), else empty
    bytes."""
    if batch_size < 1:
        raise InvalidArgument(f"warm-up batch size must be at least 1, got {batch_size}")
    tensors: Tensors = {}
    for spec in signature.inputs:
        shape = warmup_shape(spec.shape, batch_size)
        if spec.datatype == "BYTES":
            texts = _strings(shape, (known or {}).get(spec.name, ()))
            tensors[spec.name] = object_array([t.encode() for t in texts], shape)
        else:
            zeros = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
            for column, number in _numbers(shape, (known or {}).get(spec.name, ())).items():
                zeros[..., column] = number
            tensors[spec.name] = zeros
    return tensors


def example_request(
    signature: Signature,
    rows: int = 1,
    rng: np.random.Generator | None = None,
    known: KnownValues | None = None,
) -> ExampleRequest:
    """A JSON inference request ``signature`` accepts, shaped as :func:`warmup_shape` does for
    ``rows`` rows: zeros (``false`` for BOOL; for BYTES the ``known`` string of each column,
    else ``""``), or with ``rng`` random values — normal floats rounded to 4 places, random
    booleans, integers from 0 to 9 (BYTES as without it); a column with a ``known`` number
    holds that number either way."""
    if rows < 1:
        raise InvalidArgument(f"an example request needs at least 1 row, got {rows}")
    inputs: list[ExampleInput] = []
    for spec in signature.inputs:
        shape = warmup_shape(spec.shape, rows)
        if spec.datatype == "BYTES":
            data: list[object] = list(_strings(shape, (known or {}).get(spec.name, ())))
        else:
            data = _values(spec.datatype, math.prod(shape), rng)
            width = shape[-1] if shape else 1
            for column, number in _numbers(shape, (known or {}).get(spec.name, ())).items():
                value = _typed(spec.datatype, number)
                data[column::width] = [value] * len(data[column::width])
        inputs.append(
            {"name": spec.name, "shape": list(shape), "datatype": spec.datatype, "data": data}
        )
    return {"inputs": inputs}


def _strings(shape: tuple[int, ...], known: Sequence[str | float | None]) -> list[str]:
    """The elements of a BYTES tensor of ``shape`` in row-major order: column ``j`` of the
    last axis holds ``known[j]``, or ``""`` where that is no string."""
    width = shape[-1] if shape else 1
    row = [_text(known[j] if j < len(known) else None) for j in range(width)]
    return row * (math.prod(shape) // width) if width else []


def _text(value: str | float | None) -> str:
    return value if isinstance(value, str) else ""


def _numbers(shape: tuple[int, ...], known: Sequence[str | float | None]) -> dict[int, float]:
    """Column (of the last axis of a tensor of numbers of ``shape``) → its ``known`` number."""
    width = shape[-1] if shape else 0
    return {
        column: float(value)
        for column, value in enumerate(known[:width])
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _typed(datatype: str, number: float) -> object:
    """``number`` as a JSON request's ``data`` holds it for ``datatype``."""
    if datatype == "BOOL":
        return bool(number)
    return number if datatype.startswith("FP") else int(number)


def _values(datatype: str, count: int, rng: np.random.Generator | None) -> list[object]:
    if rng is None:
        return [False if datatype == "BOOL" else 0] * count
    if datatype == "BOOL":
        return list(rng.integers(0, 2, size=count).astype(bool).tolist())
    if datatype.startswith("FP"):
        return list(np.round(rng.normal(size=count), 4).tolist())
    return list(rng.integers(0, 10, size=count).tolist())
