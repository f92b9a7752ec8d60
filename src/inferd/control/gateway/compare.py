"""How far a shadow's answer is from the primary's: decode both responses, compare per output.

* Integer, boolean and string outputs (labels, classes, token ids) compare by the **share of
  elements that differ**, in ``[0, 1]``.
* Floating-point outputs (probabilities, scores, embeddings) compare by the **mean absolute
  difference** of their elements.

Outputs whose shapes or datatypes disagree count as entirely different (share 1.0) and are
reported as mismatched. Responses are decoded from OIP v2 JSON, v2 JSON followed by binary
tensors (the binary tensor extension), or KServe v1 ``{"predictions": …}``; nothing is
re-encoded, and only the two bodies in hand are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from inferd.datatypes import NUMPY_DTYPES

Kind = Literal["share", "mad"]
#: The name under which a KServe v1 response's ``predictions`` are compared.
V1_OUTPUT = "predictions"


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
        data = _as_array(doc["predictions"], None)
        return {V1_OUTPUT: Output(np.shape(doc["predictions"]), data)}
    outputs = doc.get("outputs")
    if not isinstance(outputs, list):
        raise Undecodable("response has no outputs")
    decoded: dict[str, Output] = {}
    offset = header_end
    for out in outputs:
        if not isinstance(out, dict):
            raise Undecodable("an output is not a JSON object")
        try:
            datatype = str(out.get("datatype"))
            size = (out.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                array = _from_binary(body[offset : offset + int(size)], datatype)
                offset += int(size)
            else:
                array = _as_array(out.get("data"), datatype)
            shape = tuple(int(d) for d in out.get("shape") or ())
        except (TypeError, ValueError, AttributeError) as exc:
            # Undecodable is a ValueError too: re-raising it keeps its message.
            raise Undecodable(f"output {out.get('name')!r} does not decode") from exc
        decoded[str(out.get("name"))] = Output(shape, array)
    return decoded


def _from_binary(raw: bytes, datatype: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        items: list[bytes] = []
        pos = 0
        while pos + 4 <= len(raw):
            n = int.from_bytes(raw[pos : pos + 4], "little")
            items.append(raw[pos + 4 : pos + 4 + n])
            pos += 4 + n
        return np.asarray(items, dtype=object)
    dtype = NUMPY_DTYPES.get(datatype)
    if dtype is None or len(raw) % dtype.itemsize:
        raise Undecodable(f"binary output of datatype {datatype!r} does not decode")
    return np.frombuffer(raw, dtype=dtype)


def _as_array(data: Any, datatype: str | None) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        # JSON carries BYTES as strings, binary as raw bytes: compare them as bytes either way.
        flat = np.asarray(data, dtype=object).reshape(-1)
        return np.asarray(
            [x.encode("utf-8") if isinstance(x, str) else x for x in flat], dtype=object
        )
    try:
        array = np.asarray(data)
    except ValueError as exc:
        raise Undecodable("output data is ragged") from exc
    if array.dtype.kind not in "biufUSO":
        raise Undecodable("output data is not numeric")
    return array.reshape(-1)


def compare(primary: dict[str, Output], shadow: dict[str, Output]) -> list[Divergence]:
    """Divergence of every output the primary returned (missing in the shadow: mismatched)."""
    results: list[Divergence] = []
    for name, p in primary.items():
        s = shadow.get(name)
        n = int(p.data.size)
        if s is None or s.shape != p.shape or s.data.size != n or _kind(s) != _kind(p):
            results.append(Divergence(name, "share", 1.0, n, n, mismatched=True))
        elif _kind(p) == "f":
            diff = np.abs(p.data.astype(np.float64) - s.data.astype(np.float64))
            results.append(Divergence(name, "mad", float(diff.mean()) if n else 0.0, n, 0))
        else:
            differing = int(np.count_nonzero(p.data != s.data))
            results.append(Divergence(name, "share", differing / n if n else 0.0, n, differing))
    return results


def _kind(output: Output) -> str:
    # Integers of different widths compare fine; a float against a label does not.
    return "f" if output.data.dtype.kind == "f" else "other"
