"""Calling a version's replicas over gRPC: one channel per replica, balancing, retry once,
passive ejection — the gRPC counterpart of :mod:`.proxy`.

Requests and responses travel as the serialized bytes the client and the replica sent (no
serializer on either side of the channel). Each replica's channel is one HTTP/2 connection that
carries every concurrent call to it; it is opened on first use and closed, once the calls on it
have had the request timeout to finish, when the replica leaves the topology
(:meth:`GrpcProxy.retain`). Balancing reads and updates the same count of outstanding requests
per replica as the REST proxy, so the two protocols balance together.

Retry policy (inference is idempotent): UNAVAILABLE (the connection failed, or the replica is
draining or its queue is full) is retried once on another ready replica of the version — or
on the same one when it has no sibling — and that replica is avoided for a while
(:mod:`.balance`) when others are available. DEADLINE_EXCEEDED is not retried. Any other status
is the replica's answer and goes back to the client as it is. A replica that keeps failing
(UNAVAILABLE, INTERNAL, UNKNOWN: what HTTP counts as 500/502/503) is ejected as an outlier
(:mod:`.outliers`), as the REST proxy ejects one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from inferd.control.gateway.balance import Balancer
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.outliers import FAILING_STATUSES
from inferd.control.gateway.tracing import carrying, replica_try, try_finished
from inferd.control.replicas.topology import Replica, Topology, VersionRoute
from inferd.errors import DeadlineExceeded, Unavailable
from inferd.protocols.grpc.servicer import SERVICE
from inferd.protocols.grpc.status import GRPC_STATUS
from inferd.protocols.http.messages import STATUS_BY_CODE

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from inferd.observe.tracing import Span, Tracing

#: gRPC metadata: (key, value) pairs; values of ``-bin`` keys are bytes.
Metadata = tuple[tuple[str, str | bytes], ...]
_Address = tuple[str, int]
#: Replicas are inferd's own servers on loopback: their answers are not size-limited here
#: (the client's request was, when it reached the gateway).
_CHANNEL_OPTIONS = (("grpc.max_receive_message_length", -1),)
#: Metadata the transport sets on each hop, never forwarded.
_HOP_BY_HOP = frozenset({"user-agent", "content-type", "te", "host"})
#: A client's credentials, checked by the gateway and of no use to its keyless replicas.
_CREDENTIALS = frozenset({"authorization", "proxy-authorization"})
_NOT_FORWARDED = _HOP_BY_HOP | _CREDENTIALS


#: HTTP status per gRPC status.
_HTTP_STATUS = {status: STATUS_BY_CODE.get(code, 500) for code, status in GRPC_STATUS.items()}


@dataclass(frozen=True, slots=True)
class RpcAnswer:
    """A replica's answer to one call: its serialized response, or the status it ended with."""

    code: grpc.StatusCode
    body: bytes = b""
    details: str = ""
    trailing: Metadata = ()

    @property
    def ok(self) -> bool:
        return self.code is grpc.StatusCode.OK

    @property
    def http_status(self) -> int:
        """The HTTP status this answer counts as (the gateway's request counters, the shadow's
        outcomes): RESOURCE_EXHAUSTED, a message too large or a client over its rate, is 429."""
        return 200 if self.ok else _HTTP_STATUS.get(self.code, 500)


def metadata_pairs(metadata: Sequence[tuple[str, str | bytes]] | None) -> Metadata:
    """gRPC's metadata (a call's or an error's, None when there is none) as :data:`Metadata`."""
    return tuple((key, value) for key, value in metadata or ())


def text_metadata(metadata: Metadata) -> dict[str, str]:
    """Text metadata as routing reads headers (gRPC keys are lower-case already)."""
    return {key: value for key, value in metadata if isinstance(value, str)}


def forwardable(metadata: Metadata) -> Metadata:
    """What of a client's metadata goes on to the replica: not what the transport sets on
    each hop, nor gRPC's own keys, nor the client's credentials (its secret stops at the
    gateway, which checked it)."""
    return tuple(
        (key, value)
        for key, value in metadata
        if key not in _NOT_FORWARDED and not key.startswith((":", "grpc-"))
    )


def _try_span(
    tracing: Tracing,
    method: str,
    metadata: Metadata,
    replica: Replica,
    *,
    resends: int,
    shadow: bool,
) -> tuple[Metadata, Span | None]:
    """One try of ``method`` at ``replica`` as a CLIENT span under the current one, with
    REST's attributes (:func:`.tracing.replica_try`), and ``metadata`` carrying its
    ``traceparent``, so the replica's spans are its children."""
    protocol: dict[str, AttributeValue] = {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": method,
        "server.port": replica.grpc_port or 0,
    }
    span = replica_try(
        tracing, f"{method} replica", protocol, replica, resends=resends, shadow=shadow
    )
    if span is None:
        return metadata, None
    return carrying(tracing, span, metadata), span


def _try_ended(tracing: Tracing, span: Span, outcome: str, answer: RpcAnswer | None) -> None:
    """End a try's span as REST's end (:func:`.tracing.try_finished`), with the gRPC status."""
    if answer is None:
        try_finished(tracing, span, outcome, None, str)
        return
    span.set_attribute("rpc.grpc.status_code", answer.code.value[0])
    try_finished(
        tracing, span, outcome, answer.http_status, lambda: answer.details or answer.code.name
    )


def _retry_after(trailing: Metadata) -> float:
    for key, value in trailing:
        if key == "retry-after":
            with contextlib.suppress(ValueError):
                return max(float(value), 1.0)
    return 1.0


