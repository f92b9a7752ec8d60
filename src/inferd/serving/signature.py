"""Holding requests and answers to a model's signature.

A request's tensors are checked before anything is queued: errors name the tensor and say what
was expected and what was given, so a client can fix its request without reading server logs.
A model's outputs are checked as it gives them (at warm-up, then every batch): each declared
output present, of its datatype (or cast to it where nothing is lost but float precision) and
of its declared dimensions; undeclared outputs are left out. An answer contrary to the
signature is the model's fault, never the client's: InternalError naming the model.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from inferd.card import Signature, TensorSpec
from inferd.datatypes import Array, Tensors, numpy_dtype, oip_datatype
from inferd.errors import InternalError, InvalidArgument, InvalidTensor
from inferd.runtimes.base import Model
from inferd.serving.types import RequestedOutput, Tensor

log = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: built per request (frozen __init__ is 2-4x slower)
class CheckedInputs:
    """Inputs keyed by name, their batch rows, and the key requests must share to batch together.

    ``key`` is None when the model cannot batch (every request then runs alone).
    """

    tensors: Tensors
    rows: int
    key: Hashable


@dataclass(frozen=True, slots=True)
class _Fit:
    """What one input's header must be, for the comparisons of the common case."""

    name: str
    datatype: str
    rank: int
    #: (axis, size) of every fixed dimension.
    fixed: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, spec: TensorSpec) -> _Fit:
        fixed = tuple((axis, d) for axis, d in enumerate(spec.shape) if d != -1)
        return cls(spec.name, spec.datatype, len(spec.shape), fixed)

    def fits(self, datatype: str, shape: tuple[int, ...]) -> bool:
        if datatype != self.datatype or len(shape) != self.rank:
            return False
        for axis, size in self.fixed:  # noqa: SIM110 (a loop: all() of a generator is 3x slower)
            if shape[axis] != size:
                return False
        return True


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _datatype(dtype: np.dtype[np.generic]) -> str:
    """The OIP datatype of an array's dtype, or the dtype itself where it has none."""
    try:
        return oip_datatype(dtype)
    except InvalidArgument:
        return str(dtype)


@dataclass(frozen=True, slots=True)
class _Output:
    """What one declared output must be."""

    name: str
    datatype: str
    #: None for BYTES, which any string array is (object, bytes or str elements).
    dtype: np.dtype[np.generic] | None
    shape: tuple[int, ...]
    #: (axis, size) of every fixed dimension.
    fixed: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, spec: TensorSpec) -> _Output:
        dtype = None if spec.datatype == "BYTES" else numpy_dtype(spec.datatype)
        fixed = tuple((axis, d) for axis, d in enumerate(spec.shape) if d != -1)
        return cls(spec.name, spec.datatype, dtype, spec.shape, fixed)

    def conform(self, array: Array) -> Array | str:
        """``array`` as declared (cast where that loses nothing but float precision), or what
        is wrong with it."""
        given, dtype = array.dtype, self.dtype
        if dtype is None:
            if given.kind not in "OSU":
                return f"as {_datatype(given)}, declared BYTES"
        elif given != dtype:
            if given.kind in "OSU":
                return f"as BYTES, declared {self.datatype}"
            if not (np.can_cast(given, dtype, "safe") or given.kind == dtype.kind == "f"):
                return f"as {_datatype(given)}, declared {self.datatype} (a cast would lose values)"
            array = array.astype(dtype)
        shape = array.shape
        if len(shape) != len(self.shape):
            return f"of shape {_shape(shape)}, declared {_shape(self.shape)}"
        for axis, size in self.fixed:
            if shape[axis] != size:
                return f"of shape {_shape(shape)}, declared {_shape(self.shape)}"
        return array


