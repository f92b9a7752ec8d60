"""How far a shadow's answer is from the primary's: decode both responses, compare per output.

* Integer, boolean and string outputs (labels, classes, token ids) compare by the **share of
  elements that differ**, in ``[0, 1]``.
* Floating-point outputs (probabilities, scores, embeddings) compare by the **mean absolute
  difference** of their elements. NaN and infinities (JSON ``null`` as a replica writes them)
  agree where both answers hold the same one; anywhere else they make the output entirely
  different, so a divergence is always a number (a NaN would stay in a cumulative sum for good).

Outputs whose shapes or kinds of datatype disagree (a float against an integer, a boolean
against an integer, a string against a number; not integers or floats of other widths) count
as entirely different (share 1.0) and are reported as mismatched. A KServe v1 body has no
datatypes: its numbers holding ``null`` are floats with NaN or an infinity.

Responses are decoded from OIP v2 JSON, v2 JSON followed by binary tensors (the binary tensor
extension), or KServe v1 ``{"predictions": …}``, through the same
tensor decoding the server applies to requests (:mod:`inferd.protocols.tensor_wire`); nothing is
re-encoded, and only the two bodies in hand are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from inferd.config import LimitSettings
from inferd.errors import InferdError
from inferd.protocols import tensor_wire
from inferd.protocols.tensor_wire import Declared

#: share and mad compare tensors; edit_distance and cosine_distance compare generations
#: (:mod:`.generation_compare`).
Kind = Literal["share", "mad", "edit_distance", "cosine_distance"]
#: Responses come from inferd's own replicas: the request limits bound a client's tensors, not a
#: model's, so only numpy's own bound on rank and the element limit apply.
RESPONSE_LIMITS = LimitSettings(
    max_tensor_rank=32, max_bytes_elements=LimitSettings().max_tensor_elements
)
#: The name under which a KServe v1 response's ``predictions`` are compared.
V1_OUTPUT = "predictions"
#: Datatypes whose JSON ``null`` stands for NaN or an infinity (JSON has neither).
_FLOATS = frozenset({"FP16", "BF16", "FP32", "FP64"})
#: numpy's dtype kinds that compare with one another: any integers; strings and bytes.
_KINDS = {"u": "i", "U": "O", "S": "O"}


class Undecodable(ValueError):
    """A response body that is not a decodable inference response."""


@dataclass(frozen=True, slots=True)
class Divergence:
    """One output's divergence: ``kind`` says how ``value`` was measured."""

    output: str
    kind: Kind
    value: float
    elements: int
    #: Elements that differ (``share`` outputs only; 0 for ``mad``).
    differing: int
    #: Shapes or datatypes disagreed, so the outputs could not be compared element-wise.
    mismatched: bool = False


@dataclass(frozen=True, slots=True)
class Output:
    """One decoded output tensor: its declared shape and its elements, flattened."""

    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]


def decode_outputs(headers: dict[str, str], body: bytes) -> dict[str, Output]:
    """The output tensors of a response body, by name."""
    json_len = headers.get("inference-header-content-length")
    try:
        header_end = int(json_len) if json_len is not None else len(body)
        doc = orjson.loads(body[:header_end])
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise Undecodable("response is not JSON") from exc
    if not isinstance(doc, dict):
        raise Undecodable("response is not a JSON object")
    if "predictions" in doc and "outputs" not in doc:
        data = _as_array(doc["predictions"])
        return {V1_OUTPUT: Output(np.shape(doc["predictions"]), data)}
    outputs = doc.get("outputs")
    if not isinstance(outputs, list):
        raise Undecodable("response has no outputs")
    decoded: dict[str, Output] = {}
    binary = memoryview(body)[header_end:]
    for out in outputs:
        if not isinstance(out, dict):
            raise Undecodable("an output is not a JSON object")
        name = str(out.get("name"))
        try:
            tensor, array, used = _decode_output(name, out, binary)
        except InferdError as exc:
            raise Undecodable(f"output {name!r} does not decode: {exc.message}") from exc
        binary = binary[used:]
        decoded[name] = Output(tensor.shape, array.reshape(-1))
    return decoded


