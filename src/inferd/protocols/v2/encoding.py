"""A v2 inference response on the wire: JSON, with binary sections for the outputs that ask for
them (the binary tensor data extension). Decoding is :mod:`inferd.protocols.v2.codec`'s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson

from inferd.datatypes import NUMPY_DTYPES
from inferd.errors import InvalidArgument
from inferd.protocols import bytes_wire
from inferd.serving.types import InferRequest, InferResponse, Tensor


@dataclass(slots=True)  # not frozen: built per request (see tensor_wire.Declared)
class EncodedResponse:
    """A response body; ``json_length`` is set when binary sections follow the JSON part."""

    body: bytes
    json_length: int | None


#: :func:`wants_binary` of a request without parameters or requested outputs (most): JSON.
JSON_ONLY: Mapping[str, bool] = MappingProxyType({"": False})


def wants_binary(request: InferRequest) -> Mapping[str, bool]:
    """Per-output choice of the binary encoding (``binary_data`` beats ``binary_data_output``).
    A request without parameters or requested outputs gets :data:`JSON_ONLY` (the handler
    tests that inline, without this call)."""
    default = bool(request.parameters.get("binary_data_output", False))
    choice: dict[str, bool] = {}
    for out in request.outputs or ():
        choice[out.name] = bool(out.parameters.get("binary_data", default))
    choice[""] = default
    return choice


def encode_response(response: InferResponse, binary_choice: Mapping[str, bool]) -> EncodedResponse:
    """Encode a response as JSON, with binary sections for the outputs that asked for them."""
    outputs: list[dict[str, Any]] = []
    sections: list[bytes] = []
    default = binary_choice.get("", False)
    for tensor in response.outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.data.shape),
        }
        params = dict(tensor.parameters)
        if binary_choice.get(tensor.name, default):
            raw = _to_binary(tensor)
            params["binary_data_size"] = len(raw)
            sections.append(raw)
        else:
            entry["data"] = _to_json_data(tensor)
        if params:
            entry["parameters"] = params
        outputs.append(entry)
    doc: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version is not None:
        doc["model_version"] = response.model_version
    if response.id is not None:
        doc["id"] = response.id
    if response.parameters:
        doc["parameters"] = response.parameters
    doc["outputs"] = outputs
    text = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not sections:
        return EncodedResponse(text, None)
    return EncodedResponse(b"".join([text, *sections]), len(text))


def _to_binary(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        return bytes_wire.encode(
            item if isinstance(item, bytes) else str(item).encode("utf-8")
            for item in tensor.data.reshape(-1).tolist()
        )
    dtype = NUMPY_DTYPES[tensor.datatype]
    return np.ascontiguousarray(tensor.data, dtype=dtype).tobytes()


def _json_strings(tensor: Tensor) -> list[str]:
    """A BYTES output's elements as JSON strings. Bytes that are not UTF-8 are refused, never
    replaced: the client would read other bytes than the model gave, and not know it."""
    strings: list[str] = []
    for index, item in enumerate(tensor.data.reshape(-1).tolist()):
        if not isinstance(item, bytes):
            strings.append(str(item))
            continue
        try:
            strings.append(item.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidArgument(
                f"output {tensor.name!r}: element {index} is not UTF-8 text, which a JSON "
                "string cannot carry; ask for the output as binary data "
                "(parameters.binary_data: true)"
            ) from None
    return strings


def _to_json_data(tensor: Tensor) -> object:
    if tensor.datatype == "BYTES":
        return _json_strings(tensor)
    # orjson writes a 1-D contiguous numpy array as a JSON list without a Python round trip.
    return np.ascontiguousarray(tensor.data).reshape(-1)
