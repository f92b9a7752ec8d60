"""What a real ``inferd serve`` of one ONNX model loads (issue 18): the modules it imports are
read from Python's own import log (``-X importtime``), the shared libraries from
/proc/PID/maps. gRPC loads only where a gRPC port is bound, and then answers; no framework,
registry client or settings-file parser loads for a model that does not use it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc

from .conftest import FRAUD_BODY, wait_ready

pytestmark = pytest.mark.slow

ENTRY = "import sys; from inferd.cli import main; sys.exit(main(prog_name='inferd'))"
#: Never loaded for an ONNX model served over REST from the local store.
NOT_FOR_ONNX_REST = (
    "grpc", "google.protobuf", "inferd.protocols.grpc", "inferd.protocols._generated",
    "xgboost", "sklearn", "lightgbm", "torch", "llama_cpp",
    "httpx", "inferd.store.remote.client", "yaml", "rich",
)  # fmt: skip


_DATA = re.compile(r"data plane +(http://[\d.]+:\d+)")
_GRPC = re.compile(r"gRPC +[\d.]+:(\d+)")


@dataclass
class Started:
    proc: subprocess.Popen[str]
    log: list[str]
    reader: threading.Thread

    def url(self) -> str:
        """The data plane's base URL, from its startup line."""
        found = _DATA.search("".join(self.log))
        assert found is not None, "".join(self.log)
        return found.group(1)

    def grpc_port(self) -> int | None:
        """The data-plane gRPC port from its startup line (None: no gRPC listener)."""
        found = _GRPC.search("".join(self.log))
        return int(found.group(1)) if found is not None else None

    def modules(self) -> set[str]:
        """Every module the process has imported so far (its ``-X importtime`` lines)."""
        return {
            line.rsplit("|", 1)[1].strip()
            for line in list(self.log)
            if line.startswith("import time:") and "|" in line
        }

    def libraries(self) -> str:
        return Path(f"/proc/{self.proc.pid}/maps").read_text(encoding="utf-8")


@pytest.fixture
def start(store_home: Path) -> Iterator[Callable[..., Started]]:
    started: list[Started] = []

    def run(*args: str) -> Started:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-c", ENTRY, "serve", "fraud:v1",
             "--port", "0", "--control-port", "0", *args],
            env={**os.environ, "INFERD_HOME": str(store_home)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        log: list[str] = []
        deadline = time.monotonic() + 60
        for line in proc.stderr:
            log.append(line)
            if "try: curl" in line or time.monotonic() > deadline:
                break
        reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
        reader.start()
        server = Started(proc, log, reader)
        started.append(server)
        return server

    yield run
    for server in started:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
        server.reader.join(10)
        assert server.proc.stderr is not None
        server.proc.stderr.close()


def _infer(url: str) -> list[float]:
    answer = httpx.post(f"{url}/v2/models/fraud/infer", json=FRAUD_BODY, timeout=30)
    assert answer.status_code == 200, answer.text
    data: list[float] = answer.json()["outputs"][0]["data"]
    return data


def test_rest_only_loads_no_grpc_no_framework_no_registry_client(
    start: Callable[..., Started],
) -> None:
    server = start("--no-grpc")
    url = server.url()
    wait_ready(url)
    assert _infer(url)
    assert not [line for line in server.log if "gRPC" in line]  # no listener, data or control
    modules = server.modules()
    assert {"inferd.server", "onnxruntime"} <= modules  # the log covers start-up and the load
    loaded = sorted(m for m in modules if m.startswith(NOT_FOR_ONNX_REST))
    assert loaded == []
    libraries = server.libraries()
    assert "onnxruntime_pybind11_state" in libraries
    assert "cygrpc" not in libraries and "libxgboost" not in libraries


def test_a_bound_grpc_port_loads_grpc_and_answers(start: Callable[..., Started]) -> None:
    server = start("--grpc-port", "0", "--control-grpc-port", "0")
    url = server.url()
    wait_ready(url)
    grpc_port = server.grpc_port()
    assert grpc_port is not None
    assert "cygrpc" in server.libraries()
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    try:
        assert client.is_server_ready()
        tensor = triton_grpc.InferInput("input", [1, 8], "FP32")
        tensor.set_data_from_numpy(np.full((1, 8), 0.5, dtype=np.float32))
        result = client.infer("fraud", [tensor])
        over_grpc = result.as_numpy(result.get_response().outputs[0].name)
    finally:
        client.close()
    assert over_grpc is not None
    assert over_grpc.ravel().tolist() == pytest.approx(_infer(url))
    # Still no framework or registry client: only what the bound ports and the model use.
    assert not [m for m in server.modules() if m.startswith(("xgboost", "sklearn", "httpx"))]
