"""One tensor from the wire to numpy: the checks and conversions that REST JSON, the REST binary
extension, gRPC (typed contents and raw bytes), KServe v1 and the gateway's shadow comparison
all share, so a bad tensor gets the same answer whichever way it came.

The policy, in order; nothing sized by the client is allocated before step 3 has passed:

1. The header (:func:`declare`): a known datatype; a shape of non-negative integers no longer
   than ``limits.max_tensor_rank``; an empty tensor whose non-zero dimensions still span no more
   than ``limits.max_tensor_elements`` (numpy must index it). Else InvalidTensor.
2. The data agrees with the shape: as many elements, or exactly the bytes the shape needs (BYTES:
   at least the 4-byte prefix of every element). Else InvalidTensor: the client's mistake.
3. A tensor that agrees with its shape but holds more elements than ``limits.max_tensor_elements``
   (BYTES: ``limits.max_bytes_elements``, as each is decoded one by one in Python) is
   PayloadTooLarge: a well-formed request beyond a configured limit, like an oversize body.
4. The values: JSON numbers of a kind the datatype can hold, integers within its range, BOOL bytes
   of 0 or 1, BYTES length prefixes that account for every byte. Else InvalidTensor.

A tensor placed in client shared memory (Triton's ``shared_memory_*`` parameters, on an input or
a requested output) is refused as Unsupported before anything else about it is read
(:func:`refuse_shared_memory`): inferd reads data from requests and answers with it. The outputs
a request asks for are read alike too (:func:`requested_outputs`), Triton's ``classification``
parameter on one refused as Unsupported (but a count of 0, which asks for no classes).

Transports say where the data came from (``source``: ``'data'``, ``fp32_contents``, ``its
raw_input_contents entry``…), so a message names the field the client filled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from inferd.config import LimitSettings
from inferd.datatypes import NUMPY_DTYPES, Array, object_array
from inferd.errors import InvalidArgument, InvalidTensor, PayloadTooLarge, Unsupported
from inferd.protocols import bytes_wire
from inferd.serving.types import RequestedOutput

#: Parameters that point at client shared memory (``shared_memory_region``, ``_byte_size``,
#: ``_offset``).
_SHARED_MEMORY_PREFIX = "shared_memory_"
#: Triton's classification extension on a requested output (tritonclient's ``class_count``):
#: top-k "score:index:label" strings instead of the tensor. Refused, not ignored: the tensor
#: answered in its place is not what the client decodes. A count of 0 asks for none (Triton).
_CLASSIFICATION = "classification"
#: numpy kinds a value may arrive as, per target kind (ints are fine for floats, not the reverse:
#: silently truncating 1.5 to 1 would hide a client bug).
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
#: Datatypes whose JSON data must be whole numbers (see :func:`_exact_integers`).
_INTEGER_DATATYPES = frozenset(name for name, dtype in NUMPY_DTYPES.items() if dtype.kind in "iu")
#: Why a request that names one input twice is refused (REST and gRPC, before any data is read).
REPEATED_INPUT = "appears twice among the inputs"
#: Triton's sequence extension's request parameters (:func:`refuse_sequence`).
_SEQUENCE = frozenset(("sequence_id", "sequence_start", "sequence_end"))
#: Why a request without inputs is refused (REST and gRPC alike).
NO_INPUTS = "'inputs' must be a non-empty list"
_KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "floating-point numbers",
               "U": "strings", "S": "strings"}  # fmt: skip


@dataclass(slots=True)
class Declared:
    """A tensor's header, checked: what the wire says about it before its data is read.

    Not frozen, like the other records built for every request: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, two to four times slower.
    Nothing writes to it once built."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    #: The element count the shape declares (a Python int: no overflow).
    count: int

    def __str__(self) -> str:
        return f"shape {list(self.shape)}"


def refuse_shared_memory(tensor: str, parameters: Iterable[str]) -> None:
    """Refuse a tensor whose ``parameters`` (their names) place it in client shared memory."""
    for key in parameters:
        if key.startswith(_SHARED_MEMORY_PREFIX):
            raise Unsupported(
                f"tensor {tensor!r}: shared-memory tensors are not supported; "
                "send the data in the request"
            )


