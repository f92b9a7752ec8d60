"""A store name with path components (``team/fraud``, as a registry repository has): ``inferd
serve`` answers it at the path its banner prints and at the one tritonclient sends, both with
the ``/`` unencoded (before, neither had a route: only ``team%2Ffraud`` did)."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import numpy as np
import orjson
import tritonclient.http as triton

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import QUICKSTART, start_serve


def test_a_model_named_with_a_path_is_served_where_the_banner_says(tmp_path: Path) -> None:
    home = tmp_path / "home"
    push(
        ModelStore.from_settings(StoreSettings(home=home)), QUICKSTART / "fraud-v1", "team/fraud:v1"
    )
    server = start_serve(home, "team/fraud:v1")
    try:
        deadline = time.monotonic() + 30  # the banner's last line may follow the ports'
        while not any("try: curl" in line for line in server.log):
            assert time.monotonic() < deadline, "".join(server.log)
            time.sleep(0.1)
        (line,) = [line for line in server.log if "try: curl" in line]
        command = shlex.split(line.split("try: ", 1)[1])
        assert f"http://127.0.0.1:{server.port}/v2/models/team/fraud/infer" in command
        answer = orjson.loads(subprocess.run(command, capture_output=True, check=True).stdout)
        assert answer["model_name"] == "team/fraud", answer
        client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
        assert client.is_model_ready("team/fraud")
        assert client.get_model_metadata("team/fraud")["name"] == "team/fraud"
        x = triton.InferInput("input", [2, 8], "FP32")
        x.set_data_from_numpy(np.zeros((2, 8), dtype=np.float32))
        result = client.infer("team/fraud", [x])
        assert result.as_numpy("label").shape == (2,)
        client.close()
    finally:
        server.stop()
