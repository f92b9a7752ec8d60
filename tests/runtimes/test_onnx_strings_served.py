"""A string ONNX model served for real: ``inferd serve`` starts its worker process, a big BYTES
request is answered from the worker and a small one from the server, a client's mistake in a
big batch is the same 400 as in a small one, and ``limits.process_string_elements: null`` in
the settings file starts no worker."""

from __future__ import annotations

import http.client
import json
import struct
from pathlib import Path

import pytest
import yaml
from onnx import TensorProto

from e2e.conftest import ServeProcess, identity_model, start_serve, wait_ready
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

pytestmark = pytest.mark.slow

#: Over the default limits.process_string_elements (16,384): answered by the worker.
BIG = 20_000


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for task in tasks for c in (task / "children").read_text().split()]


def infer(server: ServeProcess, items: list[bytes]) -> tuple[int, dict[str, object]]:
    """POST ``items`` as one BYTES row [1, n] in the binary extension; status and JSON answer."""
    raw = b"".join(struct.pack("<I", len(item)) + item for item in items)
    doc = {"inputs": [{"name": "x", "shape": [1, len(items)], "datatype": "BYTES",
                       "parameters": {"binary_data_size": len(raw)}}]}  # fmt: skip
    header = json.dumps(doc).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("POST", "/v2/models/text/infer", header + raw,
                     {"Inference-Header-Content-Length": str(len(header))})  # fmt: skip
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, identity_model(tmp_path / "text", TensorProto.STRING), "text:v1")
    return home


def test_big_string_batches_are_answered_by_the_models_worker(home: Path) -> None:
    server = start_serve(home, "text:v1")
    try:
        wait_ready(server.url)
        (worker,) = children(server.proc.pid)
        assert "inferd.sandbox.worker" in Path(f"/proc/{worker}/cmdline").read_text()
        items = [f"word {i}".encode() for i in range(BIG)]
        status, answer = infer(server, items)
        assert status == 200, answer
        (out,) = answer["outputs"]  # type: ignore[misc]
        assert out["shape"] == [1, BIG] and out["data"][:2] == ["word 0", "word 1"]
        assert out["data"][-1] == f"word {BIG - 1}"
        status, answer = infer(server, [b"caf\xc3\xa9"])
        assert (status, answer["outputs"][0]["data"]) == (200, ["caf\u00e9"])  # type: ignore[index]
        # Not UTF-8: the same 400 from the worker (big) as from the server (small).
        big = infer(server, [*items[:-1], b"\xff"])
        small = infer(server, [b"\xff"])
        assert big == small
        assert big == (400, {"error": "tensor 'x': a string input must be UTF-8"})
    finally:
        server.stop()


def test_a_null_threshold_starts_no_worker(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"limits": {"process_string_elements": None}}))
    server = start_serve(home, "text:v1", "--config", str(config))
    try:
        wait_ready(server.url)
        assert children(server.proc.pid) == []
        status, _ = infer(server, [b"w"] * BIG)
        assert status == 200
    finally:
        server.stop()
