"""v2 wire format → :class:`~inferd.serving.types.InferRequest` (the response side is
:mod:`inferd.protocols.v2.encoding`).

Decoding checks every limit *before* allocating anything sized by the client: the number of
inputs and outputs, then each tensor's header and where its binary section lies, then the tensor
data (:mod:`inferd.protocols.tensor_wire`, shared with gRPC). Each failure raises an
:mod:`inferd.errors` exception naming the tensor and the problem: InvalidTensor / InvalidArgument
(400), PayloadTooLarge (413) for a well-formed tensor beyond the element limit, or Unsupported
(501) for a tensor in client shared memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from inferd.config import LimitSettings
from inferd.errors import InvalidArgument, InvalidTensor
from inferd.protocols.tensor_wire import (
    NO_INPUTS,
    REPEATED_INPUT,
    Declared,
    check_counts,
    declare,
    from_binary,
    from_json,
    refuse_sequence,
    refuse_shared_memory,
    requested_outputs,
)
from inferd.protocols.v2.priority import refuse_priority
from inferd.serving.types import (
    InferRequest,
    InputCheck,
    Parameters,
    RequestedOutput,
    Tensor,
)

HEADER_LENGTH = "inference-header-content-length"
#: A per-request timeout (milliseconds), as a header or as the request parameter ``timeout_ms``.
TIMEOUT_HEADER = "inference-timeout-ms"
TIMEOUT_PARAMETER = "timeout_ms"
#: Triton's request parameter ``timeout``, in microseconds: what tritonclient's
#: ``infer(timeout=…)`` sends, over HTTP and gRPC alike.
TRITON_TIMEOUT_PARAMETER = "timeout"
#: The request parameters that set a deadline (see :func:`request_deadline`).
TIMEOUT_PARAMETERS = (TIMEOUT_PARAMETER, TRITON_TIMEOUT_PARAMETER)
#: A day: a longer timeout is a mistake, not a request.
MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000


def _parameters(value: object, where: str) -> Parameters:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: 'parameters' must be an object")
    return value


#: The binary part of a body without Inference-Header-Content-Length: none (read-only).
_NO_BINARY = memoryview(b"")


def split_body(
    body: bytes | bytearray, header_length: str | None
) -> tuple[bytes | bytearray, memoryview]:
    """Separate the JSON part from the binary part (``Inference-Header-Content-Length``).

    The binary part is a read-only view: tensors decoded from it are read-only whether the body
    came as ``bytes`` or as the connection's ``bytearray``, and share its memory (no copy)."""
    if header_length is None:
        return body, _NO_BINARY
    if not (header_length.isascii() and header_length.isdigit()):  # "²" is a digit, not int
        raise InvalidArgument("Inference-Header-Content-Length must be a non-negative integer")
    n = int(header_length)
    if n > len(body):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {n} is beyond the body ({len(body)} bytes)"
        )
    view = memoryview(body).toreadonly()
    return bytes(view[:n]), view[n:]


