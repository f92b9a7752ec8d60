"""Wire format ⇄ :class:`~inferd.serving.types.InferRequest` / ``InferResponse``.

Decoding checks every limit *before* allocating anything sized by the client: number of inputs
and outputs, rank, the element count implied by the declared shape (Python integers, so no
overflow), declared size against the binary section, and binary sections inside the body. Each
failure raises :class:`~inferd.errors.InvalidTensor` / ``InvalidArgument`` naming the tensor and
the problem, which the transport answers with 400.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from inferd.config import LimitSettings
from inferd.datatypes import NUMPY_DTYPES
from inferd.errors import InvalidArgument, InvalidTensor
from inferd.protocols import bytes_wire
from inferd.protocols.v2.tensors import (
    bytes_from_json,
    bytes_to_binary,
    numeric_from_json,
)
from inferd.serving.types import InferRequest, InferResponse, Parameters, RequestedOutput, Tensor

HEADER_LENGTH = "inference-header-content-length"


@dataclass(frozen=True, slots=True)
class EncodedResponse:
    """A response body; ``json_length`` is set when binary sections follow the JSON part."""

    body: bytes
    json_length: int | None


def _parameters(value: object, where: str) -> Parameters:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: 'parameters' must be an object")
    return value


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """Separate the JSON part from the binary part (``Inference-Header-Content-Length``)."""
    if header_length is None:
        return body, memoryview(b"")
    if not header_length.isdigit():
        raise InvalidArgument("Inference-Header-Content-Length must be a non-negative integer")
    n = int(header_length)
    if n > len(body):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {n} is beyond the body ({len(body)} bytes)"
        )
    view = memoryview(body)
    return bytes(view[:n]), view[n:]


def load_json(text: bytes) -> Any:
    """Parse JSON; a syntax error names the position."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"malformed JSON: {exc}") from None


def decode_request(
    model: str,
    version: str | None,
    body: bytes,
    header_length: str | None,
    limits: LimitSettings,
) -> InferRequest:
    """Decode an inference request body (JSON, optionally followed by binary tensor data)."""
    text, binary = split_body(body, header_length)
    doc = load_json(text)
    if not isinstance(doc, dict):
        raise InvalidArgument("the inference request must be a JSON object")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument("'inputs' must be a non-empty list")
    if len(inputs) > limits.max_inputs:
        raise InvalidArgument(f"{len(inputs)} inputs exceed the limit of {limits.max_inputs}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    offset = 0
    tensors: list[Tensor] = []
    for item in inputs:
        tensor, used = _decode_input(item, binary, offset, limits)
        tensors.append(tensor)
        offset += used
    if offset != len(binary):
        raise InvalidArgument(
            f"the body carries {len(binary) - offset} bytes of binary data "
            "beyond the declared tensors"
        )
    return InferRequest(
        model=model,
        version=version,
        inputs=tensors,
        id=request_id,
        parameters=_parameters(doc.get("parameters"), "request"),
        outputs=_decode_outputs(doc.get("outputs"), limits),
    )


def _decode_outputs(value: object, limits: LimitSettings) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidArgument("'outputs' must be a list")
    if len(value) > limits.max_outputs:
        raise InvalidArgument(
            f"{len(value)} requested outputs exceed the limit of {limits.max_outputs}"
        )
    requested: list[RequestedOutput] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgument("each requested output must be an object with a string 'name'")
        requested.append(
            RequestedOutput(
                item["name"], _parameters(item.get("parameters"), f"output {item['name']!r}")
            )
        )
    return requested


def _shape(name: str, value: object, limits: LimitSettings) -> tuple[tuple[int, ...], int]:
    if not isinstance(value, list):
        raise InvalidTensor(name, "'shape' must be a list of non-negative integers")
    for d in value:
        if type(d) is not int or d < 0:
            raise InvalidTensor(name, "'shape' must be a list of non-negative integers")
    if len(value) > limits.max_tensor_rank:
        raise InvalidTensor(
            name, f"rank {len(value)} exceeds the limit of {limits.max_tensor_rank}"
        )
    # Python ints: no overflow however large the dimensions. The span (the product of the
    # non-zero dimensions) is what numpy must index, so an empty tensor with one absurd
    # dimension, e.g. [0, 2**40], is refused too.
    span = math.prod(d for d in value if d)
    if span > limits.max_tensor_elements:
        raise InvalidTensor(
            name,
            f"shape {value} spans {span} elements, beyond the limit of "
            f"{limits.max_tensor_elements}",
        )
    return tuple(value), math.prod(value)


def _decode_input(
    item: object, binary: memoryview, offset: int, limits: LimitSettings
) -> tuple[Tensor, int]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InvalidArgument("each input must be an object with a string 'name'")
    name: str = item["name"]
    datatype = item.get("datatype")
    if not isinstance(datatype, str) or datatype not in NUMPY_DTYPES:
        raise InvalidTensor(
            name, f"unknown datatype {datatype!r}; expected one of {', '.join(NUMPY_DTYPES)}"
        )
    shape, count = _shape(name, item.get("shape"), limits)
    parameters = _parameters(item.get("parameters"), f"input {name!r}")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in item:
            raise InvalidTensor(name, "has neither 'data' nor parameters.binary_data_size")
        data = item["data"]
        if datatype == "BYTES":
            array = bytes_from_json(name, data, shape, count)
        else:
            array = numeric_from_json(name, datatype, data, shape, count)
        return Tensor(name, datatype, array, parameters), 0
    if type(size) is not int or size < 0:
        raise InvalidTensor(name, "binary_data_size must be a non-negative integer")
    if offset + size > len(binary):
        raise InvalidTensor(
            name,
            f"binary_data_size {size} runs past the end of the body "
            f"({len(binary) - offset} bytes left)",
        )
    chunk = binary[offset : offset + size]
    if datatype == "BYTES":
        array = bytes_wire.decode(name, chunk, shape, count)
    else:
        dtype = NUMPY_DTYPES[datatype]
        if size != count * dtype.itemsize:
            raise InvalidTensor(
                name,
                f"shape {list(shape)} of {datatype} needs {count * dtype.itemsize} bytes "
                f"but binary_data_size is {size}",
            )
        if datatype == "BOOL":
            array = np.frombuffer(chunk, dtype=np.uint8).astype(np.bool_).reshape(shape)
        else:
            array = np.frombuffer(chunk, dtype=dtype).reshape(shape)
    params = {k: v for k, v in parameters.items() if k != "binary_data_size"}
    return Tensor(name, datatype, array, params), size


def wants_binary(request: InferRequest) -> dict[str, bool]:
    """Per-output choice of the binary encoding (``binary_data`` beats ``binary_data_output``)."""
    default = bool(request.parameters.get("binary_data_output", False))
    choice: dict[str, bool] = {}
    for out in request.outputs or ():
        choice[out.name] = bool(out.parameters.get("binary_data", default))
    choice[""] = default
    return choice


def encode_response(response: InferResponse, binary_choice: dict[str, bool]) -> EncodedResponse:
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
        return bytes_to_binary(tensor.data)
    dtype = NUMPY_DTYPES[tensor.datatype]
    return np.ascontiguousarray(tensor.data, dtype=dtype).tobytes()


def _to_json_data(tensor: Tensor) -> object:
    if tensor.datatype == "BYTES":
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in tensor.data.reshape(-1).tolist()
        ]
    # orjson writes a 1-D contiguous numpy array as a JSON list without a Python round trip.
    return np.ascontiguousarray(tensor.data).reshape(-1)
