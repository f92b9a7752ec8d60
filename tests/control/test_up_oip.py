"""The whole Open Inference Protocol through ``inferd up``'s gateway, REST and gRPC, with the
clients Triton and KServe users have (``tritonclient.http``, ``tritonclient.grpc``): a
deployment split 70/30 between two versions with a shadow, whose model takes and returns FP32,
INT64 and BYTES (answers checked against in-process onnxruntime), and a slow deployment for
deadlines. Repository index and statistics are the gateway's, by deployment and version.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import UpProcess, start_up
from .oip_models import mixed_model, slow_model

pytestmark = pytest.mark.slow

#: What each version of the mixed model does (scale, offset, suffix): v2 answers differently.
VERSIONS = {"v1": (2.0, 1, "@v1"), "v2": (3.0, 10, "@v2")}
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway:
  port: 0
  drain_timeout: 10s
  shadow_timeout: 30s   # a loaded machine must not time copies out: the test counts them
deployments:
  - name: mixed
    versions:
      - {name: v1, model: "mixed:v1", replicas: 1}
      - {name: v2, model: "mixed:v2", replicas: 1}
      - {name: v2-shadow, model: "mixed:v2", replicas: 1}
    traffic:
      weights: {v1: 70, v2: 30}
      shadow: v2-shadow
  - name: slow
    versions:
      - {name: v1, model: "slow:v1", replicas: 1}
"""
X = np.array([[0.5, -1.25, 3.0, 0.0], [1.0, 2.0, -4.5, 8.25], [0.0, 0.0, 0.0, 1e-3]], np.float32)
IDS = np.array([7, -3, 2**40], np.int64)
TEXT = np.array([b"alpha", "\u00e9t\u00e9".encode(), b""], dtype=np.object_)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("oip-models")
    made = {
        name: mixed_model(root / name, scale=scale, offset=offset, suffix=suffix)
        for name, (scale, offset, suffix) in VERSIONS.items()
    }
    made["slow"] = slow_model(root / "slow")
    return made


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Iterator[UpProcess]:
    root = tmp_path_factory.mktemp("up-oip")
    home = root / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, models["v1"], "mixed:v1")
    push(store, models["v2"], "mixed:v2")
    push(store, models["slow"], "slow:v1")
    spec = root / "inferd.yaml"
    spec.write_text(SPEC)
    running = start_up(home, spec)
    yield running
    assert running.stop() == 0


def expected(model: Path) -> dict[str, np.ndarray[Any, Any]]:
    session = ort.InferenceSession(str(model / "model.onnx"))
    text = np.array([t.decode() for t in TEXT], dtype=np.object_)
    scaled, shifted, tagged = session.run(None, {"x": X, "ids": IDS, "text": text})
    return {"scaled": scaled, "shifted": shifted, "tagged": tagged}


def mixed_inputs(module: Any, *, binary: bool = True) -> list[Any]:
    """The three inputs for a tritonclient module (http or grpc)."""
    inputs = [module.InferInput("x", [3, 4], "FP32"), module.InferInput("ids", [3], "INT64"),
              module.InferInput("text", [3], "BYTES")]  # fmt: skip
    for tensor, data in zip(inputs, (X, IDS, TEXT), strict=True):
        if module is thttp:
            tensor.set_data_from_numpy(data, binary_data=binary)
        else:
            tensor.set_data_from_numpy(data)
    return inputs