def load_json(text: bytes | bytearray) -> Any:
    """Parse JSON; a syntax error names the position, bytes that are not UTF-8 the first such
    byte (orjson points at the start of the text for those)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "UTF-8" in reason:
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as bad:
                reason = f"not UTF-8 text (byte {bad.start} is 0x{text[bad.start]:02x})"
        raise InvalidArgument(f"malformed JSON: {reason}") from None


def _load_header(text: bytes | bytearray, header_length: str | None) -> Any:
    """The JSON part of an inference body that orjson did not parse (:func:`decode_request`
    tries it first, without this call): :func:`load_json` names the problem, and the error says
    how the binary extension framed it: a mistaken Inference-Header-Content-Length, or a
    missing one, leaves raw tensor bytes in what is parsed as JSON."""
    try:
        return load_json(text)
    except InvalidArgument as exc:
        if header_length is not None:
            hint = (
                f"the JSON part is the first {len(text)} bytes of the body, as "
                "Inference-Header-Content-Length says"
            )
        elif b'"binary_data_size"' in text:
            hint = (
                "a body with binary tensor data (parameters.binary_data_size) needs the header "
                "Inference-Header-Content-Length: <bytes of its JSON part>"
            )
        else:
            raise
        raise InvalidArgument(f"{exc.message}; {hint}") from None


def decode_request(
    model: str,
    version: str | None,
    body: bytes | bytearray,
    headers: Mapping[str, str],
    limits: LimitSettings,
    *,
    check: InputCheck | None,
    received: float,
) -> InferRequest:
    """Decode an inference request body (JSON, optionally followed by binary tensor data).

    Every input's header, and where its binary data lies, is checked (against ``check``, the
    model's signature, too) before any tensor's data is decoded; :mod:`~inferd.protocols.
    tensor_wire` says in which order and with which errors. ``received`` (``time.monotonic()``
    when the request arrived) anchors the deadline (:func:`request_deadline`).
    """
    header_length = headers.get(HEADER_LENGTH)
    if header_length is None:  # a JSON body (most): split_body's answer, without the call
        text, binary = body, _NO_BINARY
    else:
        text, binary = split_body(body, header_length)
    try:  # _load_header's first step, without the call; it names a failure
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = _load_header(text, header_length)
    if not isinstance(doc, dict):
        raise InvalidArgument("the inference request must be a JSON object")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument(NO_INPUTS)
    if len(inputs) > limits.max_inputs:  # the test inline, check_counts words it
        check_counts(len(inputs), 0, limits)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    given = doc.get("parameters")
    parameters = {} if given is None else _parameters(given, "request")
    if parameters:  # most requests set none: checking what they may set is then skipped
        refuse_sequence(parameters)  # before the inputs, as over gRPC
        refuse_priority(parameters)
    offset = 0
    pending: list[_Input] = []
    named: set[str] = set()
    for index, item in enumerate(inputs):
        wire = _input_header(index, item, binary, offset, limits)
        if wire.tensor.name in named:  # refused before any data is read, as over gRPC
            raise InvalidTensor(wire.tensor.name, REPEATED_INPUT)
        named.add(wire.tensor.name)
        pending.append(wire)
        if wire.binary is not None:
            offset += len(wire.binary)
    if offset != len(binary):
        raise InvalidArgument(
            f"the body carries {len(binary) - offset} bytes of binary data "
            "beyond the declared tensors"
        )
    timeout = headers.get(TIMEOUT_HEADER)
    deadline = None
    if parameters or timeout is not None:
        _flag(parameters, "binary_data_output", "request")
        deadline = request_deadline(parameters, timeout, received)
    given = doc.get("outputs")
    outputs = None if given is None else _decode_outputs(given, limits)
    if check is not None:
        for wire in pending:
            check.declared(wire.tensor.name, wire.tensor.datatype, wire.tensor.shape)
    return InferRequest(
        model=model,
        version=version,
        inputs=[_decode_data(wire, limits) for wire in pending],
        id=request_id,
        parameters=parameters,
        outputs=outputs,
        deadline=deadline,
    )


def request_deadline(parameters: Parameters, header: str | None, received: float) -> float | None:
    """When the request must be answered, on ``time.monotonic()``: ``received`` plus
    ``parameters.timeout_ms``, Triton's ``parameters.timeout`` (microseconds) or the
    ``Inference-Timeout-Ms`` header, the soonest of those given. None leaves the server's
    ``request_timeout_s``; like a gRPC deadline, a timeout replaces it. Triton's ``timeout``
    of 0 is Triton's "no timeout": it sets none."""
    timeouts: list[float] = []
    if TIMEOUT_PARAMETER in parameters:
        ms = _whole(parameters[TIMEOUT_PARAMETER], MAX_TIMEOUT_MS, "parameters.timeout_ms")
        timeouts.append(ms / 1000)
    if parameters.get(TRITON_TIMEOUT_PARAMETER, 0) != 0:  # True == 1: refused by _whole
        us = _whole(parameters[TRITON_TIMEOUT_PARAMETER], MAX_TIMEOUT_MS * 1000, "")
        timeouts.append(us / 1_000_000)
    if header is not None:
        # Bounded before int(): Python refuses to convert strings of thousands of digits.
        digits = header.isascii() and header.isdigit() and len(header) <= 10
        shown = header if len(header) <= 40 else f"{header[:40]}… ({len(header)} characters)"
        ms = _whole(int(header) if digits else shown, MAX_TIMEOUT_MS, "Inference-Timeout-Ms")
        timeouts.append(ms / 1000)
    return received + min(timeouts) if timeouts else None


