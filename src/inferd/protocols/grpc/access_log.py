"""The access log of a gRPC listener: a ``grpc.aio`` server interceptor, installed only when the
access log is on (:mod:`inferd.protocols.http.access_log` writes the lines, in its format).

Each call is one line when it ends: method ``POST`` and the call's path
(``/inference.GRPCInferenceService/ModelInfer``), protocol ``gRPC``, the status code's name
(``OK``, ``NOT_FOUND``; ``CANCELLED`` for a client that left), and the bytes of the response
messages. A call of a method the service lacks is refused here (``UNIMPLEMENTED``, as grpc
refuses it) to be logged too; one whose message passes the listener's limit is refused by
grpc before any handler runs, and is not logged. The client's address is gRPC's peer without
its scheme (``127.0.0.1:51234``); the trace id is the call's ``traceparent`` metadata, when
the server traces. Metadata (``authorization`` among it) and messages are never logged.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from inferd.protocols.http.access_log import AccessLog, Began

PROTOCOL = "gRPC"


def _peer(context: Any) -> str:
    """``ipv4:127.0.0.1:51234`` → ``127.0.0.1:51234`` (``ipv6:[::1]:51234`` → ``[::1]:51234``)."""
    peer = str(context.peer() or "")
    scheme, _, address = peer.partition(":")
    return address if scheme in ("ipv4", "ipv6") else peer


def _size(message: object) -> int:
    """Bytes of a response message: raw bytes (the gateway relays them) or a protobuf."""
    if isinstance(message, bytes | bytearray | memoryview):
        return len(message)
    byte_size = getattr(message, "ByteSize", None)
    return int(byte_size()) if byte_size is not None else 0


def _code(context: Any, exc: BaseException | None) -> str:
    """The name of the status a call ended with: ``CANCELLED`` for a client gone, the code the
    handler set or aborted with, else ``OK`` (``UNKNOWN`` for an exception grpc maps so)."""
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "OK" if exc is None else "UNKNOWN"


async def _unknown(requests: Any, context: Any) -> None:
    """Refuses a call of a method the service lacks, as grpc does when no handler takes it
    (a stream handler, which reads no message, answers unary and streaming calls alike)."""
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


class AccessLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Writes one access line per call (unary and bidirectional-streaming handlers)."""

    def __init__(self, access: AccessLog) -> None:
        self.access = access

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        details: Any,
    ) -> Any:
        handler = await continuation(details)
        method = str(details.method)
        traceparent = dict(details.invocation_metadata or ()).get("traceparent")
        trace_id = self.access.trace_id(traceparent)
        if handler is None:  # a method the service lacks: refused here, to be logged too
            return grpc.stream_stream_rpc_method_handler(self._stream(_unknown, method, trace_id))
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, method, trace_id))
        if handler.stream_stream is not None:
            return handler._replace(
                stream_stream=self._stream(handler.stream_stream, method, trace_id)
            )
        return handler

    def _write(
        self, context: Any, began: Began, ended: BaseException | None, size: int, trace_id: str
    ) -> None:
        self.access.write(began, _code(context, ended), size, trace_id)

    def _unary(
        self, call: Callable[[Any, Any], Awaitable[Any]], method: str, trace_id: str
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        async def logged(request: Any, context: Any) -> Any:
            began = Began(_peer(context), "POST", method, PROTOCOL)
            try:
                response = await call(request, context)
            except BaseException as exc:
                self._write(context, began, exc, 0, trace_id)
                raise
            self._write(context, began, None, _size(response), trace_id)
            return response

        return logged

    def _stream(
        self, call: Callable[[Any, Any], Any], method: str, trace_id: str
    ) -> Callable[[Any, Any], Awaitable[None]]:
        """A streaming handler, whether it yields its responses (each written here, counted)
        or writes them itself (then not counted: the ones served only refuse)."""

        async def logged(requests: Any, context: Any) -> None:
            began, size = Began(_peer(context), "POST", method, PROTOCOL), 0
            ended: BaseException | None = None
            try:
                result = call(requests, context)
                if inspect.isasyncgen(result):
                    async for response in result:
                        size += _size(response)
                        await context.write(response)
                else:
                    await result
            except BaseException as exc:
                ended = exc
                raise
            finally:
                self._write(context, began, ended, size, trace_id)

        return logged
