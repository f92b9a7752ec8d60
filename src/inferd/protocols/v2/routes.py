"""The route tables: which endpoints each listener serves, with their OpenAPI operations.

The data-plane listener serves inference, metadata, health, statistics, metrics, KServe v1, the
generate extension and OpenAI's API; the control-plane listener serves only the repository
extension (index, load, unload). Each serves its own OpenAPI document at ``/v2/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from inferd.config import LimitSettings
from inferd.observe.audit import AuditLog
from inferd.protocols.http import Router
from inferd.protocols.http.audited import audited
from inferd.protocols.http.messages import Request, Response
from inferd.protocols.http.router import Handler
from inferd.protocols.openai.routes import add_routes as add_openai_routes
from inferd.protocols.text_wire import Timeout
from inferd.protocols.v2 import unserved
from inferd.protocols.v2.generate import GenerateHandlers
from inferd.protocols.v2.handlers import (
    CONTROL_PATHS,
    PROMETHEUS_TEXT,
    RepositoryHandlers,
    V2Handlers,
    control_only,
    openapi_handler,
)
from inferd.protocols.v2.kserve_v1 import V1Handlers
from inferd.protocols.v2.openapi import operation
from inferd.protocols.v2.traced import TracedV2Handlers
from inferd.serving.types import DataPlane

if TYPE_CHECKING:
    from inferd.observe.tracing import Tracing

OPENAPI_PATH = "/v2/openapi.json"
_MODEL = "/v2/models/{model}"
_VERSIONED = "/v2/models/{model}/versions/{version}"
#: Errors any model-addressed operation may answer.
_MODEL_ERRORS = (400, 404)
#: Metadata also answers 503 (+ Retry-After) while no version of the model is ready, and 501
#: for Triton's `…/config` (see handlers.refuse_model_config).
_METADATA_ERRORS = (*_MODEL_ERRORS, 501, 503)
_INFER_ERRORS = (400, 404, 413, 415, 500, 501, 503, 504)
_GENERATE_ERRORS = (400, 404, 500, 501, 503, 504)


def data_router(
    dataplane: DataPlane,
    limits: LimitSettings,
    metrics: Callable[[], bytes],
    tracing: Tracing | None = None,
    request_timeout: Timeout | None = None,
    *,
    scrape: Callable[[], Awaitable[bytes]] | None = None,
) -> Router:
    """The public listener's routes; with ``tracing``, v2 inference is traced.
    ``request_timeout`` gives a model's default deadline for generations (None: none).
    ``scrape``, when given, is what ``/metrics`` answers instead of ``metrics()``: every
    worker's series under ``inferd serve --workers N``."""
    v2 = (
        V2Handlers(dataplane, limits, metrics)
        if tracing is None
        else TracedV2Handlers(dataplane, limits, metrics, tracing)
    )
    v1 = V1Handlers(dataplane, limits)
    generate = GenerateHandlers(dataplane, request_timeout)
    router = Router()
    router.add(
        "GET", "/v2/health/live", v2.live, operation("Server liveness", "Live", not_ok="Live")
    )
    router.add(
        "GET", "/v2/health/ready", v2.ready, operation("Server readiness", "Ready", not_ok="Ready")
    )
    router.add("GET", "/v2", v2.server_metadata, operation("Server metadata", "ServerMetadata"))
    for base in (_MODEL, _VERSIONED):
        router.add(
            "GET",
            base,
            v2.model_metadata,
            operation("Model metadata", "ModelMetadata", errors=_METADATA_ERRORS),
        )
        router.add(
            "GET",
            f"{base}/ready",
            v2.model_ready,
            operation("Model readiness", "ModelReady", not_ok="ModelReady", errors=_MODEL_ERRORS),
        )
        router.add(
            "POST",
            f"{base}/infer",
            v2.infer,
            operation(
                "Inference (JSON, or JSON followed by binary tensors)",
                "InferenceResponse",
                body="InferenceRequest",
                errors=_INFER_ERRORS,
                binary=True,
            ),
            head=v2.infer_head,
        )
        router.add(
            "GET",
            f"{base}/stats",
            v2.stats,
            operation("Model statistics", "ModelStats", errors=_MODEL_ERRORS),
        )
        router.add(
            "POST",
            f"{base}/generate",
            generate.generate,
            operation(
                "Generate text (language models)",
                "GenerateResponse",
                body="GenerateRequest",
                errors=_GENERATE_ERRORS,
            ),
        )
        router.add(
            "POST",
            f"{base}/generate_stream",
            generate.generate_stream,
            operation(
                "Generate text as Server-Sent Events (language models)",
                "ServerSentEvent",
                ok_media="text/event-stream",
                body="GenerateRequest",
                errors=_GENERATE_ERRORS,
            ),
        )
    router.add(
        "GET", "/v2/models/stats", v2.stats, operation("Statistics of every model", "ModelStats")
    )
    router.add(
        "GET",
        "/metrics",
        v2.prometheus if scrape is None else _prometheus(scrape),
        operation("Prometheus metrics", None, ok_media="text/plain"),
    )
    add_openai_routes(router, dataplane, v1.model_ready, request_timeout)
    router.add(
        "POST",
        "/v1/models/{model}:predict",
        v1.predict,
        operation(
            "KServe v1 prediction",
            "V1PredictResponse",
            body="V1PredictRequest",
            errors=_INFER_ERRORS,
        ),
        head=v1.predict_head,
    )
    router.add(
        "POST",
        "/v1/models/{model}:explain",
        v1.explain,
        operation(
            "KServe v1 explanation: inferd serves no explainers (501)",
            None,
            succeeds=False,
            errors=(404, 501),
        ),
    )
    for path in CONTROL_PATHS:  # undocumented here: served on the control plane
        router.add("POST", path, control_only)
    for extension in unserved.EXTENSIONS:  # undocumented: refused (501), saying so
        refuse = extension.handler()
        for method, path in extension.paths:
            router.add(method, path, refuse)
    _add_openapi(router, "inferd data plane")
    return router


