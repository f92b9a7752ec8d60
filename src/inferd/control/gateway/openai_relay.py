"""OpenAI's API through the gateway: ``/v1/chat/completions``, ``/v1/completions`` and
``/v1/embeddings`` relayed to a replica of the deployment the body's ``model`` names.

The deployment and its version are chosen as for any request (the gateway's ``choose``:
weights, sticky header, header routes, a cold start held), the body's ``model`` is rewritten to the
replica's model name, and the answer comes back as the replica sends it, naming the model as the
client asked for it (:mod:`.relayed_answers`): a whole JSON answer, or Server-Sent Events relayed
event by event as they arrive (nothing is buffered, so the first token is forwarded at once). A
client that leaves closes the upstream stream, and the replica cancels the generation. Errors
before the relay are in OpenAI's shape.

A deployment with a ``sticky_header`` routes an OpenAI request without that header by the body's
``user`` field instead (OpenAI's end-user id): the same user, the same version.

A deployment with a shadow mirrors each generation to it (:mod:`.openai_shadow`), and the copy's
answer is compared with the primary's — read as it streams by.
Streamed answers are timed as they pass: time to the first text event and mean time between
text events (the gateway's ``time_to_first_token`` and ``inter_token_latency`` series, which
rollout analysis and the ``ttft_p95`` autoscaling metric read).

The relay uses the streaming pools of :mod:`.stream_upstream`, not the gateway's pooled OIP
client: that one reads a whole answer before it returns, which a token stream must not wait for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import orjson

from inferd.control.gateway.keepalive import PoolsByReplica, UpstreamFailed, UpstreamTimeout
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.model_list import ModelLister
from inferd.control.gateway.openai_shadow import (
    EVENT_STREAM,
    GENERATION_ANSWERS,
    Answer,
    GenerationMirror,
)
from inferd.control.gateway.outliers import FAILING_STATUSES
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.relayed_answers import (
    StreamError,
    StreamRenamer,
    openai_error,
    renamed,
)
from inferd.control.gateway.selection import Selection
from inferd.control.gateway.shadow import Mirror
from inferd.control.gateway.stream_upstream import StreamPool
from inferd.control.gateway.stream_watch import StreamWatch
from inferd.control.gateway.upstream import UpstreamRequest, UpstreamResponse, forwardable
from inferd.control.replicas.topology import DeploymentRoute, Topology, VersionRoute
from inferd.errors import (
    Code,
    DeadlineExceeded,
    InferdError,
    InvalidArgument,
    ModelNotFound,
    Unavailable,
)
from inferd.protocols.http import Request, Response, StreamingResponse, json_response
from inferd.protocols.http.messages import STATUS_BY_CODE
from inferd.protocols.openai.answers import ModelList
from inferd.protocols.openai.completions import DONE
from inferd.protocols.openai.errors import error_event, error_response
from inferd.protocols.text_wire import InvalidField

#: The comparison of generations lives in :mod:`.openai_shadow`; named here as before.
__all__ = ["GENERATION_ANSWERS", "PATHS", "OpenAIRelay", "Router"]


class Router(Protocol):
    """What the relay uses of its gateway (:class:`~.gateway.Gateway`): routing, the proxy's
    balancer and shadow mirror, and the request counts."""

    proxy: Proxy
    mirror: Mirror
    metrics: GatewayMetrics
    selection: Selection

    def deployment_names(self) -> list[str]: ...

    @property
    def topology(self) -> Topology: ...

    def record(self, deployment: str, version: str, status: int, started: float) -> None: ...


#: vLLM's token routes, relayed as the OpenAI routes are but never mirrored to a shadow: they
#: generate nothing to compare.
TOKEN_PATHS = ("/tokenize", "/detokenize")
#: The OpenAI routes relayed, each to the same path on the replica.
PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", *TOKEN_PATHS)
#: What a request whose client went away counts as (499, as the OIP routes count it).
CLIENT_GONE = STATUS_BY_CODE[Code.CANCELLED]


class OpenAIRelay:
    """Relays OpenAI requests for one gateway."""

    def __init__(self, gateway: Router, timeout_s: float) -> None:
        self._gateway = gateway
        #: What ``/v1/models`` says of when a deployment was created: when this gateway started.
        self.created = int(time.time())
        # Bounded until the answer's head arrives; a generation then streams for as long as it
        # runs (its client, the replica's max_tokens and its context bound it).
        self._timeout_s = timeout_s
        self.pools: PoolsByReplica[StreamPool] = PoolsByReplica(StreamPool)
        self._shadow = GenerationMirror(gateway, self.pools, timeout_s)
        self._lister = ModelLister(lambda: gateway.topology, gateway.proxy)

    def close(self) -> None:
        self.pools.close()

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: the deployments serving a language model, by the name a
        request's ``model`` gives, with ``root`` and ``parent`` as their replicas list them
        (:mod:`.model_list`). A deployment's name stands for whichever of its versions is live
        (weights, rollout)."""
        document: ModelList = {"object": "list", "data": await self._lister.models(self.created)}
        return json_response(document)

    async def relay(self, request: Request) -> Response:
        try:
            return await self._relay(request)
        except InferdError as exc:
            return error_response(exc)

    async def _relay(self, request: Request) -> Response:
        started, arrived = time.perf_counter(), asyncio.get_running_loop().time()
        body = _json_object(request.body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidField("model", "the request names no model (a deployment's name)")
        gateway = self._gateway
        headers_in = _with_user(request.headers, self._deployment(model), body.get("user"))
        route, version = await gateway.selection.choose(model, headers_in, None, started)
        replica = gateway.proxy.balance.choose(version.ready_replicas, set())
        if replica is None:
            gateway.record(route.name, version.name, 503, started)
            raise Unavailable(f"version {version.name!r} of {route.name!r} has no ready replica")
        # The body goes on as the JSON rewritten here, under its own type, not the client's.
        headers = tuple(pair for pair in forwardable(request.headers) if pair[0] != "content-type")
        # As the router matched it: an engine (llama-server, vLLM) takes no ``//v1/…`` or ``…/``.
        path = "/" + request.path.strip("/")
        primary_answer = (
            None if path in TOKEN_PATHS else self._shadow.copy(route, version, path, headers, body)
        )
        body["model"] = version.model
        # An engine replica sets no time limit of its own: the deployment's applies here.
        limit = route.request_timeout if replica.engine is not None else None
        deadline = None if limit is None else arrived + limit
        head_timeout = self._timeout_s if limit is None else min(self._timeout_s, limit)
        upstream = UpstreamRequest(
            "POST", path, (*headers, ("content-type", "application/json")),
            orjson.dumps(body),
        )  # fmt: skip
        balance, tried = gateway.proxy.balance, {replica.id}
        while True:  # one retry, as the gateway's other routes (docs/gateway.md "Retries")
            try:
                pool = self.pools.pool(replica.host, replica.port)
                answer = await pool.open(upstream, head_timeout)
            except UpstreamTimeout:  # late, not broken: the replica stays in rotation
                balance.done(replica.id)
                gateway.record(route.name, version.name, 504, started)
                _settle(primary_answer, None)
                raise self._late(route, version, limit) from None
            except asyncio.CancelledError:  # the client left: counted as the OIP routes count it
                balance.done(replica.id)
                gateway.record(route.name, version.name, CLIENT_GONE, started)
                _settle(primary_answer, None)
                raise
            except UpstreamFailed:
                balance.done(replica.id)
                balance.eject(replica.id)
                gateway.proxy.outcome(route.name, version, replica.id, failed=True)
                # Another replica, or the same one over a fresh connection when it is alone.
                again = balance.choose(version.ready_replicas, tried) if len(tried) == 1 else None
                if again is not None:
                    gateway.metrics.retry(route.name, version.name, "connection")
                    replica = again
                    tried.add(replica.id)
                    continue
                gateway.record(route.name, version.name, 503, started)
                _settle(primary_answer, None)
                raise Unavailable(
                    f"no replica of {route.name!r} version {version.name!r} answered"
                ) from None
            failed = answer.status in FAILING_STATUSES
            gateway.proxy.outcome(route.name, version, replica.id, failed=failed)
            others = [r for r in version.ready_replicas if r.id not in tried]
            if answer.status != 503 or len(tried) > 1 or not others:
                break
            answer.close()  # draining, or its queue is full: another replica, once
            balance.done(replica.id)
            again = balance.choose(version.ready_replicas, tried)
            assert again is not None, "a ready replica not tried is left"
            gateway.metrics.retry(route.name, version.name, "unavailable")
            replica = again
            tried.add(replica.id)
        content_type = answer.headers.get("content-type", "application/json").encode()
        if not content_type.startswith(EVENT_STREAM):
            try:
                data = await answer.read(deadline)
            except UpstreamTimeout:
                gateway.record(route.name, version.name, 504, started)
                _settle(primary_answer, None)
                raise self._late(route, version, limit) from None
            except asyncio.CancelledError:
                gateway.record(route.name, version.name, CLIENT_GONE, started)
                _settle(primary_answer, None)
                raise
            except UpstreamFailed:
                gateway.record(route.name, version.name, 503, started)
                _settle(primary_answer, None)
                raise Unavailable(f"the replica of {route.name!r} broke off its answer") from None
            finally:
                answer.close()
                gateway.proxy.balance.done(replica.id)
            gateway.record(route.name, version.name, answer.status, started)
            _settle(primary_answer, UpstreamResponse(answer.status, {}, data))
            if answer.status >= 400:  # in OpenAI's shape, whatever the replica's
                shaped = openai_error(route.name, answer.status, data)
                if shaped is not None:
                    data, content_type = shaped, b"application/json"
            elif answer.status == 200:  # the name asked for, as vLLM and OpenAI answer
                data = renamed(data, model)
            return Response(answer.status, data, content_type, _kept(answer.headers))

        watch = StreamWatch(started, keep_text=primary_answer is not None)
        failure = StreamError()
        renamer = StreamRenamer(model)

        async def chunks() -> AsyncIterator[bytes]:
            ended, status = False, answer.status
            try:
                try:
                    async for chunk in answer.chunks(deadline):
                        watch.feed(chunk)
                        failure.feed(chunk)
                        if relayed := renamer.feed(chunk):
                            yield relayed
                    ended = True
                    if rest := renamer.rest():
                        yield rest
                except UpstreamTimeout:
                    if not watch.complete:  # cut at the deadline: the client hears why
                        status = 504
                        yield error_event(self._late(route, version, limit)) + DONE
                except UpstreamFailed:
                    # The replica broke off (it crashed, its connection reset): the stream ends
                    # as a generation failing mid-way ends one, unless its [DONE] already passed.
                    if not watch.complete:
                        status = 503
                        broken = Unavailable(f"the replica of {route.name!r} broke off its answer")
                        yield error_event(broken) + DONE
                except (GeneratorExit, asyncio.CancelledError):
                    if not watch.complete:  # the client left before the end: gone, as a whole
                        status = CLIENT_GONE  # answer's client is
                    raise
            finally:
                if failure.status is not None and status in (answer.status, CLIENT_GONE):
                    status = failure.status  # the replica's generation failed after its 200
                answer.close()  # a client gone: the replica sees it and cancels
                gateway.proxy.balance.done(replica.id)
                gateway.record(route.name, version.name, status, started)
                if watch.ttft is not None:
                    gateway.metrics.stream(route.name, version.name, watch.ttft, watch.itl)
                # Whole when it ended, or once its [DONE] passed even if the client hung up before
                # the last bytes (clients stop reading at [DONE]); else cut short: no comparison.
                # A stream with an error event failed mid-way: its text is not an answer either.
                whole = answer.status == 200 and (ended or watch.complete) and not watch.failed
                _settle(primary_answer, watch.generation() if whole else None)

        return StreamingResponse(answer.status, b"", content_type, _kept(answer.headers), chunks())

    def _deployment(self, model: str) -> DeploymentRoute:
        """The deployment ``model`` names; an unknown one's 404 says what a ``model`` names
        here (not which deployments exist: a key may not be allowed to know)."""
        try:
            return self._gateway.selection.deployment(model)
        except ModelNotFound as exc:
            name = model.partition(":")[0]
            if name != model and name in self._gateway.deployment_names():
                exc.message += (
                    f"; the gateway takes a deployment's name ({name!r}), and its traffic "
                    "(weights, header routes, sticky header) chooses the version"
                )
            else:
                exc.message += "; a request's model names a deployment (GET /v1/models)"
            raise

    def _late(
        self, route: DeploymentRoute, version: VersionRoute, limit: float | None
    ) -> DeadlineExceeded:
        """What the client hears when the answer did not come (or end) in time."""
        if limit is not None and limit <= self._timeout_s:
            within = f"its deployment's request_timeout ({limit:g} s)"
        else:
            within = f"gateway.request_timeout ({self._timeout_s:g} s)"
        return DeadlineExceeded(
            f"{route.name!r} version {version.name!r} did not answer within {within}"
        )


def _with_user(
    headers: Mapping[str, str], route: DeploymentRoute, user: object
) -> Mapping[str, str]:
    """The headers routing reads: the body's ``user`` stands in for a missing sticky header."""
    sticky = route.sticky_header
    if sticky is None or not isinstance(user, str) or not user or sticky.lower() in headers:
        return headers
    return {**headers, sticky.lower(): user}


def _settle(future: asyncio.Future[Answer | None] | None, answer: Answer | None) -> None:
    if future is not None and not future.done():
        future.set_result(answer)


def _json_object(body: bytes | bytearray) -> dict[str, object]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("the body must be a JSON object")
    return value


def _kept(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The replica's headers worth passing on (framing and hop-by-hop ones are redone)."""
    keep = ("cache-control", "retry-after", "x-request-id")
    return [(k.encode(), v.encode()) for k, v in headers.items() if k in keep]
