"""Warm-up inputs: a request every model with a signature can answer before it reports ready."""

from __future__ import annotations

import numpy as np

from inferd.card import Signature
from inferd.datatypes import Tensors, numpy_dtype
from inferd.errors import InvalidArgument


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