def refuse_sequence(parameters: Mapping[str, object]) -> None:
    """Refuse a request that is part of a sequence (Triton's ``sequence_id``, ``sequence_start``
    and ``sequence_end`` request parameters, what tritonclient's ``infer(sequence_id=…)`` sends):
    inferd keeps no state between requests, so answering each on its own would be silently
    wrong for a stateful model. A ``sequence_id`` of 0 or "" is none, as in Triton."""
    if not parameters or _SEQUENCE.isdisjoint(parameters):  # nearly every request: no cost
        return
    if parameters.get("sequence_id") not in (None, 0, "") or any(
        parameters.get(flag) is True for flag in ("sequence_start", "sequence_end")
    ):
        raise Unsupported(
            "Triton's sequence extension (parameters.sequence_id, sequence_start, sequence_end) "
            "is not supported: inferd's models keep no state between requests; send each "
            "request without them"
        )


def check_counts(inputs: int, outputs: int, limits: LimitSettings) -> None:
    """Refuse a request with more input tensors or requested outputs than the limits allow,
    before any of them is read (the same words over every transport)."""
    if inputs > limits.max_inputs:
        raise InvalidArgument(
            f"{inputs} inputs exceed the limit of {limits.max_inputs} (limits.max_inputs)"
        )
    if outputs > limits.max_outputs:
        raise InvalidArgument(
            f"{outputs} requested outputs exceed the limit of {limits.max_outputs} "
            "(limits.max_outputs)"
        )


def requested_outputs(outputs: Iterable[RequestedOutput]) -> list[RequestedOutput] | None:
    """The outputs a request asks for, each at most once and none in shared memory; None (every
    output) when it names none: protobuf cannot tell an empty list from an omitted one."""
    requested: list[RequestedOutput] = []
    named: set[str] = set()
    for output in outputs:
        if output.name in named:
            raise InvalidArgument(f"output {output.name!r} is requested more than once")
        named.add(output.name)
        refuse_shared_memory(output.name, output.parameters)
        if _CLASSIFICATION in output.parameters:
            if not _no_classes(output.parameters[_CLASSIFICATION]):
                raise Unsupported(
                    f"output {output.name!r}: Triton's classification extension "
                    f"(parameters.{_CLASSIFICATION}) is not supported; ask for the output without "
                    "it and take its top classes from the values"
                )
            parameters = {k: v for k, v in output.parameters.items() if k != _CLASSIFICATION}
            requested.append(RequestedOutput(output.name, parameters))
            continue
        requested.append(output)
    return requested or None


def _no_classes(count: object) -> bool:
    """Whether a ``classification`` parameter asks for no classes: the integer 0, as Triton
    reads a ``class_count`` of 0 (a boolean is no count)."""
    return type(count) is int and count == 0


def declare(name: str, datatype: object, shape: object, limits: LimitSettings) -> Declared:
    """Check a tensor's datatype and shape (step 1) before anything is read of its data."""
    if not isinstance(datatype, str) or datatype not in NUMPY_DTYPES:
        raise InvalidTensor(
            name, f"unknown datatype {datatype!r}; expected one of {', '.join(NUMPY_DTYPES)}"
        )
    if not isinstance(shape, list | tuple):
        raise InvalidTensor(name, "'shape' must be a list of non-negative integers")
    if len(shape) > limits.max_tensor_rank:
        raise InvalidTensor(
            name,
            f"rank {len(shape)} is beyond the limit of {limits.max_tensor_rank} "
            "(limits.max_tensor_rank)",
        )
    for d in shape:  # every type first: a shape with a string and a -1 names the string
        if type(d) is not int:
            raise InvalidTensor(name, "'shape' must be a list of non-negative integers")
    if shape and min(shape) < 0:
        raise InvalidTensor(name, f"shape {list(shape)} has a negative dimension")
    count = math.prod(shape)
    if count == 0:
        # An empty tensor passes every size check; one absurd dimension beside the zero, e.g.
        # [0, 2**40], must still be refused before numpy is asked to index it.
        span = math.prod(d for d in shape if d)
        if span > limits.max_tensor_elements:
            raise InvalidTensor(
                name,
                f"shape {list(shape)} spans {span} elements, beyond the limit of "
                f"{limits.max_tensor_elements} (limits.max_tensor_elements)",
            )
    return Declared(name, datatype, tuple(shape), count)


