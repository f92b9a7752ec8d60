"""A relayed generation's copy to its deployment's shadow (:mod:`.shadow`), and how the two
answers are compared (:mod:`.generation_compare`).

The copy carries the primary's sampling parameters and seed (a request without a seed gets one,
the same for both, so a sampled answer can be compared). The copy of a streamed generation
streams too and is timed as the primary's stream is (the gateway's
``shadow_time_to_first_token`` and ``shadow_inter_token_latency`` series, which a blue-green
rollout judges its candidate by).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from typing import Protocol

import orjson

from inferd.control.gateway.compare import Divergence
from inferd.control.gateway.generation_compare import Generation, compare_generations, read_answer
from inferd.control.gateway.keepalive import PoolsByReplica, UpstreamFailed, UpstreamTimeout
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.shadow import AnswerReader, Mirror, client_error
from inferd.control.gateway.stream_upstream import StreamPool
from inferd.control.gateway.stream_watch import StreamWatch
from inferd.control.gateway.upstream import UpstreamRequest, UpstreamResponse
from inferd.control.replicas.topology import DeploymentRoute, VersionRoute
from inferd.errors import Unavailable

EVENT_STREAM = b"text/event-stream"

#: The primary's answer (a whole one, or the texts read from its stream) or the shadow's.
Answer = UpstreamResponse | Generation


def _generation(answer: Answer) -> Generation:
    return answer if isinstance(answer, Generation) else read_answer(answer.body)


def _divergences(primary: Answer, shadow: Answer) -> list[Divergence]:
    return compare_generations(_generation(primary), _generation(shadow))


#: Generations: 200 is a success (a streamed primary only reaches the mirror when it was 200).
GENERATION_ANSWERS: AnswerReader[Answer] = AnswerReader(
    lambda answer: isinstance(answer, Generation) or answer.status == 200,
    _divergences,
    lambda answer: isinstance(answer, UpstreamResponse) and client_error(answer.status),
)


class MirrorRouter(Protocol):
    """What the copies use of their gateway: its proxy and balancer, its shadow mirror, and
    its metrics."""

    proxy: Proxy
    mirror: Mirror
    metrics: GatewayMetrics


class GenerationMirror:
    """Copies the relayed generations of one gateway to their deployments' shadows; streamed
    copies go through the relay's streaming ``pools``, their heads bounded by ``timeout_s``."""

    def __init__(
        self, gateway: MirrorRouter, pools: PoolsByReplica[StreamPool], timeout_s: float
    ) -> None:
        self._gateway = gateway
        self._pools = pools
        self._timeout_s = timeout_s

    def copy(
        self,
        route: DeploymentRoute,
        version: VersionRoute,
        path: str,
        headers: tuple[tuple[str, str], ...],
        body: dict[str, object],
    ) -> asyncio.Future[Answer | None] | None:
        """Send the deployment's shadow a copy of this generation, when it has one; the future
        takes the primary's answer for the comparison."""
        gateway = self._gateway
        shadow = route.version(route.shadow) if route.shadow else None
        if shadow is None or shadow.name == version.name:
            return None
        if gateway.mirror.full:
            gateway.mirror.drop(route.name, version.name, shadow.name)
            return None
        if path != "/v1/embeddings" and body.get("seed") is None:
            # The same draw for both, so a sampled answer can be compared (llama.cpp and vLLM
            # take any non-negative 32-bit seed).
            body["seed"] = secrets.randbits(31)
        copy = {k: v for k, v in body.items() if k != "stream_options"}
        copy["model"] = shadow.model
        headers = (*headers, ("content-type", "application/json"))
        mirrored = UpstreamRequest("POST", path, headers, orjson.dumps(copy))

        def send() -> Awaitable[Answer]:
            if copy.get("stream"):
                return self._stream(route.name, shadow, mirrored)
            return gateway.proxy.send(route.name, shadow, mirrored, retry=False, shadow=True)

        return gateway.mirror.copy(route.name, version.name, shadow.name, send, GENERATION_ANSWERS)

    async def _stream(
        self, deployment: str, shadow: VersionRoute, request: UpstreamRequest
    ) -> Answer:
        """A streamed generation's copy, streamed as well and timed as the primary's stream
        is: its text is the answer compared; raises :class:`Unavailable` when the shadow did
        not answer or broke off."""
        started = time.perf_counter()
        balance = self._gateway.proxy.balance
        replica = balance.choose(shadow.ready_replicas, set())
        if replica is None:
            raise Unavailable(f"shadow {shadow.name!r} of {deployment!r} has no ready replica")
        try:
            answer = await self._pools.pool(replica.host, replica.port).open(
                request, self._timeout_s
            )
        except (UpstreamFailed, UpstreamTimeout):
            balance.done(replica.id)
            balance.eject(replica.id)
            raise Unavailable(f"no replica of shadow {shadow.name!r} answered") from None
        watch = StreamWatch(started, keep_text=True)
        try:
            streamed = answer.headers.get("content-type", "").encode().startswith(EVENT_STREAM)
            if answer.status != 200 or not streamed:  # an error, whole
                return UpstreamResponse(answer.status, {}, await answer.read())
            async for chunk in answer.chunks():
                watch.feed(chunk)
            if watch.failed:
                raise Unavailable(f"the stream of shadow {shadow.name!r} ended with an error")
        except UpstreamFailed:
            raise Unavailable(f"the replica of shadow {shadow.name!r} broke off") from None
        finally:
            answer.close()
            balance.done(replica.id)
            if watch.ttft is not None:
                self._gateway.metrics.shadow_stream(deployment, shadow.name, watch.ttft, watch.itl)
        return watch.generation()