def metric(up: UpProcess, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"{up.state.gateway_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def http_client(up: UpProcess) -> thttp.InferenceServerClient:
    return thttp.InferenceServerClient(up.state.gateway_url.removeprefix("http://"))


def grpc_client(up: UpProcess) -> tgrpc.InferenceServerClient:
    assert up.state.gateway_grpc, "up.json names the gateway's gRPC address"
    return tgrpc.InferenceServerClient(up.state.gateway_grpc)


def test_rest_and_grpc_answers_equal_onnxruntime(up: UpProcess, models: dict[str, Path]) -> None:
    assert f"gRPC       {up.state.gateway_grpc}" in up.log.read_text()  # the banner names it
    http, grpc = http_client(up), grpc_client(up)
    for version in VERSIONS:
        want = expected(models[version])
        answers = [
            http.infer("mixed", mixed_inputs(thttp), model_version=version),
            http.infer("mixed", mixed_inputs(thttp, binary=False), model_version=version),
            grpc.infer("mixed", mixed_inputs(tgrpc), model_version=version),
        ]
        for answer in answers:
            np.testing.assert_array_equal(answer.as_numpy("scaled"), want["scaled"])
            np.testing.assert_array_equal(answer.as_numpy("shifted"), want["shifted"])
            tagged = [t.decode() for t in answer.as_numpy("tagged")]
            assert tagged == list(want["tagged"])
        for client in (http, grpc):
            assert client.is_model_ready("mixed", version)
        assert http.get_model_metadata("mixed", version)["versions"] == [version]
        assert grpc.get_model_metadata("mixed", version).versions == [version]
    assert http.is_server_ready() and grpc.is_server_ready()
    for client in (http, grpc):
        with pytest.raises(InferenceServerException):  # the shadow is not addressable
            client.infer("mixed", mixed_inputs(thttp if client is http else tgrpc), "v2-shadow")
    http.close()
    grpc.close()


def test_split_and_shadow_hold_for_grpc_traffic(up: UpProcess) -> None:
    calls = 400
    compared = "inferd_gateway_shadow_requests_total"
    before = metric(up, compared, deployment="mixed", outcome="compared")
    before_all = metric(up, compared, deployment="mixed")
    grpc = grpc_client(up)

    def one(_: int) -> str:
        version: str = grpc.infer("mixed", mixed_inputs(tgrpc)).get_response().model_version
        return version

    with ThreadPoolExecutor(8) as pool:
        split = Counter(pool.map(one, range(calls)))
    grpc.close()
    assert sum(split.values()) == calls
    # 30% of 400: the binomial's standard deviation is 2.3 points; 4 of them either way.
    assert 0.21 <= split["v2"] / calls <= 0.39, split
    # Every call gets a copy, which is compared (or uncompared), or dropped when 64 copies are in
    # flight (a loaded machine's single shadow replica falls behind two primaries); the gateway
    # never queues copies, so only the total is exact.
    outcomes = ("compared", "uncompared", "failed", "timeout", "dropped")
    counted = {o: metric(up, compared, deployment="mixed", outcome=o) for o in outcomes}
    deadline = time.monotonic() + 60
    while sum(counted.values()) - before_all < calls:
        assert time.monotonic() < deadline, f"every gRPC call's shadow copy is counted: {counted}"
        time.sleep(0.2)
        counted = {o: metric(up, compared, deployment="mixed", outcome=o) for o in outcomes}
    assert sum(counted.values()) - before_all == calls
    assert counted["compared"] > before and counted["failed"] == counted["timeout"] == 0
    # The shadow serves v2: it differs from v1 on every INT64 and BYTES element, never from v2.
    differing = "inferd_gateway_shadow_differing_elements_total"
    for output in ("shifted", "tagged"):
        assert metric(up, differing, deployment="mixed", primary="v1", output=output) > 0
        assert metric(up, differing, deployment="mixed", primary="v2", output=output) == 0


def test_deadlines_index_and_statistics(up: UpProcess) -> None:
    http, grpc = http_client(up), grpc_client(up)
    rows = np.ones((1024, 1024), np.float32)  # about 0.7 s of the slow model
    x = tgrpc.InferInput("x", list(rows.shape), "FP32")
    x.set_data_from_numpy(rows)
    with pytest.raises(InferenceServerException) as refused:
        grpc.infer("slow", [x], client_timeout=0.2)
    assert refused.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    deadline = time.monotonic() + 10
    while not metric(up, "inferd_gateway_requests_total", deployment="slow", outcome="deadline"):
        assert time.monotonic() < deadline, "the gateway counts the deadline it passed on"
        time.sleep(0.2)

    index = [(m["name"], m["version"], m["state"]) for m in http.get_model_repository_index()]
    assert index == [("mixed", "v1", "READY"), ("mixed", "v2", "READY"), ("slow", "v1", "READY")]
    grpc_index = grpc.get_model_repository_index(as_json=True)["models"]
    assert [(m["name"], m["version"], m["state"]) for m in grpc_index] == index

    def counts() -> dict[str, int]:
        stats = http.get_inference_statistics("mixed")["model_stats"]
        return {s["version"]: s["inference_count"] for s in stats}

    start = counts()
    assert sorted(start) == ["v1", "v2"]
    for _ in range(4):
        grpc.infer("mixed", mixed_inputs(tgrpc), model_version="v1")
        http.infer("mixed", mixed_inputs(thttp), model_version="v2")
    end = counts()
    assert end == {"v1": start["v1"] + 12, "v2": start["v2"] + 12}  # 3 rows a call
    by_grpc = grpc.get_inference_statistics("mixed", "v2", as_json=True)["model_stats"]
    assert [(s["version"], int(s["inference_count"])) for s in by_grpc] == [("v2", end["v2"])]
    http.close()
    grpc.close()
