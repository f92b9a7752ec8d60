"""The gateway's payload log: each deployment's ``logging:`` carried out.

:meth:`PayloadLog.update` follows the topology (a deployment's route carries its logging
spec): a writer (:mod:`.writer`) starts for each deployment that logs, and is replaced when its
spec changes or closed when logging stops. :meth:`PayloadLog.log_http` runs on the request path
after the response is known: it samples, cuts the bodies to the size cap, and queues one
payload per kept side; building events and delivering them happens in the writer's workers.
A deployment that does not log costs one dictionary lookup, and is not even called when its
route has no logging (the gateway checks first).

Series (in the gateway's registry, docs/gateway.md):

* ``inferd_gateway_payload_log_events_total{deployment, outcome}`` — payloads delivered to the
  sink, dropped (queue full, or still queued at shutdown) or failed (the sink refused or
  timed out);
* ``inferd_gateway_payload_log_queue_depth{deployment}`` — payloads waiting for the sink.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from inferd.control.gateway.payloads.events import JSON, OCTET_STREAM, PROTOBUF, Payload
from inferd.control.gateway.payloads.sinks import SharedFiles, make_sink
from inferd.control.gateway.payloads.writer import Writer
from inferd.control.replicas.topology import Topology
from inferd.spec.observability import LoggingSpec

log = logging.getLogger(__name__)

#: What became of a payload handed to the log.
OUTCOMES: Final = ("delivered", "dropped", "failed")
#: How long a replaced or removed deployment's writer may finish delivering what it holds.
RETIRE_GRACE_S = 5.0
_HEADER_LENGTH = "inference-header-content-length"
GRPC_SERVICE = "inference.GRPCInferenceService"


class PayloadLog:
    """Payload logging of every deployment; construct anywhere, use on the event loop.

    ``directory`` is where file sinks write (``$INFERD_HOME/payloads`` under ``inferd up``);
    None refuses file sinks (logged)."""

    def __init__(self, registry: CollectorRegistry, directory: Path | None) -> None:
        self.directory = directory
        self._writers: dict[str, Writer] = {}
        #: The JSONL files written, one entry per path however many deployments name it.
        self._files = SharedFiles()
        self._retiring: set[asyncio.Task[None]] = set()
        self._random = random.Random()  # noqa: S311 - sampling, not secrets
        self._events = Counter(
            "inferd_gateway_payload_log_events",
            "Payloads (a request or a response) handed to a deployment's payload log, by "
            "outcome: delivered to the sink, dropped (queue full) or failed (the sink refused).",
            ("deployment", "outcome"),
            registry=registry,
        )
        registry.register(_QueueDepth(self._writers))

    def update(self, topology: Topology) -> None:
        """Log what ``topology``'s routes say from now on (call on the event loop)."""
        wanted = {
            name: route.payload_logging
            for name, route in topology.deployments.items()
            if route.payload_logging is not None
        }
        for name, writer in list(self._writers.items()):
            if wanted.get(name) != writer.spec:
                del self._writers[name]
                self._retire(writer)
        for name, spec in wanted.items():
            if name not in self._writers:
                self._start(name, spec)

    def _start(self, deployment: str, spec: LoggingSpec) -> None:
        directory = self.directory
        if spec.sink.file is not None and directory is None:
            log.error("payload log of %r: this gateway writes no files; use an http sink",
                      deployment)  # fmt: skip
            return
        sink = make_sink(spec.sink.file, spec.sink.http, directory or Path(), self._files)
        for outcome in OUTCOMES:  # every series exists from the start, at 0
            self._events.labels(deployment, outcome)
        count = partial(self._count, deployment)
        self._writers[deployment] = Writer(deployment, spec, sink, count)

    def _count(self, deployment: str, outcome: str, n: int) -> None:
        self._events.labels(deployment, outcome).inc(n)

    def _retire(self, writer: Writer) -> None:
        task = asyncio.get_running_loop().create_task(writer.close(RETIRE_GRACE_S))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def log_http(
        self,
        deployment: str,
        version: str,
        endpoint: str,
        started: float,
        *,
        request: tuple[Mapping[str, str], bytes | bytearray],
        response: tuple[int, Mapping[str, str], bytes],
    ) -> None:
        """Log one HTTP exchange through the gateway that started at ``time.perf_counter()``
        value ``started``: ``request`` is (headers, body), ``response`` (status, headers,
        body); header names are lower-case. Never raises, never waits."""
        writer = self._sampled(deployment)
        if writer is None:
            return
        headers, body = request
        status, answer_headers, answer = response
        self._put(
            writer, (deployment, version, endpoint), started,
            request=_Body(JSON, body, _header_length(headers)),
            response=_Body(_media_type(answer_headers), answer, _header_length(answer_headers)),
            status=status,
        )  # fmt: skip

    def log_grpc(
        self, deployment: str, version: str, method: str, started: float, *, request: bytes,
        response: bytes,
    ) -> None:  # fmt: skip
        """Log one successful gRPC call (``inference.GRPCInferenceService/method``), its
        serialized request and response as the client sent and got them."""
        writer = self._sampled(deployment)
        if writer is None:
            return
        self._put(
            writer, (deployment, version, f"/{GRPC_SERVICE}/{method}"), started,
            request=_Body(PROTOBUF, request), response=_Body(PROTOBUF, response), status=200,
        )  # fmt: skip

    def _sampled(self, deployment: str) -> Writer | None:
        """The deployment's writer when this exchange is to be logged."""
        writer = self._writers.get(deployment)
        if writer is None:
            return None
        rate = writer.spec.sample_rate
        if rate < 1.0 and self._random.random() >= rate:
            return None
        return writer

    def _put(
        self,
        writer: Writer,
        where: tuple[str, str, str],
        started: float,
        *,
        request: _Body,
        response: _Body,
        status: int,
    ) -> None:
        spec = writer.spec
        now = time.time()
        event_id = uuid.uuid4().hex
        cap = spec.max_payload_bytes
        if spec.keep != "response":
            arrived = now - (time.perf_counter() - started)
            writer.put(request.payload("request", event_id, arrived, where, cap=cap))
        if spec.keep != "request":
            writer.put(response.payload("response", event_id, now, where, cap=cap, status=status))

    async def stop(self, grace_s: float = RETIRE_GRACE_S) -> None:
        """Close every writer, letting each deliver what it holds for up to ``grace_s``."""
        writers = list(self._writers.values())
        self._writers.clear()
        await asyncio.gather(*(w.close(grace_s) for w in writers), *self._retiring)


