"""Start and stop an asyncio gRPC listener for ``inference.GRPCInferenceService``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc

from inferd.config import LimitSettings
from inferd.errors import Unavailable
from inferd.observe.audit import AuditLog
from inferd.protocols.grpc.access_log import AccessLogInterceptor
from inferd.protocols.grpc.servicer import (
    NO_STREAMING,
    SERVICE,
    InferenceServicer,
    RepositoryServicer,
    unserved_handlers,
)
from inferd.protocols.http.access_log import AccessLog
from inferd.protocols.http.budget import RequestBudget
from inferd.serving.types import DataPlane

#: The largest message the control listener reads: a repository request is a model name and a
#: few parameters, and its token is checked only once the message is read, so a caller without
#: one must not make it read a tensor body's worth (``limits.max_body_bytes``, 64 MiB).
CONTROL_MESSAGE_BYTES = 1024 * 1024

#: Wraps a servicer's handlers (method name → handler), e.g. with an API-key check.
HandlerGuard = Callable[[dict[str, grpc.RpcMethodHandler]], dict[str, grpc.RpcMethodHandler]]


@dataclass(frozen=True, slots=True)
class GrpcHandle:
    """A running gRPC listener. ``port`` is the port actually bound (useful when asked for 0)."""

    server: grpc.aio.Server
    port: int

    async def stop(self, grace: float) -> None:
        """Refuse new RPCs at once, give in-flight ones ``grace`` seconds, then cancel the rest."""
        await self.server.stop(grace)


def _address(host: str, port: int) -> str:
    # A bare IPv6 literal needs brackets before the port.
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


async def serve_grpc(
    dataplane: DataPlane,
    host: str,
    port: int,
    limits: LimitSettings,
    *,
    control: bool = False,
    token: str | None = None,
    audit: AuditLog | None = None,
    reuse_port: bool = False,
    credentials: grpc.ServerCredentials | None = None,
    guard: HandlerGuard | None = None,
    budget: RequestBudget | None = None,
    access: AccessLog | None = None,
) -> GrpcHandle:
    """Listen on ``host:port`` (0 picks a free port) and return once the server is accepting.

    The data-plane listener (the default) serves health, metadata, inference and statistics and
    refuses the repository RPCs. ``control=True`` starts the control-plane listener instead:
    only the repository RPCs, each requiring ``token`` as ``authorization: Bearer`` metadata; bind
    it to loopback; without a token it is refused (InvalidArgument). Requests above
    ``limits.max_body_bytes`` (on the control listener, :data:`CONTROL_MESSAGE_BYTES`) are
    refused with RESOURCE_EXHAUSTED before they are decoded: by gRPC itself, or, for a message
    its client compressed, while the data plane inflates it (:mod:`.inflated`). ``reuse_port`` lets
    several processes listen on one port (``--workers``); without it a port already taken is
    refused (Unavailable) instead of silently shared.
    ``credentials`` serve TLS; ``guard`` wraps the handlers (the data plane's API keys);
    ``budget`` holds the data plane's inflated messages (by default a budget of its own of
    ``limits.max_buffered_request_bytes``; the REST server's, to share one); ``access``
    writes an access line per call.
    """
    servicer = (
        RepositoryServicer(dataplane, token or "", audit)
        if control
        else InferenceServicer(dataplane, limits, budget)
    )
    handlers = servicer.handlers()
    if guard:
        handlers = guard(handlers)
    if not control:
        handlers["ModelStreamInfer"] = NO_STREAMING
        handlers.update(unserved_handlers())
    return await start_listener(
        handlers,
        host,
        port,
        max_message_bytes=CONTROL_MESSAGE_BYTES if control else limits.max_body_bytes,
        reuse_port=reuse_port,
        credentials=credentials,
        # The data plane's handlers inflate compressed messages with a bound (.inflated);
        # grpc-core would inflate each whole, up to max_body_bytes, before refusing it.
        inflate=control,
        access=access,
    )


async def start_listener(
    handlers: dict[str, grpc.RpcMethodHandler],
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    reuse_port: bool = False,
    credentials: grpc.ServerCredentials | None = None,
    inflate: bool = True,
    access: AccessLog | None = None,
) -> GrpcHandle:
    """Serve ``handlers`` (method name → handler) as ``GRPCInferenceService`` on ``host:port``
    (0 picks a free port) and return once the server is accepting; the model server's listeners
    and the gateway's use it. Messages above ``max_message_bytes`` are refused by gRPC itself
    (compressed: their compressed size). ``inflate`` False leaves compressed messages to the
    handlers, which must inflate them (:func:`.status.unary` with an inflater). ``access``
    installs the access log's interceptor (:mod:`.access_log`; none when it is off).
    Raises :class:`Unavailable` when the address cannot be bound."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.per_message_decompression", int(inflate)),
            # gRPC turns SO_REUSEPORT on by default, which would let a second server bind a taken
            # port and silently share its traffic; only worker processes ask for that.
            ("grpc.so_reuseport", int(reuse_port)),
        ],
        interceptors=None if access is None else [AccessLogInterceptor(access)],
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    address = _address(host, port)
    try:
        bound = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:
        bound = 0
    if not bound:
        raise Unavailable(f"cannot listen for gRPC on {address}: address in use or unavailable")
    await server.start()
    return GrpcHandle(server, int(bound))
