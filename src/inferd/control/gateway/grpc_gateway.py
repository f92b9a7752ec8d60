"""The gateway's gRPC front door: ``inference.GRPCInferenceService`` proxied to the replicas.

It serves on its own port what the REST side serves, by the same rules and into the same
counters, reusing the REST side's pieces:

* **Routing** — :meth:`Gateway.choose <inferd.control.gateway.gateway.Gateway.choose>` (cold
  start, :mod:`.routing`): ``model_version`` stands for the path's version segment, and
  invocation metadata for the headers (a ``sticky_header: x-user-id`` reads the ``x-user-id``
  metadata key; ``header_routes`` likewise).
* **Forwarding** — :class:`.grpc_upstream.GrpcProxy`: the request's bytes, renamed for the replica
  (:mod:`.grpc_wire`), with the client's metadata and deadline (capped by the gateway's request
  timeout); the replica's bytes back. Tensors are never decoded on the way. A message its
  client compressed is inflated first, by the handlers within ``max_body_bytes`` and a budget
  (:func:`inferd.protocols.grpc.status.inflating`), not whole by grpc-core.
* **Shadow** — :meth:`Mirror.copy <inferd.control.gateway.shadow.Mirror.copy>` with the same
  request bytes; its answer and the primary's are decoded only in the copy's task, after the
  client has its answer (:mod:`.grpc_outputs`).
* **Metrics** — :meth:`Gateway.record <inferd.control.gateway.gateway.Gateway.record>` with the
  HTTP status that the gRPC status corresponds to (NOT_FOUND 404, UNAVAILABLE 503,
  DEADLINE_EXCEEDED 504…), so ``inferd_gateway_requests_total`` outcomes mean the same for both.
* **Index and statistics** — the :class:`.catalog.Catalog` documents, encoded as messages.

Every call first goes through :attr:`GrpcGateway.check` (when set), before anything is routed:
the one place a per-call policy (API keys) sees the metadata. ``ModelStreamInfer`` and the
repository's load and unload answer UNIMPLEMENTED (the model servers stream nothing; models
change by ``inferd apply``); Triton's ``ModelConfig`` is forwarded as ``ModelMetadata`` is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from inferd import __version__
from inferd.control.gateway.gateway import EXTENSIONS, Gateway
from inferd.control.gateway.grpc_outputs import GRPC_ANSWERS
from inferd.control.gateway.grpc_tracing import traced_call
from inferd.control.gateway.grpc_upstream import (
    GrpcProxy,
    Metadata,
    RpcAnswer,
    forwardable,
    metadata_pairs,
    text_metadata,
)
from inferd.control.gateway.grpc_wire import answer_named, model_named, renamed
from inferd.control.gateway.routing import metadata_versions
from inferd.control.replicas.topology import DeploymentRoute, Topology, VersionRoute
from inferd.errors import (
    Code,
    InferdError,
    InternalError,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
)
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.access.grpc import authorization
from inferd.protocols.grpc.server import GrpcHandle, start_listener
from inferd.protocols.grpc.servicer import statistics_message
from inferd.protocols.grpc.status import Context, abort, inflating, not_a_message
from inferd.protocols.http.messages import STATUS_BY_CODE

log = logging.getLogger(__name__)

_NO_STREAMING = (
    "ModelStreamInfer is not served: the model servers behind the gateway have no streaming "
    "inference; use ModelInfer"
)
_NO_LOADS = (
    "inferd up's gateway does not load or unload models: change the spec and run `inferd apply`"
)


class CallCheck(Protocol):
    """Runs on every call before it is routed: ``metadata`` holds the call's text metadata
    (lower-case keys, e.g. ``authorization``), ``deployment`` the deployment it names (``""``
    for calls naming none: health, server metadata, the index, statistics of everything),
    ``method`` the RPC's name (``ModelInfer``…). Return to let the call through; raise an
    :class:`~inferd.errors.InferdError` (Unauthenticated, PermissionDenied…) to end it with
    that error's status. A coroutine, so a check may wait (an API key's first scrypt runs in a
    thread)."""

    def __call__(
        self, metadata: Mapping[str, str], deployment: str, method: str
    ) -> Awaitable[None]: ...


Handler = Callable[[bytes, Context], Awaitable[RpcAnswer]]
M = TypeVar("M", bound=Message)
_Repository = pb.RepositoryModelLoadRequest | pb.RepositoryModelUnloadRequest


def _ok(message: Message) -> RpcAnswer:
    return RpcAnswer(grpc.StatusCode.OK, message.SerializeToString())


def _parse(kind: type[M], request: bytes) -> M:
    try:
        return kind.FromString(request)
    except DecodeError:
        raise not_a_message(kind) from None


@dataclass(frozen=True, slots=True)
class _Addressed:
    """A call that names a model: its deployment, the version it reaches (None: the deployment
    has none), the (name, version) it named, and its metadata."""

    route: DeploymentRoute
    version: VersionRoute | None
    named: tuple[str, str]
    metadata: Metadata


class GrpcGateway:
    """``GRPCInferenceService`` on ``host:port`` in front of ``gateway``'s deployments.
    Construct anywhere; :meth:`start` and everything after run on the event loop."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.gateway = gateway
        self.host = host
        self._port = port
        rest = gateway.proxy  # its timeout, its tracing, its count of calls in flight
        self.proxy = GrpcProxy(gateway.metrics, rest.timeout_s, rest.outstanding, rest.tracing)
        #: The per-call policy (see :class:`CallCheck`); None lets every call through.
        self.check: CallCheck | None = None
        #: TLS for the port (set before :meth:`start`); None: plain.
        self.credentials: grpc.ServerCredentials | None = None
        self._listener: GrpcHandle | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve (``port`` 0 picks a free one; read it back from :attr:`port`).

        Raises :class:`Unavailable` when the address cannot be bound."""
        self._listener = await start_listener(
            self._handlers(),
            self.host,
            self._port,
            max_message_bytes=self.gateway.limits.max_body_bytes,
            credentials=self.credentials,
            inflate=False,  # the handlers inflate compressed messages, with a bound
            access=self.gateway.access,
        )

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() first"
        return self._listener.port

    def update(self, topology: Topology) -> None:
        """Close channels to replicas that left ``topology`` (routing reads the gateway's)."""
        self.proxy.retain(topology)

    async def stop(self, drain_timeout: float) -> None:
        """Refuse new calls, let calls in flight finish (up to ``drain_timeout``), close."""
        if self._listener is not None:
            await self._listener.stop(drain_timeout)
        await self.proxy.close()

    # -- calls --------------------------------------------------------------------------------

    def _handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        unary: dict[str, Handler] = {
            "ServerLive": self._server_live,
            "ServerReady": self._server_ready,
            "ServerMetadata": self._server_metadata,
            "ModelReady": self._model_ready,
            "ModelMetadata": self._model_metadata,
            # Triton's (its request is ModelMetadata's): the replica's answer, UNIMPLEMENTED.
            "ModelConfig": lambda r, c: self._model_metadata(r, c, "ModelConfig"),
            "ModelInfer": (
                self._model_infer
                if self.gateway.tracing is None
                else traced_call(self.gateway.tracing, self._model_infer, "ModelInfer")
            ),
            "ModelStatistics": self._model_statistics,
            "RepositoryIndex": self._repository_index,
        }
        for kind in (pb.RepositoryModelLoadRequest, pb.RepositoryModelUnloadRequest):
            name = kind.DESCRIPTOR.name.removesuffix("Request")
            unary[name] = self._refusing(name, kind, _NO_LOADS)
        handlers = {n: self._unary(n, h) for n, h in inflating(unary, self.gateway.limits).items()}
        handlers["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(self._stream_infer)
        return handlers

    def _unary(self, method: str, handler: Handler) -> grpc.RpcMethodHandler:
        """Bytes in, bytes out (nothing deserialized on the way), errors mapped to statuses."""

        async def call(request: bytes, context: Context) -> bytes:
            try:
                answer = await handler(request, context)
            except InferdError as error:
                await abort(context, error)
            except Exception:
                log.exception("gateway gRPC %s failed", method)
                await abort(context, InternalError("internal error"))
            if not answer.ok:
                if answer.trailing:
                    context.set_trailing_metadata(answer.trailing)
                await context.abort(answer.code, answer.details)
            return answer.body

        return grpc.unary_unary_rpc_method_handler(call)

    async def _checked(self, context: Context, deployment: str, method: str) -> Metadata:
        """The call's metadata, once :attr:`check` has let it through."""
        metadata = metadata_pairs(context.invocation_metadata())
        authorization(metadata)  # refuses two, which a replica would read otherwise
        if self.check is not None:
            await self.check(text_metadata(metadata), deployment, method)
        return metadata

    async def _server_live(self, request: bytes, context: Context) -> RpcAnswer:
        await self._checked(context, "", "ServerLive")
        return _ok(pb.ServerLiveResponse(live=True))

    async def _server_ready(self, request: bytes, context: Context) -> RpcAnswer:
        await self._checked(context, "", "ServerReady")
        return _ok(pb.ServerReadyResponse(ready=self.gateway.ready()))

    async def _server_metadata(self, request: bytes, context: Context) -> RpcAnswer:
        await self._checked(context, "", "ServerMetadata")
        name, version = "inferd-gateway", __version__
        return _ok(pb.ServerMetadataResponse(name=name, version=version, extensions=EXTENSIONS))

    async def _addressed(self, request: bytes, context: Context, method: str) -> _Addressed:
        """For metadata and readiness: the named version, else the deployment's main one."""
        named = model_named(request)
        if not named[0]:
            raise InvalidArgument("name is required")
        metadata = await self._checked(context, named[0], method)
        # A deployment at zero is woken and the call held, as REST's metadata and readiness.
        route, version = await self.gateway.selection.metadata_target(named[0], named[1] or None)
        return _Addressed(route, version, named, metadata)

    async def _model_ready(self, request: bytes, context: Context) -> RpcAnswer:
        try:
            to = await self._addressed(request, context, "ModelReady")
        except NotFound:  # ready: false, as inferd serve and Triton answer an unknown model
            return _ok(pb.ModelReadyResponse(ready=False))
        if to.version is None or not any(r.grpc_port for r in to.version.ready_replicas):
            return _ok(pb.ModelReadyResponse(ready=False))
        return await self._forward(to, to.version, "ModelReady", request, context)

    async def _model_metadata(
        self, request: bytes, context: Context, method: str = "ModelMetadata"
    ) -> RpcAnswer:
        to = await self._addressed(request, context, method)
        if to.version is None:
            raise Unavailable(f"deployment {to.route.name!r} has no version")
        answer = await self._forward(to, to.version, method, request, context)
        if not answer.ok or method != "ModelMetadata":
            return answer
        # Named as clients name it, the deployment and its versions (as REST's, forwarding.named).
        named = answer_named(answer.body, to.route.name, metadata_versions(to.route, to.named[1]))
        return dataclasses.replace(answer, body=named)

    async def _forward(
        self,
        to: _Addressed,
        version: VersionRoute,
        method: str,
        request: bytes,
        context: Context,
    ) -> RpcAnswer:
        return await self.proxy.send(
            to.route.name,
            version,
            method,
            renamed(request, version.model, to.named),
            forwardable(to.metadata),
            deadline_s=context.time_remaining(),
        )

    async def _model_infer(self, request: bytes, context: Context) -> RpcAnswer:
        started = time.perf_counter()
        named = model_named(request)
        if not named[0]:
            raise InvalidArgument("model_name is required")
        metadata = await self._checked(context, named[0], "ModelInfer")
        route, version = await self.gateway.selection.choose(
            named[0], text_metadata(metadata), named[1] or None, started
        )
        forwarded = forwardable(metadata)
        primary_answer = self._mirror(route, version, request, named, forwarded)
        answer: RpcAnswer | None = None
        status = 500
        try:
            answer = await self.proxy.send(
                route.name,
                version,
                "ModelInfer",
                renamed(request, version.model, named),
                forwarded,
                deadline_s=context.time_remaining(),
            )
            status = answer.http_status
        except InferdError as exc:
            status = STATUS_BY_CODE.get(exc.code, 500)
            raise
        except asyncio.CancelledError:  # the client went away, or its deadline passed
            left = context.time_remaining()
            status = STATUS_BY_CODE[
                Code.DEADLINE_EXCEEDED if left is not None and left <= 0 else Code.CANCELLED
            ]
            raise
        finally:
            self.gateway.record(route.name, version.name, status, started)
            if primary_answer is not None and not primary_answer.done():
                primary_answer.set_result(answer)
        if route.payload_logging is not None and answer.ok:
            self.gateway.payloads.log_grpc(
                route.name, version.name, "ModelInfer", started, request=request,
                response=answer.body,
            )  # fmt: skip
        return answer

    def _mirror(
        self,
        route: DeploymentRoute,
        version: VersionRoute,
        request: bytes,
        named: tuple[str, str],
        metadata: Metadata,
    ) -> asyncio.Future[RpcAnswer | None] | None:
        """Start the shadow's copy of ``request``; the future takes the primary's answer."""
        shadow = route.version(route.shadow) if route.shadow else None
        if shadow is None or shadow.name == version.name:
            return None
        mirror = self.gateway.mirror
        if mirror.full:
            mirror.drop(route.name, version.name, shadow.name)
            return None
        copy = renamed(request, shadow.model, named)  # the same bytes when nothing changes

        send = partial(self.proxy.send, route.name, shadow, "ModelInfer", copy, metadata,
                       deadline_s=mirror.timeout_s, retry=False, shadow=True)  # fmt: skip
        return mirror.copy(route.name, version.name, shadow.name, send, GRPC_ANSWERS)

    async def _model_statistics(self, request: bytes, context: Context) -> RpcAnswer:
        message = _parse(pb.ModelStatisticsRequest, request)
        await self._checked(context, message.name, "ModelStatistics")
        if message.version and not message.name:  # refused as inferd serve refuses it
            raise InvalidArgument(
                f"version {message.version!r} is given without a model name; name the model, "
                "or leave both empty for the statistics of every model"
            )
        stats = await self.gateway.catalog.statistics(message.name or None, message.version or None)
        return _ok(pb.ModelStatisticsResponse(model_stats=[statistics_message(s) for s in stats]))

    async def _repository_index(self, request: bytes, context: Context) -> RpcAnswer:
        message = _parse(pb.RepositoryIndexRequest, request)
        await self._checked(context, "", "RepositoryIndex")
        if message.repository_name:
            raise NotFound(
                f"repository {message.repository_name!r} not found; the gateway serves one"
            )
        row = pb.RepositoryIndexResponse.ModelIndex
        models = [
            row(name=e.name, version=e.version, state=e.state.value, reason=e.reason)
            for e in self.gateway.catalog.index(ready_only=message.ready)
        ]
        return _ok(pb.RepositoryIndexResponse(models=models))

    def _refusing(self, method: str, kind: type[_Repository], why: str) -> Handler:
        """A repository load or unload: checked for the model it names, as REST's
        ``/v2/repository/models/{model}/load`` is (named none, a key scoped to some
        deployments was refused "covers every deployment"), then refused with ``why``."""

        async def refuse(request: bytes, context: Context) -> RpcAnswer:
            await self._checked(context, _parse(kind, request).model_name, method)
            raise Unsupported(why)

        return refuse

    async def _stream_infer(self, requests: AsyncIterator[bytes], context: Context) -> None:
        try:
            await self._checked(context, "", "ModelStreamInfer")
            raise Unsupported(_NO_STREAMING)
        except InferdError as error:
            await abort(context, error)
