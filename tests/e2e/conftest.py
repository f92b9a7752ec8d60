"""Real ``inferd serve`` processes over a real store, and a small closed-loop load generator.

Servers bind port 0 for every listener and the test reads the ports from the startup log, so
tests never race for ports. Models are pushed with the real store from examples/ and from tiny
ONNX graphs built here.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore
from loadgen import LoadGenerator

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
INFERD = [str(Path(sys.executable).with_name("inferd"))]
_LINE = re.compile(r"(data plane|gRPC|control) +(?:https?://)?[\w.\[\]:]+?:(\d+)")
_CONTROL_GRPC = re.compile(r"control .*, gRPC [\w.\[\]:]+?:(\d+)")


def identity_model(path: Path, elem: int, name: str = "x") -> Path:
    """An ONNX Identity graph ``x`` → ``y`` of one element type, shape [-1, -1]."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["y"])],
        "identity",
        [helper.make_tensor_value_info(name, elem, ["n", "k"])],
        [helper.make_tensor_value_info("y", elem, ["n", "k"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path / "model.onnx")
    return path


def slow_model(path: Path, size: int = 384, layers: int = 24) -> Path:
    """FP32 [-1, size] → [-1, size] through ``layers`` dense layers: a few ms a row on CPU."""
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
        inits.append(helper.make_tensor(f"w{i}", TensorProto.FLOAT, w.shape, w.ravel()))
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", size])],
        inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path / "model.onnx")
    return path


#: Identity models pushed by :func:`make_home`: name → ONNX element type.
IDENTITY_MODELS = {
    "id-fp32": TensorProto.FLOAT,
    "id-int64": TensorProto.INT64,
    "id-fp16": TensorProto.FLOAT16,
    "id-bytes": TensorProto.STRING,
}


def make_home(root: Path, *, slow: bool = False) -> Path:
    """An INFERD_HOME with fraud:v1 and fraud:v2 (examples/), identity models of several
    datatypes (``id-*:v1``), and optionally ``slow:v1``."""
    home = root / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    push(store, QUICKSTART / "fraud-v2", "fraud:v2")
    for name, elem in IDENTITY_MODELS.items():
        push(store, identity_model(root / name, elem), f"{name}:v1")
    if slow:
        push(store, slow_model(root / "slow"), "slow:v1")
    return home


@pytest.fixture(scope="session")
def store_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store shared by the tests that only read it."""
    return make_home(tmp_path_factory.mktemp("store"))


@dataclass
class ServeProcess:
    proc: subprocess.Popen[str]
    port: int
    grpc_port: int | None = None
    control_port: int | None = None
    control_grpc_port: int | None = None
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Terminate, expecting a clean exit (0), and close the log's pipe."""
        assert self.terminate() == 0
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def start_serve(home: Path, *args: str, timeout: float = 60) -> ServeProcess:
    """Start ``inferd serve ARGS`` on port 0 everywhere and wait for its startup log."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    proc = subprocess.Popen(
        [*INFERD, "serve", "--port", "0", "--grpc-port", "0", "--control-port", "0",
         "--control-grpc-port", "0", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    ports: dict[str, int] = {}
    log: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        match = _LINE.search(line)
        if match:
            ports[match.group(1)] = int(match.group(2))
        match = _CONTROL_GRPC.search(line)
        if match:
            ports["control gRPC"] = int(match.group(1))
        if "try: curl" in line or (
            "data plane" in ports and "control" in ports and "gRPC" in ports
        ):
            break
    if "data plane" not in ports:
        proc.kill()
        proc.wait()
        log.append(proc.stderr.read())  # what it said before it exited, and the pipe closed
        proc.stderr.close()
        raise AssertionError("inferd serve did not start:\n" + "".join(log))
    # Keep draining stderr so the server never blocks on a full pipe.
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    return ServeProcess(
        proc, ports["data plane"], ports.get("gRPC"), ports.get("control"),
        ports.get("control gRPC"), log,
    )  # fmt: skip


def wait_ready(url: str, timeout: float = 30) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/v2/health/ready")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never became ready")


class Load(LoadGenerator):
    """Closed-loop load: ``workers`` threads POSTing ``body`` to ``url`` + ``path`` (see
    :class:`~loadgen.LoadGenerator` for what is recorded)."""

    def __init__(self, url: str, path: str, body: dict[str, object], workers: int = 4) -> None:
        host, port = url.removeprefix("http://").split(":")
        super().__init__(int(port), path, body, host=host, workers=workers)


FRAUD_BODY = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}]}


def _stop(server: ServeProcess) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    if server.proc.stderr is not None:
        server.proc.stderr.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ServeProcess]]:
    """``serve(home, *args)`` starts ``inferd serve``; every server is stopped at teardown."""
    started: list[ServeProcess] = []

    def start(home: Path, *args: str) -> ServeProcess:
        server = start_serve(home, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        _stop(server)


@pytest.fixture
def fresh_home(tmp_path: Path) -> Path:
    """A store of this test's own (for tests that corrupt or swap what it holds)."""
    return make_home(tmp_path, slow=True)


@pytest.fixture(scope="session")
def served(store_home: Path) -> Iterator[ServeProcess]:
    """One server for the read-only tests: fraud:v1 and the identity models."""
    server = start_serve(store_home, "fraud:v1", *(f"{name}:v1" for name in IDENTITY_MODELS))
    wait_ready(server.url)
    yield server
    _stop(server)


@pytest.fixture
def load_factory() -> type[Load]:
    return Load


@pytest.fixture
def fraud_body() -> dict[str, object]:
    return FRAUD_BODY
