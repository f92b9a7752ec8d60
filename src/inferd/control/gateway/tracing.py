"""The gateway's span: one per inference request, routing and proxying, parent of the replica's.

:func:`traced` wraps the gateway's inference handler when ``inferd up`` traces
(``gateway.tracing``); otherwise the handler is installed bare and tracing costs nothing. The
span continues the client's ``traceparent`` (or starts a trace, sampled at the spec's rate),
covers routing (a cold start's hold included) and the proxied call with its retry (each try at a
replica a CLIENT span of its own, :func:`try_span`, a shadow copy's marked ``inferd.shadow``),
and records the status the client got: a 4xx or 5xx fails the span with the answer's error
message (never the request's body), a client gone before its answer is 499. The request's
``traceparent`` is replaced by the span's before the handler runs (and by each try's span on
each try), so the replicas' spans are its descendants; an unsampled span propagates its
unsampled flag, so replicas record nothing for it either. The span is current while the
handler runs, so what it logs carries its trace (:mod:`inferd.server.logs`).

:func:`tracing_settings` says whether ``inferd up`` traces: the spec's ``gateway.tracing``, else
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the OpenTelemetry
convention) with every trace sampled.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import orjson
from pydantic import ValidationError

from inferd.config import TracingSettings
from inferd.control.gateway.upstream import UpstreamRequest, UpstreamResponse
from inferd.control.replicas.topology import Replica
from inferd.errors import InferdError, InvalidArgument
from inferd.protocols.http import Request, Response
from inferd.protocols.http.messages import response_for_error
from inferd.protocols.http.router import Handler
from inferd.spec.observability import TracingSpec

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from inferd.observe.tracing import Span, Tracing

#: The attribute marking a shadow copy's spans.
SHADOW = "inferd.shadow"
#: How a try at a replica ended: answered, retried (a 503, tried elsewhere), connection
#: failed, timeout, cancelled.
OUTCOME = "inferd.attempt.outcome"
#: In a shadow copy's task, its ``shadow_timeout`` (:class:`.shadow.Mirror`): a try that it
#: cancels ends ``timeout``, as one the replica did not answer in time, not ``cancelled``.
COPY_TIMEOUT: ContextVar[asyncio.Timeout | None] = ContextVar("copy_timeout", default=None)
#: A header's or a metadata value's type.
V = TypeVar("V")


def traced(tracing: Tracing, handler: Handler, method: str, route: str) -> Handler:
    """``handler`` (serving ``method route``, with a ``model`` parameter) inside a span."""
    name = f"{method} {route}"

    async def handle(request: Request) -> Response:
        span = tracing.server_span(
            name,
            request.headers,
            {
                "http.request.method": method,
                "http.route": route,
                "url.path": request.path,
                "inferd.deployment": request.params["model"],
            },
        )
        request.headers.update(tracing.propagation(span))
        if not span.is_recording():
            return await handler(request)
        try:
            with tracing.current(span):  # the parent of each try's span; the logs' trace
                response = await handler(request)
        except InferdError as exc:
            tracing.failed(span, response_for_error(exc).status, exc.message)
            raise
        except BaseException as exc:  # cancelled (the client left), or a bug
            tracing.interrupted(span, exc)
            raise
        else:
            if response.status >= 400:
                tracing.failed(span, response.status, error_message(response))
            else:
                span.set_attribute("http.response.status_code", response.status)
            return response
        finally:
            span.end()

    return handle


def try_span(
    tracing: Tracing, request: UpstreamRequest, replica: Replica, resends: int, shadow: bool
) -> tuple[UpstreamRequest, Span | None]:
    """One try of ``request`` at ``replica`` (the ``resends``-th retry; ``shadow``: a shadow
    copy's) as a CLIENT span under the current one, and the request carrying that span's
    ``traceparent``, so the replica's spans are its children. None and ``request`` as it is when
    no span is current or it is not sampled."""
    protocol: dict[str, AttributeValue] = {
        "http.request.method": request.method,
        "url.path": request.path.partition("?")[0],
        "server.port": replica.port,
    }
    name = f"{request.method} replica"
    span = replica_try(tracing, name, protocol, replica, resends=resends, shadow=shadow)
    if span is None:
        return request, None
    return dataclasses.replace(request, headers=carrying(tracing, span, request.headers)), span


def replica_try(
    tracing: Tracing,
    name: str,
    protocol: Mapping[str, AttributeValue],
    replica: Replica,
    *,
    resends: int,
    shadow: bool,
) -> Span | None:
    """The CLIENT span ``name`` of one try at ``replica``, for any protocol (its own
    ``protocol`` attributes): the replica, the retry count, ``inferd.shadow`` and `` (shadow)``
    in its name for a shadow copy's. None when no span is current or it is not sampled."""
    attributes: dict[str, AttributeValue] = {
        **protocol,
        "server.address": replica.host,
        "inferd.deployment": replica.deployment,
        "inferd.version": replica.version,
        "inferd.replica": replica.id,
    }
    if resends:
        attributes["http.request.resend_count"] = resends
    if shadow:
        attributes[SHADOW] = True
        name += " (shadow)"
    return tracing.attempt(name, attributes)


def carrying(
    tracing: Tracing, span: Span, pairs: Iterable[tuple[str, V]]
) -> tuple[tuple[str, V | str], ...]:
    """``pairs`` (headers, gRPC metadata) with the ``traceparent`` (and ``tracestate``) that
    make the next hop's spans children of ``span`` in place of theirs."""
    propagated = tracing.propagation(span)
    return (*((k, v) for k, v in pairs if k not in propagated), *propagated.items())


def try_ended(
    tracing: Tracing, span: Span, outcome: str, response: UpstreamResponse | None
) -> None:
    """End a REST try's span (:func:`try_finished`)."""
    if response is None:
        try_finished(tracing, span, outcome, None, str)
    else:
        try_finished(tracing, span, outcome, response.status, partial(error_message, response))


def try_finished(
    tracing: Tracing, span: Span, outcome: str, status: int | None, error: Callable[[], str]
) -> None:
    """End a try's span: ``outcome`` (``answered``, ``retried``, ``connection failed``,
    ``timeout``, ``cancelled``) and the HTTP status the replica's answer is (None: it did not
    answer); a try that got no answer, or a 5xx, fails it with ``error()``."""
    if outcome == "cancelled" and (cut_off := COPY_TIMEOUT.get()) is not None and cut_off.expired():
        outcome = "timeout"  # the shadow copy's time ran out, not its client's patience
    span.set_attribute(OUTCOME, outcome)
    if status is None:
        tracing.failed(span, None, outcome)
    elif status >= 500:
        tracing.failed(span, status, error())
    else:
        span.set_attribute("http.response.status_code", status)
    span.end()


def error_message(response: Response | UpstreamResponse) -> str:
    """What an error ``response`` says went wrong: its ``{"error": …}`` (as the replica or the
    gateway wrote it), else its status."""
    try:
        error = orjson.loads(response.body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    return error if isinstance(error, str) and error else f"HTTP {response.status}"


#: OpenTelemetry's variable naming the collector's base URL.
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: OpenTelemetry's variable naming the traces URL, read before :data:`OTLP_ENDPOINT_ENV`.
OTLP_TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"


def tracing_settings(
    spec: TracingSpec | None, environ: Mapping[str, str]
) -> TracingSettings | None:
    """Where ``inferd up`` exports spans (its gateway's and its replicas'); None: nowhere. The
    spec's ``gateway.tracing``, else the first of OpenTelemetry's variables that is set (the
    traces URL, then the base URL), as its SDKs read them."""
    if spec is not None:
        return TracingSettings(endpoint=spec.endpoint, sample_rate=spec.sample_rate)
    for variable in (OTLP_TRACES_ENDPOINT_ENV, OTLP_ENDPOINT_ENV):
        endpoint = environ.get(variable)
        if not endpoint:
            continue
        try:
            return TracingSettings(endpoint=endpoint)
        except ValidationError:
            raise InvalidArgument(
                f"{variable}={endpoint!r} is not an http(s) URL such as http://localhost:4318"
            ) from None
    return None
