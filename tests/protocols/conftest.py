"""In-process servers on real loopback sockets (each on its own event loop in a thread) over an
in-memory DataPlane double with real numpy models.

Models of the double: ``echo`` returns each input as ``out_<name>`` (any datatype, any shape);
``sum`` adds the rows of FP32 ``x`` [N, 3] into ``y`` [N, 1] (its signature is checked before
decoding, as the real data plane's is); ``slow`` sleeps ``delay_s`` then
echoes (cancellation and draining); ``full`` is always overloaded (503 + Retry-After). A model
named in ``without_version`` is known but has no version ready: every request for it is 503 +
Retry-After, as the real data plane answers a model that ``--allow-empty`` keeps up unloaded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import uvloop

from inferd.card import Signature
from inferd.config import LimitSettings
from inferd.errors import InvalidArgument, ModelNotFound, Unavailable
from inferd.protocols.grpc import GrpcHandle, serve_grpc
from inferd.protocols.http import HttpServer, Router
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.server import Guard
from inferd.protocols.v2.auth import bearer_guard
from inferd.protocols.v2.routes import control_router, data_router
from inferd.serving.generation import ServedGenerator
from inferd.serving.signature import SignatureCheck
from inferd.serving.stats import ModelStatistics, VersionState
from inferd.serving.types import (
    InferRequest,
    InferResponse,
    InputCheck,
    ListedModel,
    ModelInfo,
    RepositoryEntry,
    ServerInfo,
    Tensor,
)

TOKEN = "test-token-0123456789"

_MODELS = {
    "echo": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}],
             "outputs": [{"name": "out_x", "datatype": "FP32", "shape": [-1, -1]}]},
    "sum": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]},
    "slow": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}],
             "outputs": [{"name": "out_x", "datatype": "FP32", "shape": [-1, -1]}]},
    "full": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}],
             "outputs": [{"name": "out_x", "datatype": "FP32", "shape": [-1, -1]}]},
}  # fmt: skip


class HeaderLog:
    """An input check that accepts every header and notes the thread that checked it: transports
    check headers as they decode, so this shows where decoding ran."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def declared(self, name: str, datatype: str, shape: tuple[int, ...]) -> None:
        self.threads.append(threading.get_ident())


class FakeDataPlane:
    def __init__(self, delay_s: float = 0.5) -> None:
        self.delay_s = delay_s
        self.headers = HeaderLog()
        #: The last request each model received.
        self.received: dict[str, InferRequest] = {}
        self.is_ready = True
        self.loaded: dict[str, str] = {name: "1" for name in _MODELS}
        self.without_version: set[str] = set()
        self.cancelled = 0
        self.started = 0
        self.completed = 0
        #: Names ``generators()`` lists as language models.
        self.listed: tuple[str, ...] = ()

    def _check(self, name: str, version: str | None) -> None:
        if name not in self.loaded:
            raise ModelNotFound(name)
        if name in self.without_version:
            raise Unavailable(f"model {name!r} has no version ready: not loaded", retry_after=5)
        if version is not None and version != self.loaded[name]:
            raise ModelNotFound(name, version)

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.is_ready

    def model_ready(self, name: str, version: str | None = None) -> bool:
        return name in self.loaded and name not in self.without_version and self.is_ready

    def server_metadata(self) -> ServerInfo:
        return ServerInfo("inferd", "test", ("model_repository",))

    def model_metadata(self, name: str, version: str | None = None) -> ModelInfo:
        self._check(name, version)
        signature = Signature.model_validate(_MODELS[name])
        return ModelInfo(name, (self.loaded[name],), "fake", signature.inputs, signature.outputs)

    def input_check(self, name: str, version: str | None = None) -> InputCheck | None:
        """``sum``'s signature is checked before decoding; the other models take anything."""
        self._check(name, version)
        if name != "sum":
            return self.headers
        return SignatureCheck(name, Signature.model_validate(_MODELS["sum"]))

    def refused(self, name: str, version: str | None = None) -> None:
        """Counted by the real data plane (tests/protocols/v2/test_refusals_counted.py)."""

    async def infer(self, request: InferRequest) -> InferResponse:
        self._check(request.model, request.version)
        self.received[request.model] = request
        if request.model == "full":
            raise Unavailable("queue of model 'full' is full", retry_after=2)
        if request.model == "slow":
            self.started += 1
            try:
                await asyncio.sleep(self.delay_s)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            self.completed += 1
        if request.model == "sum":
            x = request.inputs[0].data
            if request.inputs[0].datatype != "FP32" or x.ndim != 2 or x.shape[1] != 3:
                raise InvalidArgument("tensor 'x': expected FP32 [-1, 3]")
            outputs = [Tensor("y", "FP32", x.sum(axis=1, keepdims=True).astype(np.float32))]
        else:
            outputs = [Tensor(f"out_{t.name}", t.datatype, t.data) for t in request.inputs]
        if request.outputs is not None:
            wanted = {o.name for o in request.outputs}
            unknown = wanted - {o.name for o in outputs}
            if unknown:
                raise InvalidArgument(f"unknown output {sorted(unknown)[0]!r}")
            outputs = [o for o in outputs if o.name in wanted]
        return InferResponse(
            request.model, self.loaded[request.model], outputs, id=request.id, parameters={}
        )

    async def generator(self, name: str, version: str | None = None) -> ServedGenerator:
        self._check(name, version)
        raise InvalidArgument(f"model {name!r} is not a language model")

    def generators(self) -> list[ListedModel]:
        """The language models ``listed`` names (none unless a test sets it)."""
        return [ListedModel(name, 0) for name in self.listed]

    def repository_index(self, ready_only: bool = False) -> list[RepositoryEntry]:
        return [RepositoryEntry(n, v, VersionState.READY) for n, v in self.loaded.items()]

    async def load(self, name: str, reference: str | None = None) -> None:
        if name not in _MODELS:
            raise ModelNotFound(name)
        self.loaded[name] = reference.rsplit(":", 1)[-1] if reference else "1"

    async def unload(self, name: str) -> None:
        self._check(name, None)
        del self.loaded[name]

    def model_stats(
        self, name: str | None = None, version: str | None = None
    ) -> list[ModelStatistics]:
        if name is not None:
            self._check(name, version)
        names = [name] if name else list(self.loaded)
        return [ModelStatistics(n, self.loaded[n]) for n in names]


