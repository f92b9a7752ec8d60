"""gRPC answers read for the shadow comparison: a ``ModelInferResponse``'s output tensors.

Only the shadow's copy task decodes (after the primary's answer has gone back to the client),
through the same tensor decoding the model server applies to gRPC requests
(:mod:`inferd.protocols.grpc.tensors`, :mod:`inferd.protocols.tensor_wire`): raw output
contents, or each output's typed contents.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from inferd.control.gateway.compare import RESPONSE_LIMITS, Output, Undecodable, compare
from inferd.control.gateway.grpc_upstream import RpcAnswer
from inferd.control.gateway.shadow import AnswerReader, client_error
from inferd.errors import InferdError
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc import tensors
from inferd.protocols.tensor_wire import declare


def decode_outputs(body: bytes) -> dict[str, Output]:
    """The output tensors of a serialized ``ModelInferResponse``, by name."""
    try:
        message = pb.ModelInferResponse.FromString(body)
    except DecodeError as exc:
        raise Undecodable("response is not a ModelInferResponse") from exc
    raw = message.raw_output_contents
    if raw and len(raw) != len(message.outputs):
        raise Undecodable(
            f"response has {len(raw)} raw_output_contents for {len(message.outputs)} outputs"
        )
    decoded: dict[str, Output] = {}
    for index, output in enumerate(message.outputs):
        try:
            tensor = declare(output.name, output.datatype, list(output.shape), RESPONSE_LIMITS)
            data = (
                tensors.from_raw(tensor, raw[index], RESPONSE_LIMITS)
                if raw
                else tensors.from_contents(tensor, output.contents, RESPONSE_LIMITS)
            )
        except InferdError as exc:
            raise Undecodable(f"output {output.name!r} does not decode: {exc.message}") from exc
        decoded[output.name] = Output(tensor.shape, data.reshape(-1))
    return decoded


#: gRPC answers: OK is a success; its body is a ``ModelInferResponse``.
GRPC_ANSWERS: AnswerReader[RpcAnswer] = AnswerReader(
    lambda answer: answer.ok,
    lambda primary, shadow: compare(decode_outputs(primary.body), decode_outputs(shadow.body)),
    lambda answer: client_error(answer.http_status),
    lambda answer: len(answer.body),
)
