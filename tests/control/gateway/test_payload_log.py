"""Payload logging through a real gateway in front of real replicas: a CloudEvents sink on
loopback receives each request and its response with the bytes the client sent and got; a sink
that hangs never holds a client up (its drops are counted); a sink that is down (connection
refused) or a JSONL file that cannot be written costs the clients nothing (its failures are
counted and logged once) and is delivered to again once it is back; the JSONL sink rotates.

No assertion here reads a clock: "never slows clients" is shown by every response arriving
while the sink holds every delivery it was given, and by the drops the full queue counted. The
one clock is a generous bound on the requests sent to a broken sink, there to fail a hang
rather than to measure latency.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat

from inferd.control.gateway import Gateway
from inferd.control.gateway.payloads.events import REQUEST_TYPE, RESPONSE_TYPE
from inferd.control.replicas.topology import Topology
from inferd.spec.observability import LoggingSpec

from .conftest import (
    FRAUD_BODY,
    RawClient,
    ReplicaProcess,
    deployment,
    run,
    sample,
    started_gateway,
    topology,
    version,
)

INFER = "/v2/models/fraud/infer"
#: Seconds the requests to a gateway whose sink is broken may take in all: a hang, not a
#: latency figure (each takes milliseconds).
HANG_S = 30
WRITER_LOG = "inferd.control.gateway.payloads.writer"


@dataclass
class Sink:
    """An HTTP endpoint on loopback that records what it is sent. While ``hold`` is clear it
    reads each request and answers nothing (a hanging collector)."""

    port: int = 0
    received: list[HTTPMessage] = field(default_factory=list)
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    #: Requests read and not answered yet.
    waiting: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (x.split(":", 1) for x in lines[1:] if x)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.waiting += 1
                await self.hold.wait()
                self.waiting -= 1
                self.received.append(HTTPMessage(headers, body))
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@asynccontextmanager
async def sink_server(*, holding: bool = False) -> AsyncIterator[Sink]:
    sink = Sink()
    if not holding:
        sink.hold.set()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        sink.hold.set()
        server.close()


def logged(topo: Topology, spec: dict[str, object]) -> Topology:
    """``topo`` with payload logging ``spec`` on every deployment."""
    logging = LoggingSpec.model_validate(spec)
    return Topology(
        {n: replace(d, payload_logging=logging) for n, d in topo.deployments.items()},
        topo.generation,
    )


async def metrics(gateway: Gateway) -> str:
    client = RawClient(f"http://127.0.0.1:{gateway.port}")
    try:
        _, _, body = await client.request("GET", "/metrics")
    finally:
        await client.close()
    return body.decode()


def events(text: str, outcome: str) -> float:
    return sample(
        text, "inferd_gateway_payload_log_events_total", deployment="fraud", outcome=outcome
    )


async def until(condition: object, what: str, tries: int = 400) -> None:
    """Yield to the loop until ``condition()`` holds (no clock: a bounded number of turns)."""
    for _ in range(tries):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("encoding", ["binary", "structured"])
def test_a_cloudevents_sink_receives_each_request_and_its_response(
    replicas: dict[str, list[ReplicaProcess]], encoding: str
) -> None:
    async def scenario() -> None:
        async with sink_server() as sink:
            topo = logged(
                topology(deployment("fraud", version("v1", 100, *replicas["v1"]))),
                {"sink": {"http": {"url": sink.url, "encoding": encoding}}},
            )
            gateway = await started_gateway(topo)
            client = RawClient(f"http://127.0.0.1:{gateway.port}")
            sent, got = [], []
            try:
                for i in range(3):
                    body = orjson.dumps({**FRAUD_BODY, "id": f"req-{i}"})
                    status, _, answer = await client.request("POST", INFER, body)
                    assert status == 200
                    sent.append(body)
                    got.append(answer)
                await until(lambda: len(sink.received) == 6, "six events delivered")
                text = await metrics(gateway)
            finally:
                await client.close()
                await gateway.stop(5)
        assert events(text, "delivered") == 6
        assert events(text, "dropped") == events(text, "failed") == 0

        parsed = [from_http(m, JSONFormat()) for m in sink.received]
        by_id: dict[str, dict[str, object]] = {}
        for message, event in zip(sink.received, parsed, strict=True):
            if encoding == "binary":  # attributes as ce- headers, the payload as the body
                assert message.headers["ce-specversion"] == "1.0"
                assert message.headers["content-type"] == "application/json"
            else:
                assert message.headers["content-type"] == "application/cloudevents+json"
            by_id.setdefault(event.get_id(), {})[event.get_type()] = event
            assert event.get_source() == "/inferd/gateway/deployments/fraud"
            assert event.get_extension("deployment") == "fraud"
            assert event.get_extension("inferenceservicename") == "fraud"
            assert event.get_extension("version") == "v1"
            assert event.get_extension("endpoint") == INFER
            assert event.get_time() is not None
        assert len(by_id) == 3 and all(
            set(e) == {REQUEST_TYPE, RESPONSE_TYPE} for e in by_id.values()
        )
        # Each request's event holds what the client sent, its response's what the client got.
        pairs = {
            orjson.loads(sent_body)["id"]: (sent_body, answer)
            for sent_body, answer in zip(sent, got, strict=True)
        }
        for pair in by_id.values():
            request, response = pair[REQUEST_TYPE], pair[RESPONSE_TYPE]
            assert request.get_time() <= response.get_time()  # type: ignore[attr-defined]
            assert str(response.get_extension("status")) == "200"  # type: ignore[attr-defined]
            data = request.get_data()  # type: ignore[attr-defined]
            sent_body, answer = pairs[data["id"]]
            assert data == orjson.loads(sent_body)
            assert response.get_data() == orjson.loads(answer)  # type: ignore[attr-defined]

    run(scenario)


def test_a_hanging_sink_never_holds_a_client_up(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    requests, queue_size = 25, 3

    async def scenario() -> None:
        async with sink_server(holding=True) as sink:
            topo = logged(
                topology(deployment("fraud", version("v1", 100, *replicas["v1"]))),
                {"queue_size": queue_size,
                 "sink": {"http": {"url": sink.url, "timeout": "60s"}}},
            )  # fmt: skip
            gateway = await started_gateway(topo)
            client = RawClient(f"http://127.0.0.1:{gateway.port}")
            try:
                statuses = [
                    (await client.request("POST", INFER, orjson.dumps(FRAUD_BODY)))[0]
                    for _ in range(requests)
                ]
                # Every response arrived while the sink had answered nothing at all.
                assert statuses == [200] * requests
                assert sink.received == [] and not sink.hold.is_set()
                held = await metrics(gateway)
                sink.hold.set()  # the collector recovers: what was held and queued arrives
                await until(
                    lambda: len(sink.received) == 2 * requests - events(held, "dropped"),
                    "the held and queued events delivered",
                )
                after = await metrics(gateway)
            finally:
                await client.close()
                await gateway.stop(5)
        # At most the sink's workers' deliveries and the queue were held; the rest dropped.
        in_sink = 4
        assert events(held, "dropped") >= 2 * requests - queue_size - in_sink
        assert events(held, "delivered") == 0
        assert sample(held, "inferd_gateway_payload_log_queue_depth", deployment="fraud") <= 3
        assert events(after, "delivered") == 2 * requests - events(held, "dropped")
        for text in (held, after):
            check = subprocess.run(
                ["promtool", "check", "metrics"],
                input=text, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert check.returncode == 0, check.stdout + check.stderr

    run(scenario)


def test_keep_sample_and_size_cap_into_a_jsonl_file(
    replicas: dict[str, list[ReplicaProcess]], tmp_path: Path
) -> None:
    async def scenario() -> None:
        topo = logged(
            topology(deployment("fraud", version("v1", 100, *replicas["v1"]))),
            {"keep": "request", "max_payload_size": "40",
             "sink": {"file": {"path": "logs/fraud.jsonl"}}},
        )  # fmt: skip
        gateway = await started_gateway(topo, payload_dir=tmp_path)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            for _ in range(4):
                assert (await client.request("POST", INFER, orjson.dumps(FRAUD_BODY)))[0] == 200
            # Sampling: at rate 0 nothing more is logged.
            off = {"sample_rate": 0, "keep": "request",
                   "sink": {"file": {"path": "logs/fraud.jsonl"}}}  # fmt: skip
            gateway.update(logged(topo, off))
            for _ in range(3):
                assert (await client.request("POST", INFER, orjson.dumps(FRAUD_BODY)))[0] == 200
        finally:
            await client.close()
            await gateway.stop(5)  # the replaced writer delivers what it held first
        text = gateway.metrics.render().decode()
        assert events(text, "delivered") == 4
        lines = (tmp_path / "logs" / "fraud.jsonl").read_bytes().splitlines()
        assert len(lines) == 4  # requests only
        body = orjson.dumps(FRAUD_BODY)
        for line in lines:
            event = orjson.loads(line)
            assert event["type"] == REQUEST_TYPE and event["specversion"] == "1.0"
            assert event["truncated"] == "true"
            # Cut to the cap, the body is no JSON value any more: kept as bytes.
            assert base64.b64decode(event["data_base64"]) == body[:40]

    run(scenario)


def test_the_jsonl_file_rotates_by_size_keeping_max_files(
    replicas: dict[str, list[ReplicaProcess]], tmp_path: Path
) -> None:
    async def scenario() -> None:
        topo = logged(
            topology(deployment("fraud", version("v1", 100, *replicas["v1"]))),
            {"sink": {"file": {"path": "fraud.jsonl", "max_size": "2Ki", "max_files": 3}}},
        )
        gateway = await started_gateway(topo, payload_dir=tmp_path)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            for _ in range(20):
                assert (await client.request("POST", INFER, orjson.dumps(FRAUD_BODY)))[0] == 200
        finally:
            await client.close()
            await gateway.stop(5)  # delivers what is queued before it returns

    run(scenario)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["fraud.jsonl", "fraud.jsonl.1", "fraud.jsonl.2"]
    events_kept = []
    for name in ("fraud.jsonl.2", "fraud.jsonl.1", "fraud.jsonl"):  # oldest first
        data = (tmp_path / name).read_bytes()
        assert 0 < len(data) <= 2048 and data.endswith(b"\n")
        events_kept += [orjson.loads(line) for line in data.splitlines()]
    # The newest events are kept, in order: each request before its response.
    kinds = [e["type"] for e in events_kept]
    assert kinds[-1] == RESPONSE_TYPE and len(kinds) < 40
    assert all(
        a["id"] == b["id"] for a, b in itertools.pairwise(events_kept) if a["type"] == REQUEST_TYPE
    )


async def infer_all(client: RawClient, requests: int) -> list[int]:
    """The statuses of ``requests`` inference requests sent one after another, bounded by
    :data:`HANG_S` in all."""
    async with asyncio.timeout(HANG_S):
        return [
            (await client.request("POST", INFER, orjson.dumps(FRAUD_BODY)))[0]
            for _ in range(requests)
        ]


async def healthy(client: RawClient) -> bool:
    live = (await client.request("GET", "/v2/health/live"))[0]
    ready = (await client.request("GET", "/v2/health/ready"))[0]
    return live == ready == 200


def writer_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == WRITER_LOG]


def test_a_sink_that_is_down_counts_failed_and_never_holds_a_client_up(
    replicas: dict[str, list[ReplicaProcess]], caplog: pytest.LogCaptureFixture
) -> None:
    requests, later = 10, 3
    caplog.set_level(logging.INFO)

    async def scenario() -> tuple[str, str, Sink]:
        # Bound and not listening: every connection is refused, and no one else takes the port.
        refusing = socket.socket()
        refusing.bind(("127.0.0.1", 0))
        sink = Sink(port=refusing.getsockname()[1])
        sink.hold.set()
        topo = logged(
            topology(deployment("fraud", version("v1", 100, *replicas["v1"]))),
            {"sink": {"http": {"url": sink.url, "timeout": "60s"}}},
        )
        gateway = await started_gateway(topo)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            assert await infer_all(client, requests) == [200] * requests
            await until(
                lambda: events(gateway.metrics.render().decode(), "failed") == 2 * requests,
                "every event counted failed",
            )
            down = await metrics(gateway)  # what a scrape of /metrics says
            assert await healthy(client)
            # The collector comes up on that port: the same workers deliver again.
            refusing.listen()
            server = await asyncio.start_server(sink.handle, sock=refusing)
            try:
                assert await infer_all(client, later) == [200] * later
                await until(lambda: len(sink.received) == 2 * later, "the later events delivered")
                up = await metrics(gateway)
            finally:
                server.close()
        finally:
            refusing.close()
            await client.close()
            await gateway.stop(5)
        return down, up, sink

    down, up, sink = run(scenario)
    assert events(down, "failed") == 2 * requests
    assert events(down, "delivered") == events(down, "dropped") == 0
    assert sample(down, "inferd_gateway_payload_log_queue_depth", deployment="fraud") == 0
    assert events(up, "failed") == 2 * requests
    assert events(up, "delivered") == 2 * later and events(up, "dropped") == 0
    assert len(sink.received) == 2 * later
    # One warning for the run of failures, naming the sink and why; one line when it recovers.
    records = writer_records(caplog)
    assert [level for level, _ in records] == [logging.WARNING, logging.INFO], records
    warning, recovered = (message for _, message in records)
    assert "'fraud'" in warning and sink.url in warning and "ConnectError" in warning
    assert "delivering again" in recovered
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("blocked", ["parent is a file", "path is a directory"])
def test_an_unwritable_jsonl_file_counts_failed_and_never_holds_a_client_up(
    replicas: dict[str, list[ReplicaProcess]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    blocked: str,
) -> None:
    # As root, permission bits stop no write: the file is made impossible instead.
    requests, later = 10, 3
    path = tmp_path / "logs" / "fraud.jsonl"
    if blocked == "parent is a file":
        path.parent.write_bytes(b"not a directory\n")
        reason = "Not a directory"
    else:
        path.mkdir(parents=True)
        reason = "Is a directory"
    caplog.set_level(logging.INFO)

    async def scenario() -> tuple[str, str]:
        topo = logged(
            topology(deployment("fraud", version("v1", 100, *replicas["v1"]))),
            {"sink": {"file": {"path": "logs/fraud.jsonl"}}},
        )
        gateway = await started_gateway(topo, payload_dir=tmp_path)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            assert await infer_all(client, requests) == [200] * requests
            await until(
                lambda: events(gateway.metrics.render().decode(), "failed") == 2 * requests,
                "every event counted failed",
            )
            broken = await metrics(gateway)
            assert await healthy(client)
            # Nothing was written in place of what blocks the file.
            if blocked == "parent is a file":
                assert path.parent.read_bytes() == b"not a directory\n"
                path.parent.unlink()
            else:
                assert list(path.iterdir()) == []
                path.rmdir()
            # Unblocked, the same writer writes the file.
            assert await infer_all(client, later) == [200] * later
            await until(
                lambda: events(gateway.metrics.render().decode(), "delivered") == 2 * later,
                "the later events written",
            )
            fixed = await metrics(gateway)
        finally:
            await client.close()
            await gateway.stop(5)
        return broken, fixed

    broken, fixed = run(scenario)
    assert events(broken, "failed") == 2 * requests
    assert events(broken, "delivered") == events(broken, "dropped") == 0
    assert events(fixed, "failed") == 2 * requests
    assert events(fixed, "delivered") == 2 * later and events(fixed, "dropped") == 0
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["type"] for line in lines] == [REQUEST_TYPE, RESPONSE_TYPE] * later
    # One warning for the run of failures, naming the file and why; one line when it recovers.
    records = writer_records(caplog)
    assert [level for level, _ in records] == [logging.WARNING, logging.INFO], records
    warning, recovered = (message for _, message in records)
    assert "'fraud'" in warning and str(path) in warning and reason in warning, warning
    assert "delivering again" in recovered
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