@dataclass
class Running:
    url: str
    port: int
    server: HttpServer
    loop: asyncio.AbstractEventLoop
    dataplane: FakeDataPlane

    def stop(self, grace_s: float = 5.0) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(grace_s), self.loop).result(30)


@dataclass
class _Thread:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread


def _start(
    router: Router, limits: HttpLimits, dataplane: FakeDataPlane, guard: Guard | None = None
) -> tuple[Running, _Thread]:
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def boot() -> HttpServer:
        server = HttpServer(router, limits, guard)
        await server.start("127.0.0.1", 0)
        return server

    server = asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    running = Running(f"http://127.0.0.1:{server.port}", server.port, server, loop, dataplane)
    return running, _Thread(loop, thread)


def _finish(running: Running, t: _Thread) -> None:
    if not running.server.draining:
        running.stop(1.0)
    t.loop.call_soon_threadsafe(t.loop.stop)
    t.thread.join(10)
    t.loop.close()


TEST_LIMITS = LimitSettings(
    max_body_bytes=64 * 1024,
    max_bytes_elements=1000,
    inline_decode_bytes=4096,
    header_timeout_s=0.6,
    body_timeout_s=0.6,
    max_header_bytes=4096,
    max_inputs=4,
    max_outputs=4,
    max_tensor_elements=10_000,
    max_tensor_rank=4,
)


def metrics_text() -> bytes:
    return b"# HELP inferd_up Test gauge.\n# TYPE inferd_up gauge\ninferd_up 1.0\n"


@contextmanager
def serving(limits: LimitSettings) -> Iterator[Running]:
    """A data-plane listener over a fresh :class:`FakeDataPlane`, with ``limits``."""
    dataplane = FakeDataPlane()
    router = data_router(dataplane, limits, metrics_text)
    running, t = _start(router, HttpLimits.from_settings(limits), dataplane)
    try:
        yield running
    finally:
        _finish(running, t)


@pytest.fixture
def data_server() -> Iterator[Running]:
    """A data-plane listener over a fresh :class:`FakeDataPlane`, with small test limits."""
    with serving(TEST_LIMITS) as running:
        yield running


@pytest.fixture
def control_server() -> Iterator[Running]:
    dataplane = FakeDataPlane()
    router = control_router(dataplane)
    running, t = _start(
        router, HttpLimits.from_settings(TEST_LIMITS), dataplane, bearer_guard(TOKEN, "127.0.0.1")
    )
    yield running
    _finish(running, t)


@pytest.fixture
def control_token() -> str:
    return TOKEN


@dataclass
class Servers:
    """A REST and a gRPC data-plane listener on one event loop, over one data plane."""

    rest: Running
    grpc: GrpcHandle


@pytest.fixture(scope="module")
def rest_and_grpc() -> Iterator[Servers]:
    """REST and gRPC listeners over one :class:`FakeDataPlane`, both with the test limits."""
    dataplane = FakeDataPlane()
    router = data_router(dataplane, TEST_LIMITS, metrics_text)
    rest, thread = _start(router, HttpLimits.from_settings(TEST_LIMITS), dataplane)
    start = serve_grpc(dataplane, "127.0.0.1", 0, TEST_LIMITS)
    handle = asyncio.run_coroutine_threadsafe(start, rest.loop).result(10)
    yield Servers(rest, handle)
    asyncio.run_coroutine_threadsafe(handle.stop(1.0), rest.loop).result(10)
    _finish(rest, thread)
