"""OpenAI's API through the gateway: ``/v1/chat/completions``, ``/v1/completions`` and
``/v1/embeddings`` relayed to a replica of the deployment the body's ``model`` names.

The deployment and its version are chosen as for any request (:meth:`Gateway.choose`: weights,
sticky header, header routes, a cold start held), the body's ``model`` is rewritten to the
replica's model name, and the answer comes back as the replica sends it: a whole JSON answer, or
Server-Sent Events relayed chunk by chunk as they arrive (nothing is buffered, so the first token
is forwarded at once). A client that leaves closes the upstream stream, and the replica cancels
the generation. Errors before the relay are in OpenAI's shape.

The relay uses httpx's streaming client, not the gateway's pooled OIP client: that one reads a
whole answer before it returns, which a token stream must not wait for.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import orjson

from inferd.control.gateway.upstream import forwardable
from inferd.errors import InferdError, InvalidArgument, Unavailable
from inferd.protocols.http import Request, Response, StreamingResponse
from inferd.protocols.openai.errors import error_response

if TYPE_CHECKING:
    from inferd.control.gateway.gateway import Gateway

#: The OpenAI routes relayed, each to the same path on the replica.
PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
EVENT_STREAM = b"text/event-stream"


class OpenAIRelay:
    """Relays OpenAI requests for one gateway."""

    def __init__(self, gateway: Gateway, timeout_s: float) -> None:
        self._gateway = gateway
        # No read timeout: a generation streams for as long as it runs (its client, the
        # replica's max_tokens and its context bound it); connecting is bounded.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=timeout_s), limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=128
            ),
        )  # fmt: skip

    async def close(self) -> None:
        await self._client.aclose()

    async def relay(self, request: Request) -> Response:
        try:
            return await self._relay(request)
        except InferdError as exc:
            return error_response(exc)

    async def _relay(self, request: Request) -> Response:
        started = time.perf_counter()
        body = _json_object(request.body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidArgument("the request names no model (the body's 'model' field)")
        gateway = self._gateway
        route, version = await gateway.choose(model, request.headers, None, started)
        replica = gateway.proxy.balance.choose(version.ready_replicas, set())
        if replica is None:
            gateway.record(route.name, version.name, 503, started)
            raise Unavailable(f"version {version.name!r} of {route.name!r} has no ready replica")
        body["model"] = version.model
        url = f"http://{replica.host}:{replica.port}{request.path}"
        headers = dict(forwardable(request.headers))
        headers["content-type"] = "application/json"
        upstream = self._client.build_request("POST", url, content=orjson.dumps(body),
                                              headers=headers)  # fmt: skip
        try:
            answer = await self._client.send(upstream, stream=True)
        except httpx.HTTPError:
            gateway.proxy.balance.done(replica.id)
            gateway.proxy.balance.eject(replica.id)
            gateway.record(route.name, version.name, 503, started)
            raise Unavailable(
                f"no replica of {route.name!r} version {version.name!r} answered"
            ) from None
        content_type = answer.headers.get("content-type", "application/json").encode()
        if not content_type.startswith(EVENT_STREAM):
            try:
                data = await answer.aread()
            finally:
                await answer.aclose()
                gateway.proxy.balance.done(replica.id)
            gateway.record(route.name, version.name, answer.status_code, started)
            return Response(answer.status_code, data, content_type, _kept(answer))

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await answer.aclose()  # a client gone: the replica sees it and cancels
                gateway.proxy.balance.done(replica.id)
                gateway.record(route.name, version.name, answer.status_code, started)

        return StreamingResponse(answer.status_code, b"", content_type, _kept(answer), chunks())


def _json_object(body: bytes | bytearray) -> dict[str, object]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("the body must be a JSON object")
    return value


def _kept(answer: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The replica's headers worth passing on (framing and hop-by-hop ones are redone)."""
    keep = ("cache-control", "retry-after", "x-request-id")
    return [(k.encode(), v.encode()) for k, v in answer.headers.items() if k.lower() in keep]
