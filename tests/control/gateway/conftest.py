"""Real ``inferd serve`` replicas over a real store, a gateway on a uvloop loop, and a client.

Replicas bind port 0 for every listener; the test reads the ports from the startup log. The
supervisor is not used here: tests build :class:`Topology` snapshots by hand, as the supervisor
would publish them.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import onnx
import orjson
import pytest
import uvloop
from onnx import TensorProto, helper
from prometheus_client.parser import text_string_to_metric_families

from inferd.config import LimitSettings, StoreSettings
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import (
    DeploymentRoute,
    HeaderMatch,
    Replica,
    ReplicaState,
    Topology,
    VersionRoute,
)
from inferd.packaging import push
from inferd.protocols.grpc.servicer import SERVICE
from inferd.store import ModelStore

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "examples" / "quickstart"
INFERD = str(Path(sys.executable).with_name("inferd"))
_DATA_PORT = re.compile(r"data plane +http://[\w.]+:(\d+)")
#: The data plane's gRPC line ("gRPC" then column padding; the control line has ", gRPC ").
_GRPC_PORT = re.compile(r"gRPC {2,}[\w.]+:(\d+)")
T = TypeVar("T")

FRAUD_ROW = [0.5, -1.2, 3.3, 0.0, 2.5, -0.7, 1.1, 0.9]
FRAUD_BODY = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": FRAUD_ROW}]}


def identity_model(path: Path) -> Path:
    """FP32 [-1, -1] → the same tensor: a model whose answer is its input."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "k"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "k"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path / "model.onnx")
    return path


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        yield int(sock.getsockname()[1])


def content_length(head: bytes, default: int | None = None) -> int:
    """The Content-Length a request's ``head`` declares (any case), as a fake replica reads the
    body the gateway relays; ``default`` when it declares none (an error when no default)."""
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    assert default is not None, f"no content-length in {head!r}"
    return default


