"""v2 inference with traces: the data plane's handler, its spans added around it.

Installed instead of :class:`~inferd.protocols.v2.handlers.V2Handlers` only when the server
traces (``ServerSettings.tracing``), so an untraced server runs the plain handler and pays
nothing. Per sampled request, one SERVER span (named by its route, versioned or not) continues
the caller's ``traceparent`` (the gateway's span under ``inferd up``) and holds three children,
built from the stamps the batcher leaves in the request's
:class:`~inferd.serving.timings.RequestTimings`:

* ``queue wait`` — from the batcher accepting the request to its batch starting; for a request
  shed while queued (its deadline, or ``batching.max_queue_wait_ms``) the only child, to when it
  left the queue, with ``inferd.shed`` true;
* ``batch`` — the batch on the model's worker, with ``inferd.batch.size`` (rows) and
  ``inferd.batch.requests``;
* ``encode`` — the response encoded for the wire.

A request that is not sampled (its ``traceparent`` says so, or the sample rate skipped it)
runs the plain handler. A failed request's span says why (its error message), and one whose
client went away is 499, as the metrics count it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from inferd.config import LimitSettings
from inferd.errors import InferdError
from inferd.protocols.http import Request, Response
from inferd.protocols.http.messages import response_for_error
from inferd.protocols.v2.handlers import V2Handlers, media_type_refusal
from inferd.serving.timings import RequestTimings
from inferd.serving.types import DataPlane

if TYPE_CHECKING:
    from inferd.observe.tracing import Span, Tracing

#: The routes of v2 inference, which name its spans (not the path: model names would explode
#: them), as the gateway's spans are named.
ROUTE = "/v2/models/{model}/infer"
VERSIONED_ROUTE = "/v2/models/{model}/versions/{version}/infer"


class TracedV2Handlers(V2Handlers):
    """:class:`V2Handlers` whose inference is traced (see the module docstring)."""

    def __init__(
        self,
        dataplane: DataPlane,
        limits: LimitSettings,
        metrics: Callable[[], bytes],
        tracing: Tracing,
    ) -> None:
        super().__init__(dataplane, limits, metrics)
        self.tracing = tracing

    async def infer(self, request: Request) -> Response:
        version = request.params.get("version")
        route = ROUTE if version is None else VERSIONED_ROUTE
        attributes = {
            "http.request.method": "POST",
            "http.route": route,
            "url.path": request.path,
            "inferd.model": request.params["model"],
        }
        if version is not None:  # the version asked for (the one that answered, once it has)
            attributes["inferd.model_version"] = version
        span = self.tracing.server_span(f"POST {route}", request.headers, attributes)
        if not span.is_recording():
            return await super().infer(request)
        # The request now names this span's trace, also one the server started: the access
        # log reads the trace id there once the request is answered.
        request.headers.update(self.tracing.propagation(span))
        try:
            with self.tracing.current(span):  # log lines meanwhile carry its trace id
                return await self._traced(request, span)
        except InferdError as exc:
            self.tracing.failed(span, response_for_error(exc).status, exc.message)
            raise
        except BaseException as exc:  # cancelled (the client left), or a bug the server maps
            self.tracing.interrupted(span, exc)
            raise
        finally:
            span.end()

    async def _traced(self, request: Request, span: Span) -> Response:
        refusal = media_type_refusal(request)
        if refusal is not None:
            self.tracing.failed(span, refusal.status, "unsupported media type")
            return refusal
        infer_request = await self.decode(request)
        infer_request.timings = timings = RequestTimings()
        try:
            result = await self.dataplane.infer(infer_request)
        except InferdError:
            if timings.shed:
                self._shed(span, timings)
            raise
        encoding = time.monotonic()
        response = self.encode(infer_request, result)
        encoded = time.monotonic()
        span.set_attribute("http.response.status_code", response.status)
        if result.model_version is not None:
            span.set_attribute("inferd.model_version", result.model_version)
        self._children(span, timings, encoding, encoded, len(response.body))
        return response

    def _wall_ns(self) -> Callable[[float], int]:
        """Wall-clock nanoseconds (what spans carry) of a ``time.monotonic`` stamp."""
        now_ns, now = self.tracing.clocks()
        return lambda stamp: now_ns - round((now - stamp) * 1e9)

    def _shed(self, span: Span, t: RequestTimings) -> None:
        ns = self._wall_ns()
        self.tracing.child(span, "queue wait", ns(t.enqueued), ns(t.shed), {"inferd.shed": True})

    def _children(
        self, span: Span, t: RequestTimings, encoding: float, encoded: float, size: int
    ) -> None:
        ns = self._wall_ns()
        child = self.tracing.child
        if t.ran:
            child(span, "queue wait", ns(t.enqueued), ns(t.started), {})
            child(span, "batch", ns(t.started), ns(t.finished),
                  {"inferd.batch.size": t.batch_rows,
                   "inferd.batch.requests": t.batch_requests})  # fmt: skip
        child(span, "encode", ns(encoding), ns(encoded), {"inferd.response.bytes": size})