def from_binary(
    tensor: Declared, raw: bytes | memoryview, limits: LimitSettings, source: str
) -> Array:
    """Raw little-endian bytes (BYTES: length-prefixed elements) → an array of the shape.

    Fixed-size datatypes share ``raw``'s memory (the array is read-only).
    """
    if tensor.datatype == "BYTES":
        room = len(raw) // bytes_wire.LENGTH.size
        if tensor.count > room:
            raise InvalidTensor(
                tensor.name,
                f"{tensor} needs {tensor.count} BYTES elements but {source} "
                f"({len(raw)} bytes) can hold at most {room}",
            )
        _within_limits(tensor, limits)
        return bytes_wire.decode(tensor.name, raw, tensor.shape, tensor.count)
    dtype = NUMPY_DTYPES[tensor.datatype]
    expected = tensor.count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidTensor(
            tensor.name,
            f"{tensor} of {tensor.datatype} needs {expected} bytes but {source} has {len(raw)}",
        )
    if tensor.count > limits.max_tensor_elements:  # a fixed-size datatype's limit: inline
        _within_limits(tensor, limits)
    if tensor.datatype == "BOOL" and tensor.count and np.frombuffer(raw, np.uint8).max() > 1:
        raise InvalidTensor(tensor.name, "BOOL binary data must be bytes of 0 or 1")
    return np.frombuffer(raw, dtype=dtype).reshape(tensor.shape)


def from_json(tensor: Declared, data: object, limits: LimitSettings, source: str) -> Array:
    """A flat or nested JSON list (numbers, booleans, or strings for BYTES) → an array."""
    if not isinstance(data, list):
        raise InvalidTensor(tensor.name, f"{source} must be a list")
    if tensor.datatype == "BYTES":
        return _strings(tensor, data, limits, source)
    try:
        # Fast path: numpy parses nested lists of Python numbers in C.
        wide = np.asarray(data)
    except ValueError:
        raise InvalidTensor(
            tensor.name, f"{source} is ragged: nested lists of different lengths"
        ) from None
    # Steps 2 and 3 tested inline, a request's tensors nearly always passing them (a numeric
    # tensor's limit is max_tensor_elements): the helpers only word the refusal.
    if wide.size != tensor.count:
        _agrees(tensor, wide.size, source)
    if tensor.count > limits.max_tensor_elements:
        _within_limits(tensor, limits)
    if tensor.datatype in _INTEGER_DATATYPES and wide.dtype.kind in "fO" and tensor.count:
        wide = _exact_integers(tensor, data, wide)
    return _narrow(tensor, wide)


def _exact_integers(tensor: Declared, data: list[Any], wide: Array) -> Array:
    """The slow path, for integer datatypes only: numpy makes float64 of Python ints below and
    at or above 2**63 together (``[0, 2**64 - 1]``, which float64 cannot hold exactly) and
    objects of ints beyond 64 bits. When every value is an int, the range is checked on the
    ints themselves and the array built from them exactly; else ``wide`` goes back for
    :func:`_narrow` to name what the datatype cannot hold (1.5, None)."""
    values = np.asarray(data, dtype=object).reshape(-1).tolist()
    if not all(isinstance(value, int) for value in values):
        return wide
    dtype = NUMPY_DTYPES[tensor.datatype]
    info = np.iinfo(dtype.str)
    if min(values) < info.min or max(values) > info.max:
        raise InvalidTensor(tensor.name, f"values outside the range of {tensor.datatype}")
    return np.array(values, dtype=dtype).reshape(wide.shape)


def from_values(
    tensor: Declared,
    values: Sequence[Any],
    wire: np.dtype[np.generic] | None,
    limits: LimitSettings,
    source: str,
) -> Array:
    """A sequence of Python values that travel as ``wire`` (narrow integers widened; None for
    BYTES, whose values are ``bytes``) → an array of the declared datatype."""
    _agrees(tensor, len(values), source)
    _within_limits(tensor, limits)
    if wire is None:
        return object_array(list(values), tensor.shape)
    return _narrow(tensor, np.fromiter(values, dtype=wire, count=tensor.count))


def _agrees(tensor: Declared, present: int, source: str) -> None:
    if present != tensor.count:
        raise InvalidTensor(
            tensor.name, f"{tensor} needs {tensor.count} elements but {source} has {present}"
        )


def _element_limit(tensor: Declared, limits: LimitSettings) -> tuple[int, str]:
    """The most elements the tensor may hold, and the setting that says so."""
    if tensor.datatype == "BYTES" and limits.max_bytes_elements < limits.max_tensor_elements:
        return limits.max_bytes_elements, "max_bytes_elements"
    return limits.max_tensor_elements, "max_tensor_elements"


def _within_limits(tensor: Declared, limits: LimitSettings) -> None:
    limit, setting = _element_limit(tensor, limits)
    if tensor.count > limit:
        kind = "BYTES elements" if setting == "max_bytes_elements" else "elements"
        raise PayloadTooLarge(
            f"tensor {tensor.name!r}: {tensor.count} {kind} are beyond the limit of {limit} "
            f"(limits.{setting})"
        )