@dataclass(frozen=True, slots=True)
class _Body:
    """One side of an exchange: its media type, bytes, and binary-tensor header length."""

    content_type: str
    body: bytes | bytearray
    header_length: int | None = None

    def payload(
        self,
        kind: Literal["request", "response"],
        event_id: str,
        at: float,
        where: tuple[str, str, str],
        *,
        cap: int,
        status: int | None = None,
    ) -> Payload:
        deployment, version, endpoint = where
        body = self.body
        return Payload(
            kind=kind,
            id=event_id,
            time=at,
            deployment=deployment,
            version=version,
            endpoint=endpoint,
            content_type=OCTET_STREAM if self.header_length is not None else self.content_type,
            body=bytes(body[:cap]),
            truncated=len(body) > cap,
            header_length=self.header_length,
            status=status,
        )


def _header_length(headers: Mapping[str, str]) -> int | None:
    """A binary-tensor body's JSON header length (None: a JSON body)."""
    length = headers.get(_HEADER_LENGTH)
    return int(length) if length is not None and length.isdigit() else None


def _media_type(headers: Mapping[str, str]) -> str:
    """A replica's answer's media type. (A request's is JSON whatever the client declared, as
    the server reads it: ``curl -d`` says x-www-form-urlencoded.)"""
    return headers.get("content-type", JSON).split(";", 1)[0].strip() or JSON


class _QueueDepth(Collector):
    """``inferd_gateway_payload_log_queue_depth``, read from the queues at scrape time (no
    per-payload bookkeeping)."""

    def __init__(self, writers: Mapping[str, Writer]) -> None:
        self._writers = writers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "inferd_gateway_payload_log_queue_depth",
            "Payloads waiting for a deployment's payload-log sink.",
            labels=("deployment",),
        )
        for name, writer in sorted(self._writers.items()):
            family.add_metric((name,), writer.depth)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()
