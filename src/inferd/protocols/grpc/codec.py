"""gRPC inference messages ⇄ the transport-neutral :class:`InferRequest` and :class:`InferResponse`.

Requests carry tensor data either in each input's typed ``contents`` or, for every input at once,
in ``raw_input_contents`` (what tritonclient sends). A reply mirrors the request: raw outputs for
raw inputs, typed contents otherwise, except that FP16 has no typed field, so any FP16 output
makes the whole reply raw (clients match raw entries to outputs by position, so it is all or
nothing). Counts, headers and sizes are checked against :class:`LimitSettings` before anything
is allocated (:mod:`inferd.protocols.tensor_wire`, shared with REST); errors name the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.internal.containers import MessageMap

from inferd.config import LimitSettings
from inferd.errors import InternalError, InvalidArgument, InvalidTensor
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc import tensors
from inferd.protocols.tensor_wire import (
    NO_INPUTS,
    REPEATED_INPUT,
    Declared,
    check_counts,
    declare,
    refuse_sequence,
    refuse_shared_memory,
    requested_outputs,
)
from inferd.protocols.v2.priority import refuse_priority
from inferd.serving.types import (
    InferRequest,
    InferResponse,
    InputCheck,
    Parameters,
    RequestedOutput,
    Tensor,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1


def decode_parameters(
    parameters: Mapping[str, pb.InferParameter] | Mapping[str, pb.ModelRepositoryParameter],
) -> Parameters:
    """A protobuf parameter map → plain Python values (bool, int, float or str; bytes from a
    repository request's)."""
    decoded: Parameters = {}
    for key, value in parameters.items():
        choice = value.WhichOneof("parameter_choice")
        if choice is None:
            raise InvalidArgument(f"parameter {key!r} has no value")
        decoded[key] = getattr(value, choice)
    return decoded


def encode_parameters(parameters: Parameters, target: MessageMap[str, pb.InferParameter]) -> None:
    """Plain values → a protobuf parameter map; a value protobuf cannot carry is a server bug."""
    for key, value in parameters.items():
        slot = target[key]
        # bool first: it is a subclass of int.
        if isinstance(value, bool):
            slot.bool_param = value
        elif isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX:
            slot.int64_param = value
        elif isinstance(value, int) and 0 <= value <= _UINT64_MAX:
            slot.uint64_param = value
        elif isinstance(value, float):
            slot.double_param = value
        elif isinstance(value, str):
            slot.string_param = value
        else:
            raise InternalError(f"parameter {key!r} has a value gRPC cannot carry")


def _declare_input(
    index: int, tensor: pb.ModelInferRequest.InferInputTensor, limits: LimitSettings
) -> Declared:
    name = tensor.name
    if not name:
        raise InvalidArgument(f"input {index} has no name")
    refuse_shared_memory(name, tensor.parameters)
    return declare(name, tensor.datatype, list(tensor.shape), limits)


def _decode_input(
    declared: Declared,
    tensor: pb.ModelInferRequest.InferInputTensor,
    raw: bytes | None,
    limits: LimitSettings,
) -> Tensor:
    if raw is None:
        data = tensors.from_contents(declared, tensor.contents, limits)
    elif tensor.contents.ListFields():
        raise InvalidTensor(declared.name, "data given both in contents and in raw_input_contents")
    else:
        data = tensors.from_raw(declared, raw, limits)
    return Tensor(declared.name, declared.datatype, data, decode_parameters(tensor.parameters))


def decode_request(
    message: pb.ModelInferRequest,
    limits: LimitSettings,
    deadline: float | None,
    check: InputCheck | None = None,
) -> InferRequest:
    """A ``ModelInferRequest`` → an :class:`InferRequest`; ``deadline`` is ``time.monotonic()``.

    Every input's header is checked (against ``check``, the model's signature, too) before any
    tensor's data is decoded.
    """
    if not message.model_name:
        raise InvalidArgument("model_name is required")
    if not message.inputs:
        raise InvalidArgument(NO_INPUTS)
    check_counts(len(message.inputs), len(message.outputs), limits)
    parameters = decode_parameters(message.parameters)
    refuse_sequence(parameters)
    refuse_priority(parameters)
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidArgument(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs"
        )
    declared: list[Declared] = []
    seen: set[str] = set()
    for index, tensor in enumerate(message.inputs):
        if tensor.name in seen:
            raise InvalidTensor(tensor.name, REPEATED_INPUT)
        seen.add(tensor.name)
        declared.append(_declare_input(index, tensor, limits))
    outputs = requested_outputs(
        RequestedOutput(output.name, decode_parameters(output.parameters))
        for output in message.outputs
    )
    if check is not None:
        for header in declared:
            check.declared(header.name, header.datatype, header.shape)
    inputs = [
        _decode_input(header, tensor, raw[index] if raw else None, limits)
        for index, (header, tensor) in enumerate(zip(declared, message.inputs, strict=True))
    ]
    return InferRequest(
        model=message.model_name,
        inputs=inputs,
        version=message.model_version or None,
        id=message.id or None,
        parameters=parameters,
        outputs=outputs,
        deadline=deadline,
    )


def encode_response(
    response: InferResponse, *, raw: bool, request_id: str
) -> pb.ModelInferResponse:
    """An :class:`InferResponse` → a ``ModelInferResponse``.

    ``raw`` asks for ``raw_output_contents`` (pass True when the request used raw inputs); an
    FP16 output forces it. ``request_id`` is echoed when the data plane did not set an id.
    """
    raw = raw or any(output.datatype == "FP16" for output in response.outputs)
    message = pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version or "",
        id=response.id if response.id is not None else request_id,
    )
    encode_parameters(response.parameters, message.parameters)
    for output in response.outputs:
        encoded = message.outputs.add(
            name=output.name, datatype=output.datatype, shape=output.shape
        )
        encode_parameters(output.parameters, encoded.parameters)
        if raw:
            message.raw_output_contents.append(
                tensors.to_raw(output.name, output.datatype, output.data)
            )
        else:
            tensors.to_contents(output.name, output.datatype, output.data, encoded.contents)
    return message