async def read_request(reader: asyncio.StreamReader) -> None:
    """Read one request the gateway relays (its head, and its body by its length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(content_length(head))


async def read_post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Read one request the gateway relays to a fake replica: a POST, head and body (True), or
    anything else (the gateway scraping /metrics) answered 404, the connection closed (False)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"POST"):
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        writer.close()
        return False
    await reader.readexactly(content_length(head))
    return True


async def recording_replica(heads: list[str], answer: bytes) -> asyncio.Server:
    """A REST replica on a free loopback port that answers every request 200 with the JSON
    ``answer``, appending each request's head (decoded, lower-cased) to ``heads``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head, default=0))
                heads.append(head.decode("latin-1").lower())
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.fixture(scope="session")
def gateway_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with fraud:v1, fraud:v2 (examples/) and echo:v1 (identity, FP32)."""
    root = tmp_path_factory.mktemp("gateway-store")
    home = root / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    push(store, QUICKSTART / "fraud-v2", "fraud:v2")
    push(store, identity_model(root / "echo"), "echo:v1")
    return home


@dataclass
class ReplicaProcess:
    """One ``inferd serve`` process serving one reference."""

    reference: str
    proc: subprocess.Popen[str]
    port: int
    grpc_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replica(
        self, rid: str, deployment: str, version: str, state: ReplicaState = "ready"
    ) -> Replica:
        return Replica(rid, deployment, version, "127.0.0.1", self.port, state, pid=self.proc.pid,
                       started_at=time.time(), grpc_port=self.grpc_port)  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def start_replica(home: Path, reference: str, timeout: float = 60) -> ReplicaProcess:
    """Start ``inferd serve REFERENCE`` on free ports and wait until it is ready."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    proc = subprocess.Popen(
        [INFERD, "serve", reference, "--port", "0", "--grpc-port", "0", "--control-port", "0",
         "--control-grpc-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    log: list[str] = []
    port = grpc_port = None
    deadline = time.monotonic() + timeout
    while (port is None or grpc_port is None) and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        match = _DATA_PORT.search(line)
        if match:
            port = int(match.group(1))
        match = _GRPC_PORT.search(line)
        if match:
            grpc_port = int(match.group(1))
    if port is None or grpc_port is None:
        proc.kill()
        proc.wait()
        raise AssertionError("inferd serve did not start:\n" + "".join(log))
    # Keep draining stderr so the server never blocks on a full pipe.
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    server = ReplicaProcess(reference, proc, port, grpc_port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/v2/health/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"{reference} never became ready")


@pytest.fixture(scope="session")
def replicas(gateway_home: Path) -> Iterator[dict[str, list[ReplicaProcess]]]:
    """Shared, read-only replicas: two of fraud:v1, one of fraud:v2, one of echo:v1."""
    started: dict[str, list[ReplicaProcess]] = {"v1": [], "v2": [], "echo": []}
    try:
        for key, ref in (("v1", "fraud:v1"), ("v1", "fraud:v1"), ("v2", "fraud:v2"),
                         ("echo", "echo:v1")):  # fmt: skip
            started[key].append(start_replica(gateway_home, ref))
        yield started
    finally:
        for group in started.values():
            for server in group:
                server.stop()


@pytest.fixture
def spawn(gateway_home: Path) -> Iterator[Callable[[str], ReplicaProcess]]:
    """``spawn(reference)``: a replica of this test's own (for tests that kill it)."""
    mine: list[ReplicaProcess] = []

    def start(reference: str) -> ReplicaProcess:
        server = start_replica(gateway_home, reference)
        mine.append(server)
        return server

    yield start
    for server in mine:
        server.stop()


def version(name: str, weight: float, *servers: ReplicaProcess, model: str = "fraud",
            deployment: str = "fraud", state: ReplicaState = "ready") -> VersionRoute:  # fmt: skip
    """A version route whose replicas are ``servers`` (ids ``{name}-{i}``)."""
    reps = tuple(s.replica(f"{name}-{i}", deployment, name, state) for i, s in enumerate(servers))
    return VersionRoute(name, model, f"{model}:{name}", weight, reps)


def topology(*deployments: DeploymentRoute, generation: int = 1) -> Topology:
    return Topology({d.name: d for d in deployments}, generation)


def deployment(name: str, *versions: VersionRoute, shadow: str | None = None,
               sticky_header: str | None = None,
               header_routes: tuple[HeaderMatch, ...] = ()) -> DeploymentRoute:  # fmt: skip
    return DeploymentRoute(name, versions, shadow, sticky_header, header_routes)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run ``scenario()`` on a uvloop loop, as ``inferd up`` runs the gateway."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(scenario())  # type: ignore[arg-type]


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


async def started_gateway(topo: Topology, **kwargs: Any) -> Gateway:
    gateway = Gateway("127.0.0.1", 0, limits=LimitSettings(), **kwargs)
    await gateway.start()
    gateway.update(topo)
    return gateway


@dataclass
class Outcomes:
    """Every request's result: HTTP status or transport error name, version and latency."""

    statuses: list[str]
    versions: list[str]
    latencies: list[float]

    def failed(self) -> list[str]:
        return [s for s in self.statuses if s != "200"]


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams (httpx is too slow to drive
    10,000 requests through a gateway sharing two cores with its replicas)."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split("/")[0].split(":")
        self.port = int(port)
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self._conn is None:
            self._conn = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._conn
        fields = {"host": f"{self.host}:{self.port}", "content-length": str(len(body)),
                  "content-type": "application/json", **(headers or {})}  # fmt: skip
        head = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            got = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
            data = await reader.readexactly(int(got.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError):
            await self.close()
            raise
        if got.get("connection") == "close":
            await self.close()
        return status, got, data

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None


async def closed_loop(
    url: str,
    body: dict[str, Any],
    *,
    concurrency: int,
    requests: int | None = None,
    stop: asyncio.Event | None = None,
    headers: dict[str, str] | None = None,
) -> Outcomes:
    """``concurrency`` workers POSTing ``body`` to ``url`` on keep-alive connections until
    ``requests`` are sent or ``stop`` is set; records every outcome."""
    out = Outcomes([], [], [])
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    payload = orjson.dumps(body)
    sent = 0

    async def worker() -> None:
        nonlocal sent
        client = RawClient(url)
        while (requests is None or sent < requests) and not (stop is not None and stop.is_set()):
            sent += 1
            started = time.perf_counter()
            try:
                status, _, data = await client.request("POST", path, payload, headers)
            except (OSError, asyncio.IncompleteReadError) as exc:
                out.statuses.append(type(exc).__name__)
                continue
            out.latencies.append(time.perf_counter() - started)
            out.statuses.append(str(status))
            if status == 200:
                out.versions.append(orjson.loads(data)["model_version"])
        await client.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def fake_grpc_replica(
    infer: Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]],
) -> tuple[grpc.aio.Server, int]:
    """A gRPC replica on a free loopback port whose ModelInfer is ``infer`` (raw bytes in and
    out); the caller stops the server."""
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(infer)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"ModelInfer": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
