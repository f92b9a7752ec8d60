"""inferd error codes → gRPC status codes, and the one place RPC handlers turn errors into statuses.

Clients see the error's own message (built to be safe to show) as the status details. Anything
that is not an :class:`~inferd.errors.InferdError` is a bug: it is logged here with its traceback
and the client gets a bare INTERNAL, never the exception text. Bytes that are not the request
message are INVALID_ARGUMENT: a deserializer that raised would have grpc answer UNKNOWN, naming
the Python exception class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from inferd.config import LimitSettings
from inferd.errors import Code, InferdError, InvalidArgument, RetryLater
from inferd.protocols.grpc.inflated import Compressed, Inflater, compressed
from inferd.protocols.http.budget import RequestBudget

log = logging.getLogger(__name__)

GRPC_STATUS: dict[Code, grpc.StatusCode] = {
    Code.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Code.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Code.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Code.PAYLOAD_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Code.UNSUPPORTED: grpc.StatusCode.UNIMPLEMENTED,
    Code.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Code.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Code.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    Code.CANCELLED: grpc.StatusCode.CANCELLED,
    Code.DATA_LOSS: grpc.StatusCode.DATA_LOSS,
    Code.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Code.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Code.INTERNAL: grpc.StatusCode.INTERNAL,
}

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
#: ``grpc.aio.ServicerContext``; grpc ships no type information.
Context = Any
Handler = Callable[[Req, Context], Awaitable[Resp]]


async def abort(context: Context, error: InferdError) -> NoReturn:
    """End the RPC with the status for ``error``; a retry hint travels as trailing metadata."""
    if isinstance(error, RetryLater):
        context.set_trailing_metadata((("retry-after", str(math.ceil(error.retry_after))),))
    await _end(context, GRPC_STATUS[error.code], error.message)


async def _end(context: Context, status: grpc.StatusCode, details: str) -> NoReturn:
    await context.abort(status, details)
    # grpc.aio's abort() ends the RPC by raising; grpc has no annotations to say so.
    raise AssertionError("grpc.aio ServicerContext.abort() returned")


def not_a_message(kind: type[Message]) -> InvalidArgument:
    """The error for request bytes that do not parse as ``kind`` (the server's and the
    gateway's)."""
    return InvalidArgument(f"the request is not a valid {kind.DESCRIPTOR.full_name} message")


@dataclass(frozen=True, slots=True)
class Malformed:
    """What a request's bytes deserialize to when they are not a ``kind`` (grpc would answer a
    deserializer that raised with UNKNOWN)."""

    kind: type[Message]


def _parser(
    request_type: type[Req], inflater: Inflater | None
) -> Callable[[bytes], Req | Malformed | Compressed]:
    malformed = Malformed(request_type)

    def parse(data: bytes) -> Req | Malformed | Compressed:
        if inflater is not None and (packed := compressed(data)) is not None:
            return packed  # inflated by the handler, off the event loop
        try:
            return request_type.FromString(data)
        except DecodeError:
            return malformed

    return parse


def unary(
    method: str,
    handler: Handler[Req, Resp],
    request_type: type[Req],
    inflater: Inflater | None = None,
) -> grpc.RpcMethodHandler:
    """A unary RPC handler for ``grpc.aio`` that maps errors through :data:`GRPC_STATUS`.
    With ``inflater``, on a listener whose grpc-core does not inflate messages, a compressed
    request message is inflated with its bound (:mod:`.inflated`), held until answered."""

    async def call(request: Req | Malformed | Compressed, context: Context) -> Resp:
        try:
            if isinstance(request, Compressed) and inflater is not None:
                async with inflater.inflated(request) as data:
                    try:
                        message = request_type.FromString(data)  # type: ignore[arg-type]  # bytes-like
                    except DecodeError:
                        raise not_a_message(request_type) from None
                    del data  # the message is parsed: only the charge is held while it runs
                    return await handler(message, context)
            if isinstance(request, Malformed | Compressed):
                raise not_a_message(request_type)
            return await handler(request, context)
        except InferdError as error:
            await abort(context, error)
        except Exception:
            log.exception("gRPC %s failed", method)
            await _end(context, grpc.StatusCode.INTERNAL, "internal error")

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=_parser(request_type, inflater),
        response_serializer=lambda response: response.SerializeToString(),
    )


Raw = TypeVar("Raw")


def inflating(
    handlers: dict[str, Callable[[bytes, Context], Awaitable[Raw]]], limits: LimitSettings
) -> dict[str, Callable[[bytes, Context], Awaitable[Raw]]]:
    """``handlers`` of a request's bytes as they came (the gateway's, which forward them), each
    handed a compressed message inflated (:mod:`.inflated`; for a listener that leaves them
    compressed), held against one budget of ``limits.max_buffered_request_bytes`` until it
    returns; the refusal raised as an :class:`~inferd.errors.InferdError`."""
    inflater = Inflater(limits.max_body_bytes, RequestBudget(limits.max_buffered_request_bytes))

    def inflated(
        handler: Callable[[bytes, Context], Awaitable[Raw]],
    ) -> Callable[[bytes, Context], Awaitable[Raw]]:
        async def call(request: bytes, context: Context) -> Raw:
            packed = compressed(request)
            if packed is None:
                return await handler(request, context)
            async with inflater.inflated(packed) as data:
                message = bytes(data)
                del data
                return await handler(message, context)

        return call

    return {name: inflated(handler) for name, handler in handlers.items()}