def _decode_output(
    name: str, out: dict[str, Any], binary: memoryview
) -> tuple[Declared, np.ndarray[Any, Any], int]:
    """One output → its header, its elements, and how many bytes of ``binary`` it took."""
    tensor = tensor_wire.declare(name, out.get("datatype"), out.get("shape"), RESPONSE_LIMITS)
    parameters = out.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Undecodable(f"output {name!r} has parameters that are not an object")
    size = parameters.get("binary_data_size")
    if size is None:
        data = out.get("data")
        try:
            return tensor, tensor_wire.from_json(tensor, data, RESPONSE_LIMITS, "'data'"), 0
        except InferdError:
            if tensor.datatype not in _FLOATS:
                raise
            return tensor, _floats_with_nulls(name, data, tensor.count), 0
    if type(size) is not int or not 0 <= size <= len(binary):
        raise Undecodable(f"output {name!r} has a binary_data_size beyond the body")
    raw = binary[:size]
    return tensor, tensor_wire.from_binary(tensor, raw, RESPONSE_LIMITS, "its binary data"), size


def _floats_with_nulls(name: str, data: Any, count: int) -> np.ndarray[Any, Any]:
    """A float output's JSON data holding ``null`` (NaN or an infinity): nulls as NaN."""
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise Undecodable(f"output {name!r} holds values that are not numbers") from exc
    if array.size != count:
        raise Undecodable(f"output {name!r} holds {array.size} values, its shape {count}")
    return array


def _as_array(data: Any) -> np.ndarray[Any, Any]:
    """KServe v1 ``predictions``: no datatype on the wire, so whatever numpy makes of them."""
    try:
        array = np.asarray(data)
    except ValueError as exc:
        raise Undecodable("output data is ragged") from exc
    if array.dtype.kind not in "biufUSO":
        raise Undecodable("output data is not numeric")
    if array.dtype.kind == "O" and all(_number_or_null(x) for x in array.flat):
        # Floats with NaN or an infinity, which a replica writes as null: compared as floats.
        return array.astype(np.float64).reshape(-1)
    return array.reshape(-1)


def _number_or_null(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def compare(primary: dict[str, Output], shadow: dict[str, Output]) -> list[Divergence]:
    """Divergence of every output the primary returned (missing in the shadow: mismatched)."""
    results: list[Divergence] = []
    for name, p in primary.items():
        s = shadow.get(name)
        n = int(p.data.size)
        if s is None or s.shape != p.shape or s.data.size != n or _kind(s) != _kind(p):
            results.append(Divergence(name, "share", 1.0, n, n, mismatched=True))
        elif _kind(p) == "f":
            results.append(_mean_difference(name, p.data, s.data))
        else:
            differing = int(np.count_nonzero(p.data != s.data))
            results.append(Divergence(name, "share", differing / n if n else 0.0, n, differing))
    return results


def _mean_difference(
    name: str, primary: np.ndarray[Any, Any], shadow: np.ndarray[Any, Any]
) -> Divergence:
    """Float outputs' mean absolute difference; elements both answers hold the same NaN or
    infinity in agree, and any other non-finite element (or a difference beyond float64)
    makes the output entirely different."""
    n = int(primary.size)
    if not n:
        return Divergence(name, "mad", 0.0, 0, 0)
    p, s = primary.astype(np.float64), shadow.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(p - s)
        finite = np.isfinite(diff)
        if not finite.all():
            alike = (p == s) | (np.isnan(p) & np.isnan(s))
            if not (finite | alike).all():
                return Divergence(name, "share", 1.0, n, n, mismatched=True)
            diff = np.where(finite, diff, 0.0)
        mad = float(diff.mean())
    if not math.isfinite(mad):
        return Divergence(name, "share", 1.0, n, n, mismatched=True)
    return Divergence(name, "mad", mad, n, 0)


def _kind(output: Output) -> str:
    # Integers (and floats) of different widths compare fine; a float against a label, a
    # boolean against an integer or a string against a number does not.
    kind: str = output.data.dtype.kind
    return _KINDS.get(kind, kind)