def _whole(value: object, most: int, where: str) -> int:
    """A timeout: a whole number from 1 to ``most``; ``where`` names it in milliseconds, or,
    when empty, it is Triton's ``parameters.timeout`` in microseconds."""
    if type(value) is not int or not 1 <= value <= most:
        unit, least = ("milliseconds", "1") if where else ("microseconds", "0 (none)")
        where = where or f"parameters.{TRITON_TIMEOUT_PARAMETER} (Triton's, in microseconds)"
        raise InvalidArgument(
            f"{where} must be a whole number of {unit} from {least} to {most}, not {value!r}"
        )
    return value


def _decode_outputs(value: object, limits: LimitSettings) -> list[RequestedOutput] | None:
    """The requested outputs of a request that has ``outputs`` (omitted: None, every output,
    without this call); an empty list is None too, as over gRPC
    (:func:`~inferd.protocols.tensor_wire.requested_outputs`)."""
    if not isinstance(value, list):
        raise InvalidArgument("'outputs' must be a list")
    check_counts(0, len(value), limits)
    return requested_outputs(_requested_output(item) for item in value)


def _requested_output(item: object) -> RequestedOutput:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InvalidArgument("each requested output must be an object with a string 'name'")
    name: str = item["name"]
    parameters = _parameters(item.get("parameters"), f"output {name!r}")
    _flag(parameters, "binary_data", f"output {name!r}")
    return RequestedOutput(name, parameters)


def _flag(parameters: Parameters, key: str, where: str) -> None:
    """A boolean parameter is true or false, not a string that reads as true ("yes")."""
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{where} parameter {key!r} must be true or false, not {value!r}")


@dataclass(slots=True)  # not frozen: built per request (see tensor_wire.Declared)
class _Input:
    """One input whose header is checked and whose data is not decoded yet: either JSON
    ``data`` or its ``binary`` section of the body."""

    tensor: Declared
    parameters: Parameters
    data: object
    binary: memoryview | None


def _input_header(
    index: int, item: object, binary: memoryview, offset: int, limits: LimitSettings
) -> _Input:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InvalidArgument("each input must be an object with a string 'name'")
    name: str = item["name"]
    if not name:
        raise InvalidArgument(f"input {index} has no name")  # gRPC's words
    given = item.get("parameters")
    parameters = {} if given is None else _parameters(given, f"input {name!r}")
    if parameters:  # first, as over gRPC: its data is not in the body
        refuse_shared_memory(name, parameters)
    tensor = declare(name, item.get("datatype"), item.get("shape"), limits)
    size = parameters.get("binary_data_size") if parameters else None
    if size is None:
        if "data" not in item:
            raise InvalidTensor(name, "has neither 'data' nor parameters.binary_data_size")
        return _Input(tensor, parameters, item["data"], None)
    if type(size) is not int or size < 0:
        raise InvalidTensor(name, "binary_data_size must be a non-negative integer")
    if item.get("data") is not None:  # as over gRPC (contents and raw_input_contents)
        raise InvalidTensor(
            name, "data given both in 'data' and as binary data (parameters.binary_data_size)"
        )
    if offset + size > len(binary):
        raise InvalidTensor(
            name,
            f"binary_data_size {size} runs past the end of the body "
            f"({len(binary) - offset} bytes left)",
        )
    params = {k: v for k, v in parameters.items() if k != "binary_data_size"}
    return _Input(tensor, params, None, binary[offset : offset + size])


def _decode_data(wire: _Input, limits: LimitSettings) -> Tensor:
    tensor = wire.tensor
    if wire.binary is None:
        array = from_json(tensor, wire.data, limits, "'data'")
    else:
        array = from_binary(tensor, wire.binary, limits, "its binary data")
    return Tensor(tensor.name, tensor.datatype, array, wire.parameters)
