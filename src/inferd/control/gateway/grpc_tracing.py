"""The gateway's span of a gRPC ``ModelInfer`` call, parent of the replica's.

:func:`traced_call` wraps the gRPC front door's ``ModelInfer`` handler when ``inferd up``
traces, as :func:`~inferd.control.gateway.tracing.traced` wraps REST inference: the span
continues the call's ``traceparent`` metadata (or starts a trace), covers routing and the
proxied call, and records the status the client got (a call that did not end OK fails the span
with its details). The handler sees the call's metadata with ``traceparent`` (and
``tracestate``) replaced by the span's; each try at a replica is a CLIENT span under it
(:class:`~.grpc_upstream.GrpcProxy`, as over REST), whose ``traceparent`` the try forwards, so
the replica's spans are that try's children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from inferd.control.gateway.grpc_upstream import Metadata, RpcAnswer
from inferd.control.gateway.grpc_wire import model_named
from inferd.control.gateway.tracing import carrying
from inferd.errors import InferdError
from inferd.protocols.grpc.status import GRPC_STATUS, Context
from inferd.protocols.http.messages import STATUS_BY_CODE, response_for_error

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from inferd.observe.tracing import Tracing

    GrpcHandler = Callable[[bytes, Context], Awaitable[RpcAnswer]]

SERVICE = "inference.GRPCInferenceService"
_HTTP_STATUS = {status: STATUS_BY_CODE.get(code, 500) for code, status in GRPC_STATUS.items()}


class _WithMetadata:
    """The call's context, its invocation metadata replaced (everything else passes through)."""

    def __init__(self, context: Context, metadata: Metadata) -> None:
        self._context = context
        self._metadata = metadata

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def traced_call(tracing: Tracing, handler: GrpcHandler, method: str) -> GrpcHandler:
    """``handler`` of ``SERVICE/method`` inside a SERVER span (see the module docstring)."""
    name = f"{SERVICE}/{method}"

    async def handle(request: bytes, context: Context) -> RpcAnswer:
        metadata = tuple(context.invocation_metadata() or ())
        text = {key: value for key, value in metadata if isinstance(value, str)}
        span = tracing.server_span(
            name,
            text,
            {
                "rpc.system": "grpc",
                "rpc.service": SERVICE,
                "rpc.method": method,
                "inferd.deployment": model_named(request)[0],
            },
        )
        traced_context = cast("Context", _WithMetadata(context, carrying(tracing, span, metadata)))
        if not span.is_recording():
            return await handler(request, traced_context)
        try:
            with tracing.current(span):  # the logs' trace
                answer = await handler(request, traced_context)
        except InferdError as exc:
            tracing.failed(span, response_for_error(exc).status, exc.message)
            raise
        except BaseException as exc:  # cancelled (the client left, or its deadline passed)
            tracing.interrupted(span, exc)
            raise
        else:
            span.set_attribute("rpc.grpc.status_code", answer.code.value[0])
            if answer.ok:
                span.set_attribute("http.response.status_code", 200)
            else:
                status = _HTTP_STATUS.get(answer.code, 500)
                tracing.failed(span, status, answer.details or answer.code.name)
            return answer
        finally:
            span.end()

    return handle