def _narrow(tensor: Declared, wide: Array) -> Array:
    """Numbers as they arrived (JSON's int64/float64, protobuf's widened fields) → the datatype,
    refusing a kind it cannot hold and integers outside its range (step 4)."""
    dtype = NUMPY_DTYPES[tensor.datatype]
    if tensor.count == 0:
        return np.zeros(tensor.shape, dtype=dtype)
    if wide.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        if dtype.kind in "iu" and _whole_beyond_64_bits(wide):  # JSON parsed them as floats
            raise InvalidTensor(tensor.name, f"values outside the range of {tensor.datatype}")
        if wide.dtype.kind == "O" and any(value is None for value in wide.flat):
            raise InvalidTensor(
                tensor.name,
                f"null is not a value of {tensor.datatype}: JSON has no NaN, so send missing "
                "values as binary tensor data or over gRPC",
            )
        got = _KIND_NAMES.get(
            wide.dtype.kind, "values that are not numbers of one kind (or integers beyond 64 bits)"
        )
        raise InvalidTensor(tensor.name, f"datatype {tensor.datatype} cannot hold {got}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype.str)
        if wide.min() < info.min or wide.max() > info.max:
            raise InvalidTensor(tensor.name, f"values outside the range of {tensor.datatype}")
    elif dtype.kind == "f" and wide.dtype != dtype and not _fits_float(wide, dtype):
        # 1e39 as FP32 would be infinity, which models answer with garbage or an error.
        raise InvalidTensor(tensor.name, f"values outside the range of {tensor.datatype}")
    return wide.astype(dtype, copy=False).reshape(tensor.shape)


def _whole_beyond_64_bits(wide: Array) -> bool:
    """Floats that are all whole numbers, one beyond 64 bits: integers the JSON parser could
    only read as floats (an error path: the cost does not matter)."""
    if wide.dtype.kind != "f":
        return False
    floats = cast("npt.NDArray[np.floating[Any]]", wide)
    whole = bool(np.all(np.isfinite(floats)) and np.all(np.mod(floats, 1) == 0))
    return whole and bool(np.abs(floats).max() >= 2.0**63)


def _fits_float(wide: Array, dtype: np.dtype[Any]) -> bool:
    """Whether every number in ``wide`` stays finite as float ``dtype``."""
    limit = _FLOAT_LIMITS[dtype]
    if wide.dtype.kind == "f":
        # One pass (0.6 µs for a row of 8) where an exact maximum takes three: the sum of
        # squares is at most limit² whenever every value fits, which is nearly always.
        # (No typing.cast to floats for mypy: a function call a request, where the kind test
        # above already says what the array holds.)
        if float(np.vdot(wide, wide)) <= limit * limit:  # type: ignore[arg-type]
            return True
    elif limit > 2.0**64:  # every 64-bit integer fits FP32 and FP64
        return True
    return bool(np.abs(wide).max() <= limit)


_FLOAT_LIMITS = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}


def _strings(tensor: Declared, data: list[Any], limits: LimitSettings, source: str) -> Array:
    limit, _ = _element_limit(tensor, limits)
    items: list[bytes] = []
    # Stop one past what could be accepted: the data present then decides between "disagrees
    # with the shape" and "beyond the limit" without encoding more than the limit allows.
    _flatten_strings(tensor, data, items, min(tensor.count, limit), len(tensor.shape) or 1)
    if len(items) > limit and tensor.count > limit:
        _within_limits(tensor, limits)
    if len(items) > tensor.count:
        raise InvalidTensor(
            tensor.name, f"{tensor} needs {tensor.count} elements but {source} has more"
        )
    _agrees(tensor, len(items), source)
    return object_array(items, tensor.shape)


def _flatten_strings(
    tensor: Declared, data: list[Any], out: list[bytes], limit: int, depth: int
) -> None:
    for item in data:
        if isinstance(item, str):
            out.append(item.encode("utf-8"))
        elif isinstance(item, list):
            # Nesting deeper than the shape's rank is wrong anyway; refusing it also bounds the
            # recursion (JSON allows ~1000 levels, more than Python's stack).
            if depth <= 1:
                raise InvalidTensor(tensor.name, f"its data is nested deeper than its {tensor}")
            _flatten_strings(tensor, item, out, limit, depth - 1)
        else:
            raise InvalidTensor(tensor.name, "BYTES data must be strings (nested lists allowed)")
        if len(out) > limit:
            break
