"""A python model whose sandbox worker is dead and held back by the restart backoff cannot
serve: its readiness says so (RELIABILITY R4), so Kubernetes stops routing to it, and says
ready again once a worker is back."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path

import httpx

from inferd.config import ServerSettings, StoreSettings
from inferd.packaging import push
from inferd.sandbox.model import SandboxedModel
from inferd.server import build_server
from inferd.store import ModelStore

#: Loads, unless a file named ``crash`` lies beside it: then every (re)start dies in the load.
MODEL = """
import os
import numpy as np

class Model:
    def __init__(self):
        if os.path.exists(os.path.join(os.path.dirname(__file__), "crash")):
            os._exit(3)

    def predict(self, inputs):
        return {"y": inputs["x"]}
"""

CARD = """
runtime: python
entrypoint: model:Model
inputs:
  - {name: x, datatype: INT64, shape: [-1]}
outputs:
  - {name: y, datatype: INT64, shape: [-1]}
"""


def _push(tmp_path: Path) -> Path:
    source = tmp_path / "m"
    source.mkdir()
    (source / "model.py").write_text(textwrap.dedent(MODEL))
    (source / "inferd.model.yaml").write_text(textwrap.dedent(CARD))
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), source, "m:v1")
    return home


def test_a_model_whose_worker_keeps_dying_is_not_ready_until_one_is_back(tmp_path: Path) -> None:
    settings = ServerSettings(
        port=0, grpc_port=None, control_port=None, store=StoreSettings(home=_push(tmp_path)),
        trust_code=("m",),
    )  # fmt: skip
    server = build_server(settings, ["m:v1"])

    async def scenario() -> None:
        await server.start()
        url = f"http://127.0.0.1:{server.port}"
        served = server.manager.get("m", None)
        model = served.model
        assert isinstance(model, SandboxedModel) and model.pid is not None
        assert served.artifact is not None
        crash = Path(served.artifact.path) / "crash"
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                assert (await client.get("/v2/models/m/ready")).status_code == 200
                crash.touch()
                os.kill(model.pid, signal.SIGKILL)
                # Found dead and restarted at once, the worker dies in its load; from then on
                # the backoff holds the restarts back, and every request would get a 503.
                deadline = time.monotonic() + 60
                while (await client.get("/v2/models/m/ready")).status_code == 200:
                    assert time.monotonic() < deadline, "still ready with a dead worker"
                    await asyncio.sleep(0.05)
                assert (await client.get("/v2/health/ready")).status_code == 503
                body = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}
                assert (await client.post("/v2/models/m/infer", json=body)).status_code == 503
                assert (await client.get("/v2/models/m/ready")).status_code == 503
                crash.unlink()
                while (await client.get("/v2/models/m/ready")).status_code != 200:
                    assert time.monotonic() < deadline, "never ready again"
                    await asyncio.sleep(0.05)
                answer = await client.post("/v2/models/m/infer", json=body)
                assert answer.status_code == 200, answer.text
        finally:
            crash.unlink(missing_ok=True)
            await server.shutdown()

    asyncio.run(scenario())