class GrpcProxy:
    """Forwards calls to replicas of a version; see the module docstring for the policy.

    ``outstanding`` is the REST proxy's count of requests in flight per replica id (shared).
    ``timeout_s`` caps every call (the gateway's request timeout), whatever the client's
    deadline. With ``tracing``, each try at a replica is a CLIENT span (:func:`_try_span`)."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        timeout_s: float,
        outstanding: dict[str, int],
        tracing: Tracing | None = None,
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.timeout_s = timeout_s
        self.balance = Balancer(outstanding)
        self._channels: dict[_Address, grpc.aio.Channel] = {}
        self._methods: dict[tuple[_Address, str], grpc.aio.UnaryUnaryMultiCallable] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _method(self, replica: Replica, method: str) -> grpc.aio.UnaryUnaryMultiCallable:
        assert replica.grpc_port is not None
        address = (replica.host, replica.grpc_port)
        callable_ = self._methods.get((address, method))
        if callable_ is None:
            channel = self._channels.get(address)
            if channel is None:
                host = f"[{address[0]}]" if ":" in address[0] else address[0]  # IPv6 literal
                channel = self._channels[address] = grpc.aio.insecure_channel(
                    f"{host}:{address[1]}", options=_CHANNEL_OPTIONS
                )
            callable_ = self._methods[(address, method)] = channel.unary_unary(
                f"/{SERVICE}/{method}"
            )
        return callable_

    def retain(self, topology: Topology) -> None:
        """Close the channels of replicas no longer in ``topology``: calls still running on
        them get the request timeout to finish."""
        live = {(r.host, r.grpc_port) for r in topology.replicas()}
        for address in [a for a in self._channels if a not in live]:
            self._close(address, self.timeout_s)
        self.balance.retain(topology)

    def _close(self, address: _Address, grace: float) -> None:
        channel = self._channels.pop(address)
        for key in [k for k in self._methods if k[0] == address]:
            del self._methods[key]
        task = asyncio.get_running_loop().create_task(channel.close(grace))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every channel (calls still running are cancelled)."""
        for address in list(self._channels):
            self._close(address, 0)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def send(
        self,
        deployment: str,
        version: VersionRoute,
        method: str,
        request: bytes,
        metadata: Metadata,
        *,
        deadline_s: float | None = None,
        retry: bool = True,
        shadow: bool = False,
    ) -> RpcAnswer:
        """The replica's answer (any status) to ``method`` with the serialized ``request``,
        within ``deadline_s`` (the client's time left; None: none) capped by
        :attr:`timeout_s`. Raises :class:`Unavailable` when no replica could be reached and
        :class:`DeadlineExceeded` when the chosen one did not answer in time. When traced,
        each try is a span of its own (``shadow``: a shadow copy's), as over REST."""
        timeout = self.timeout_s if deadline_s is None else min(deadline_s, self.timeout_s)
        expires = time.monotonic() + timeout
        tried: set[str] = set()
        attempts_left = 2 if retry else 1
        tracing = self.tracing
        while True:
            attempts_left -= 1
            left = expires - time.monotonic()
            if left <= 0:  # the deadline passed before this attempt could be sent
                raise self._late(deployment, version, timeout, deadline_s)
            serving = tuple(r for r in version.ready_replicas if r.grpc_port is not None)
            replica = self.balance.choose(serving, tried)
            if replica is None:
                raise Unavailable(
                    f"version {version.name!r} of {deployment!r} has no ready replica"
                )
            tried.add(replica.id)
            sent, span = metadata, None
            if tracing is not None:
                sent, span = _try_span(
                    tracing, method, metadata, replica, resends=len(tried) - 1, shadow=shadow
                )
            answer, outcome = None, "cancelled"  # the client left (a copy: tracing.COPY_TIMEOUT)
            try:
                body = await self._method(replica, method)(request, timeout=left, metadata=sent)
                answer, outcome = RpcAnswer(grpc.StatusCode.OK, body), "answered"
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                    outcome = "timeout"
                    raise self._late(deployment, version, timeout, deadline_s) from None
                trailing = metadata_pairs(error.trailing_metadata())
                answer = RpcAnswer(code, details=error.details() or "", trailing=trailing)
                again = code is grpc.StatusCode.UNAVAILABLE and attempts_left
                outcome = "retried" if again else "answered"
            finally:
                self.balance.done(replica.id)
                if tracing is not None and span is not None:
                    _try_ended(tracing, span, outcome, answer)
            self._outcome((deployment, version.name), serving, replica.id, answer.http_status)
            if answer.code is not grpc.StatusCode.UNAVAILABLE:
                return answer
            self.balance.eject(replica.id)
            if not attempts_left:
                raise Unavailable(
                    f"no replica of {deployment!r} version {version.name!r} answered",
                    retry_after=_retry_after(answer.trailing),
                )
            self.metrics.retry(deployment, version.name, "unavailable")

    def _outcome(
        self, key: tuple[str, str], serving: tuple[Replica, ...], replica_id: str, status: int
    ) -> None:
        """Count one answer (``status`` as HTTP counts it) of a replica of ``key``'s version
        (deployment, version) towards its ejection as an outlier."""
        if self.balance.report(serving, replica_id, failed=status in FAILING_STATUSES):
            self.metrics.ejection(*key)

    def _late(
        self, deployment: str, version: VersionRoute, timeout: float, deadline_s: float | None
    ) -> DeadlineExceeded:
        if deadline_s is not None and deadline_s <= self.timeout_s:
            why = f"within the call's deadline ({math.ceil(max(deadline_s, 0) * 1000)} ms)"
        else:
            why = f"within {timeout:g} s"
        return DeadlineExceeded(f"{deployment!r} version {version.name!r} did not answer {why}")
