"""The RPCs of ``inference.GRPCInferenceService``, translated to and from the :class:`DataPlane`.

Two servicers split the service the way inferd splits its listeners: :class:`InferenceServicer`
answers the data-plane RPCs (health, metadata, infer, statistics) and refuses the repository RPCs
with PERMISSION_DENIED; :class:`RepositoryServicer` answers only the repository RPCs, and only for
callers presenting the control token as ``authorization: Bearer <token>`` metadata.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from functools import partial

import grpc
from google.protobuf.message import Message

from inferd.card import TensorSpec
from inferd.config import LimitSettings
from inferd.errors import (
    InferdError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unsupported,
)
from inferd.observe.audit import AuditLog, Caller
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.codec import decode_parameters, decode_request, encode_response
from inferd.protocols.grpc.inflated import Inflater
from inferd.protocols.grpc.status import GRPC_STATUS, Context, abort, unary
from inferd.protocols.http.audited import USER_HEADER
from inferd.protocols.http.budget import RequestBudget
from inferd.protocols.offload import Decoder
from inferd.protocols.repository import check_unload, load_reference
from inferd.protocols.v2 import unserved
from inferd.protocols.v2.codec import TIMEOUT_PARAMETERS, request_deadline
from inferd.serving.stats import ModelStatistics, StatisticDuration
from inferd.serving.types import DataPlane

#: The fully qualified service name both servicers register under.
SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

#: Why a call with two ``authorization`` entries is refused (inferd.protocols.access.grpc's words).
TWICE = "more than one 'authorization' metadata entry; send it once"

_REPOSITORY_REQUESTS: dict[str, type[Message]] = {
    "RepositoryIndex": pb.RepositoryIndexRequest,
    "RepositoryModelLoad": pb.RepositoryModelLoadRequest,
    "RepositoryModelUnload": pb.RepositoryModelUnloadRequest,
}


def _tensor_metadata(
    specs: Iterable[TensorSpec],
) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [
        pb.ModelMetadataResponse.TensorMetadata(
            name=spec.name, datatype=spec.datatype, shape=spec.shape
        )
        for spec in specs
    ]


def _duration(duration: StatisticDuration) -> pb.StatisticDuration:
    return pb.StatisticDuration(count=duration.count, ns=duration.ns)


def statistics_message(stats: ModelStatistics) -> pb.ModelStatistics:
    """A statistics record as the proto has it (also the gateway's, summed over replicas)."""
    infer = stats.inference_stats
    return pb.ModelStatistics(
        name=stats.name,
        version=stats.version,
        last_inference=stats.last_inference,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=pb.InferStatistics(
            success=_duration(infer.success),
            fail=_duration(infer.fail),
            queue=_duration(infer.queue),
            compute_input=_duration(infer.compute_input),
            compute_infer=_duration(infer.compute_infer),
            compute_output=_duration(infer.compute_output),
            cache_hit=_duration(infer.cache_hit),
        ),
        batch_stats=[
            pb.InferBatchStatistics(
                batch_size=batch.batch_size,
                compute_input=_duration(batch.compute_input),
                compute_infer=_duration(batch.compute_infer),
                compute_output=_duration(batch.compute_output),
            )
            for batch in stats.batch_stats
        ],
    )


async def _no_streaming(requests: AsyncIterator[bytes], context: Context) -> None:
    await abort(
        context,
        Unsupported(
            "ModelStreamInfer is not served: inferd serve has no streaming inference; "
            "use ModelInfer for each request"
        ),
    )


#: Triton's bidirectional ``ModelStreamInfer`` (tritonclient's ``start_stream``), refused
#: saying so rather than with grpc's "Method not found!". Not a unary handler: the data plane's
#: API-key guard wraps only those, so it is added after the guard (it serves nothing anyway).
NO_STREAMING = grpc.stream_stream_rpc_method_handler(_no_streaming)


def unserved_handlers() -> dict[str, grpc.RpcMethodHandler]:
    """The RPCs of Triton's extensions inferd does not serve (shared memory, trace and log
    settings), each refused naming its extension rather than with "Method not found!"; added
    beside :data:`NO_STREAMING`, their requests are never read."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for extension in unserved.EXTENSIONS:

        async def refuse(request: bytes, context: Context, words: str = extension.refusal) -> None:
            await abort(context, Unsupported(words))

        handlers.update(
            dict.fromkeys(extension.methods, grpc.unary_unary_rpc_method_handler(refuse))
        )
    return handlers


async def _control_only(request: Message, context: Context) -> Message:
    raise PermissionDenied(
        "repository operations are served only on the control-plane listener (inferd serve "
        "--control-grpc-port, 127.0.0.1:8083 by default), with its token as 'authorization: "
        "Bearer' metadata (see $INFERD_HOME/server-<control port>.token)"
    )


class InferenceServicer:
    """Data-plane RPCs over ``dataplane``; inference requests are checked against ``limits``."""

    def __init__(
        self, dataplane: DataPlane, limits: LimitSettings, budget: RequestBudget | None = None
    ) -> None:
        self._dataplane = dataplane
        self._limits = limits
        self._decoder = Decoder(limits)
        #: Compressed messages, which this servicer's listener leaves to it (:mod:`.inflated`),
        #: held against ``budget`` (by default one of ``limits.max_buffered_request_bytes``).
        budget = budget or RequestBudget(limits.max_buffered_request_bytes)
        self.inflater = Inflater(limits.max_body_bytes, budget)

    async def server_live(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self._dataplane.live())

    async def server_ready(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._dataplane.ready())

    async def model_ready(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        ready = self._dataplane.model_ready(request.name, request.version or None)
        return pb.ModelReadyResponse(ready=ready)

    async def server_metadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        info = self._dataplane.server_metadata()
        return pb.ServerMetadataResponse(
            name=info.name, version=info.version, extensions=info.extensions
        )

    async def model_metadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        info = self._dataplane.model_metadata(request.name, request.version or None)
        return pb.ModelMetadataResponse(
            name=info.name,
            versions=info.versions,
            platform=info.platform,
            inputs=_tensor_metadata(info.inputs),
            outputs=_tensor_metadata(info.outputs),
        )

    async def model_config(self, request: pb.ModelMetadataRequest, context: Context) -> Message:
        """Triton's ``ModelConfig`` (its request is wire-compatible with ModelMetadata's):
        NOT_FOUND for an unknown model, else UNIMPLEMENTED naming where the tensors are."""
        with contextlib.suppress(Unavailable):  # served, though not ready now
            self._dataplane.model_metadata(request.name, request.version or None)
        raise Unsupported(
            "Triton's model configuration extension (ModelConfig) is not supported: inferd has "
            "no model configuration; ModelMetadata gives the model's inputs and outputs"
        )

    async def model_infer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        received = time.monotonic()
        remaining = context.time_remaining()
        deadline = None if remaining is None else received + remaining
        if any(key in request.parameters for key in TIMEOUT_PARAMETERS):  # as over REST
            asked = request_deadline(decode_parameters(request.parameters), None, received)
            if asked is not None:  # None: Triton's timeout 0, no timeout of its own
                deadline = asked if deadline is None else min(deadline, asked)
        if not request.model_name:  # before the lookup, which would call it model '' not found
            raise InvalidArgument("model_name is required")
        check = self._dataplane.input_check(request.model_name, request.model_version or None)
        decode = partial(decode_request, request, self._limits, deadline, check)
        try:
            decoded = await self._decoder.decode(decode, request.ByteSize())
        except InferdError:
            self._dataplane.refused(request.model_name, request.model_version or None)
            raise
        response = await self._dataplane.infer(decoded)
        return encode_response(
            response, raw=len(request.raw_input_contents) > 0, request_id=request.id
        )

    async def model_statistics(
        self, request: pb.ModelStatisticsRequest, context: Context
    ) -> pb.ModelStatisticsResponse:
        if request.version and not request.name:  # else every model's, the version ignored
            raise InvalidArgument(
                f"version {request.version!r} is given without a model name; name the model, "
                "or leave both empty for the statistics of every model"
            )
        stats = self._dataplane.model_stats(request.name or None, request.version or None)
        return pb.ModelStatisticsResponse(model_stats=[statistics_message(s) for s in stats])

    def handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """Method name → handler, for ``grpc.method_handlers_generic_handler``."""
        packed = self.inflater
        handlers = {
            "ServerLive": unary("ServerLive", self.server_live, pb.ServerLiveRequest, packed),
            "ServerReady": unary("ServerReady", self.server_ready, pb.ServerReadyRequest, packed),
            "ModelReady": unary("ModelReady", self.model_ready, pb.ModelReadyRequest, packed),
            "ServerMetadata": unary(
                "ServerMetadata", self.server_metadata, pb.ServerMetadataRequest, packed
            ),
            "ModelMetadata": unary(
                "ModelMetadata", self.model_metadata, pb.ModelMetadataRequest, packed
            ),
            "ModelConfig": unary("ModelConfig", self.model_config, pb.ModelMetadataRequest, packed),
            "ModelInfer": unary("ModelInfer", self.model_infer, pb.ModelInferRequest, packed),
            "ModelStatistics": unary(
                "ModelStatistics", self.model_statistics, pb.ModelStatisticsRequest, packed
            ),
        }
        for method, request_type in _REPOSITORY_REQUESTS.items():
            handlers[method] = unary(method, _control_only, request_type, packed)
        return handlers


class RepositoryServicer:
    """Repository RPCs over ``dataplane``, for callers that present ``token``."""

    def __init__(self, dataplane: DataPlane, token: str, audit: AuditLog | None = None) -> None:
        if not token:
            raise InvalidArgument("the gRPC control plane needs a non-empty token")
        self._dataplane = dataplane
        self._token = token.encode("utf-8")
        self._audit = audit

    def _authorize(self, context: Context) -> None:
        try:
            self._check_token(context)
        except (Unauthenticated, InvalidArgument) as exc:
            self._record(context, "rpc", "", "denied", exc)
            raise

    def _check_token(self, context: Context) -> None:
        presented = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                if presented is not None:  # which one counts would depend on the reader
                    raise InvalidArgument(TWICE)  # as REST's 400 and the data plane's keys
                presented = value
        if presented is None:
            raise Unauthenticated(
                "the control plane needs 'authorization: Bearer <token>' metadata"
            )
        scheme, _, credential = str(presented).partition(" ")
        # compare_digest: the time taken must not reveal how much of the token matched.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credential.encode("utf-8"), self._token
        ):
            raise Unauthenticated("the control-plane token is not valid")

    def _record(
        self, context: Context, action: str, target: str, outcome: str, error: InferdError | None
    ) -> None:
        if self._audit is None:
            return
        metadata = dict(context.invocation_metadata() or ())
        status = GRPC_STATUS.get(error.code, grpc.StatusCode.INTERNAL) if error else None
        self._audit.record(
            action,
            target,
            outcome=outcome,
            status=status.name if status else "OK",
            caller=Caller(
                peer=str(context.peer()),
                user_agent=str(metadata.get("user-agent", ""))[:200],
                user=str(metadata.get(USER_HEADER, ""))[:100],
            ),
            detail=error.message if error else "",
        )

    async def _audited(
        self, context: Context, action: str, target: str, work: Awaitable[None]
    ) -> None:
        try:
            await work
        except InferdError as exc:
            self._record(context, action, target, "error", exc)
            raise
        self._record(context, action, target, "ok", None)

    def _check_request(self, context: Context, repository: str, model: str | None = None) -> None:
        """Check the token, that ``repository`` is the one store (named by ""), and that a load
        or unload names its ``model`` (None: the request names no model)."""
        self._authorize(context)
        if repository:
            raise NotFound(f"repository {repository!r} not found; inferd serves from its one store")
        if model is not None and not model:
            raise InvalidArgument("model_name is required")

    async def repository_index(
        self, request: pb.RepositoryIndexRequest, context: Context
    ) -> pb.RepositoryIndexResponse:
        self._check_request(context, request.repository_name)
        entries = self._dataplane.repository_index(ready_only=request.ready)
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=entry.name,
                    version=entry.version,
                    state=entry.state.value,
                    reason=entry.reason,
                )
                for entry in entries
            ]
        )

    async def repository_model_load(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        self._check_request(context, request.repository_name, request.model_name)
        reference = load_reference(decode_parameters(request.parameters))
        load = self._dataplane.load(request.model_name, reference)
        await self._audited(context, "load", request.model_name, load)
        return pb.RepositoryModelLoadResponse()

    async def repository_model_unload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        self._check_request(context, request.repository_name, request.model_name)
        check_unload(decode_parameters(request.parameters))
        unload = self._dataplane.unload(request.model_name)
        await self._audited(context, "unload", request.model_name, unload)
        return pb.RepositoryModelUnloadResponse()

    def handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """Method name → handler, for ``grpc.method_handlers_generic_handler``."""
        return {
            "RepositoryIndex": unary(
                "RepositoryIndex", self.repository_index, pb.RepositoryIndexRequest
            ),
            "RepositoryModelLoad": unary(
                "RepositoryModelLoad", self.repository_model_load, pb.RepositoryModelLoadRequest
            ),
            "RepositoryModelUnload": unary(
                "RepositoryModelUnload",
                self.repository_model_unload,
                pb.RepositoryModelUnloadRequest,
            ),
        }
