"""A real ``inferd serve``: inputs drawn far from the training data raise the drift gauge on
``/metrics`` above 0.2; inputs drawn like the training data keep it below 0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import QUICKSTART, _stop, start_serve, wait_ready
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

pytestmark = pytest.mark.slow

ROWS = 800


def _push(home: Path, tmp_path: Path) -> None:
    """fraud:v1 and drifted:v1: the quickstart model, profiled on uniform [0, 1) rows."""
    np.save(tmp_path / "train.npy", np.random.default_rng(1).random((5_000, 8)))
    store = ModelStore.from_settings(StoreSettings(home=home))
    for name in ("fraud", "drifted"):
        model = tmp_path / name
        shutil.copytree(QUICKSTART / "fraud-v1", model)
        push(store, model, f"{name}:v1", reference_data=tmp_path / "train.npy")


def _psi(text: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "inferd_input_drift_psi":
            for sample in family.samples:
                found.setdefault(sample.labels["model"], []).append(sample.value)
    return found


def test_drift_gauge_of_a_real_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _push(home, tmp_path)
    server = start_serve(home, "fraud:v1", "drifted:v1")
    try:
        wait_ready(server.url)
        rng = np.random.default_rng(2)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for model, shift in (("fraud", 0.0), ("drifted", 1.5)):
                rows = rng.random((ROWS, 8), dtype=np.float32) + np.float32(shift)
                for start in range(0, ROWS, 8):
                    batch = rows[start : start + 8]
                    tensor = {"name": "input", "shape": [len(batch), 8], "datatype": "FP32"}
                    body = {"inputs": [{**tensor, "data": batch.ravel().tolist()}]}
                    reply = client.post(f"/v2/models/{model}/infer", json=body)
                    assert reply.status_code == 200, reply.text
            text = client.get("/metrics").text
    finally:
        _stop(server)
    psi = _psi(text)
    assert len(psi["fraud"]) == 8 and len(psi["drifted"]) == 8
    assert max(psi["fraud"]) < 0.1
    assert min(psi["drifted"]) > 0.2
    assert (
        'inferd_input_drift_samples_total{input="input",model="fraud",version="v1"} 800.0' in text
    )