class SignatureCheck:
    """Validates requests for one model version; built once per loaded version. It is also the
    :class:`~inferd.serving.types.InputCheck` transports apply before decoding tensor data.

    A model batches when every input and output has a variable first dimension (``-1``): that
    dimension is the batch, and requests are concatenated along it. An empty signature (a card
    that declares no inputs) is passed through unchecked and never batched.
    """

    def __init__(self, model: str, signature: Signature) -> None:
        self._model = model
        self._inputs: tuple[TensorSpec, ...] = signature.inputs
        self._by_name = {s.name: s for s in signature.inputs}
        self._input_names = ", ".join(s.name for s in signature.inputs)
        self._outputs = frozenset(s.name for s in signature.outputs)
        self._declared = tuple(_Output.of(s) for s in signature.outputs)
        specs = (*signature.inputs, *signature.outputs)
        self.batchable = bool(signature.inputs) and all(
            len(s.shape) >= 1 and s.shape[0] == -1 for s in specs
        )
        # A header that fits is checked with a few comparisons against these; anything that does
        # not fit exactly goes the general way (_check_one), which names the problem.
        self._fits = {s.name: _Fit.of(s) for s in signature.inputs}
        only = signature.inputs[0] if len(signature.inputs) == 1 else None
        self._single = self._fits[only.name] if only is not None else None

    def inputs(self, tensors: list[Tensor]) -> CheckedInputs:
        """Check names, datatypes, ranks and fixed dimensions; InvalidTensor names the culprit."""
        single = self._single
        if single is not None and len(tensors) == 1:
            given = tensors[0]
            shape = given.data.shape
            if given.name == single.name and single.fits(given.datatype, shape):
                if not self.batchable:
                    return CheckedInputs({given.name: given.data}, 1, None)
                return CheckedInputs({given.name: given.data}, shape[0], (shape[1:],))
        by_name = {t.name: t for t in tensors}
        if len(by_name) != len(tensors):
            seen: set[str] = set()
            for t in tensors:
                if t.name in seen:
                    raise InvalidTensor(t.name, "given more than once")
                seen.add(t.name)
        if not self._inputs:
            return CheckedInputs({n: t.data for n, t in by_name.items()}, 1, None)
        checked: Tensors = {}
        key: list[tuple[int, ...]] = []
        rows = -1
        for spec in self._inputs:
            tensor = by_name.get(spec.name)
            if tensor is None:
                raise InvalidTensor(
                    spec.name, f"missing; model {self._model!r} takes inputs {self._input_names}"
                )
            shape = tensor.data.shape
            self._check_one(spec, tensor.datatype, shape)
            if self.batchable:
                if rows == -1:
                    rows = shape[0]
                elif shape[0] != rows:
                    raise InvalidTensor(
                        spec.name,
                        f"has {shape[0]} rows but {self._inputs[0].name!r} has {rows}; "
                        "every input needs the same first (batch) dimension",
                    )
                key.append(shape[1:])
            checked[spec.name] = tensor.data
        if len(by_name) != len(checked):
            unknown = next(n for n in by_name if n not in checked)
            raise InvalidTensor(
                unknown, f"unknown input; model {self._model!r} takes {self._input_names}"
            )
        if not self.batchable:
            return CheckedInputs(checked, 1, None)
        return CheckedInputs(checked, rows, tuple(key))

    def declared(self, name: str, datatype: str, shape: tuple[int, ...]) -> None:
        """Check one input's header before its data is decoded (:class:`InputCheck`): a
        mismatch is refused without paying for the decoding. :meth:`inputs` still checks the
        whole request (missing inputs, batch rows) once it is decoded."""
        if not self._inputs:
            return
        fit = self._fits.get(name)
        if fit is not None and fit.fits(datatype, shape):
            return
        spec = self._by_name.get(name)
        if spec is None:
            raise InvalidTensor(
                name, f"unknown input; model {self._model!r} takes {self._input_names}"
            )
        self._check_one(spec, datatype, shape)

    def outputs(self, requested: list[RequestedOutput]) -> list[str]:
        """The requested output names, each known to the model (no list asks for all outputs,
        without this call)."""
        names = [r.name for r in requested]
        if self._outputs:
            for name in names:
                if name not in self._outputs:
                    known = ", ".join(sorted(self._outputs))
                    raise InvalidTensor(
                        name, f"unknown output; model {self._model!r} gives {known}"
                    )
        return names

    def conform(self, outputs: Tensors) -> Tensors:
        """The declared outputs of a model's answer, each as declared (see the module
        docstring); all of them when the signature declares none. InternalError names the
        model, the output and how it differs."""
        if not self._declared:
            for name, given in outputs.items():  # the model's fault, not the client's (400)
                if _datatype(given.dtype) == str(given.dtype):
                    raise InternalError(
                        f"model {self._model!r} gave output {name!r} of dtype {given.dtype}, "
                        "which has no Open Inference Protocol datatype"
                    )
            return outputs
        conformed: Tensors = {}
        for output in self._declared:
            array = outputs.get(output.name)
            if array is None:
                gave = ", ".join(outputs) or "none"
                raise InternalError(
                    f"model {self._model!r} gave no output {output.name!r}, which its "
                    f"signature declares (it gave {gave})"
                )
            fit = output.conform(array)
            if isinstance(fit, str):
                raise InternalError(f"model {self._model!r} gave output {output.name!r} {fit}")
            conformed[output.name] = fit
        return conformed

    @staticmethod
    def _check_one(spec: TensorSpec, datatype: str, shape: tuple[int, ...]) -> None:
        if datatype != spec.datatype:
            raise InvalidTensor(spec.name, f"expected datatype {spec.datatype} but got {datatype}")
        if len(shape) != len(spec.shape):
            raise InvalidTensor(
                spec.name,
                f"expected shape {_shape(spec.shape)} (rank {len(spec.shape)}) "
                f"but got {_shape(shape)} (rank {len(shape)})",
            )
        for axis, (want, got) in enumerate(zip(spec.shape, shape, strict=True)):
            if want not in (-1, got):
                raise InvalidTensor(
                    spec.name,
                    f"expected shape {_shape(spec.shape)} but got {_shape(shape)} "
                    f"(dimension {axis} must be {want})",
                )


class CheckedModel:
    """A :class:`~inferd.runtimes.base.Model` whose every answer passes
    :meth:`SignatureCheck.conform`: what the model returns is what its metadata promises."""

    def __init__(self, model: Model, check: SignatureCheck) -> None:
        self.model = model
        self._conform = check.conform
        #: As safe to run on the event loop as the model it checks (inferd.serving.inline).
        self.inline_safe = bool(getattr(model, "inline_safe", False))

    def predict(self, inputs: Tensors) -> Tensors:
        return self._conform(self.model.predict(inputs))

    def close(self) -> None:
        self.model.close()


def output_rows_problem(label: str, outputs: Tensors, rows: int) -> InternalError | None:
    """Why a batch of ``rows`` rows cannot be split among its requests: an output of
    another number of rows (logged; the batch is a 500 naming the model), else None."""
    for name, array in outputs.items():
        got = array.shape[0] if array.ndim else 0
        if got != rows:
            log.error(
                "%s returned %d rows of output %r for a batch of %d rows", label, got, name, rows
            )
            return InternalError(
                f"{label} returned {got} rows of output {name!r} for a batch of {rows} rows"
            )
    return None
