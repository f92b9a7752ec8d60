"""``inferd serve --access-log``: a real server process, answered over REST (httpx) and gRPC
(tritonclient), writes one access line per request to stderr; ``INFERD_ACCESS_LOG=json``
writes JSON lines; the ``Authorization`` header never reaches the log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore
from otlp_collector import Collector

ROOT = Path(__file__).resolve().parents[2]
INFERD = str(Path(sys.executable).with_name("inferd"))
_PORTS = re.compile(r"data plane +http://[\w.]+:(\d+)|gRPC {2,}[\w.]+:(\d+)")
ROW = [0.5, -1.2, 3.3, 0.0, 2.5, -0.7, 1.1, 0.9]
SECRET = "Bearer sk-not-to-be-logged"


class Serving:
    """An ``inferd serve fraud:v1`` process and the stderr lines it wrote."""

    def __init__(self, home: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [INFERD, "serve", "fraud:v1", "--port", "0", "--grpc-port", "0", "--no-control",
             *flags],
            env={**os.environ, "INFERD_HOME": str(home), **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        ports: list[int] = []
        assert self.proc.stderr is not None
        while len(ports) < 2 and (line := self.proc.stderr.readline()):
            self.lines.append(line)
            found = _PORTS.search(line)
            ports += [int(p) for p in found.groups() if p] if found else []
        assert len(ports) == 2, "".join(self.lines)
        self.port, self.grpc_port = ports
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()  # type: ignore[arg-type]

    def access(self, count: int, start: str) -> list[str]:
        """The first ``count`` lines that ``start`` (a pattern) matches, waiting up to 5 s."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = [line.strip() for line in self.lines if re.match(start, line)]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError("".join(self.lines))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("access") / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), ROOT / "examples/quickstart/fraud-v1",
         "fraud:v1")  # fmt: skip
    return home


@pytest.fixture
def serving(home: Path, request: pytest.FixtureRequest) -> Iterator[Serving]:
    flags, env = request.param
    server = Serving(home, *flags, env=env)
    yield server
    server.stop()


def _infer(client: triton.InferenceServerClient, model: str) -> None:
    tensor = triton.InferInput("input", [1, 8], "FP32")
    tensor.set_data_from_numpy(np.array([ROW], dtype=np.float32))
    client.infer(model, [tensor], headers={"authorization": SECRET})


@pytest.mark.parametrize("serving", [(["--access-log"], None)], indirect=True)
def test_rest_and_grpc_requests_are_logged_as_text(serving: Serving) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": ROW}]}
    url = f"http://127.0.0.1:{serving.port}/v2/models/fraud/infer"
    assert httpx.post(url, json=body, headers={"authorization": SECRET}).status_code == 200
    grpc_client = triton.InferenceServerClient(f"127.0.0.1:{serving.grpc_port}")
    _infer(grpc_client, "fraud")
    with pytest.raises(InferenceServerException):
        _infer(grpc_client, "nope")
    lines = serving.access(3, r"\d{4}-\d\d-\d\dT")  # access lines: an RFC 3339 time first
    rest, grpc_ok, grpc_missing = lines[:3]
    assert re.fullmatch(
        r'\S+Z 127\.0\.0\.1:\d+ "POST /v2/models/fraud/infer HTTP/1\.1" 200 \d+ \d+\.\d{3}', rest
    ), rest
    assert re.fullmatch(
        r'\S+Z 127\.0\.0\.1:\d+ "POST /inference\.GRPCInferenceService/ModelInfer gRPC" OK '
        r"[1-9]\d* \d+\.\d{3}",
        grpc_ok,
    ), grpc_ok
    assert '"POST /inference.GRPCInferenceService/ModelInfer gRPC" NOT_FOUND 0 ' in grpc_missing
    assert "sk-not-to-be-logged" not in "".join(serving.lines)


@pytest.mark.parametrize("serving", [([], {"INFERD_ACCESS_LOG": "json"})], indirect=True)
def test_the_variable_switches_on_json_lines(serving: Serving) -> None:
    assert httpx.get(f"http://127.0.0.1:{serving.port}/v2/health/ready").status_code == 200
    (line,) = serving.access(1, "{")
    entry = orjson.loads(line)
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/v2/health/ready", 200)
    assert entry["protocol"] == "HTTP/1.1" and entry["time"].endswith("Z")


def test_a_trace_the_server_starts_is_named_on_its_line(home: Path) -> None:
    """A request without a ``traceparent`` to a server that traces it: the trace id the
    collector received is on the access line (the line named no trace before)."""
    with Collector() as collector:
        server = Serving(
            home, "--access-log", "--otlp-endpoint", collector.url, "--trace-sample-rate", "1",
        )  # fmt: skip
        try:
            body = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": ROW}]}
            url = f"http://127.0.0.1:{server.port}/v2/models/fraud/infer"
            assert httpx.post(url, json=body).status_code == 200
            (line,) = server.access(1, r"\d{4}-\d\d-\d\dT")
        finally:
            server.stop()
        traces = {span.trace_id for span in collector.spans}
    logged = re.search(r" trace_id=([0-9a-f]{32})$", line)
    assert logged is not None, line
    assert logged.group(1) in traces