def control_router(dataplane: DataPlane, audit: AuditLog | None = None) -> Router:
    """The control listener's routes (every one behind the bearer-token guard); loads and
    unloads leave a record in ``audit`` when one is given."""
    repo = RepositoryHandlers(dataplane)
    load: Handler = repo.load
    unload: Handler = repo.unload
    if audit is not None:
        load, unload = audited(audit, "load", load), audited(audit, "unload", unload)
    router = Router()
    guarded = (400, 401, 403, 404)
    router.add(
        "POST",
        "/v2/repository/index",
        repo.index,
        operation(
            "Repository index",
            "RepositoryIndex",
            body="RepositoryIndexRequest",
            body_required=False,
            errors=guarded,
        ),
    )
    router.add(
        "POST",
        "/v2/repository/models/{model}/load",
        load,
        operation(
            "Load or replace a model version",
            "Empty",
            body="LoadRequest",
            body_required=False,
            errors=(*guarded, 501, 503),
        ),
    )
    router.add(
        "POST",
        "/v2/repository/models/{model}/unload",
        unload,
        operation(
            "Unload a model",
            "Empty",
            body="UnloadRequest",
            body_required=False,
            errors=(*guarded, 501),
        ),
    )
    _add_openapi(router, "inferd control plane")
    return router


def _add_openapi(router: Router, title: str) -> None:
    router.add(
        "GET",
        OPENAPI_PATH,
        openapi_handler(router, title),
        operation("This OpenAPI document", "OpenAPIDocument"),
    )


def _prometheus(scrape: Callable[[], Awaitable[bytes]]) -> Handler:
    """``/metrics`` answering what ``scrape()`` gathers (it may await other processes)."""

    async def prometheus(request: Request) -> Response:
        return Response(200, await scrape(), PROMETHEUS_TEXT)

    return prometheus
